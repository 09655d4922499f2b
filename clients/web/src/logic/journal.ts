// Correcting the journal (UpdateSession, AIP-134): which fields a correction
// changes, as the field mask's paths, so only those are sent and the rest of
// the stored record is left alone.

import type { PainQuality } from "../gen/knotwork/session/v1/session_pb";

/** The fields of a logged session the correction form edits. */
export interface Editable {
  tendernessBefore?: number;
  tendernessAfter?: number;
  pressure: number;
  durationSeconds: number;
  painQuality: PainQuality;
}

const PATHS: [keyof Editable, string][] = [
  ["tendernessBefore", "tenderness_before"],
  ["tendernessAfter", "tenderness_after"],
  ["pressure", "pressure"],
  ["durationSeconds", "duration_seconds"],
  ["painQuality", "pain_quality"],
];

/** The mask paths of the fields `edited` changes from `stored`, in a fixed order. */
export function correctionPaths(stored: Editable, edited: Editable): string[] {
  return PATHS.filter(([k]) => stored[k] !== edited[k]).map(([, path]) => path);
}

/** A 0-10 rating typed in a field: a whole number in range, or undefined when blank. */
export function parseRating(text: string): number | undefined | "invalid" {
  const t = text.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isInteger(n) && n >= 0 && n <= 10 ? n : "invalid";
}
