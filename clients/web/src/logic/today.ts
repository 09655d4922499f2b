// The Today screen's plan from GetToday: which points to work, what is done
// and left within the daily limit, and the streak, from the fields the
// answer has (the schedule's own when the gateway sends them).

import { dayNumber } from "./chart";
import { adherence, addDays, streak } from "./daily";

/** The parts of GetToday the plan reads (generated types fit). */
export interface TodayLike {
  day?: {
    localDate: string;
    sessions: { triggerPoint: string }[];
    allowances: { triggerPoint: string; sessionsDone: number; sessionsRemaining: number; nextAllowedLocalTime: string; onHold: boolean }[];
  };
  progress: { triggerPoint: string; status: number; days: { localDate: string; sessionCount: number }[]; hold?: unknown }[];
  setAside: { triggerPoint: string; reason: string; message: string; advice: string }[];
}

/** One point of today's plan. */
export interface PlanItem {
  point: string;
  done: number;
  /** Sessions still allowed today; undefined when not worked yet today (the full daily limit). */
  left?: number;
  /** When the next session is allowed, local time, when none is left today. */
  nextAllowed?: string;
  onHold: boolean;
}

/** The Today screen's numbers. */
export interface TodayView {
  date: string;
  plan: PlanItem[];
  setAside: TodayLike["setAside"];
  sessionsToday: number;
  streak: number;
  /** The last 7 days (today included). */
  week: { sessions: number; activeDays: number };
}

/**
 * Points worked in the progress window that are not set aside, most
 * recently worked first, each with today's allowance (when worked today).
 */
export function todayView(t: TodayLike): TodayView {
  const date = t.day?.localDate ?? "";
  const aside = new Set(t.setAside.map((s) => s.triggerPoint));
  const allowance = new Map((t.day?.allowances ?? []).map((a) => [a.triggerPoint, a]));
  const lastDay = (p: TodayLike["progress"][number]) => Math.max(-1, ...p.days.filter((d) => d.sessionCount > 0).map((d) => dayNumber(d.localDate)));
  const points = [...t.progress].filter((p) => !aside.has(p.triggerPoint)).sort((a, b) => lastDay(b) - lastDay(a));
  const plan: PlanItem[] = points.map((p) => {
    const a = allowance.get(p.triggerPoint);
    return {
      point: p.triggerPoint,
      done: a?.sessionsDone ?? 0,
      left: a ? a.sessionsRemaining : undefined,
      nextAllowed: a && a.sessionsRemaining === 0 && a.nextAllowedLocalTime ? a.nextAllowedLocalTime : undefined,
      onHold: a?.onHold ?? false,
    };
  });
  // A point worked today but missing from progress still shows.
  for (const a of t.day?.allowances ?? []) {
    if (!aside.has(a.triggerPoint) && !plan.some((p) => p.point === a.triggerPoint)) {
      plan.push({
        point: a.triggerPoint,
        done: a.sessionsDone,
        left: a.sessionsRemaining,
        nextAllowed: a.sessionsRemaining === 0 && a.nextAllowedLocalTime ? a.nextAllowedLocalTime : undefined,
        onHold: a.onHold,
      });
    }
  }
  const dates = t.progress.flatMap((p) => p.days.flatMap((d) => Array<string>(Math.max(0, d.sessionCount)).fill(d.localDate)));
  const week = date ? adherence(dates, addDays(date, -6), date) : { sessions: 0, activeDays: 0 };
  return {
    date,
    plan,
    setAside: t.setAside,
    sessionsToday: t.day?.sessions.length ?? 0,
    streak: date ? streak(dates, date) : 0,
    week: { sessions: week.sessions, activeDays: week.activeDays },
  };
}

/** "2026-12-02" -> "Wednesday 2 December". */
export function longDate(date: string): string {
  const n = dayNumber(date);
  if (Number.isNaN(n)) return date;
  return new Date(n * 86_400_000).toLocaleDateString("en-GB", { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" });
}

/** "2026-12-02T14:30:00+01:00" -> "14:30". */
export function localClock(rfc3339: string): string {
  const m = /T(\d{2}:\d{2})/.exec(rfc3339);
  return m ? m[1] : rfc3339;
}
