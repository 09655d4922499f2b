// Reads the catalog's body map file (crates/catalog/data/body_map.toml) into
// the shape GetBodyMap serves, for the mock gateway (e2e/mock-gateway.ts), so
// front-end work without the Rust stack draws the real chart. Only the subset
// of TOML that file uses: `[[outlines]]` and `[[shapes]]` tables of numbers,
// strings, inline tables and (multi-line) arrays of numbers. Lateral shapes
// are given for the person's right and mirrored for the left, as the catalog
// does; the silhouette's half is closed with its mirror into one loop, drawn
// as straight segments (the catalog's own path is a smooth curve).

import { create } from "@bufbuild/protobuf";
import { type BodyMap, BodyMapSchema, BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";

type Value = number | string | Value[] | { [k: string]: Value };

/** One `key = value` right-hand side as JSON: quoted keys in inline tables. */
function parseValue(text: string): Value {
  const json = text
    .replace(/([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*=/g, '$1"$2":')
    .replace(/,\s*([\]}])/g, "$1");
  return JSON.parse(json) as Value;
}

/** The file's tables, by `[[name]]`, each a list of key -> value. */
export function parseTables(text: string): { top: Record<string, Value>; tables: Record<string, Record<string, Value>[]> } {
  const top: Record<string, Value> = {};
  const tables: Record<string, Record<string, Value>[]> = {};
  let current = top;
  const lines = text.split("\n").map((l) => l.replace(/#.*$/, "").trim());
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const table = /^\[\[(\w+)\]\]$/.exec(line);
    if (table) {
      current = {};
      (tables[table[1]] ??= []).push(current);
      continue;
    }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`body map: cannot read line ${i + 1}: ${line}`);
    let rhs = kv[2];
    // A multi-line array: gather lines until the brackets balance.
    const depth = (s: string) => (s.match(/\[/g)?.length ?? 0) - (s.match(/\]/g)?.length ?? 0);
    while (depth(rhs) > 0 && i + 1 < lines.length) rhs += lines[++i];
    current[kv[1]] = parseValue(rhs);
  }
  return { top, tables };
}

const VIEWS: Record<string, BodyView> = { FRONT: BodyView.FRONT, BACK: BodyView.BACK };

/** The body map, with shapes only for `regions` (id -> lateral). */
export function bodyMapFromToml(text: string, regions: Map<string, boolean>): BodyMap {
  const { top, tables } = parseTables(text);
  const num = (v: Value | undefined) => (typeof v === "number" ? v : 0);
  const width = num(top.width);
  const height = num(top.height);
  const outlines = (tables.outlines ?? []).map((o) => {
    const half = (o.half_silhouette as number[][]) ?? [];
    const loop = [...half, ...[...half].reverse().map(([x, y]) => [1 - x, y])];
    const head = o.head as Record<string, number>;
    return {
      view: VIEWS[String(o.view)] ?? BodyView.UNSPECIFIED,
      head,
      silhouette: loop.map(([x, y]) => ({ x, y })),
      guides: ((o.guides as number[][][]) ?? []).map((g) => ({ vertices: g.map(([x, y]) => ({ x, y })) })),
      svgPath: `M${loop.map(([x, y]) => `${(x * width).toFixed(1)},${(y * height).toFixed(1)}`).join(" L")} Z`,
    };
  });
  const shapes = (tables.shapes ?? []).flatMap((s) => {
    const id = String(s.region);
    const lateral = regions.get(id);
    if (lateral === undefined) return [];
    const view = VIEWS[String(s.view)] ?? BodyView.UNSPECIFIED;
    const ellipse = { cx: num(s.cx), cy: num(s.cy), rx: num(s.rx), ry: num(s.ry) };
    const region = `regions/${id}`;
    if (!lateral) return [{ region, view, side: Side.MIDLINE, ellipse }];
    return [
      { region, view, side: Side.RIGHT, ellipse },
      { region, view, side: Side.LEFT, ellipse: { ...ellipse, cx: 1 - ellipse.cx } },
    ];
  });
  return create(BodyMapSchema, { width, height, outlines, shapes });
}
