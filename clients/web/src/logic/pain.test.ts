import { describe, expect, it } from "vitest";
import { Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { isPicked, sessionSides, toLocations, togglePick } from "./pain";

const lateral = (r: string) => r !== "regions/sacrum";

describe("picks", () => {
  it("toggles a region and side", () => {
    let picks = togglePick([], { region: "regions/low_back", side: Side.LEFT });
    expect(isPicked(picks, { region: "regions/low_back", side: Side.LEFT })).toBe(true);
    expect(isPicked(picks, { region: "regions/low_back", side: Side.RIGHT })).toBe(false);
    picks = togglePick(picks, { region: "regions/low_back", side: Side.LEFT });
    expect(picks).toEqual([]);
  });
});

describe("toLocations", () => {
  it.each([
    ["one side", [["regions/low_back", Side.LEFT]], [["regions/low_back", Side.LEFT]]],
    ["both sides merge", [["regions/low_back", Side.LEFT], ["regions/low_back", Side.RIGHT]], [["regions/low_back", Side.BOTH]]],
    ["midline has no side", [["regions/sacrum", Side.MIDLINE]], [["regions/sacrum", Side.UNSPECIFIED]]],
    [
      "keeps the order first picked",
      [["regions/neck_side", Side.RIGHT], ["regions/sacrum", Side.MIDLINE], ["regions/neck_side", Side.LEFT]],
      [["regions/neck_side", Side.BOTH], ["regions/sacrum", Side.UNSPECIFIED]],
    ],
  ] as const)("%s", (_name, picks, want) => {
    const got = toLocations(
      picks.map(([region, side]) => ({ region, side })),
      lateral,
    );
    expect(got.map((l) => [l.region, l.side])).toEqual(want);
  });
});

describe("sessionSides", () => {
  it("offers the pressed side first", () => {
    expect(sessionSides(true, Side.LEFT)[0]).toBe(Side.LEFT);
    expect(sessionSides(true, Side.RIGHT)[0]).toBe(Side.RIGHT);
    expect(sessionSides(true, Side.BOTH)[0]).toBe(Side.BOTH);
    expect(sessionSides(false, Side.LEFT)).toEqual([Side.MIDLINE]);
  });
});
