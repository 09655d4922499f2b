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
  /** The day's schedule (GetToday's `plan`), when the gateway sends one. */
  plan?: {
    points: { triggerPoint: string; sessionsPlanned: number; sessionsDone: number; sessionsLeft: number; sessionsAllowed: number }[];
    slots: { time?: { seconds: bigint }; localTime: string; triggerPoints: string[]; triggerPointsLeft: string[]; state: number }[];
    sessionsPlanned: number;
    sessionsDone: number;
    sessionsLeft: number;
    wakeTime: string;
    sleepTime: string;
  };
  /** The streak and the week (GetToday's `adherence`), when sent. */
  adherence?: { streakDays: number; weekSessionsDone: number; weekSessionsPlanned: number; weekActiveDays: number; weekPercent: number };
}

/** Where a suggested time stands (SlotState's numbers). */
export const SLOT_DONE = 1;
export const SLOT_DUE = 2;
export const SLOT_UPCOMING = 3;

/** One suggested time of the day. */
export interface Slot {
  /** "14:30", the person's local time. */
  clock: string;
  /** ms since the epoch, when known. */
  at?: number;
  state: "done" | "due" | "upcoming";
  points: string[];
  pointsLeft: string[];
}

/** One point of today's plan. */
export interface PlanItem {
  point: string;
  done: number;
  /** Sessions planned today (from the schedule). */
  planned?: number;
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
  /** Planned sessions today and how many of them are done, when the schedule is known. */
  plannedToday?: number;
  plannedDone?: number;
  /** Suggested times (empty without a schedule). */
  slots: Slot[];
  /** The waking hours the times are spread over, e.g. "07:00–22:00". */
  hours?: string;
  streak: number;
  /** The last 7 days (today included); `planned` and `percent` with a schedule. */
  week: { sessions: number; activeDays: number; planned?: number; percent?: number };
}

function slotState(n: number): Slot["state"] {
  return n === SLOT_DONE ? "done" : n === SLOT_DUE ? "due" : "upcoming";
}

/**
 * Points worked in the progress window that are not set aside, most
 * recently worked first, each with today's allowance (when worked today).
 */
export function todayView(t: TodayLike): TodayView {
  const base = fromDay(t);
  if (!t.plan) return base;
  const allowance = new Map(base.plan.map((p) => [p.point, p]));
  const plan: PlanItem[] = t.plan.points.map((p) => ({
    point: p.triggerPoint,
    done: p.sessionsDone,
    planned: p.sessionsPlanned,
    // Planned sessions left, never more than the daily limit still allows.
    left: Math.min(p.sessionsLeft, p.sessionsAllowed),
    nextAllowed: p.sessionsAllowed === 0 ? allowance.get(p.triggerPoint)?.nextAllowed : undefined,
    onHold: false,
  }));
  const a = t.adherence;
  return {
    ...base,
    plan,
    plannedToday: t.plan.sessionsPlanned,
    plannedDone: t.plan.sessionsDone,
    slots: t.plan.slots.map((x) => ({
      clock: localClock(x.localTime),
      at: x.time ? Number(x.time.seconds) * 1000 : undefined,
      state: slotState(x.state),
      points: x.triggerPoints,
      pointsLeft: x.triggerPointsLeft,
    })),
    hours: t.plan.wakeTime && t.plan.sleepTime ? `${t.plan.wakeTime}–${t.plan.sleepTime}` : undefined,
    streak: a ? a.streakDays : base.streak,
    // With nothing planned (every point set aside or on hold) a share of
    // nothing says nothing: the week's sessions and days instead.
    week:
      a && a.weekSessionsPlanned > 0
        ? { sessions: a.weekSessionsDone, activeDays: a.weekActiveDays, planned: a.weekSessionsPlanned, percent: a.weekPercent }
        : base.week,
  };
}

/** The view from the day's sessions and allowances alone (no schedule sent). */
function fromDay(t: TodayLike): TodayView {
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
    slots: [],
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

/** A reminder for each suggested time still ahead with points left. */
export function remindersFromSlots(slots: readonly Slot[], now: number, date: string): { id: string; at: number; title: string; body: string }[] {
  return slots.flatMap((x, i) =>
    x.at !== undefined && x.at > now && x.pointsLeft.length > 0 && x.state !== "done"
      ? [
          {
            id: `reminders/${date}.${i + 1}`,
            at: x.at,
            title: "Time for your trigger points",
            body: `${x.pointsLeft.length} point${x.pointsLeft.length === 1 ? "" : "s"} to work, about three to five minutes each.`,
          },
        ]
      : [],
  );
}
