// The catalog's own file: the mock gateway serves it, so this reads it too.
import TEXT from "../../../../crates/catalog/data/body_map.toml?raw";
import { describe, expect, it } from "vitest";
import { BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { bodyMapFromToml, parseTables } from "./bodyMapToml";


describe("the mock gateway's body map", () => {
  it("reads every table of the catalog's file", () => {
    const { top, tables } = parseTables(TEXT);
    expect(top.width).toBe(700);
    expect(tables.outlines).toHaveLength(2);
    expect(tables.shapes.length).toBeGreaterThan(60);
  });

  it("mirrors lateral shapes and keeps midline ones once", () => {
    const map = bodyMapFromToml(TEXT, new Map([["low_back", true], ["sacrum", false]]));
    const low = map.shapes.filter((s) => s.region === "regions/low_back");
    expect(low.map((s) => s.side).sort()).toEqual([Side.RIGHT, Side.LEFT].sort());
    const [r, l] = [low.find((s) => s.side === Side.RIGHT)!, low.find((s) => s.side === Side.LEFT)!];
    expect(r.ellipse!.cx + l.ellipse!.cx).toBeCloseTo(1);
    expect(r.view).toBe(BodyView.BACK);
    const sacrum = map.shapes.filter((s) => s.region === "regions/sacrum");
    expect(sacrum.map((s) => s.side)).toEqual([Side.MIDLINE]);
    // Regions the mock does not serve get no shape.
    expect(map.shapes.some((s) => s.region === "regions/calf")).toBe(false);
  });

  it("closes the silhouette with its mirror", () => {
    const map = bodyMapFromToml(TEXT, new Map());
    const front = map.outlines.find((o) => o.view === BodyView.FRONT)!;
    expect(front.head!.rx).toBeGreaterThan(0);
    expect(front.silhouette.length % 2).toBe(0);
    const n = front.silhouette.length;
    expect(front.silhouette[0].x + front.silhouette[n - 1].x).toBeCloseTo(1);
    expect(front.svgPath.startsWith("M") && front.svgPath.endsWith("Z")).toBe(true);
  });
});
