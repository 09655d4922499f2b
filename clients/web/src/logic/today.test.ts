import { describe, expect, it } from "vitest";
import { localClock, longDate, todayView, type TodayLike } from "./today";

const day = (localDate: string, sessionCount: number) => ({ localDate, sessionCount });

describe("todayView", () => {
  it("plans the points worked lately, with what is left today", () => {
    const t: TodayLike = {
      day: {
        localDate: "2026-12-02",
        sessions: [{ triggerPoint: "triggerPoints/a" }, { triggerPoint: "triggerPoints/a" }],
        allowances: [
          { triggerPoint: "triggerPoints/a", sessionsDone: 2, sessionsRemaining: 4, nextAllowedLocalTime: "", onHold: false },
        ],
      },
      progress: [
        { triggerPoint: "triggerPoints/b", status: 1, days: [day("2026-11-29", 1)] },
        { triggerPoint: "triggerPoints/a", status: 2, days: [day("2026-12-01", 3), day("2026-12-02", 2)] },
        { triggerPoint: "triggerPoints/held", status: 4, days: [day("2026-12-01", 1)] },
      ],
      setAside: [{ triggerPoint: "triggerPoints/held", reason: "POINT_ON_HOLD", message: "On hold", advice: "See a provider" }],
    };
    const v = todayView(t);
    expect(v.plan.map((p) => [p.point, p.done, p.left])).toEqual([
      ["triggerPoints/a", 2, 4],
      ["triggerPoints/b", 0, undefined],
    ]);
    expect(v.sessionsToday).toBe(2);
    expect(v.streak).toBe(2);
    expect(v.week).toEqual({ sessions: 7, activeDays: 3 });
    expect(v.setAside).toHaveLength(1);
  });

  it("shows when the next session is allowed once the day's limit is used", () => {
    const v = todayView({
      day: {
        localDate: "2026-12-02",
        sessions: [],
        allowances: [{ triggerPoint: "triggerPoints/a", sessionsDone: 6, sessionsRemaining: 0, nextAllowedLocalTime: "2026-12-03T00:00:00+01:00", onHold: false }],
      },
      progress: [],
      setAside: [],
    });
    expect(v.plan).toEqual([
      { point: "triggerPoints/a", done: 6, left: 0, nextAllowed: "2026-12-03T00:00:00+01:00", onHold: false },
    ]);
    expect(localClock("2026-12-03T07:05:00+01:00")).toBe("07:05");
  });

  it("is empty for a new person", () => {
    const v = todayView({ day: { localDate: "2026-12-02", sessions: [], allowances: [] }, progress: [], setAside: [] });
    expect(v).toMatchObject({ plan: [], streak: 0, week: { sessions: 0, activeDays: 0 } });
    expect(longDate("2026-12-02")).toBe("Wednesday 2 December");
  });
});
