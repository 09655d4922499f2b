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
}

/** Before the first cue. `plannedTotal` comes from StartGuidedSession. */
export function initialGuide(plannedTotal: number, targetPressure: number, side: Side): GuideState {
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
  };
}

function finished(s: GuideState): boolean {
  return s.phase === "done" || s.phase === "cancelled" || s.phase === "error";
}

/** The state after one cue from the stream, received at `nowMs`. Cues after the end are ignored. */
export function applyCue(s: GuideState, c: Cue, nowMs = 0): GuideState {
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
    gap: step > 0 ? step : s.gap,
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

/** The stream failed. */
export function streamFailed(s: GuideState, error: string): GuideState {
  return finished(s) ? s : { ...s, phase: "error", error };
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
  const ahead = Math.min(s.gap, Math.max(0, ((nowMs - s.cueAtMs) / 1000) * s.rate));
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
