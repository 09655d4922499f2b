// Red flags by urgency, as every client shows them: the API sorts them most
// urgent first; URGENT_CARE flags are shown prominently and the rest fold
// under one line, so the candidates stay on the first phone screen.

import { type RedFlag, RedFlagAction } from "../gen/knotwork/catalog/v1/catalog_pb";

/** The flags split into URGENT_CARE and the rest, each in the API's order. */
export function splitRedFlags(flags: readonly RedFlag[]): { urgent: RedFlag[]; rest: RedFlag[] } {
  const urgent = flags.filter((f) => f.action === RedFlagAction.URGENT_CARE);
  const rest = flags.filter((f) => f.action !== RedFlagAction.URGENT_CARE);
  return { urgent, rest };
}

/** The one line the non-urgent flags fold under. */
export function foldedLine(n: number): string {
  return `Before you start: ${n} ${n === 1 ? "reason" : "reasons"} to see a provider first`;
}
