// Words for the contract's enums and resource names.

import { Side, StructureKind } from "../gen/knotwork/catalog/v1/catalog_pb";
import {
  GuideCue,
  PainQuality,
  ProgressStatus,
  ScreeningStatus,
  WarningSeverity,
} from "../gen/knotwork/session/v1/session_pb";

export function sideLabel(side: Side): string {
  switch (side) {
    case Side.LEFT:
      return "left";
    case Side.RIGHT:
      return "right";
    case Side.BOTH:
      return "both sides";
    case Side.MIDLINE:
      return "middle";
    default:
      return "";
  }
}

export const PAIN_QUALITIES: { value: PainQuality; label: string }[] = [
  { value: PainQuality.DULL, label: "Dull" },
  { value: PainQuality.ACHING, label: "Aching" },
  { value: PainQuality.BURNING, label: "Burning" },
  { value: PainQuality.TINGLING, label: "Tingling" },
  { value: PainQuality.SHARP, label: "Sharp" },
];

export function cueLabel(cue: GuideCue): string {
  switch (cue) {
    case GuideCue.START:
      return "Get into position";
    case GuideCue.PRESS_AND_HOLD:
      return "Press and hold";
    case GuideCue.TICK:
      return "Keep holding";
    case GuideCue.HALFWAY:
      return "Halfway";
    case GuideCue.SWITCH_SIDE:
      return "Switch side";
    case GuideCue.STOP:
      return "Stop";
    default:
      return "";
  }
}

export function progressLabel(status: ProgressStatus): string {
  switch (status) {
    case ProgressStatus.INSUFFICIENT_DATA:
      return "Too early to tell";
    case ProgressStatus.IMPROVING:
      return "Improving";
    case ProgressStatus.NOT_IMPROVING:
      return "Not improving";
    case ProgressStatus.WORSENING:
      return "Worsening";
    default:
      return "Unknown";
  }
}

export function screeningLabel(status: ScreeningStatus): string {
  switch (status) {
    case ScreeningStatus.REQUIRED:
      return "Screening needed";
    case ScreeningStatus.CLEARED:
      return "Cleared for self-massage";
    case ScreeningStatus.CONTRAINDICATED:
      return "Self-massage ruled out";
    default:
      return "Unknown";
  }
}

export function severityLabel(s: WarningSeverity): string {
  switch (s) {
    case WarningSeverity.MEDICAL_ATTENTION:
      return "Seek medical attention";
    case WarningSeverity.CAUTION:
      return "Caution";
    case WarningSeverity.INFO:
      return "Note";
    default:
      return "Warning";
  }
}

export function structureLabel(k: StructureKind): string {
  switch (k) {
    case StructureKind.ARTERY:
      return "Artery";
    case StructureKind.LYMPH_NODE:
      return "Lymph node";
    case StructureKind.NERVE:
      return "Nerve";
    case StructureKind.BONE:
      return "Bone";
    case StructureKind.ORGAN:
      return "Organ";
    case StructureKind.VEIN:
      return "Vein";
    default:
      return "Structure";
  }
}

/** "triggerPoints/upper_trapezius_1" -> "upper trapezius 1" (a fallback when the display name is unknown). */
export function humanizeName(name: string): string {
  const id = name.includes("/") ? name.slice(name.indexOf("/") + 1) : name;
  return id.replace(/_/g, " ");
}

/**
 * A tool's display name inside a sentence, after "with": "Foam roller" ->
 * "the foam roller", "QL Claw" -> "the QL Claw" (a name with capitals of
 * its own keeps them), "Your own knuckles or elbow" -> "your own knuckles
 * or elbow", "A partner's hands" -> "a partner's hands".
 */
export function toolInSentence(displayName: string): string {
  if (/^(A|An|Your) /.test(displayName)) return displayName[0].toLowerCase() + displayName.slice(1);
  const plain = /^[A-Z][^A-Z]*$/.test(displayName) ? displayName[0].toLowerCase() + displayName.slice(1) : displayName;
  return `the ${plain}`;
}

/** "a", "a or b", "a, b or c". */
export function orList(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

/** The tools a point must not be worked with, by display name, as one line:
 * "Not with the foam roller or the massage gun." */
export function notWithTools(displayNames: readonly string[]): string {
  return `Not with ${orList(displayNames.map(toolInSentence))}.`;
}

/** The same tools when the person owns no other that works the point, as
 * one stop: "None of your tools can be used on this point: not with the
 * foam roller or the massage gun." */
export function noToolLeft(displayNames: readonly string[]): string {
  return `None of your tools can be used on this point: not with ${orList(displayNames.map(toolInSentence))}.`;
}

/** The id part of a resource name: "tools/tennis_ball" -> "tennis_ball". */
export function idOf(name: string): string {
  return name.includes("/") ? name.slice(name.lastIndexOf("/") + 1) : name;
}

/** "2026-12-04T21:41:05+01:00" -> "2026-12-04 21:41": a local time as
 * the person reads it. */
export function localMinute(rfc3339: string): string {
  return rfc3339.replace("T", " ").slice(0, 16);
}

/** "1 day", "3 days". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The streak and the week's adherence (ListProgress's), in words. A week
 * with nothing planned (every point set aside or on hold) has no share to
 * show: "0 of 0 planned sessions (0%)" would read as a failure. */
export function weekLine(a: {
  streakDays: number;
  weekSessionsDone: number;
  weekSessionsPlanned: number;
  weekActiveDays: number;
  weekPercent: number;
}): string {
  const streak = `${plural(a.streakDays, "day")} in a row`;
  if (a.weekSessionsPlanned === 0) {
    return `${streak} · this week nothing planned, sessions on ${plural(a.weekActiveDays, "day")}`;
  }
  return `${streak} · this week ${a.weekSessionsDone} of ${a.weekSessionsPlanned} planned sessions (${a.weekPercent}%) on ${plural(a.weekActiveDays, "day")}`;
}
