// What each guided cue sounds and feels like: tones for Web Audio and a
// pattern for the Vibration API. Ticks stay silent (only cues that ask the
// person to do something are heard), and a mute is remembered.

import { GuideCue } from "../gen/knotwork/session/v1/session_pb";

/** A beep: pitch in Hz and length in ms, then a pause in ms. */
export interface Tone {
  hz: number;
  ms: number;
  gapMs: number;
}

/** How a cue is signalled; empty arrays mean silence. */
export interface CueSignal {
  tones: Tone[];
  /** navigator.vibrate's pattern: on, off, on, … in ms. */
  vibrate: number[];
}

const beep = (hz: number, ms = 180, gapMs = 90): Tone => ({ hz, ms, gapMs });

export function cueSignal(cue: GuideCue): CueSignal {
  switch (cue) {
    case GuideCue.START:
      return { tones: [beep(660)], vibrate: [120] };
    case GuideCue.PRESS_AND_HOLD:
      return { tones: [beep(660), beep(880)], vibrate: [200] };
    case GuideCue.HALFWAY:
      return { tones: [beep(740, 140)], vibrate: [80, 80, 80] };
    case GuideCue.SWITCH_SIDE:
      return { tones: [beep(880), beep(660), beep(880)], vibrate: [200, 100, 200] };
    case GuideCue.STOP:
      return { tones: [beep(880, 220), beep(660, 220), beep(520, 400)], vibrate: [300, 120, 300, 120, 300] };
    default:
      return { tones: [], vibrate: [] };
  }
}

/** Start offsets (ms) of each tone, for scheduling on one audio clock. */
export function toneOffsets(tones: readonly Tone[]): number[] {
  let t = 0;
  return tones.map((x) => {
    const at = t;
    t += x.ms + x.gapMs;
    return at;
  });
}

const MUTE_KEY = "knotwork.cues.muted";

/** The remembered mute (unmuted by default). */
export function loadMuted(storage: Pick<Storage, "getItem"> = localStorage): boolean {
  return storage.getItem(MUTE_KEY) === "1";
}

export function saveMuted(muted: boolean, storage: Pick<Storage, "setItem"> = localStorage): void {
  storage.setItem(MUTE_KEY, muted ? "1" : "0");
}
