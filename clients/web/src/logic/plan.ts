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

/**
 * The tools whose technique can be used on a point: owned, in its
 * techniques, not excluded by the chart, and, given the point as the relief
 * plan has it, not ruled out for this person by a tool block (a condition
 * they reported rules the massage gun out everywhere). The guided session
 * offers only these; the session service refuses the others.
 */
export function usableTools(point: TriggerPoint, owned: readonly string[], planned?: PlanPoint): string[] {
  const excluded = new Set(point.excludedTools.map((e) => e.tool));
  for (const b of planned ? pointBlocks(planned).tools : []) excluded.add(b.tool);
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

/** A next step a block offers: a link to the screen that lifts it. */
export interface BlockLink {
  href: string;
  label: string;
  /** The step the screen leads with (the health questions). */
  primary: boolean;
}

/** The next step a block of this reason offers, if any (the same for every block of a reason). */
export function blockAction(reason: string): BlockLink | undefined {
  switch (reason) {
    case "SCREENING_REQUIRED":
      return { href: "#/screening", label: "Answer the health questions", primary: true };
    case "NO_OWNED_TOOL":
      return { href: "#/tools", label: "Choose your tools", primary: false };
    case "CONTRAINDICATED":
      return { href: "#/screening", label: "Review your answers", primary: false };
    default:
      return undefined;
  }
}

/** How a planned point's detail screen shows its blocks. */
export interface DetailBlocksView {
  /** The blocks shown one by one, each a stop with its own next step. */
  stops: Block[];
  /** The tools ruled out on the point (`tools/{id}`), each once, in order: said in one note or one stop. */
  tools: string[];
  /**
   * No owned tool is left: the tools are one stop, not a note. It says what
   * the point's NO_OWNED_TOOL block says, so that block is not in `stops`.
   */
  toolStop: boolean;
  /** The tool blocks whose messages the note or the stop lists (`detailToolNote`). */
  shown: Block[];
  /** Some were left out because the point's cautions give the same reason: point there. */
  seeCautions: boolean;
  /** The next steps the tool stop offers, each once (none for a note). */
  actions: BlockLink[];
}

/**
 * A planned point's blocks as its detail screen shows them. The blocks on
 * the point itself are stops. The blocks on one tool are folded into one
 * line naming the tools: a note while an owned tool is left, one stop when
 * none is (which also says the NO_OWNED_TOOL block, once, with its next
 * step). Either lists only the reasons the screen's cautions lack.
 */
export function detailBlocks(p: PlanPoint): DetailBlocksView {
  const { tools, point, workable } = pointBlocks(p);
  const { shown, seeCautions } = detailToolNote(p);
  const toolStop = !workable && tools.length > 0;
  const stops = toolStop ? point.filter((b) => b.reason !== "NO_OWNED_TOOL") : point;
  const actions: BlockLink[] = [];
  if (toolStop) {
    // The tool blocks' steps, then NO_OWNED_TOOL's, which the stop states; each once.
    for (const reason of [...tools.map((b) => b.reason), "NO_OWNED_TOOL"]) {
      const a = blockAction(reason);
      if (a && !actions.some((x) => x.href === a.href && x.label === a.label)) actions.push(a);
    }
  }
  return { stops, tools: blockedTools(tools), toolStop, shown, seeCautions, actions };
}

/**
 * Where a point's screen says that none of the person's tools can be used on
 * the point: the blocks (the tool stop, or the NO_OWNED_TOOL block, each with
 * "Choose your tools"), the guided session's panel where the start would be,
 * or the techniques section.
 */
export type NoToolPlace = "blocks" | "start" | "techniques";

/** What decides where a point's screen says that no tool of the person's is left. */
export interface NoToolFacts {
  /** An owned tool can be used on the point (`usableTools` is not empty). */
  usable: boolean;
  /** Signed out, the person's tools are unknown: the screen asks to sign in instead. */
  signedIn: boolean;
  /** The planned point's blocks as the screen shows them, if the point is in the plan. */
  view?: DetailBlocksView;
  /** The guided session's panel says self-massage is ruled out, not what the tools lack. */
  startRuledOut: boolean;
}

/**
 * The one place a point's screen says that none of the person's tools can be
 * used on it, or `undefined` when there is nothing to say. The relief plan's
 * blocks say it when they are shown, with their next step; otherwise the
 * guided session's panel, where the start would be; the techniques section
 * only when that panel speaks of a ruled-out self-massage instead. The other
 * places stay silent (the techniques section points down), so the fact and
 * its "Choose your tools" are on the screen once.
 */
export function noToolPlace(f: NoToolFacts): NoToolPlace | undefined {
  if (f.usable || !f.signedIn) return undefined;
  if (f.view && (f.view.toolStop || f.view.stops.some((b) => b.reason === "NO_OWNED_TOOL"))) return "blocks";
  return f.startRuledOut ? "techniques" : "start";
}
