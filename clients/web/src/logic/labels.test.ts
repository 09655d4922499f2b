import { describe, expect, it } from "vitest";
import { localMinute, noToolLeft, notWithTools, orList, plural, toolInSentence, weekLine } from "./labels";

describe("weekLine", () => {
  const a = { streakDays: 3, weekSessionsDone: 9, weekSessionsPlanned: 30, weekActiveDays: 4, weekPercent: 30 };

  it("gives the planned sessions done and their share", () => {
    expect(weekLine(a)).toBe("3 days in a row · this week 9 of 30 planned sessions (30%) on 4 days");
  });

  it("says nothing was planned rather than 0 of 0 (0%)", () => {
    const held = { ...a, streakDays: 1, weekSessionsDone: 0, weekSessionsPlanned: 0, weekActiveDays: 1, weekPercent: 0 };
    expect(weekLine(held)).toBe("1 day in a row · this week nothing planned, sessions on 1 day");
  });

  it("counts in words", () => {
    expect([plural(0, "day"), plural(1, "day"), plural(2, "session")]).toEqual(["0 days", "1 day", "2 sessions"]);
  });
});

describe("localMinute", () => {
  it("reads a local time to the minute", () => {
    expect(localMinute("2026-12-04T21:41:05+01:00")).toBe("2026-12-04 21:41");
  });
});

describe("tools in a sentence", () => {
  it("reads the catalog's tool names after \"with\"", () => {
    expect(
      [
        "Foam roller",
        "Massage gun",
        "QL Claw",
        "Back Buddy (hook tool)",
        "Your own knuckles or elbow",
        "A partner's hands, knuckles, elbows or heel",
        "foam roller",
      ].map(toolInSentence),
    ).toEqual([
      "the foam roller",
      "the massage gun",
      "the QL Claw",
      "the Back Buddy (hook tool)",
      "your own knuckles or elbow",
      "a partner's hands, knuckles, elbows or heel",
      "the foam roller",
    ]);
  });

  it("names every tool in one line", () => {
    expect(orList([])).toBe("");
    expect(orList(["a"])).toBe("a");
    expect(orList(["a", "b", "c"])).toBe("a, b or c");
    expect(notWithTools(["Foam roller", "Massage gun"])).toBe("Not with the foam roller or the massage gun.");
    expect(notWithTools(["Lacrosse ball"])).toBe("Not with the lacrosse ball.");
    expect(noToolLeft(["Foam roller", "Massage gun"])).toBe(
      "None of your tools can be used on this point: not with the foam roller or the massage gun.",
    );
    expect(noToolLeft(["Lacrosse ball"])).toBe("None of your tools can be used on this point: not with the lacrosse ball.");
  });
});
