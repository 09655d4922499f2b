import { describe, expect, it } from "vitest";
import { fromLocalInput, toLocalInput } from "./time";

describe("datetime-local values", () => {
  it("round-trips a local moment to the minute", () => {
    const d = new Date(2026, 10, 27, 8, 5, 42);
    expect(toLocalInput(d)).toBe("2026-11-27T08:05");
    expect(fromLocalInput("2026-11-27T08:05")?.getTime()).toBe(new Date(2026, 10, 27, 8, 5).getTime());
  });

  it("refuses malformed text", () => {
    expect(fromLocalInput("")).toBeNull();
    expect(fromLocalInput("27/11/2026 08:05")).toBeNull();
  });
});
