// The body map's geometry: the outline, where each catalog region is drawn, and
// the left/right rules for regions and trigger point dots.
//
// Coordinates follow the catalog's chart convention: x is 0 at the left edge of
// the image and 1 at the right edge, y is 0 at the top of the head and 1 at the
// soles. The front view shows the person facing us, so the person's RIGHT side
// is on the image's left (x < 0.5); the back view shows the person from behind,
// so their RIGHT side is on the image's right (x > 0.5). Lateral trigger points
// are given for the person's right side and mirrored about x = 0.5 for the left.

import { BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";

/** The SVG drawing is WIDTH x HEIGHT user units; normalized x,y scale by these. */
export const WIDTH = 700;
export const HEIGHT = 1000;
const CENTER = WIDTH / 2;

/** A point in normalized chart coordinates (0..1). */
export interface NormPoint {
  x: number;
  y: number;
}

/** Mirrors a normalized x about the midline. */
export function mirrorX(x: number): number {
  return 1 - x;
}

/** True when the person's right side appears on the left half of the image. */
export function rightIsImageLeft(view: BodyView): boolean {
  return view !== BodyView.BACK;
}

/** Which side of the person a tap at normalized `x` on `view` lands on. */
export function sideAtX(view: BodyView, x: number, midlineBand = 0.01): Side {
  if (Math.abs(x - 0.5) <= midlineBand) return Side.MIDLINE;
  const imageLeft = x < 0.5;
  return imageLeft === rightIsImageLeft(view) ? Side.RIGHT : Side.LEFT;
}

/** A trigger point dot ready to draw, with the side of the person it is on. */
export interface Dot extends NormPoint {
  side: Side;
}

/**
 * Where to draw a trigger point for the side(s) to press. The catalog gives a
 * bilateral point for the person's RIGHT side; the LEFT one is its mirror.
 * BOTH or an unspecified side draws both; a midline point is drawn as given.
 */
export function dotsFor(point: NormPoint, bilateral: boolean, side: Side): Dot[] {
  const right: Dot = { x: point.x, y: point.y, side: Side.RIGHT };
  const left: Dot = { x: mirrorX(point.x), y: point.y, side: Side.LEFT };
  if (!bilateral) return [{ x: point.x, y: point.y, side: Side.MIDLINE }];
  switch (side) {
    case Side.RIGHT:
      return [right];
    case Side.LEFT:
      return [left];
    default:
      return [right, left];
  }
}

/** An ellipse for one region on one side of the person, in normalized units. */
export interface Hotspot {
  /** `regions/{id}` */
  region: string;
  /** RIGHT or LEFT for lateral regions, MIDLINE otherwise. */
  side: Side;
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

/**
 * Where each region of the catalog's vocabulary lies on the outline, for the
 * person's RIGHT side: `dx` is the distance from the midline toward the right
 * side and `y` the height, in drawing units; `rx`/`ry` the ellipse radii.
 * A region whose id is not here is still offered in the list picker.
 */
const LAYOUT: Record<string, { dx: number; y: number; rx: number; ry: number }> = {
  // Front: head and neck.
  top_of_head: { dx: 0, y: 12, rx: 24, ry: 9 },
  forehead: { dx: 15, y: 30, rx: 14, ry: 10 },
  temple: { dx: 35, y: 44, rx: 7, ry: 11 },
  eye_area: { dx: 15, y: 53, rx: 11, ry: 6 },
  ear: { dx: 43, y: 66, rx: 5, ry: 11 },
  cheek: { dx: 22, y: 72, rx: 9, ry: 8 },
  teeth: { dx: 9, y: 90, rx: 8, ry: 5 },
  jaw: { dx: 26, y: 98, rx: 9, ry: 8 },
  neck_front: { dx: 0, y: 130, rx: 11, ry: 13 },
  neck_side: { dx: 21, y: 138, rx: 8, ry: 14 },
  // Front: shoulders, chest, arms, hands.
  shoulder_front: { dx: 92, y: 196, rx: 13, ry: 16 },
  shoulder_side: { dx: 116, y: 205, rx: 8, ry: 18 },
  armpit: { dx: 86, y: 240, rx: 7, ry: 10 },
  chest: { dx: 44, y: 215, rx: 32, ry: 30 },
  side_of_chest: { dx: 78, y: 290, rx: 9, ry: 32 },
  upper_arm_outer: { dx: 131, y: 270, rx: 5, ry: 34 },
  upper_arm_front: { dx: 116, y: 300, rx: 11, ry: 40 },
  upper_arm_inner: { dx: 101, y: 300, rx: 4, ry: 32 },
  elbow_outer: { dx: 132, y: 374, rx: 5, ry: 10 },
  elbow_front: { dx: 117, y: 374, rx: 10, ry: 11 },
  elbow_inner: { dx: 102, y: 374, rx: 5, ry: 10 },
  forearm_front: { dx: 114, y: 446, rx: 12, ry: 50 },
  wrist: { dx: 108, y: 518, rx: 11, ry: 7 },
  palm: { dx: 106, y: 548, rx: 11, ry: 15 },
  thumb: { dx: 121, y: 566, rx: 4, ry: 9 },
  fingers: { dx: 104, y: 592, rx: 9, ry: 12 },
  // Front: abdomen, hips, legs, feet.
  upper_abdomen: { dx: 0, y: 330, rx: 44, ry: 34 },
  lower_abdomen: { dx: 27, y: 410, rx: 25, ry: 28 },
  pelvis: { dx: 0, y: 478, rx: 22, ry: 20 },
  hip_side: { dx: 88, y: 482, rx: 9, ry: 22 },
  groin: { dx: 46, y: 500, rx: 15, ry: 10 },
  thigh_inner: { dx: 19, y: 600, rx: 7, ry: 50 },
  thigh_front: { dx: 50, y: 610, rx: 20, ry: 62 },
  thigh_outer: { dx: 81, y: 600, rx: 8, ry: 60 },
  knee_inner: { dx: 22, y: 732, rx: 6, ry: 12 },
  knee_front: { dx: 44, y: 726, rx: 13, ry: 16 },
  knee_outer: { dx: 66, y: 732, rx: 6, ry: 12 },
  shin: { dx: 38, y: 830, rx: 10, ry: 60 },
  leg_outer: { dx: 58, y: 830, rx: 7, ry: 55 },
  ankle_inner: { dx: 19, y: 946, rx: 5, ry: 7 },
  ankle_front: { dx: 32, y: 944, rx: 8, ry: 7 },
  ankle_outer: { dx: 46, y: 946, rx: 5, ry: 7 },
  top_of_foot: { dx: 32, y: 966, rx: 10, ry: 8 },
  outer_foot: { dx: 48, y: 980, rx: 5, ry: 8 },
  big_toe: { dx: 18, y: 990, rx: 6, ry: 6 },
  toes: { dx: 34, y: 992, rx: 9, ry: 5 },
  // Back.
  back_of_head: { dx: 16, y: 62, rx: 18, ry: 30 },
  neck_back: { dx: 12, y: 130, rx: 10, ry: 14 },
  upper_back: { dx: 22, y: 180, rx: 14, ry: 12 },
  shoulder_top: { dx: 66, y: 164, rx: 28, ry: 10 },
  shoulder_back: { dx: 108, y: 214, rx: 13, ry: 20 },
  shoulder_blade: { dx: 60, y: 226, rx: 21, ry: 30 },
  between_shoulder_blades: { dx: 20, y: 226, rx: 13, ry: 30 },
  mid_back: { dx: 44, y: 298, rx: 40, ry: 36 },
  low_back: { dx: 30, y: 388, rx: 28, ry: 30 },
  sacrum: { dx: 0, y: 446, rx: 15, ry: 20 },
  coccyx: { dx: 0, y: 488, rx: 7, ry: 8 },
  buttock: { dx: 50, y: 482, rx: 34, ry: 32 },
  upper_arm_back: { dx: 117, y: 300, rx: 14, ry: 45 },
  elbow_back: { dx: 117, y: 374, rx: 12, ry: 12 },
  forearm_back: { dx: 114, y: 446, rx: 12, ry: 50 },
  back_of_hand: { dx: 106, y: 562, rx: 12, ry: 26 },
  thigh_back: { dx: 50, y: 612, rx: 30, ry: 70 },
  knee_back: { dx: 44, y: 726, rx: 17, ry: 14 },
  calf: { dx: 42, y: 820, rx: 20, ry: 55 },
  achilles: { dx: 32, y: 916, rx: 7, ry: 18 },
  heel: { dx: 30, y: 962, rx: 10, ry: 9 },
  sole_arch: { dx: 34, y: 982, rx: 9, ry: 6 },
  ball_of_foot: { dx: 40, y: 994, rx: 10, ry: 5 },
};

/** The region id from `regions/{id}` (or the id itself). */
export function regionId(name: string): string {
  return name.startsWith("regions/") ? name.slice("regions/".length) : name;
}

/** Whether the body map knows where to draw this region. */
export function hasLayout(name: string): boolean {
  return regionId(name) in LAYOUT;
}

/** A region as the body map needs it (a subset of the catalog's Region). */
export interface MapRegion {
  name: string;
  view: BodyView;
  lateral: boolean;
}

/**
 * The tappable ellipses for one view: one per side for a lateral region (the
 * left one mirrored), one on the midline otherwise. Regions of the other view,
 * or without a layout, are left out.
 */
export function hotspots(regions: readonly MapRegion[], view: BodyView): Hotspot[] {
  const out: Hotspot[] = [];
  const towardRight = rightIsImageLeft(view) ? -1 : 1;
  for (const r of regions) {
    if (r.view !== view) continue;
    const l = LAYOUT[regionId(r.name)];
    if (!l) continue;
    const base = { region: r.name, cy: l.y / HEIGHT, rx: l.rx / WIDTH, ry: l.ry / HEIGHT };
    if (!r.lateral || l.dx === 0) {
      out.push({ ...base, side: Side.MIDLINE, cx: 0.5 });
      continue;
    }
    const right = (CENTER + towardRight * l.dx) / WIDTH;
    out.push({ ...base, side: Side.RIGHT, cx: right });
    out.push({ ...base, side: Side.LEFT, cx: mirrorX(right) });
  }
  return out;
}

/**
 * One half of the outline, as (distance from the midline, height) pairs, from
 * the neck down the outside of the arm, back up its inside to the armpit, down
 * the flank and the outside of the leg, and up the inside of the leg to the
 * crotch. The other half is its mirror.
 */
const HALF: ReadonlyArray<readonly [number, number]> = [
  [22, 112], [25, 134], [34, 143], [78, 158], [104, 175], [118, 191], [125, 214],
  [132, 262], [136, 322], [135, 372], [130, 432], [123, 500], [117, 520], [123, 558],
  [114, 600], [102, 614], [93, 600], [94, 560], [97, 522], [101, 462], [101, 382],
  [99, 320], [95, 248], [89, 252], [86, 300], [74, 398], [86, 462], [93, 520],
  [90, 600], [70, 718], [69, 762], [66, 822], [48, 936], [51, 982], [38, 998],
  [16, 996], [15, 952], [17, 822], [14, 742], [10, 604], [0, 532],
];

/** Catmull-Rom through closed points, as cubic Bezier segments. */
export function smoothClosedPath(points: ReadonlyArray<readonly [number, number]>): string {
  const n = points.length;
  if (n < 3) return "";
  const p = (i: number) => points[((i % n) + n) % n];
  const f = (v: number) => Number(v.toFixed(1));
  let d = `M${f(p(0)[0])},${f(p(0)[1])}`;
  for (let i = 0; i < n; i++) {
    const [x0, y0] = p(i - 1);
    const [x1, y1] = p(i);
    const [x2, y2] = p(i + 1);
    const [x3, y3] = p(i + 2);
    const c1x = x1 + (x2 - x0) / 6;
    const c1y = y1 + (y2 - y0) / 6;
    const c2x = x2 - (x3 - x1) / 6;
    const c2y = y2 - (y3 - y1) / 6;
    d += ` C${f(c1x)},${f(c1y)} ${f(c2x)},${f(c2y)} ${f(x2)},${f(y2)}`;
  }
  return d + " Z";
}

/** The body silhouette (without the head) as an SVG path in drawing units. */
export function outlinePath(): string {
  const left = HALF.map(([dx, y]) => [CENTER - dx, y] as const);
  const right = [...HALF].reverse().map(([dx, y]) => [CENTER + dx, y] as const);
  // Drop the duplicated crotch point where the halves meet.
  return smoothClosedPath([...left, ...right.slice(1)]);
}

/** The head, as an ellipse in drawing units. */
export const HEAD = { cx: CENTER, cy: 62, rx: 40, ry: 58 } as const;

/**
 * A viewBox (in drawing units) showing the dots with some body around them, for
 * the small figures beside each candidate; the whole body when there are none.
 */
export function cropBox(dots: readonly NormPoint[], size = 320): { x: number; y: number; w: number; h: number } {
  if (dots.length === 0) return { x: 0, y: 0, w: WIDTH, h: HEIGHT };
  const xs = dots.map((d) => d.x * WIDTH);
  const ys = dots.map((d) => d.y * HEIGHT);
  const w = Math.min(WIDTH, Math.max(size, Math.max(...xs) - Math.min(...xs) + size / 2));
  const h = Math.min(HEIGHT, Math.max(size, Math.max(...ys) - Math.min(...ys) + size / 2));
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
  const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const x = Math.min(WIDTH - w, Math.max(0, cx - w / 2));
  const y = Math.min(HEIGHT - h, Math.max(0, cy - h / 2));
  return { x, y, w, h };
}

/**
 * The keyboard order of hotspots: top to bottom, then across the image, so the
 * arrow keys walk the body in reading order. Returns indices into `spots`.
 */
export function keyboardOrder(spots: readonly Hotspot[]): number[] {
  return spots
    .map((h, i) => ({ i, row: Math.round(h.cy * 50), cx: h.cx }))
    .sort((a, b) => a.row - b.row || a.cx - b.cx)
    .map((x) => x.i);
}

/** Where an arrow, Home or End key moves in a list of `count`; null for other keys. */
export function moveFocus(pos: number, key: string, count: number): number | null {
  if (count === 0) return null;
  switch (key) {
    case "ArrowRight":
    case "ArrowDown":
      return Math.min(count - 1, pos + 1);
    case "ArrowLeft":
    case "ArrowUp":
      return Math.max(0, pos - 1);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return null;
  }
}
