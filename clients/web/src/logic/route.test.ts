import { describe, expect, it } from "vitest";
import { parseRoute } from "./route";

describe("parseRoute", () => {
  it.each([
    ["", "home", ""],
    ["#/", "home", ""],
    ["#/map", "map", ""],
    ["#/today", "today", ""],
    ["#/guides", "guides", ""],
    ["#/guides/find_a_knot", "guides", "find_a_knot"],
    ["#/report", "report", ""],
    ["#/plan", "plan", ""],
    ["#/point/upper_trapezius_1?side=2", "point", "upper_trapezius_1"],
    ["#/point", "missing", ""],
    ["#/progress?point=x", "progress", ""],
    ["#/nope", "missing", ""],
  ])("%s", (hash, screen, arg) => {
    const r = parseRoute(hash);
    expect(r.screen).toBe(screen);
    expect(r.arg).toBe(arg);
  });

  it("reads the query", () => {
    expect(parseRoute("#/point/a?side=2").query.get("side")).toBe("2");
    expect(parseRoute("#/progress?point=abc").query.get("point")).toBe("abc");
  });
});
