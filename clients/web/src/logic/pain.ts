// The person's "where it hurts" selection and how it becomes the request's
// PainLocation list.

import { Side } from "../gen/knotwork/catalog/v1/catalog_pb";

/** One tapped place: a region on one side (MIDLINE for a non-lateral region). */
export interface PainPick {
  /** `regions/{id}` */
  region: string;
  side: Side;
}

/** A request location: what FindByPain and GetReliefPlan take. */
export interface Location {
  region: string;
  side: Side;
}

function same(a: PainPick, b: PainPick): boolean {
  return a.region === b.region && a.side === b.side;
}

/** Adds the pick, or removes it when it was already selected. */
export function togglePick(picks: readonly PainPick[], pick: PainPick): PainPick[] {
  return picks.some((p) => same(p, pick)) ? picks.filter((p) => !same(p, pick)) : [...picks, pick];
}

/** Whether the pick is selected. */
export function isPicked(picks: readonly PainPick[], pick: PainPick): boolean {
  return picks.some((p) => same(p, pick));
}

/**
 * Turns picks into request locations, one per region in the order first
 * picked: left and right of the same region become BOTH; a non-lateral region
 * is sent without a side (the service then considers it as a whole).
 */
export function toLocations(picks: readonly PainPick[], lateral: (region: string) => boolean): Location[] {
  const order: string[] = [];
  const sides = new Map<string, Set<Side>>();
  for (const p of picks) {
    if (!sides.has(p.region)) {
      sides.set(p.region, new Set());
      order.push(p.region);
    }
    sides.get(p.region)!.add(p.side);
  }
  return order.map((region) => {
    const s = sides.get(region)!;
    if (!lateral(region)) return { region, side: Side.UNSPECIFIED };
    const left = s.has(Side.LEFT) || s.has(Side.BOTH);
    const right = s.has(Side.RIGHT) || s.has(Side.BOTH);
    if (left && right) return { region, side: Side.BOTH };
    if (left) return { region, side: Side.LEFT };
    if (right) return { region, side: Side.RIGHT };
    return { region, side: Side.UNSPECIFIED };
  });
}

/** The side(s) a guided session can be started on for a point pressed on `pressSide`. */
export function sessionSides(bilateral: boolean, pressSide: Side): Side[] {
  if (!bilateral) return [Side.MIDLINE];
  switch (pressSide) {
    case Side.LEFT:
      return [Side.LEFT, Side.RIGHT, Side.BOTH];
    case Side.RIGHT:
      return [Side.RIGHT, Side.LEFT, Side.BOTH];
    default:
      return [Side.BOTH, Side.RIGHT, Side.LEFT];
  }
}
