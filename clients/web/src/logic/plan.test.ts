import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FindByPainResponseSchema, Side, TriggerPointSchema } from "../gen/knotwork/catalog/v1/catalog_pb";
import { GetReliefPlanResponseSchema } from "../gen/knotwork/gateway/v1/gateway_pb";
import { findPlanPoint, planFromCatalog, planFromRelief, usableTools } from "./plan";

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

  it("offers only owned, non-excluded tools", () => {
    const p = tp("triggerPoints/x");
    expect(usableTools(p, ["tools/tennis_ball", "tools/massage_gun", "tools/foam_roller"])).toEqual(["tools/tennis_ball"]);
    expect(usableTools(p, [])).toEqual([]);
  });
});
