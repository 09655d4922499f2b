import { describe, expect, it } from "vitest";
import { GuideCue } from "../gen/knotwork/session/v1/session_pb";
import { cueSignal, loadMuted, saveMuted, toneOffsets } from "./cues";

describe("cue signals", () => {
  it("stays silent on ticks and signals every cue that asks for something", () => {
    expect(cueSignal(GuideCue.TICK)).toEqual({ tones: [], vibrate: [] });
    for (const c of [GuideCue.START, GuideCue.PRESS_AND_HOLD, GuideCue.HALFWAY, GuideCue.SWITCH_SIDE, GuideCue.STOP]) {
      const s = cueSignal(c);
      expect(s.tones.length).toBeGreaterThan(0);
      expect(s.vibrate.length % 2).toBe(1); // a pattern ends on "on"
    }
    // Switching side and stopping feel different from each other.
    expect(cueSignal(GuideCue.SWITCH_SIDE).vibrate).not.toEqual(cueSignal(GuideCue.STOP).vibrate);
  });

  it("spaces tones one after another", () => {
    expect(toneOffsets([{ hz: 1, ms: 100, gapMs: 50 }, { hz: 1, ms: 200, gapMs: 0 }, { hz: 1, ms: 1, gapMs: 0 }])).toEqual([0, 150, 350]);
  });

  it("remembers the mute", () => {
    const m = new Map<string, string>();
    const storage = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
    expect(loadMuted(storage)).toBe(false);
    saveMuted(true, storage);
    expect(loadMuted(storage)).toBe(true);
    saveMuted(false, storage);
    expect(loadMuted(storage)).toBe(false);
  });
});
