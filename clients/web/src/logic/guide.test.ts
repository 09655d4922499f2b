import { describe, expect, it } from "vitest";
import { Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { GuideCue } from "../gen/knotwork/session/v1/session_pb";
import {
  applyCue,
  canLog,
  cancelled,
  clock,
  type Cue,
  fractionDone,
  initialGuide,
  shownElapsed,
  shownRemaining,
  streamClosed,
  streamFailed,
  streamLost,
  advanceLocal,
} from "./guide";

const cue = (c: GuideCue, elapsed: number, remaining: number, side = Side.RIGHT, message = ""): Cue => ({
  cue: c,
  elapsedSeconds: elapsed,
  remainingSeconds: remaining,
  message,
  targetPressure: 5,
  side,
});

describe("guide timer", () => {
  it("follows a two-sided session from start to stop", () => {
    let s = initialGuide(360, 5, Side.BOTH);
    expect(s.phase).toBe("connecting");
    s = applyCue(s, cue(GuideCue.START, 0, 360, Side.RIGHT, "Get ready"));
    expect(s).toMatchObject({ phase: "position", side: Side.RIGHT, remaining: 360 });
    s = applyCue(s, cue(GuideCue.PRESS_AND_HOLD, 0, 360, Side.RIGHT, "Press"));
    expect(s.phase).toBe("pressing");
    s = applyCue(s, cue(GuideCue.TICK, 60, 300));
    expect(s).toMatchObject({ elapsed: 60, remaining: 300 });
    expect(fractionDone(s)).toBeCloseTo(1 / 6);
    s = applyCue(s, cue(GuideCue.HALFWAY, 90, 270, Side.RIGHT, "Halfway"));
    expect(s.halfway).toBe(true);
    s = applyCue(s, cue(GuideCue.SWITCH_SIDE, 180, 180, Side.LEFT, "Switch"));
    expect(s).toMatchObject({ switchedSide: true, side: Side.LEFT });
    expect(canLog(s)).toBe(false);
    s = applyCue(s, cue(GuideCue.STOP, 360, 0, Side.LEFT, "Stop"));
    expect(s).toMatchObject({ phase: "done", remaining: 0, elapsed: 360 });
    expect(fractionDone(s)).toBe(1);
    expect(canLog(s)).toBe(true);
    expect(s.announcements.map((a) => a.cue)).toEqual([
      GuideCue.START,
      GuideCue.PRESS_AND_HOLD,
      GuideCue.HALFWAY,
      GuideCue.SWITCH_SIDE,
      GuideCue.STOP,
    ]);
  });

  it("learns the total from the stream and keeps the target pressure", () => {
    let s = initialGuide(0, 5, Side.RIGHT);
    s = applyCue(s, { ...cue(GuideCue.TICK, 30, 150), targetPressure: 0 });
    expect(s).toMatchObject({ total: 180, targetPressure: 5, phase: "pressing" });
  });

  it("ignores cues after the end", () => {
    let s = applyCue(initialGuide(180, 5, Side.RIGHT), cue(GuideCue.STOP, 180, 0));
    s = applyCue(s, cue(GuideCue.TICK, 10, 170));
    expect(s.elapsed).toBe(180);
    expect(streamClosed(s).phase).toBe("done");
  });

  it("marks an early close, a failure before any cue and a cancel", () => {
    const s = applyCue(initialGuide(180, 5, Side.RIGHT), cue(GuideCue.TICK, 10, 170));
    expect(streamClosed(s).phase).toBe("ended");
    const never = initialGuide(180, 5, Side.RIGHT);
    expect(streamFailed(never, "boom")).toMatchObject({ phase: "error", error: "boom" });
    expect(canLog(streamFailed(never, "x"))).toBe(false);
    expect(cancelled(s).phase).toBe("cancelled");
    expect(canLog(cancelled(s))).toBe(true);
  });

  it("keeps time on the device when the stream drops, then stops and can log", () => {
    let s = initialGuide(360, 5, Side.BOTH);
    s = applyCue(s, cue(GuideCue.PRESS_AND_HOLD, 0, 360), 0);
    s = applyCue(s, cue(GuideCue.TICK, 5, 355), 5_000);
    s = streamFailed(s, "Failed to fetch", 6_000);
    expect(s).toMatchObject({ phase: "pressing", local: true, elapsed: 6 });
    // No cap at one gap ahead: the device's clock runs on.
    expect(shownElapsed(s, 66_000)).toBe(66);
    expect(advanceLocal(s, 66_000).announcements).toHaveLength(1);
    s = advanceLocal(s, 190_000);
    expect(s).toMatchObject({ switchedSide: true, halfway: true, side: Side.LEFT });
    expect(s.announcements.map((a) => a.cue).slice(1)).toEqual([GuideCue.SWITCH_SIDE, GuideCue.HALFWAY]);
    expect(canLog(s)).toBe(false);
    s = advanceLocal(s, 400_000);
    expect(s).toMatchObject({ phase: "done", remaining: 0, elapsed: 360 });
    expect(canLog(s)).toBe(true);
  });

  it("hands the clock back to the server when the stream returns", () => {
    let s = applyCue(initialGuide(180, 5, Side.RIGHT), cue(GuideCue.PRESS_AND_HOLD, 0, 180), 0);
    s = applyCue(s, cue(GuideCue.TICK, 5, 175), 5_000);
    s = streamLost(s, 5_000);
    expect(s.local).toBe(true);
    s = applyCue(s, cue(GuideCue.TICK, 40, 140), 40_000);
    expect(s).toMatchObject({ local: false, elapsed: 40 });
    expect(shownElapsed(s, 200_000)).toBe(45); // capped at one gap again
    expect(advanceLocal(s, 400_000)).toBe(s);
  });

  it("runs the clock between cues at the learned rate, at most one gap ahead", () => {
    let s = initialGuide(180, 5, Side.RIGHT);
    s = applyCue(s, cue(GuideCue.PRESS_AND_HOLD, 0, 180), 1_000);
    s = applyCue(s, cue(GuideCue.TICK, 5, 175), 6_000); // real time: 5 s per 5 s
    expect(s.rate).toBeCloseTo(1);
    expect(shownElapsed(s, 6_000)).toBe(5);
    expect(shownElapsed(s, 8_500)).toBe(7);
    expect(shownRemaining(s, 8_500)).toBe(173);
    expect(shownElapsed(s, 60_000)).toBe(10); // the next tick is late: wait for the server
    expect(fractionDone(s, 8_500)).toBeCloseTo(7 / 180);
  });

  it("learns a speed-up from the cues", () => {
    let s = initialGuide(180, 5, Side.RIGHT);
    s = applyCue(s, cue(GuideCue.PRESS_AND_HOLD, 0, 180), 0);
    s = applyCue(s, cue(GuideCue.TICK, 5, 175), 83); // 60x
    expect(s.rate).toBeGreaterThan(50);
    expect(shownElapsed(s, 120)).toBe(7);
  });

  it("does not run the clock before pressing or after the end", () => {
    let s = applyCue(initialGuide(180, 5, Side.RIGHT), cue(GuideCue.START, 0, 180), 0);
    expect(shownElapsed(s, 10_000)).toBe(0);
    s = applyCue(s, cue(GuideCue.STOP, 180, 0), 20_000);
    expect(shownRemaining(s, 99_000)).toBe(0);
  });

  it("formats a clock", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(185)).toBe("3:05");
    expect(clock(-3)).toBe("0:00");
  });
});
