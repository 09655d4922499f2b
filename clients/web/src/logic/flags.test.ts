import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RedFlagAction, RedFlagSchema } from "../gen/knotwork/catalog/v1/catalog_pb";
import { foldedLine, splitRedFlags } from "./flags";

const flag = (name: string, action: RedFlagAction) => create(RedFlagSchema, { name: `redFlags/${name}`, action });

describe("red flags by urgency", () => {
  it("puts URGENT_CARE apart and keeps the API's order in both halves", () => {
    const { urgent, rest } = splitRedFlags([
      flag("cauda_equina", RedFlagAction.URGENT_CARE),
      flag("acute_abdomen", RedFlagAction.URGENT_CARE),
      flag("sharp_pain", RedFlagAction.SEEK_MEDICAL_ATTENTION),
      flag("abdominal_organ_pain", RedFlagAction.RULE_OUT_FIRST),
      flag("worse_with_massage", RedFlagAction.STOP_SESSION),
    ]);
    expect(urgent.map((f) => f.name)).toEqual(["redFlags/cauda_equina", "redFlags/acute_abdomen"]);
    expect(rest.map((f) => f.name)).toEqual(["redFlags/sharp_pain", "redFlags/abdominal_organ_pain", "redFlags/worse_with_massage"]);
  });

  it("folds the rest under one line", () => {
    expect(foldedLine(6)).toBe("Before you start: 6 reasons to see a provider first");
    expect(foldedLine(1)).toBe("Before you start: 1 reason to see a provider first");
  });
});
