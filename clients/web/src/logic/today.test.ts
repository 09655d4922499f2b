import { describe, expect, it } from "vitest";
import { localClock, longDate, remindersFromSlots, SLOT_DONE, SLOT_DUE, SLOT_UPCOMING, todayView, type TodayLike } from "./today";

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

describe("todayView with the schedule", () => {
  const t: TodayLike = {
    day: { localDate: "2026-12-02", sessions: [{ triggerPoint: "triggerPoints/a" }], allowances: [] },
    progress: [{ triggerPoint: "triggerPoints/a", status: 2, days: [day("2026-12-02", 1)] }],
    setAside: [],
    plan: {
      points: [
        { triggerPoint: "triggerPoints/a", sessionsPlanned: 3, sessionsDone: 1, sessionsLeft: 2, sessionsAllowed: 5 },
        { triggerPoint: "triggerPoints/b", sessionsPlanned: 3, sessionsDone: 0, sessionsLeft: 3, sessionsAllowed: 1 },
      ],
      slots: [
        { time: { seconds: 1_000n }, localTime: "2026-12-02T07:00:00+01:00", triggerPoints: ["triggerPoints/a", "triggerPoints/b"], triggerPointsLeft: [], state: SLOT_DONE },
        { time: { seconds: 2_000n }, localTime: "2026-12-02T14:30:00+01:00", triggerPoints: ["triggerPoints/a", "triggerPoints/b"], triggerPointsLeft: ["triggerPoints/b"], state: SLOT_DUE },
        { time: { seconds: 3_000n }, localTime: "2026-12-02T22:00:00+01:00", triggerPoints: ["triggerPoints/a", "triggerPoints/b"], triggerPointsLeft: ["triggerPoints/a", "triggerPoints/b"], state: SLOT_UPCOMING },
      ],
      sessionsPlanned: 6,
      sessionsDone: 1,
      sessionsLeft: 5,
      wakeTime: "07:00",
      sleepTime: "22:00",
    },
    adherence: { streakDays: 4, weekSessionsDone: 9, weekSessionsPlanned: 30, weekActiveDays: 4, weekPercent: 30 },
  };

  it("takes the points, times, streak and week from the schedule", () => {
    const v = todayView(t);
    expect(v.plan.map((p) => [p.point, p.done, p.planned, p.left])).toEqual([
      ["triggerPoints/a", 1, 3, 2],
      ["triggerPoints/b", 0, 3, 1], // the daily limit allows one more
    ]);
    expect(v.slots.map((x) => [x.clock, x.state, x.pointsLeft.length])).toEqual([
      ["07:00", "done", 0],
      ["14:30", "due", 1],
      ["22:00", "upcoming", 2],
    ]);
    expect(v.hours).toBe("07:00–22:00");
    expect(v.plannedToday).toBe(6);
    expect(v.plannedDone).toBe(1);
    expect(v.streak).toBe(4);
    expect(v.week).toEqual({ sessions: 9, activeDays: 4, planned: 30, percent: 30 });
  });

  it("counts the week's sessions when nothing was planned (every point set aside or on hold)", () => {
    const held: TodayLike = {
      ...t,
      progress: [{ triggerPoint: "triggerPoints/a", status: 2, days: [day("2026-12-01", 2), day("2026-12-02", 1)] }],
      adherence: { streakDays: 2, weekSessionsDone: 0, weekSessionsPlanned: 0, weekActiveDays: 2, weekPercent: 0 },
    };
    const v = todayView(held);
    expect(v.week).toEqual({ sessions: 3, activeDays: 2 });
    expect(v.streak).toBe(2);
  });

  it("reminds at the times still ahead that have points left", () => {
    const v = todayView(t);
    expect(remindersFromSlots(v.slots, 1_500_000, "2026-12-02")).toEqual([
      { id: "reminders/2026-12-02.2", at: 2_000_000, title: "Time for your trigger points", body: "1 point to work, about three to five minutes each." },
      { id: "reminders/2026-12-02.3", at: 3_000_000, title: "Time for your trigger points", body: "2 points to work, about three to five minutes each." },
    ]);
    expect(remindersFromSlots(v.slots, 3_500_000, "2026-12-02")).toEqual([]);
  });
});
