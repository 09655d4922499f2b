// The body map's geometry as the catalog serves it (GetBodyMap): the outline,
// where each region is drawn, the zoom sections that keep every target at
// least 24x24 CSS px, and the left/right rules for regions and trigger points.
//
// Coordinates follow the catalog's chart convention: x is 0 at the left edge of
// the image and 1 at the right edge, y is 0 at the top of the head and 1 at the
// soles. The front view shows the person facing us, so the person's RIGHT side
// is on the image's left (x < 0.5); the back view shows the person from behind,
// so their RIGHT side is on the image's right (x > 0.5). Lateral trigger points
// are given for the person's right side and mirrored about x = 0.5 for the left.
// The catalog serves both sides of every lateral region already mirrored.

import { type BodyMap, BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";

/** The drawing's size in SVG user units when the map gives none. */
export const WIDTH = 700;
export const HEIGHT = 1000;

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

/** The region id from `regions/{id}` (or the id itself). */
export function regionId(name: string): string {
  return name.startsWith("regions/") ? name.slice("regions/".length) : name;
}

/** The drawing size of a map, in user units. */
export function drawingSize(map: BodyMap | undefined): { w: number; h: number } {
  return { w: map?.width || WIDTH, h: map?.height || HEIGHT };
}

/** The region shapes of one view, as the catalog serves them (both sides). */
export function hotspots(map: BodyMap | undefined, view: BodyView): Hotspot[] {
  if (!map) return [];
  return map.shapes
    .filter((s) => s.view === view && s.ellipse)
    .map((s) => ({ region: s.region, side: s.side, cx: s.ellipse!.cx, cy: s.ellipse!.cy, rx: s.ellipse!.rx, ry: s.ellipse!.ry }));
}

/** Whether the map draws this region. */
export function hasShape(map: BodyMap | undefined, name: string): boolean {
  const id = regionId(name);
  return !!map?.shapes.some((s) => regionId(s.region) === id);
}

/** What the figure of one view draws, in drawing units. */
export interface Outline {
  path: string;
  head: { cx: number; cy: number; rx: number; ry: number };
  guides: string[];
}

/** The outline of a view in drawing units, or null when the map has none. */
export function outlineOf(map: BodyMap | undefined, view: BodyView): Outline | null {
  const o = map?.outlines.find((x) => x.view === view);
  if (!map || !o || !o.head) return null;
  const { w, h } = drawingSize(map);
  return {
    path: o.svgPath,
    head: { cx: o.head.cx * w, cy: o.head.cy * h, rx: o.head.rx * w, ry: o.head.ry * h },
    guides: o.guides.map((g) => g.vertices.map((v) => `${(v.x * w).toFixed(1)},${(v.y * h).toFixed(1)}`).join(" ")),
  };
}

/** A box in drawing units. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * A viewBox (in drawing units) showing the points with some body around them,
 * for the small figures beside each candidate; the whole body when there are none.
 */
export function cropBox(dots: readonly NormPoint[], size = 320, w = WIDTH, h = HEIGHT): Box {
  if (dots.length === 0) return { x: 0, y: 0, w, h };
  const xs = dots.map((d) => d.x * w);
  const ys = dots.map((d) => d.y * h);
  const bw = Math.min(w, Math.max(size, Math.max(...xs) - Math.min(...xs) + size / 2));
  const bh = Math.min(h, Math.max(size, Math.max(...ys) - Math.min(...ys) + size / 2));
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
  const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const x = Math.min(w - bw, Math.max(0, cx - bw / 2));
  const y = Math.min(h - bh, Math.max(0, cy - bh / 2));
  return { x, y, w: bw, h: bh };
}

/** The normalized corners of an ellipse, for crop boxes. */
export function ellipseCorners(e: { cx: number; cy: number; rx: number; ry: number }): NormPoint[] {
  return [
    { x: e.cx - e.rx, y: e.cy - e.ry },
    { x: e.cx + e.rx, y: e.cy + e.ry },
  ];
}

/**
 * A zoom section of the map: a group of nearby regions shown close up, so
 * every region's target is large enough to tap. The limbs' sections are split
 * by side.
 */
export interface Section {
  key: string;
  label: string;
  view: BodyView;
  /** Indices into the view's hotspots. */
  spots: number[];
  /** The section's viewBox in drawing units. */
  box: Box;
}

/** How the body's areas (the catalog's `area` of each region) group into sections. */
const SECTION_OF_AREA: Record<string, { key: string; label: string; sided?: boolean }> = {
  "Head and jaw": { key: "head", label: "Head and neck" },
  Neck: { key: "head", label: "Head and neck" },
  Shoulders: { key: "trunk", label: "Shoulders and trunk" },
  Chest: { key: "trunk", label: "Shoulders and trunk" },
  "Upper and mid back": { key: "trunk", label: "Shoulders and trunk" },
  Abdomen: { key: "belly", label: "Abdomen and low back" },
  "Low back": { key: "belly", label: "Abdomen and low back" },
  Arms: { key: "arm", label: "upper arm and elbow", sided: true },
  Elbows: { key: "arm", label: "upper arm and elbow", sided: true },
  Forearms: { key: "hand", label: "forearm and hand", sided: true },
  Hands: { key: "hand", label: "forearm and hand", sided: true },
  "Hips and buttocks": { key: "hips", label: "Hips and thighs" },
  Thighs: { key: "hips", label: "Hips and thighs" },
  Knees: { key: "legs", label: "Knees and legs" },
  Legs: { key: "legs", label: "Knees and legs" },
  Ankles: { key: "feet", label: "Ankles and feet" },
  Feet: { key: "feet", label: "Ankles and feet" },
};

/** Sections taller than this (height / width) are widened: the screen is narrow. */
const MAX_ASPECT = 1.5;
/** Room around a section's shapes, in drawing units. */
const MARGIN = 14;

/**
 * Groups a view's hotspots into zoom sections, top to bottom. `areaOf` gives a
 * region's area; regions of an unknown area get a section of their own.
 */
export function sections(spots: readonly Hotspot[], view: BodyView, areaOf: (region: string) => string, size = { w: WIDTH, h: HEIGHT }): Section[] {
  const groups = new Map<string, Section>();
  spots.forEach((s, i) => {
    const area = areaOf(s.region);
    const def = SECTION_OF_AREA[area] ?? { key: `area-${area}`, label: area };
    const side = def.sided ? (s.side === Side.LEFT ? "left" : "right") : "";
    const key = side ? `${def.key}-${side}` : def.key;
    const label = side ? `${side === "left" ? "Left" : "Right"} ${def.label}` : def.label;
    const g = groups.get(key) ?? { key, label, view, spots: [], box: { x: 0, y: 0, w: 0, h: 0 } };
    g.spots.push(i);
    groups.set(key, g);
  });
  const out = [...groups.values()];
  for (const g of out) {
    const xs = g.spots.flatMap((i) => [(spots[i].cx - spots[i].rx) * size.w, (spots[i].cx + spots[i].rx) * size.w]);
    const ys = g.spots.flatMap((i) => [(spots[i].cy - spots[i].ry) * size.h, (spots[i].cy + spots[i].ry) * size.h]);
    let x0 = Math.min(...xs) - MARGIN;
    let x1 = Math.max(...xs) + MARGIN;
    let y0 = Math.min(...ys) - MARGIN;
    let y1 = Math.max(...ys) + MARGIN;
    if (y1 - y0 > MAX_ASPECT * (x1 - x0)) {
      const grow = ((y1 - y0) / MAX_ASPECT - (x1 - x0)) / 2;
      x0 -= grow;
      x1 += grow;
    }
    g.box = { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  const centre = (g: Section) => g.box.y + g.box.h / 2;
  return out.sort((a, b) => centre(a) - centre(b) || a.box.x - b.box.x);
}

/**
 * A hotspot's radii in drawing units, grown when needed so the target is at
 * least `minPx` CSS px across when drawn at `scale` px per unit (WCAG 2.5.8).
 */
export function targetRadii(h: Hotspot, scale: number, minPx = 26, size = { w: WIDTH, h: HEIGHT }): { rx: number; ry: number } {
  const min = minPx / 2 / Math.max(scale, 1e-6);
  return { rx: Math.max(h.rx * size.w, min), ry: Math.max(h.ry * size.h, min) };
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
