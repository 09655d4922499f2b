// One shape for the candidates screen, whether the ranking came from the
// gateway's personal relief plan or from the catalog's FindByPain.

import type {
  FindByPainResponse,
  MatchReason,
  Muscle,
  RedFlag,
  ResolvedLocation,
  Side,
  Technique,
  TechniqueGuidance,
  TriggerPoint,
} from "../gen/knotwork/catalog/v1/catalog_pb";
import type { Block, GetReliefPlanResponse, RankAdjustment } from "../gen/knotwork/gateway/v1/gateway_pb";
import type { PointAllowance, PointProgress, Screening } from "../gen/knotwork/session/v1/session_pb";

export interface PlanPoint {
  point: TriggerPoint;
  reasons: MatchReason[];
  pressSide: Side;
  score: number;
  /** Techniques for tools the person owns (relief plan only). */
  ownedTechniques?: Technique[];
  blocks: Block[];
  progress?: PointProgress;
  allowance?: PointAllowance;
}

export interface PlanCandidate {
  muscle?: Muscle;
  rank: number;
  primary: boolean;
  explainedRegions: string[];
  adjustments: RankAdjustment[];
  points: PlanPoint[];
}

export interface Plan {
  source: "relief" | "catalog";
  candidates: PlanCandidate[];
  redFlags: RedFlag[];
  blocks: Block[];
  screening?: Screening;
  ownedTools?: string[];
  suggestedNext: string;
  /** Why `suggestedNext` is suggested (a point or a region not better after a week); may be empty. */
  suggestedNextReason?: string;
  resolved: ResolvedLocation[];
  guidance?: TechniqueGuidance;
}

/** The catalog's ranking as it is. */
export function planFromCatalog(r: FindByPainResponse): Plan {
  return {
    source: "catalog",
    candidates: r.matches.map((m, i) => ({
      muscle: m.muscle,
      rank: i + 1,
      primary: m.primary,
      explainedRegions: m.explainedRegions,
      adjustments: [],
      points: m.triggerPoints.flatMap((t) =>
        t.triggerPoint ? [{ point: t.triggerPoint, reasons: t.reasons, pressSide: t.pressSide, score: t.score, blocks: [] }] : [],
      ),
    })),
    redFlags: r.redFlags,
    blocks: [],
    suggestedNext: "",
    resolved: r.resolvedLocations,
  };
}

/** The personal plan: each catalog point joined with what the gateway prepared for it. */
export function planFromRelief(r: GetReliefPlanResponse): Plan {
  return {
    source: "relief",
    candidates: r.candidates.map((c, i) => {
      const prepared = new Map(c.points.map((p) => [p.triggerPoint, p]));
      const matches = c.match?.triggerPoints ?? [];
      return {
        muscle: c.match?.muscle,
        rank: i + 1,
        primary: c.match?.primary ?? false,
        explainedRegions: c.match?.explainedRegions ?? [],
        adjustments: c.adjustments,
        points: matches.flatMap((t) => {
          if (!t.triggerPoint) return [];
          const p = prepared.get(t.triggerPoint.name);
          return [
            {
              point: t.triggerPoint,
              reasons: t.reasons,
              pressSide: t.pressSide,
              score: t.score,
              ownedTechniques: p?.techniques ?? [],
              blocks: p?.blocks ?? [],
              progress: p?.progress,
              allowance: p?.allowance,
            },
          ];
        }),
      };
    }),
    redFlags: r.redFlags,
    blocks: r.blocks,
    screening: r.screening,
    ownedTools: r.ownedTools,
    suggestedNext: r.suggestedNext,
    suggestedNextReason: r.suggestedNextReason,
    resolved: r.resolvedLocations,
    guidance: r.guidance,
  };
}

/** Finds a point anywhere in the plan. */
export function findPlanPoint(plan: Plan | undefined, name: string): PlanPoint | undefined {
  for (const c of plan?.candidates ?? []) {
    const p = c.points.find((x) => x.point.name === name);
    if (p) return p;
  }
  return undefined;
}

/** The tools whose technique can be used on a point: owned, in its techniques, not excluded. */
export function usableTools(point: TriggerPoint, owned: readonly string[]): string[] {
  const excluded = new Set(point.excludedTools.map((e) => e.tool));
  return point.techniques.map((t) => t.tool).filter((t) => owned.includes(t) && !excluded.has(t));
}

/** A point's blocks as the person reads them. */
export interface PointBlocks {
  /** The blocks that rule out one tool (they name it), in order. */
  tools: Block[];
  /** The blocks on the point itself. */
  point: Block[];
  /**
   * An owned tool is left to work the point with (the relief plan offers a
   * technique for it): the tool blocks are a note, not a stop.
   */
  workable: boolean;
}

/** Splits a planned point's blocks into those on one tool and those on the point. */
export function pointBlocks(p: PlanPoint): PointBlocks {
  return {
    tools: p.blocks.filter((b) => b.tool !== ""),
    point: p.blocks.filter((b) => b.tool === ""),
    workable: (p.ownedTechniques?.length ?? 0) > 0,
  };
}

/** The tools of `blocks`, each once, in order (`tools/{id}`). */
export function blockedTools(blocks: readonly Block[]): string[] {
  return [...new Set(blocks.map((b) => b.tool).filter((t) => t !== ""))];
}

/** What the detail screen's tool note lists under its headline. */
export interface DetailToolNote {
  /** The tool blocks whose messages the note shows, in order. */
  shown: Block[];
  /** Some were left out because the point's cautions give the same reason: point there. */
  seeCautions: boolean;
}

/**
 * The tool blocks of a planned point as its detail screen's note lists them.
 * The screen's cautions list every tool the point excludes with the
 * catalog's reason, so a TOOL_EXCLUDED block on one of those would say it a
 * second time: it is left out and the note points to the cautions. A block
 * from the person's screening (CONDITION_EXCLUDED on a tool, e.g. blood
 * thinners and the massage gun) is in no caution, so its message stays.
 */
export function detailToolNote(p: PlanPoint): DetailToolNote {
  const inCautions = new Set(p.point.excludedTools.map((x) => x.tool));
  const repeated = (b: Block) => b.reason === "TOOL_EXCLUDED" && inCautions.has(b.tool);
  const { tools } = pointBlocks(p);
  return { shown: tools.filter((b) => !repeated(b)), seeCautions: tools.some(repeated) };
}
