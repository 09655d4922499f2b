import { describe, expect, it } from "vitest";
import { PainQuality } from "../gen/knotwork/session/v1/session_pb";
import { correctionPaths, type Editable, parseRating } from "./journal";

const stored: Editable = { tendernessBefore: 7, tendernessAfter: 4, pressure: 5, durationSeconds: 180, painQuality: PainQuality.SHARP };

describe("correcting a logged session", () => {
  it.each([
    [{}, []],
    [{ tendernessAfter: 3 }, ["tenderness_after"]],
    [{ tendernessBefore: undefined }, ["tenderness_before"]],
    [{ painQuality: PainQuality.ACHING, pressure: 4 }, ["pressure", "pain_quality"]],
    [{ durationSeconds: 240, tendernessBefore: 6 }, ["tenderness_before", "duration_seconds"]],
  ] as [Partial<Editable>, string[]][])("%o changes %o", (change, paths) => {
    expect(correctionPaths(stored, { ...stored, ...change })).toEqual(paths);
  });

  it.each([
    ["", undefined],
    [" 4 ", 4],
    ["0", 0],
    ["10", 10],
    ["11", "invalid"],
    ["2.5", "invalid"],
    ["x", "invalid"],
  ] as const)("reads the rating %j as %j", (text, want) => {
    expect(parseRating(text)).toBe(want);
  });
});
