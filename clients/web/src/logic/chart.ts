// Scales a trigger point's daily tenderness into an SVG line chart.

/** One local day of tenderness on a point (means, 0-10; absent when not measured). */
export interface DayValue {
  /** YYYY-MM-DD */
  date: string;
  before?: number;
  after?: number;
}

/** Chart size in SVG units and the room left for the axes. */
export interface ChartBox {
  width: number;
  height: number;
  padLeft: number;
  padRight: number;
  padTop: number;
  padBottom: number;
}

/** One plotted value. */
export interface Plotted {
  x: number;
  y: number;
  date: string;
  value: number;
}

/** Everything the chart component draws. */
export interface ChartGeometry {
  before: Plotted[];
  after: Plotted[];
  beforePath: string;
  afterPath: string;
  xTicks: { x: number; label: string; anchor: "start" | "middle" | "end" }[];
  yTicks: { y: number; label: string }[];
  plot: { left: number; right: number; top: number; bottom: number };
}

export const DEFAULT_BOX: ChartBox = {
  width: 340,
  height: 200,
  padLeft: 30,
  padRight: 12,
  padTop: 12,
  padBottom: 28,
};

/** The tenderness scale's top. */
export const MAX_TENDERNESS = 10;

/** Days since 1970-01-01 of a YYYY-MM-DD date, or NaN when malformed. */
export function dayNumber(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return Number.NaN;
  return Math.round(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000);
}

/** "2026-11-27" -> "27 Nov". */
export function shortDate(date: string): string {
  const n = dayNumber(date);
  if (Number.isNaN(n)) return date;
  const d = new Date(n * 86_400_000);
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getUTCMonth()];
  return `${d.getUTCDate()} ${month}`;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function pathOf(points: readonly Plotted[]): string {
  return points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
}

/**
 * Places each day on a time axis (calendar days, so gaps show as gaps) and each
 * value on a fixed 0-10 axis (so charts of different points compare). A single
 * day sits in the middle. Values outside 0-10 are clamped; malformed dates are
 * skipped.
 */
export function chartGeometry(days: readonly DayValue[], box: ChartBox = DEFAULT_BOX): ChartGeometry {
  const plot = {
    left: box.padLeft,
    right: box.width - box.padRight,
    top: box.padTop,
    bottom: box.height - box.padBottom,
  };
  const valid = days.filter((d) => !Number.isNaN(dayNumber(d.date)));
  const nums = valid.map((d) => dayNumber(d.date));
  const first = nums.length ? Math.min(...nums) : 0;
  const last = nums.length ? Math.max(...nums) : 0;
  const span = last - first;
  const xOf = (date: string) =>
    span === 0 ? (plot.left + plot.right) / 2 : plot.left + ((dayNumber(date) - first) / span) * (plot.right - plot.left);
  const yOf = (v: number) => plot.bottom - (clamp(v, 0, MAX_TENDERNESS) / MAX_TENDERNESS) * (plot.bottom - plot.top);

  const sorted = [...valid].sort((a, b) => dayNumber(a.date) - dayNumber(b.date));
  const series = (pick: (d: DayValue) => number | undefined): Plotted[] =>
    sorted.flatMap((d) => {
      const v = pick(d);
      return v === undefined || Number.isNaN(v) ? [] : [{ x: xOf(d.date), y: yOf(v), date: d.date, value: v }];
    });
  const before = series((d) => d.before);
  const after = series((d) => d.after);

  // The first and last days are labelled, anchored inwards so they never spill out.
  const xTicks: ChartGeometry["xTicks"] = [];
  if (sorted.length) {
    const firstDay = sorted[0];
    const lastDay = sorted[sorted.length - 1];
    xTicks.push({ x: xOf(firstDay.date), label: shortDate(firstDay.date), anchor: span > 0 ? "start" : "middle" });
    if (span > 0) xTicks.push({ x: xOf(lastDay.date), label: shortDate(lastDay.date), anchor: "end" });
  }
  const yTicks = [0, 5, 10].map((v) => ({ y: yOf(v), label: String(v) }));

  return { before, after, beforePath: pathOf(before), afterPath: pathOf(after), xTicks, yTicks, plot };
}
