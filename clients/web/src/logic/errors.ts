// Turns a failed call into words for the person, keeping the gRPC status, the
// ErrorInfo reason and any field violations the services send.

import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb";

export interface Problem {
  /** The gRPC status name, e.g. "FAILED_PRECONDITION". */
  code: string;
  /** The server's message, or a plain explanation. */
  message: string;
  /** The ErrorInfo reason, e.g. "SCREENING_REQUIRED". */
  reason?: string;
  metadata: Record<string, string>;
  violations: { field: string; description: string }[];
}

/** "FailedPrecondition" -> "FAILED_PRECONDITION". */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Everything the page shows about a failed call. */
export function describeError(err: unknown): Problem {
  const e = ConnectError.from(err);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const bad = e.findDetails(BadRequestSchema)[0];
  let message = e.rawMessage;
  if (e.code === Code.Unavailable || e.code === Code.Unknown) {
    if (!message || /fetch|network/i.test(message)) {
      message = "The gateway cannot be reached. Is “knotwork up” running, and is the gateway address right?";
    }
  }
  if (e.code === Code.Unauthenticated && !message) message = "Sign in again: the token was refused.";
  return {
    code: codeName(e.code),
    message: message || codeName(e.code),
    reason: info?.reason || undefined,
    metadata: info ? { ...info.metadata } : {},
    violations: bad ? bad.fieldViolations.map((v) => ({ field: v.field, description: v.description })) : [],
  };
}

/**
 * Whether a call failed for want of a network (the browser could not reach
 * the gateway), as opposed to an answer from it: only then is a session kept
 * on the device to be sent later.
 */
export function isUnreachable(err: unknown, online = true): boolean {
  const e = ConnectError.from(err);
  if (e.code !== Code.Unavailable && e.code !== Code.Unknown && e.code !== Code.Canceled) return false;
  return !online || /fetch|network|load failed|offline/i.test(e.rawMessage);
}
