import { describe, expect, it } from "vitest";
import { DEFAULT_BOX, chartGeometry, dayNumber, shortDate } from "./chart";

const box = { width: 200, height: 120, padLeft: 20, padRight: 0, padTop: 10, padBottom: 10 };

describe("dates", () => {
  it("counts calendar days", () => {
    expect(dayNumber("2026-11-28") - dayNumber("2026-11-27")).toBe(1);
    expect(dayNumber("2026-03-01") - dayNumber("2026-02-28")).toBe(1);
    expect(Number.isNaN(dayNumber("27/11/2026"))).toBe(true);
    expect(shortDate("2026-11-27")).toBe("27 Nov");
  });
});

describe("chartGeometry", () => {
  it("maps 0..10 to the plot's bottom..top", () => {
    const g = chartGeometry([{ date: "2026-11-01", before: 0 }, { date: "2026-11-03", before: 10 }], box);
    expect(g.before[0]).toMatchObject({ x: 20, y: 110 });
    expect(g.before[1]).toMatchObject({ x: 200, y: 10 });
    expect(g.yTicks.map((t) => t.label)).toEqual(["0", "5", "10"]);
    expect(g.yTicks[1].y).toBe(60);
  });

  it("spaces days by the calendar, so gaps show", () => {
    const g = chartGeometry(
      [{ date: "2026-11-01", after: 4 }, { date: "2026-11-02", after: 4 }, { date: "2026-11-05", after: 3 }],
      box,
    );
    expect(g.after.map((p) => p.x)).toEqual([20, 65, 200]);
    expect(g.xTicks.map((t) => [t.label, t.anchor])).toEqual([
      ["1 Nov", "start"],
      ["5 Nov", "end"],
    ]);
  });

  it("centres a single day and skips missing values", () => {
    const g = chartGeometry([{ date: "2026-11-27", before: 6 }], box);
    expect(g.before).toHaveLength(1);
    expect(g.before[0].x).toBe(110);
    expect(g.xTicks).toEqual([{ x: 110, label: "27 Nov", anchor: "middle" }]);
    expect(g.after).toEqual([]);
    expect(g.afterPath).toBe("");
    expect(g.beforePath).toBe("M110.0,50.0");
  });

  it("sorts days and clamps out-of-range values", () => {
    const g = chartGeometry([{ date: "2026-11-05", before: 12 }, { date: "2026-11-01", before: -1 }], box);
    expect(g.before.map((p) => p.date)).toEqual(["2026-11-01", "2026-11-05"]);
    expect(g.before.map((p) => p.y)).toEqual([110, 10]);
    expect(g.beforePath).toBe("M20.0,110.0 L200.0,10.0");
  });

  it("draws nothing for no data", () => {
    const g = chartGeometry([], DEFAULT_BOX);
    expect(g.before).toEqual([]);
    expect(g.xTicks).toEqual([]);
  });
});
