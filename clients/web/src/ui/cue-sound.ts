// Plays a guided cue: tones through Web Audio, a buzz through the Vibration
// API. Browsers start audio only after a tap, so `unlockAudio` runs on the
// "Start guided session" press.

import type { GuideCue } from "../gen/knotwork/session/v1/session_pb";
import { cueSignal, toneOffsets } from "../logic/cues";

let ctx: AudioContext | null = null;

/** Creates (or resumes) the audio context inside a user gesture. */
export function unlockAudio(): void {
  try {
    ctx ??= new AudioContext();
    if (ctx.state === "suspended") void ctx.resume();
  } catch {
    ctx = null; // No Web Audio: cues stay visual (and vibrate).
  }
}

export function playCue(cue: GuideCue): void {
  const s = cueSignal(cue);
  if (s.vibrate.length && typeof navigator.vibrate === "function") navigator.vibrate(s.vibrate);
  if (!s.tones.length) return;
  unlockAudio();
  if (!ctx) return;
  const t0 = ctx.currentTime + 0.02;
  const offsets = toneOffsets(s.tones);
  s.tones.forEach((tone, i) => {
    const osc = ctx!.createOscillator();
    const gain = ctx!.createGain();
    osc.type = "sine";
    osc.frequency.value = tone.hz;
    const start = t0 + offsets[i] / 1000;
    const end = start + tone.ms / 1000;
    // Short ramps so the beeps do not click.
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(0.25, start + 0.015);
    gain.gain.linearRampToValueAtTime(0, end);
    osc.connect(gain).connect(ctx!.destination);
    osc.start(start);
    osc.stop(end + 0.02);
  });
}
