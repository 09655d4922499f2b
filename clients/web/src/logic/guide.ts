// The guided session's timer, driven only by the cues the server streams.

import { Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { GuideCue } from "../gen/knotwork/session/v1/session_pb";

/** The fields of a GuideSessionResponse the timer uses. */
export interface Cue {
  cue: GuideCue;
  elapsedSeconds: number;
  remainingSeconds: number;
  message: string;
  targetPressure: number;
  side: Side;
}

export type GuidePhase = "connecting" | "position" | "pressing" | "done" | "ended" | "cancelled" | "error";

/** A cue worth announcing (every cue but the periodic tick). */
export interface Announcement {
  cue: GuideCue;
  message: string;
  elapsedSeconds: number;
}

export interface GuideState {
  phase: GuidePhase;
  elapsed: number;
  remaining: number;
  /** Planned total (both sides included), learned from the stream. */
  total: number;
  targetPressure: number;
  side: Side;
  message: string;
  halfway: boolean;
  switchedSide: boolean;
  lastCue: GuideCue;
  announcements: Announcement[];
  error?: string;
  /** Wall-clock time (ms) the last cue arrived, for smoothing between cues. */
  cueAtMs?: number;
  /** Session seconds per wall-clock second, learned from the cues (speed-ups). */
  rate: number;
  /** Session seconds between the last two cues: how far the display may run ahead. */
  gap: number;
  /**
   * The stream dropped mid-session: the clock runs on this device at the
   * learned rate and the page gives the remaining cues itself, until the
   * stream is back (the server is the truth again) or the time is up.
   */
  local: boolean;
  /** Sides in the session (2 for both sides), for the local switch cue. */
  sides: number;
}

/** Before the first cue. `plannedTotal` comes from StartGuidedSession. */
export function initialGuide(plannedTotal: number, targetPressure: number, side: Side): GuideState {
  const sides = side === Side.BOTH ? 2 : 1;
  return {
    phase: "connecting",
    elapsed: 0,
    remaining: plannedTotal,
    total: plannedTotal,
    targetPressure,
    side,
    message: "Connecting to your guide…",
    halfway: false,
    switchedSide: false,
    lastCue: GuideCue.UNSPECIFIED,
    announcements: [],
    rate: 1,
    gap: 5,
    local: false,
    sides,
  };
}

function finished(s: GuideState): boolean {
  return s.phase === "done" || s.phase === "cancelled" || s.phase === "error";
}

/** The state after one cue from the stream, received at `nowMs`. Cues after the end are ignored. */
export function applyCue(s: GuideState, c: Cue, nowMs = 0, fromServer = true): GuideState {
  if (finished(s)) return s;
  const elapsed = Math.max(0, c.elapsedSeconds);
  const remaining = Math.max(0, c.remainingSeconds);
  const step = elapsed - s.elapsed;
  const wall = s.cueAtMs === undefined ? 0 : (nowMs - s.cueAtMs) / 1000;
  const next: GuideState = {
    ...s,
    elapsed,
    remaining,
    total: Math.max(s.total, elapsed + remaining),
    targetPressure: c.targetPressure > 0 ? c.targetPressure : s.targetPressure,
    side: c.side !== Side.UNSPECIFIED ? c.side : s.side,
    message: c.message || s.message,
    lastCue: c.cue,
    cueAtMs: nowMs,
    rate: step > 0 && wall > 0.05 ? step / wall : s.rate,
    // The first cue after a local stretch spans the outage: not a cue gap.
    gap: step > 0 && !s.local ? step : s.gap,
    local: fromServer ? false : s.local,
  };
  switch (c.cue) {
    case GuideCue.START:
      next.phase = "position";
      break;
    case GuideCue.PRESS_AND_HOLD:
      next.phase = "pressing";
      break;
    case GuideCue.TICK:
      if (s.phase === "connecting") next.phase = "pressing";
      break;
    case GuideCue.HALFWAY:
      next.halfway = true;
      next.phase = "pressing";
      break;
    case GuideCue.SWITCH_SIDE:
      next.switchedSide = true;
      next.phase = "pressing";
      break;
    case GuideCue.STOP:
      next.phase = "done";
      next.remaining = 0;
      next.elapsed = Math.max(elapsed, s.total);
      break;
    default:
      break;
  }
  if (c.cue !== GuideCue.TICK && c.cue !== GuideCue.UNSPECIFIED) {
    next.announcements = [...s.announcements, { cue: c.cue, message: c.message, elapsedSeconds: elapsed }];
  }
  return next;
}

/** The stream closed: without a STOP cue the session counts as ended early. */
export function streamClosed(s: GuideState): GuideState {
  return finished(s) ? s : { ...s, phase: "ended", message: "The guide stopped before the end." };
}

/**
 * The stream failed for good. Before any cue there is nothing to time; once
 * the session runs, the clock keeps going on this device (see `streamLost`).
 */
export function streamFailed(s: GuideState, error: string, nowMs = 0): GuideState {
  if (finished(s)) return s;
  if (s.phase === "connecting") return { ...s, phase: "error", error };
  return streamLost(s, nowMs);
}

/** The stream dropped while the session runs: keep time here. */
export function streamLost(s: GuideState, nowMs: number): GuideState {
  if (finished(s) || s.phase === "connecting" || s.phase === "ended" || s.local) return s;
  // Start the local clock from what is shown now, so the display never jumps.
  const shown = shownElapsed(s, nowMs);
  return {
    ...s,
    local: true,
    phase: "pressing",
    elapsed: shown,
    remaining: Math.max(0, s.total - shown),
    cueAtMs: nowMs,
    message: "The connection dropped: your timer keeps running on this device.",
  };
}

/** Cues the page gives itself while the stream is down (halfway, switch, stop). */
export function advanceLocal(s: GuideState, nowMs: number): GuideState {
  if (!s.local || finished(s)) return s;
  const e = shownElapsed(s, nowMs);
  const half = Math.floor(s.total / 2);
  let next = s;
  const cue = (kind: GuideCue, at: number, message: string, side = next.side): GuideState =>
    applyCue(
      next,
      { cue: kind, elapsedSeconds: at, remainingSeconds: Math.max(0, next.total - at), message, targetPressure: 0, side },
      nowMs - ((e - at) / Math.max(next.rate, 0.001)) * 1000,
      false,
    );
  if (next.sides === 2 && !next.switchedSide && e >= half && half > 0) {
    next = cue(GuideCue.SWITCH_SIDE, half, "Switch sides (timed on this device).", next.side === Side.LEFT ? Side.RIGHT : Side.LEFT);
  }
  if (!next.halfway && e >= half && half > 0) next = cue(GuideCue.HALFWAY, half, "Halfway there. Keep breathing.");
  if (e >= next.total) {
    next = cue(GuideCue.STOP, next.total, "Time to stop. Release slowly and note how tender the point feels now.");
  }
  return next;
}

/** The person stopped early. */
export function cancelled(s: GuideState): GuideState {
  return finished(s) ? s : { ...s, phase: "cancelled", message: "You stopped the session." };
}

/**
 * Seconds done as shown at `nowMs`: the last cue's time, run forward at the
 * learned rate so the clock moves between cues, but never more than one cue
 * gap ahead of the server (the stream stays the source of truth).
 */
export function shownElapsed(s: GuideState, nowMs: number): number {
  if (s.phase !== "pressing" || s.cueAtMs === undefined) return s.elapsed;
  const run = Math.max(0, ((nowMs - s.cueAtMs) / 1000) * s.rate);
  // Without a stream the device's clock is the only clock: no cap.
  const ahead = s.local ? run : Math.min(s.gap, run);
  return Math.min(s.total, s.elapsed + Math.floor(ahead));
}

/** Seconds left as shown at `nowMs`. */
export function shownRemaining(s: GuideState, nowMs: number): number {
  if (s.phase === "done") return 0;
  return Math.max(0, s.remaining - (shownElapsed(s, nowMs) - s.elapsed));
}

/** Share of the session done, 0..1 (at `nowMs` when given). */
export function fractionDone(s: GuideState, nowMs?: number): number {
  if (s.phase === "done") return 1;
  const e = nowMs === undefined ? s.elapsed : shownElapsed(s, nowMs);
  return s.total > 0 ? Math.min(1, e / s.total) : 0;
}

/** Whether the session can be logged now (it ran, fully or partly). */
export function canLog(s: GuideState): boolean {
  return s.phase === "done" || s.phase === "ended" || s.phase === "cancelled";
}

/** 185 -> "3:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
