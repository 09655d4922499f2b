// Pure rules of the daily loop: pain check-ins as chart data and words,
// streaks and adherence from the sessions' local dates, and the printable
// report's contents from what the person chose to include.

import { dayNumber, type DayValue, shortDate } from "./chart";

/** One day's pain score in one region (a check-in). */
export interface CheckInLike {
  region: string;
  localDate: string;
  score: number;
}

/** A region's scores as chart days (the score is drawn as the one series). */
export function painDays(scores: readonly { localDate: string; score: number }[]): DayValue[] {
  return scores.map((s) => ({ date: s.localDate, after: s.score }));
}

/** "Low back: 6 → 3 over 9 days" (or "Low back: 6 today" for one check-in). */
export function painSummary(regionName: string, scores: readonly { localDate: string; score: number }[]): string {
  const valid = scores.filter((s) => !Number.isNaN(dayNumber(s.localDate))).sort((a, b) => dayNumber(a.localDate) - dayNumber(b.localDate));
  if (valid.length === 0) return `${regionName}: no check-ins`;
  const first = valid[0];
  const last = valid[valid.length - 1];
  const days = dayNumber(last.localDate) - dayNumber(first.localDate);
  if (valid.length === 1 || days === 0) return `${regionName}: ${last.score} on ${shortDate(last.localDate)}`;
  return `${regionName}: ${first.score} → ${last.score} over ${days} day${days === 1 ? "" : "s"}`;
}

/** Groups check-ins by region, each region's days oldest first. */
export function byRegion(checkIns: readonly CheckInLike[]): Map<string, { localDate: string; score: number }[]> {
  const m = new Map<string, { localDate: string; score: number }[]>();
  for (const c of checkIns) {
    const list = m.get(c.region) ?? [];
    list.push({ localDate: c.localDate, score: c.score });
    m.set(c.region, list);
  }
  for (const list of m.values()) list.sort((a, b) => dayNumber(a.localDate) - dayNumber(b.localDate));
  return m;
}

/** "2026-12-02" shifted by `n` days. */
export function addDays(date: string, n: number): string {
  const d = dayNumber(date);
  if (Number.isNaN(d)) return date;
  return new Date((d + n) * 86_400_000).toISOString().slice(0, 10);
}

/**
 * Days in a row with at least one session, ending today (or yesterday, when
 * today has none yet: the streak is not broken before the day is over).
 */
export function streak(sessionDates: readonly string[], today: string): number {
  const days = new Set(sessionDates.map(dayNumber).filter((n) => !Number.isNaN(n)));
  let d = dayNumber(today);
  if (Number.isNaN(d)) return 0;
  if (!days.has(d)) d -= 1;
  let n = 0;
  while (days.has(d)) {
    n++;
    d--;
  }
  return n;
}

/** Sessions and active days between two dates (inclusive). */
export interface Adherence {
  days: number;
  activeDays: number;
  sessions: number;
  /** Sessions a day on average over the range, one decimal. */
  perDay: number;
  /** The longest run of days in a row with a session. */
  longestStreak: number;
}

export function adherence(sessionDates: readonly string[], start: string, end: string): Adherence {
  const a = dayNumber(start);
  const b = dayNumber(end);
  const days = Number.isNaN(a) || Number.isNaN(b) || b < a ? 0 : b - a + 1;
  const inRange = sessionDates.map(dayNumber).filter((n) => n >= a && n <= b);
  const active = [...new Set(inRange)].sort((x, y) => x - y);
  let longest = 0;
  let run = 0;
  for (let i = 0; i < active.length; i++) {
    run = i > 0 && active[i] === active[i - 1] + 1 ? run + 1 : 1;
    longest = Math.max(longest, run);
  }
  return {
    days,
    activeDays: active.length,
    sessions: inRange.length,
    perDay: days ? Math.round((inRange.length / days) * 10) / 10 : 0,
    longestStreak: longest,
  };
}

// ---------------------------------------------------------------- the report

/** What the person chose to put in the report. */
export interface ReportChoice {
  start: string;
  end: string;
  pain: boolean;
  tenderness: boolean;
  adherence: boolean;
  holds: boolean;
  warnings: boolean;
}

/** A session as the report reads it. */
export interface ReportSession {
  point: string;
  localDate: string;
  tendernessBefore?: number;
  tendernessAfter?: number;
  warnings: { message: string; medical: boolean }[];
}

/** A hold as the report reads it. */
export interface ReportHold {
  point: string;
  why: string;
  advice: string;
  /** YYYY-MM-DD, the start in the person's zone. */
  sinceDate: string;
  active: boolean;
  providerCheckedDate: string;
}

export interface ReportInput {
  sessions: readonly ReportSession[];
  checkIns: readonly CheckInLike[];
  holds: readonly ReportHold[];
  regionName(region: string): string;
  pointName(point: string): string;
}

/** The report's contents, each section absent when not chosen. */
export interface Report {
  title: string;
  range: string;
  pain?: { region: string; name: string; summary: string; days: DayValue[] }[];
  tenderness?: { point: string; name: string; sessions: number; days: DayValue[] }[];
  adherence?: Adherence;
  holds?: { name: string; why: string; advice: string; since: string; status: string }[];
  warnings?: { date: string; name: string; message: string; medical: boolean }[];
}

function mean(xs: number[]): number | undefined {
  return xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : undefined;
}

/** Puts the chosen sections together for the chosen dates. */
export function assembleReport(input: ReportInput, c: ReportChoice): Report {
  const lo = dayNumber(c.start);
  const hi = dayNumber(c.end);
  const within = (date: string) => {
    const d = dayNumber(date);
    return d >= lo && d <= hi;
  };
  const sessions = input.sessions.filter((s) => within(s.localDate));
  const report: Report = {
    title: "Self-treatment report",
    range: `${shortDate(c.start)} ${c.start.slice(0, 4)} – ${shortDate(c.end)} ${c.end.slice(0, 4)}`,
  };
  if (c.pain) {
    const regions = byRegion(input.checkIns.filter((x) => within(x.localDate)));
    report.pain = [...regions.entries()]
      .map(([region, scores]) => {
        const name = input.regionName(region);
        return { region, name, summary: painSummary(name, scores), days: painDays(scores) };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }
  if (c.tenderness) {
    const points = new Map<string, ReportSession[]>();
    for (const s of sessions) points.set(s.point, [...(points.get(s.point) ?? []), s]);
    report.tenderness = [...points.entries()]
      .map(([point, list]) => {
        const dates = [...new Set(list.map((s) => s.localDate))].sort((a, b) => dayNumber(a) - dayNumber(b));
        const days = dates.map((date) => {
          const that = list.filter((s) => s.localDate === date);
          const pick = (f: (s: ReportSession) => number | undefined) =>
            mean(that.map(f).filter((v): v is number => v !== undefined));
          return { date, before: pick((s) => s.tendernessBefore), after: pick((s) => s.tendernessAfter) };
        });
        return { point, name: input.pointName(point), sessions: list.length, days };
      })
      .sort((a, b) => b.sessions - a.sessions || a.name.localeCompare(b.name));
  }
  if (c.adherence) report.adherence = adherence(input.sessions.map((s) => s.localDate), c.start, c.end);
  if (c.holds) {
    // Holds that applied at some point of the range: begun by its end, and
    // still active or released (checked) within or after its start.
    report.holds = input.holds
      .filter((h) => dayNumber(h.sinceDate) <= hi && (h.active || !h.providerCheckedDate || dayNumber(h.providerCheckedDate) >= lo))
      .map((h) => ({
        name: input.pointName(h.point),
        why: h.why,
        advice: h.advice,
        since: h.sinceDate,
        status: h.active ? "on hold" : `released${h.providerCheckedDate ? ` after a provider's check on ${h.providerCheckedDate}` : ""}`,
      }));
  }
  if (c.warnings) {
    report.warnings = sessions
      .flatMap((s) => s.warnings.map((w) => ({ date: s.localDate, name: input.pointName(s.point), message: w.message, medical: w.medical })))
      .sort((a, b) => Number(b.medical) - Number(a.medical) || dayNumber(a.date) - dayNumber(b.date));
  }
  return report;
}
