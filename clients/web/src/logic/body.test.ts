import { describe, expect, it } from "vitest";
import { BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { cropBox, dotsFor, hasLayout, hotspots, keyboardOrder, moveFocus, mirrorX, outlinePath, regionId, sideAtX, smoothClosedPath } from "./body";

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

describe("hotspots", () => {
  const regions = [
    { name: "regions/low_back", view: BodyView.BACK, lateral: true },
    { name: "regions/sacrum", view: BodyView.BACK, lateral: false },
    { name: "regions/chest", view: BodyView.FRONT, lateral: true },
    { name: "regions/not_drawn", view: BodyView.BACK, lateral: true },
  ];

  it("draws lateral regions once per side, mirrored, on their own view", () => {
    const back = hotspots(regions, BodyView.BACK);
    expect(back.map((h) => [regionId(h.region), h.side])).toEqual([
      ["low_back", Side.RIGHT],
      ["low_back", Side.LEFT],
      ["sacrum", Side.MIDLINE],
    ]);
    const [right, left] = back;
    expect(right.cx).toBeGreaterThan(0.5); // back view: right side on the image's right
    expect(left.cx).toBeCloseTo(1 - right.cx);
    expect(back[2].cx).toBe(0.5);
    for (const h of back) expect(sideAtX(BodyView.BACK, h.cx)).toBe(h.side);
  });

  it("puts the person's right on the image's left in the front view", () => {
    const front = hotspots(regions, BodyView.FRONT);
    expect(front).toHaveLength(2);
    const right = front.find((h) => h.side === Side.RIGHT)!;
    expect(right.cx).toBeLessThan(0.5);
    for (const h of front) expect(sideAtX(BodyView.FRONT, h.cx)).toBe(h.side);
  });

  it("knows the catalog's vocabulary but not unknown ids", () => {
    expect(hasLayout("regions/neck_side")).toBe(true);
    expect(hasLayout("low_back")).toBe(true);
    expect(hasLayout("regions/not_drawn")).toBe(false);
  });
});

describe("outline", () => {
  it("is a closed, symmetric path", () => {
    const d = outlinePath();
    expect(d.startsWith("M")).toBe(true);
    expect(d.endsWith("Z")).toBe(true);
    const nums = d.match(/-?\d+(\.\d+)?/g)!.map(Number);
    const xs = nums.filter((_, i) => i % 2 === 0);
    expect(Math.min(...xs) + Math.max(...xs)).toBeCloseTo(700, 0);
  });

  it("needs three points", () => {
    expect(smoothClosedPath([[0, 0], [1, 1]])).toBe("");
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
