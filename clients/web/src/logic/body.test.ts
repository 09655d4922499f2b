import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { BodyMapSchema, BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { cropBox, dotsFor, hasShape, hotspots, keyboardOrder, moveFocus, mirrorX, outlineOf, regionId, sections, sideAtX, targetRadii } from "./body";

describe("mirroring", () => {
  it("mirrors about the midline", () => {
    expect(mirrorX(0.565)).toBeCloseTo(0.435);
    expect(mirrorX(0.5)).toBe(0.5);
    expect(mirrorX(mirrorX(0.3))).toBeCloseTo(0.3);
  });

  const upperTrap = { x: 0.565, y: 0.16 }; // back view, person's right

  it.each([
    [Side.RIGHT, [[0.565, Side.RIGHT]]],
    [Side.LEFT, [[0.435, Side.LEFT]]],
    [Side.BOTH, [[0.565, Side.RIGHT], [0.435, Side.LEFT]]],
    [Side.UNSPECIFIED, [[0.565, Side.RIGHT], [0.435, Side.LEFT]]],
  ] as const)("bilateral point pressed on side %s", (side, want) => {
    const dots = dotsFor(upperTrap, true, side);
    expect(dots.map((d) => [Number(d.x.toFixed(3)), d.side])).toEqual(want);
    for (const d of dots) expect(d.y).toBe(0.16);
  });

  it("draws a midline point once, as given", () => {
    expect(dotsFor({ x: 0.5, y: 0.45 }, false, Side.LEFT)).toEqual([{ x: 0.5, y: 0.45, side: Side.MIDLINE }]);
  });
});

describe("side of a tap", () => {
  it.each([
    [BodyView.FRONT, 0.3, Side.RIGHT], // facing us: their right is on our left
    [BodyView.FRONT, 0.7, Side.LEFT],
    [BodyView.BACK, 0.3, Side.LEFT], // from behind: their right is on our right
    [BodyView.BACK, 0.7, Side.RIGHT],
    [BodyView.FRONT, 0.5, Side.MIDLINE],
    [BodyView.BACK, 0.505, Side.MIDLINE],
  ] as const)("view %s at x=%s is %s", (view, x, want) => {
    expect(sideAtX(view, x)).toBe(want);
  });
});

// A small body map as the catalog serves it: lateral regions on both sides
// (already mirrored), midline regions once.
const shape = (region: string, view: BodyView, side: Side, cx: number, cy: number, rx = 0.02, ry = 0.02) => ({
  region: `regions/${region}`,
  view,
  side,
  ellipse: { cx, cy, rx, ry },
});
const MAP = create(BodyMapSchema, {
  width: 700,
  height: 1000,
  outlines: [
    {
      view: BodyView.BACK,
      head: { cx: 0.5, cy: 0.06, rx: 0.05, ry: 0.06 },
      silhouette: [],
      guides: [{ vertices: [{ x: 0.5, y: 0.12 }, { x: 0.5, y: 0.47 }] }],
      svgPath: "M1,2 Z",
    },
  ],
  shapes: [
    shape("low_back", BodyView.BACK, Side.RIGHT, 0.54, 0.39),
    shape("low_back", BodyView.BACK, Side.LEFT, 0.46, 0.39),
    shape("sacrum", BodyView.BACK, Side.MIDLINE, 0.5, 0.45),
    shape("chest", BodyView.FRONT, Side.RIGHT, 0.44, 0.21),
    shape("chest", BodyView.FRONT, Side.LEFT, 0.56, 0.21),
    shape("toes", BodyView.FRONT, Side.RIGHT, 0.45, 0.99, 0.013, 0.005),
    shape("toes", BodyView.FRONT, Side.LEFT, 0.55, 0.99, 0.013, 0.005),
    shape("palm", BodyView.FRONT, Side.RIGHT, 0.35, 0.55),
    shape("palm", BodyView.FRONT, Side.LEFT, 0.65, 0.55),
  ],
});

describe("hotspots", () => {
  it("takes each view's shapes as served, sides kept", () => {
    const back = hotspots(MAP, BodyView.BACK);
    expect(back.map((h) => [regionId(h.region), h.side])).toEqual([
      ["low_back", Side.RIGHT],
      ["low_back", Side.LEFT],
      ["sacrum", Side.MIDLINE],
    ]);
    for (const h of back) expect(sideAtX(BodyView.BACK, h.cx)).toBe(h.side);
    for (const h of hotspots(MAP, BodyView.FRONT)) expect(sideAtX(BodyView.FRONT, h.cx)).toBe(h.side);
    expect(hotspots(undefined, BodyView.FRONT)).toEqual([]);
  });

  it("knows which regions the map draws", () => {
    expect(hasShape(MAP, "regions/chest")).toBe(true);
    expect(hasShape(MAP, "low_back")).toBe(true);
    expect(hasShape(MAP, "regions/not_drawn")).toBe(false);
  });
});

describe("outline", () => {
  it("scales the served outline to drawing units", () => {
    const o = outlineOf(MAP, BodyView.BACK)!;
    expect(o.path).toBe("M1,2 Z");
    expect(o.head).toEqual({ cx: 350, cy: 60, rx: 35, ry: 60 });
    expect(o.guides).toEqual(["350.0,120.0 350.0,470.0"]);
    expect(outlineOf(MAP, BodyView.FRONT)).toBeNull();
  });
});

describe("zoom sections", () => {
  const area: Record<string, string> = {
    "regions/chest": "Chest",
    "regions/toes": "Feet",
    "regions/palm": "Hands",
  };
  const front = hotspots(MAP, BodyView.FRONT);
  const groups = sections(front, BodyView.FRONT, (r) => area[r] ?? "Other");

  it("groups areas, splits the limbs by side, top to bottom", () => {
    expect(groups.map((g) => g.key)).toEqual(["trunk", "hand-right", "hand-left", "feet"]);
    expect(groups.find((g) => g.key === "hand-left")!.label).toBe("Left forearm and hand");
    const feet = groups.find((g) => g.key === "feet")!;
    expect(feet.spots.map((i) => front[i].side)).toEqual([Side.RIGHT, Side.LEFT]);
  });

  it("keeps every section no taller than 1.5 times its width", () => {
    for (const g of groups) expect(g.box.h).toBeLessThanOrEqual(1.5 * g.box.w + 1e-9);
  });

  it("grows small targets to 26 CSS px at the drawn scale, never shrinks them", () => {
    const toes = front.find((h) => regionId(h.region) === "toes")!;
    const r = targetRadii(toes, 2); // 2 px per unit: at least 6.5 units of radius
    expect(r.ry).toBeCloseTo(6.5);
    expect(r.rx).toBeCloseTo(9.1);
    expect(targetRadii(toes, 100).rx).toBeCloseTo(9.1);
  });
});

describe("cropBox", () => {
  it("centres on the dots and stays inside the drawing", () => {
    const b = cropBox([{ x: 0.5, y: 0.5 }], 300);
    expect(b).toEqual({ x: 200, y: 350, w: 300, h: 300 });
    const top = cropBox([{ x: 0.565, y: 0.05 }, { x: 0.435, y: 0.05 }], 300);
    expect(top.y).toBe(0);
    expect(top.x).toBeGreaterThanOrEqual(0);
    expect(top.x + top.w).toBeLessThanOrEqual(700);
    expect(cropBox([])).toEqual({ x: 0, y: 0, w: 700, h: 1000 });
    expect(cropBox([], 300, 350, 500)).toEqual({ x: 0, y: 0, w: 350, h: 500 });
  });
});

describe("keyboard", () => {
  const spot = (region: string, cx: number, cy: number) => ({ region, side: Side.MIDLINE, cx, cy, rx: 0.01, ry: 0.01 });

  it("walks top to bottom, then left to right", () => {
    const spots = [spot("knee", 0.45, 0.72), spot("head-r", 0.48, 0.05), spot("head-l", 0.52, 0.051), spot("chest", 0.44, 0.21)];
    expect(keyboardOrder(spots).map((i) => spots[i].region)).toEqual(["head-r", "head-l", "chest", "knee"]);
  });

  it.each([
    [0, "ArrowRight", 1],
    [2, "ArrowDown", 2],
    [0, "ArrowLeft", 0],
    [2, "ArrowUp", 1],
    [1, "Home", 0],
    [0, "End", 2],
    [1, "Tab", null],
  ] as const)("from %s, %s goes to %s", (pos, key, want) => {
    expect(moveFocus(pos, key, 3)).toBe(want);
  });

  it("has nowhere to go in an empty list", () => {
    expect(moveFocus(0, "ArrowRight", 0)).toBeNull();
  });
});
