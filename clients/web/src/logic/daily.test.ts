import { describe, expect, it } from "vitest";
import { addDays, adherence, assembleReport, byRegion, painDays, painSummary, type ReportChoice, streak } from "./daily";
import { chartGeometry } from "./chart";

describe("pain check-ins", () => {
  it("says how a region moved", () => {
    const check = (scores: { localDate: string; score: number }[], want: string) => expect(painSummary("Low back", scores)).toBe(want);
    check([{ localDate: "2026-11-20", score: 6 }, { localDate: "2026-11-29", score: 3 }], "Low back: 6 → 3 over 9 days");
    check([{ localDate: "2026-11-29", score: 3 }, { localDate: "2026-11-20", score: 6 }], "Low back: 6 → 3 over 9 days");
    check([{ localDate: "2026-11-28", score: 5 }, { localDate: "2026-11-29", score: 5 }], "Low back: 5 → 5 over 1 day");
    check([{ localDate: "2026-11-29", score: 4 }], "Low back: 4 on 29 Nov");
    check([], "Low back: no check-ins");
  });

  it("charts the scores on the 0-10 axis, one point a day", () => {
    const days = painDays([{ localDate: "2026-11-20", score: 6 }, { localDate: "2026-11-29", score: 3 }]);
    const g = chartGeometry(days);
    expect(g.after.map((p) => p.value)).toEqual([6, 3]);
    expect(g.before).toEqual([]);
    expect(g.after[0].x).toBeLessThan(g.after[1].x);
    expect(g.after[0].y).toBeLessThan(g.after[1].y);
  });

  it("groups by region, oldest day first", () => {
    const m = byRegion([
      { region: "regions/low_back", localDate: "2026-11-02", score: 4 },
      { region: "regions/neck", localDate: "2026-11-01", score: 2 },
      { region: "regions/low_back", localDate: "2026-11-01", score: 6 },
    ]);
    expect(m.get("regions/low_back")).toEqual([{ localDate: "2026-11-01", score: 6 }, { localDate: "2026-11-02", score: 4 }]);
    expect(m.get("regions/neck")).toHaveLength(1);
  });
});

describe("streaks and adherence", () => {
  it("counts days in a row up to today, or yesterday before today's first session", () => {
    const check = (dates: string[], today: string, want: number) => expect(streak(dates, today)).toBe(want);
    check(["2026-12-01", "2026-12-02", "2026-11-30"], "2026-12-02", 3);
    check(["2026-12-01", "2026-11-30"], "2026-12-02", 2);
    check(["2026-11-29", "2026-12-02"], "2026-12-02", 1);
    check(["2026-11-29"], "2026-12-02", 0);
    check([], "2026-12-02", 0);
    check(["2026-02-28", "2026-03-01"], "2026-03-01", 2);
  });

  it("counts active days and sessions in a range", () => {
    const a = adherence(["2026-11-01", "2026-11-01", "2026-11-02", "2026-11-04", "2026-10-31", "2026-11-08"], "2026-11-01", "2026-11-07");
    expect(a).toEqual({ days: 7, activeDays: 3, sessions: 4, perDay: 0.6, longestStreak: 2 });
    expect(adherence([], "2026-11-07", "2026-11-01").days).toBe(0);
  });

  it("shifts dates across months", () => {
    expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
  });
});

describe("assembleReport", () => {
  const input = {
    sessions: [
      { point: "triggerPoints/a", localDate: "2026-11-01", tendernessBefore: 8, tendernessAfter: 6, warnings: [] },
      { point: "triggerPoints/a", localDate: "2026-11-01", tendernessBefore: 6, tendernessAfter: 4, warnings: [] },
      {
        point: "triggerPoints/b",
        localDate: "2026-11-03",
        tendernessAfter: 3,
        warnings: [
          { message: "Pressure above the target", medical: false },
          { message: "Sharp pain: see a provider", medical: true },
        ],
      },
      { point: "triggerPoints/c", localDate: "2026-10-01", tendernessAfter: 3, warnings: [{ message: "old", medical: true }] },
    ],
    checkIns: [
      { region: "regions/low_back", localDate: "2026-11-01", score: 6 },
      { region: "regions/low_back", localDate: "2026-11-05", score: 3 },
      { region: "regions/neck", localDate: "2026-10-01", score: 9 },
    ],
    holds: [
      { point: "triggerPoints/b", why: "Sharp pain", advice: "See a provider", sinceDate: "2026-11-03", active: true, providerCheckedDate: "" },
      { point: "triggerPoints/c", why: "Old", advice: "", sinceDate: "2026-09-01", active: false, providerCheckedDate: "2026-09-10" },
    ],
    regionName: (r: string) => (r === "regions/low_back" ? "Low back" : "Neck"),
    pointName: (p: string) => p.replace("triggerPoints/", "Point "),
  };
  const all: ReportChoice = { start: "2026-11-01", end: "2026-11-07", pain: true, tenderness: true, adherence: true, holds: true, warnings: true };

  it("keeps the chosen range", () => {
    const r = assembleReport(input, all);
    expect(r.range).toBe("1 Nov 2026 – 7 Nov 2026");
    expect(r.pain?.map((p) => p.summary)).toEqual(["Low back: 6 → 3 over 4 days"]);
    expect(r.tenderness?.map((t) => [t.name, t.sessions])).toEqual([["Point a", 2], ["Point b", 1]]);
    expect(r.tenderness?.[0].days).toEqual([{ date: "2026-11-01", before: 7, after: 5 }]);
    expect(r.tenderness?.[1].days).toEqual([{ date: "2026-11-03", before: undefined, after: 3 }]);
    expect(r.adherence).toMatchObject({ days: 7, activeDays: 2, sessions: 3 });
    expect(r.holds?.map((h) => [h.name, h.status])).toEqual([["Point b", "on hold"]]);
    // "See a provider" first.
    expect(r.warnings?.map((w) => [w.message, w.medical])).toEqual([
      ["Sharp pain: see a provider", true],
      ["Pressure above the target", false],
    ]);
  });

  it("leaves out what was not chosen", () => {
    const r = assembleReport(input, { ...all, pain: false, warnings: false, holds: false });
    expect(r.pain).toBeUndefined();
    expect(r.warnings).toBeUndefined();
    expect(r.holds).toBeUndefined();
    expect(r.tenderness).toBeDefined();
  });

  it("lists a released hold that applied within the range", () => {
    const r = assembleReport(input, { ...all, start: "2026-09-05", end: "2026-09-30" });
    expect(r.holds?.map((h) => h.status)).toEqual(["released after a provider's check on 2026-09-10"]);
    expect(r.tenderness).toEqual([]);
    expect(r.pain).toEqual([]);
  });
});
