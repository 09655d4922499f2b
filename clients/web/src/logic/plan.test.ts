import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FindByPainResponseSchema, Side, TriggerPointSchema } from "../gen/knotwork/catalog/v1/catalog_pb";
import { BlockSchema, GetReliefPlanResponseSchema } from "../gen/knotwork/gateway/v1/gateway_pb";
import {
  blockAction,
  blockedTools,
  detailBlocks,
  type DetailBlocksView,
  detailToolNote,
  findPlanPoint,
  type NoToolPlace,
  noToolPlace,
  planFromCatalog,
  planFromRelief,
  type PlanPoint,
  pointBlocks,
  usableTools,
} from "./plan";

const tp = (name: string) =>
  create(TriggerPointSchema, {
    name,
    techniques: [{ tool: "tools/fingers" }, { tool: "tools/tennis_ball" }, { tool: "tools/massage_gun" }],
    excludedTools: [{ tool: "tools/massage_gun", reason: "near the artery" }],
  });

describe("plans", () => {
  it("keeps the catalog's order and reasons", () => {
    const r = create(FindByPainResponseSchema, {
      matches: [
        {
          muscle: { name: "muscles/upper_trapezius" },
          primary: true,
          triggerPoints: [{ triggerPoint: tp("triggerPoints/upper_trapezius_1"), pressSide: Side.RIGHT, reasons: [{ text: "refers to the neck" }] }],
        },
        { muscle: { name: "muscles/levator_scapulae" }, triggerPoints: [{ triggerPoint: tp("triggerPoints/levator_scapulae_neck") }] },
      ],
      redFlags: [{ name: "redFlags/x" }],
    });
    const plan = planFromCatalog(r);
    expect(plan.candidates.map((c) => [c.rank, c.muscle?.name, c.primary])).toEqual([
      [1, "muscles/upper_trapezius", true],
      [2, "muscles/levator_scapulae", false],
    ]);
    expect(plan.candidates[0].points[0]).toMatchObject({ pressSide: Side.RIGHT, blocks: [] });
    expect(plan.redFlags).toHaveLength(1);
    expect(findPlanPoint(plan, "triggerPoints/levator_scapulae_neck")?.point.name).toBe("triggerPoints/levator_scapulae_neck");
    expect(findPlanPoint(plan, "triggerPoints/none")).toBeUndefined();
  });

  it("joins the relief plan's prepared points by name", () => {
    const r = create(GetReliefPlanResponseSchema, {
      candidates: [
        {
          match: { muscle: { name: "muscles/upper_trapezius" }, triggerPoints: [{ triggerPoint: tp("triggerPoints/upper_trapezius_1") }] },
          points: [
            {
              triggerPoint: "triggerPoints/upper_trapezius_1",
              techniques: [{ tool: "tools/fingers", instructions: "pinch" }],
              blocks: [{ reason: "SCREENING_REQUIRED", message: "answer first" }],
            },
          ],
        },
      ],
      blocks: [{ reason: "SCREENING_REQUIRED" }],
      ownedTools: ["tools/fingers"],
    });
    const plan = planFromRelief(r);
    const p = plan.candidates[0].points[0];
    expect(p.ownedTechniques?.map((t) => t.instructions)).toEqual(["pinch"]);
    expect(p.blocks.map((b) => b.reason)).toEqual(["SCREENING_REQUIRED"]);
    expect(plan.blocks).toHaveLength(1);
    expect(plan.ownedTools).toEqual(["tools/fingers"]);
  });

  it("tells the blocks on one tool from the blocks on the point", () => {
    const excluded = (tool: string) => ({ reason: "TOOL_EXCLUDED", message: "never", tool });
    const r = create(GetReliefPlanResponseSchema, {
      candidates: [
        {
          match: {
            triggerPoints: [
              { triggerPoint: tp("triggerPoints/quadratus_lumborum_superficial") },
              { triggerPoint: tp("triggerPoints/iliopsoas_psoas") },
              { triggerPoint: tp("triggerPoints/multifidi_lumbar") },
            ],
          },
          points: [
            {
              // The person's lacrosse ball is left: not blocked.
              triggerPoint: "triggerPoints/quadratus_lumborum_superficial",
              techniques: [{ tool: "tools/lacrosse_ball" }],
              blocks: [
                excluded("tools/foam_roller"),
                { reason: "CONDITION_EXCLUDED", message: "blood thinners", tool: "tools/massage_gun" },
                { reason: "DAILY_LIMIT_REACHED", message: "enough" },
              ],
            },
            {
              // Nothing the person owns is left.
              triggerPoint: "triggerPoints/iliopsoas_psoas",
              blocks: [excluded("tools/lacrosse_ball"), { reason: "NO_OWNED_TOOL", message: "none" }],
            },
            {
              triggerPoint: "triggerPoints/multifidi_lumbar",
              techniques: [{ tool: "tools/lacrosse_ball" }],
              blocks: [excluded("tools/foam_roller"), excluded("tools/massage_gun"), excluded("tools/foam_roller")],
            },
          ],
        },
      ],
    });
    const [ql, psoas, multifidi] = planFromRelief(r).candidates[0].points.map(pointBlocks);
    expect(ql.workable).toBe(true);
    expect(ql.tools.map((b) => b.tool)).toEqual(["tools/foam_roller", "tools/massage_gun"]);
    expect(ql.point.map((b) => b.reason)).toEqual(["DAILY_LIMIT_REACHED"]);
    expect(psoas.workable).toBe(false);
    expect(psoas.tools.map((b) => b.tool)).toEqual(["tools/lacrosse_ball"]);
    expect(psoas.point.map((b) => b.reason)).toEqual(["NO_OWNED_TOOL"]);
    expect(multifidi).toMatchObject({ workable: true, point: [] });
    expect(blockedTools(multifidi.tools)).toEqual(["tools/foam_roller", "tools/massage_gun"]);
    // The catalog's own ranking has no blocks and offers nothing yet.
    expect(pointBlocks({ point: tp("triggerPoints/x"), reasons: [], pressSide: Side.RIGHT, score: 1, blocks: [] })).toEqual({
      tools: [],
      point: [],
      workable: false,
    });
  });

  it("offers only owned, non-excluded tools", () => {
    const p = tp("triggerPoints/x");
    expect(usableTools(p, ["tools/tennis_ball", "tools/massage_gun", "tools/foam_roller"])).toEqual(["tools/tennis_ball"]);
    expect(usableTools(p, [])).toEqual([]);
  });

  it("leaves out a tool the plan rules out for this person", () => {
    const p = create(TriggerPointSchema, {
      name: "triggerPoints/x",
      techniques: [{ tool: "tools/fingers" }, { tool: "tools/tennis_ball" }, { tool: "tools/massage_gun" }],
    });
    const owned = ["tools/fingers", "tools/massage_gun"];
    const planned: PlanPoint = {
      point: p,
      reasons: [],
      pressSide: Side.RIGHT,
      score: 1,
      blocks: [create(BlockSchema, { reason: "CONDITION_EXCLUDED", tool: "tools/massage_gun", message: "Percussion bruises easily." })],
    };
    expect(usableTools(p, owned)).toEqual(["tools/fingers", "tools/massage_gun"]);
    expect(usableTools(p, owned, planned)).toEqual(["tools/fingers"]);
    expect(usableTools(p, owned, { ...planned, blocks: [] })).toEqual(["tools/fingers", "tools/massage_gun"]);
  });
});

describe("the detail screen's tool note", () => {
  // A deep low back point: the catalog rules the foam roller out (the
  // screen's cautions say why); the person's screening rules the massage gun
  // out everywhere; the lacrosse ball is left.
  const point = create(TriggerPointSchema, {
    name: "triggerPoints/quadratus_lumborum_deep",
    techniques: [{ tool: "tools/lacrosse_ball" }, { tool: "tools/foam_roller" }, { tool: "tools/massage_gun" }],
    excludedTools: [{ tool: "tools/foam_roller", reason: "Too deep for a roller." }],
  });
  const excluded = { reason: "TOOL_EXCLUDED", tool: "tools/foam_roller", message: "Foam roller: never use it on this point. Too deep for a roller." };
  const ruledOut = { reason: "CONDITION_EXCLUDED", tool: "tools/massage_gun", message: "Massage gun: a condition you reported rules it out." };
  const limit = { reason: "DAILY_LIMIT_REACHED", message: "Enough for today." };

  /** The messages the note lists and whether it points to the cautions. */
  const check = (blocks: { reason: string; tool?: string; message: string }[], shown: string[], seeCautions: boolean) => {
    const got = detailToolNote({
      point,
      reasons: [],
      pressSide: Side.RIGHT,
      score: 1,
      blocks: blocks.map((b) => create(BlockSchema, b)),
    });
    expect({ shown: got.shown.map((b) => b.message), seeCautions: got.seeCautions }).toEqual({ shown, seeCautions });
  };

  it("leaves out an excluded tool's reason, which the cautions give, and points there", () => {
    check([excluded], [], true);
  });

  it("keeps a tool the person's screening rules out, which no caution gives", () => {
    check([ruledOut], [ruledOut.message], false);
  });

  it("keeps only the screening's reason when both rule a tool out, and points to the cautions", () => {
    check([excluded, ruledOut], [ruledOut.message], true);
    check([ruledOut, excluded], [ruledOut.message], true);
  });

  it("says nothing without a block on a tool", () => {
    check([], [], false);
    check([limit], [], false);
  });

  it("keeps a reason the cautions do not give, even on a tool the point excludes", () => {
    // A condition on the foam roller: its reason is the person's, not the point's.
    check([{ ...ruledOut, tool: "tools/foam_roller" }], [ruledOut.message], false);
    // A tool excluded without a caution for it (a catalog out of step): said here.
    const elsewhere = { ...excluded, tool: "tools/tennis_ball", message: "Tennis ball: never use it on this point." };
    check([elsewhere], [elsewhere.message], false);
  });
});

describe("the detail screen's blocks", () => {
  // The deep low back point again: the catalog rules the foam roller and the
  // massage gun out (the cautions say why); the lacrosse ball works it.
  const point = create(TriggerPointSchema, {
    name: "triggerPoints/quadratus_lumborum_deep",
    techniques: [{ tool: "tools/lacrosse_ball" }, { tool: "tools/foam_roller" }, { tool: "tools/massage_gun" }],
    excludedTools: [
      { tool: "tools/foam_roller", reason: "Too deep for a roller." },
      { tool: "tools/massage_gun", reason: "The kidney lies close." },
    ],
  });
  const roller = { reason: "TOOL_EXCLUDED", tool: "tools/foam_roller", message: "Foam roller: never use it on this point. Too deep for a roller." };
  const gun = { reason: "TOOL_EXCLUDED", tool: "tools/massage_gun", message: "Massage gun: never use it on this point. The kidney lies close." };
  const gunRuledOut = { reason: "CONDITION_EXCLUDED", tool: "tools/massage_gun", message: "Massage gun: a condition you reported rules it out." };
  const noTool = { reason: "NO_OWNED_TOOL", message: "None of your tools works this point." };
  const limit = { reason: "DAILY_LIMIT_REACHED", message: "No session left on this point today." };
  const screening = { reason: "SCREENING_REQUIRED", message: "Answer the health questions first." };
  const chooseTools = { href: "#/tools", label: "Choose your tools", primary: false };

  /** The view of a point with these blocks; `workable`: the plan offers a technique for an owned tool. */
  const view = (blocks: { reason: string; tool?: string; message: string }[], workable: boolean) =>
    detailBlocks({
      point,
      reasons: [],
      pressSide: Side.RIGHT,
      score: 1,
      ownedTechniques: workable ? [point.techniques[0]] : [],
      blocks: blocks.map((b) => create(BlockSchema, b)),
    });
  /** The messages of `blocks`, to compare a view's without the protobuf fields. */
  const messages = (blocks: { message: string }[]) => blocks.map((b) => b.message);

  it("folds the tools into one stop when none of the person's is left, with its next step once", () => {
    const v = view([roller, gun, noTool], false);
    expect(v.toolStop).toBe(true);
    expect(v.tools).toEqual(["tools/foam_roller", "tools/massage_gun"]);
    // The stop says NO_OWNED_TOOL: not a second stop for it.
    expect(messages(v.stops)).toEqual([]);
    // The cautions give both reasons: none is said again, the stop points there.
    expect(messages(v.shown)).toEqual([]);
    expect(v.seeCautions).toBe(true);
    expect(v.actions).toEqual([chooseTools]);
  });

  it("keeps the blocks on the point as stops beside the tool stop", () => {
    const v = view([screening, roller, gun, limit, noTool], false);
    expect(v.toolStop).toBe(true);
    expect(messages(v.stops)).toEqual([screening.message, limit.message]);
    expect(v.actions).toEqual([chooseTools]);
  });

  it("lists in the stop only a reason the cautions lack", () => {
    const v = view([roller, gunRuledOut, noTool], false);
    expect(v.tools).toEqual(["tools/foam_roller", "tools/massage_gun"]);
    expect(messages(v.shown)).toEqual([gunRuledOut.message]);
    expect(v.seeCautions).toBe(true);
    // Only the screening's rule: nothing in the cautions to point to.
    const ruledOut = view([gunRuledOut, noTool], false);
    expect({ shown: messages(ruledOut.shown), seeCautions: ruledOut.seeCautions }).toEqual({ shown: [gunRuledOut.message], seeCautions: false });
  });

  it("keeps a note, not a stop, while an owned tool is left", () => {
    const v = view([roller, gun, limit], true);
    expect(v.toolStop).toBe(false);
    expect(v.tools).toEqual(["tools/foam_roller", "tools/massage_gun"]);
    expect(messages(v.stops)).toEqual([limit.message]);
    expect(v.seeCautions).toBe(true);
    expect(v.actions).toEqual([]);
  });

  it("leaves a point without a tool block as its blocks", () => {
    // The person owns none of the point's tools: NO_OWNED_TOOL says it, with its own step.
    const v = view([noTool], false);
    expect({ toolStop: v.toolStop, tools: v.tools, stops: messages(v.stops), actions: v.actions }).toEqual({
      toolStop: false,
      tools: [],
      stops: [noTool.message],
      actions: [],
    });
  });

  describe("where the screen says no tool of the person's is left, once", () => {
    const catalogPoint = { point, reasons: [], pressSide: Side.RIGHT, score: 1, blocks: [] };
    /** The place for a signed-in person no owned tool of whom is usable, given the point's view. */
    const check = (v: DetailBlocksView | undefined, startRuledOut: boolean, expected: NoToolPlace) => {
      expect(noToolPlace({ usable: false, signedIn: true, view: v, startRuledOut })).toBe(expected);
    };

    it("leaves it to the tool stop: not in the techniques, not where the start would be", () => {
      check(view([roller, gun, noTool], false), false, "blocks");
      check(view([screening, roller, gun, limit, noTool], false), false, "blocks");
      // The panel below speaks of the ruled-out self-massage; the stop still says it.
      check(view([roller, gun, noTool], false), true, "blocks");
    });

    it("leaves it to the NO_OWNED_TOOL block when the person owns none of the point's tools", () => {
      check(view([noTool], false), false, "blocks");
      check(view([limit, noTool], false), true, "blocks");
    });

    it("says it where the start would be when no block does", () => {
      // The point is not in the plan, or the plan is the catalog's (no blocks).
      check(undefined, false, "start");
      check(detailBlocks(catalogPoint), false, "start");
      // The relief plan still counts a tool the person has since given up.
      check(view([roller], true), false, "start");
    });

    it("says it in the techniques when the start's place says self-massage is ruled out", () => {
      check(undefined, true, "techniques");
      check(detailBlocks(catalogPoint), true, "techniques");
    });

    it("says nothing while a tool is usable or the tools are unknown", () => {
      const stop = view([roller, gun, noTool], false);
      expect(noToolPlace({ usable: true, signedIn: true, view: view([roller, gun], true), startRuledOut: false })).toBeUndefined();
      expect(noToolPlace({ usable: true, signedIn: true, view: undefined, startRuledOut: false })).toBeUndefined();
      expect(noToolPlace({ usable: false, signedIn: false, view: stop, startRuledOut: false })).toBeUndefined();
    });
  });

  it("offers each block's step", () => {
    expect(blockAction("SCREENING_REQUIRED")).toEqual({ href: "#/screening", label: "Answer the health questions", primary: true });
    expect(blockAction("NO_OWNED_TOOL")).toEqual(chooseTools);
    expect(blockAction("CONTRAINDICATED")).toEqual({ href: "#/screening", label: "Review your answers", primary: false });
    expect(blockAction("TOOL_EXCLUDED")).toBeUndefined();
    expect(blockAction("DAILY_LIMIT_REACHED")).toBeUndefined();
  });
});
