import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb";
import { describeError, isUnreachable } from "./errors";

describe("describeError", () => {
  it("reads ErrorInfo and field violations from incoming details", () => {
    const info = create(ErrorInfoSchema, { reason: "DAILY_LIMIT_REACHED", domain: "knotwork.dev", metadata: { next: "x" } });
    const bad = create(BadRequestSchema, { fieldViolations: [{ field: "session.pressure", description: "0-10" }] });
    // As they arrive off the wire: type name and bytes.
    const incoming = [
      { type: ErrorInfoSchema.typeName, value: toBinary(ErrorInfoSchema, info) },
      { type: BadRequestSchema.typeName, value: toBinary(BadRequestSchema, bad) },
    ];
    const err = new ConnectError("refused", Code.FailedPrecondition, undefined);
    err.details.push(...incoming);
    expect(describeError(err)).toEqual({
      code: "FAILED_PRECONDITION",
      message: "refused",
      reason: "DAILY_LIMIT_REACHED",
      metadata: { next: "x" },
      violations: [{ field: "session.pressure", description: "0-10" }],
    });
  });

  it("explains an unreachable gateway", () => {
    const p = describeError(new ConnectError("Failed to fetch", Code.Unavailable));
    expect(p.code).toBe("UNAVAILABLE");
    expect(p.message).toContain("cannot be reached");
  });

  it("wraps plain errors", () => {
    expect(describeError(new Error("boom")).code).toBe("UNKNOWN");
  });
});

describe("isUnreachable", () => {
  it("tells a missing network from an answer", () => {
    expect(isUnreachable(new TypeError("Failed to fetch"))).toBe(true);
    expect(isUnreachable(new ConnectError("NetworkError when attempting to fetch resource.", Code.Unknown))).toBe(true);
    expect(isUnreachable(new ConnectError("upstream busy", Code.Unavailable))).toBe(false);
    expect(isUnreachable(new ConnectError("upstream busy", Code.Unavailable), false)).toBe(true);
    expect(isUnreachable(new ConnectError("bad pressure", Code.InvalidArgument), false)).toBe(false);
  });
});
