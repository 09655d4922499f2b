// A stand-in gateway for front-end work without the Rust stack: the same
// generated service definitions, served over grpc-web with permissive CORS,
// answering from a tiny built-in catalog and an in-memory journal. It is NOT
// the system under test: the e2e test runs against `knotwork up`; this only
// lets the page be developed and the e2e script be exercised anywhere.
//
//   npx vite-node e2e/mock-gateway.ts            (prints the URL and a token)
//   KNOTWORK_E2E_GATEWAY=<url> KNOTWORK_E2E_TOKEN=<token> node e2e/run.mjs

import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { bodyMapFromToml } from "../src/logic/bodyMapToml";
import {
  BodyView,
  CatalogService,
  ContraindicationKind,
  ReferralKind,
  type RedFlag,
  RedFlagAction,
  type Region,
  RegionSchema,
  Side,
  StructureKind,
  TriggerPointSchema,
  type TriggerPoint,
} from "../src/gen/knotwork/catalog/v1/catalog_pb";
import { ViewService } from "../src/gen/knotwork/gateway/v1/gateway_pb";
import {
  GuideCue,
  type GuidedSession,
  GuidedSessionSchema,
  PainQuality,
  ProgressStatus,
  type SafetyWarning,
  SafetyWarningSchema,
  type ScreeningAnswer,
  ScreeningStatus,
  SessionOrigin,
  type SessionRecord,
  SessionRecordSchema,
  SessionService,
  WarningCode,
  WarningSeverity,
} from "../src/gen/knotwork/session/v1/session_pb";

const SPEEDUP = Number(process.env.KNOTWORK_GUIDE_SPEEDUP ?? "60");

const R = (id: string, displayName: string, view: BodyView, area: string, lateral: boolean): Region =>
  create(RegionSchema, { name: `regions/${id}`, displayName, view, area, lateral });
const regions = [
  R("temple", "Temple", BodyView.FRONT, "Head and jaw", true),
  R("jaw", "Jaw", BodyView.FRONT, "Head and jaw", true),
  R("ear", "Ear", BodyView.FRONT, "Head and jaw", true),
  R("neck_front", "Front of neck", BodyView.FRONT, "Neck", false),
  R("neck_side", "Side of neck", BodyView.FRONT, "Neck", true),
  R("chest", "Chest", BodyView.FRONT, "Chest", true),
  R("shoulder_front", "Front of shoulder", BodyView.FRONT, "Shoulders", true),
  R("upper_abdomen", "Upper abdomen", BodyView.FRONT, "Abdomen", false),
  R("thigh_front", "Front of thigh", BodyView.FRONT, "Thighs", true),
  R("knee_front", "Front of knee", BodyView.FRONT, "Knees", true),
  R("shin", "Shin", BodyView.FRONT, "Legs", true),
  R("forearm_front", "Front of forearm", BodyView.FRONT, "Forearms", true),
  R("wrist", "Wrist", BodyView.FRONT, "Hands", true),
  R("fingers", "Fingers", BodyView.FRONT, "Hands", true),
  R("upper_arm_front", "Front of upper arm", BodyView.FRONT, "Arms", true),
  R("hip_side", "Side of hip", BodyView.FRONT, "Hips and buttocks", true),
  R("groin", "Groin", BodyView.FRONT, "Hips and buttocks", true),
  R("lower_abdomen", "Lower abdomen", BodyView.FRONT, "Abdomen", true),
  R("pelvis", "Pelvic area", BodyView.FRONT, "Abdomen", false),
  R("top_of_foot", "Top of foot", BodyView.FRONT, "Feet", true),
  R("ankle_front", "Front of ankle", BodyView.FRONT, "Ankles", true),
  R("neck_back", "Back of neck", BodyView.BACK, "Neck", true),
  R("shoulder_top", "Top of shoulder", BodyView.BACK, "Shoulders", true),
  R("shoulder_blade", "Shoulder blade", BodyView.BACK, "Upper and mid back", true),
  R("low_back", "Low back", BodyView.BACK, "Low back", true),
  R("sacrum", "Sacrum", BodyView.BACK, "Low back", false),
  R("buttock", "Buttock", BodyView.BACK, "Hips and buttocks", true),
  R("calf", "Calf", BodyView.BACK, "Legs", true),
];
const tools = [
  { name: "tools/fingers", displayName: "Fingers and thumbs", description: "Your own hands." },
  { name: "tools/tennis_ball", displayName: "Tennis ball", description: "Soft and forgiving." },
  { name: "tools/lacrosse_ball", displayName: "Lacrosse ball", description: "Firm rubber ball." },
  { name: "tools/massage_gun", displayName: "Massage gun", description: "Percussion device." },
];
const conditions = [
  ["aneurysm", "Aneurysm", "Have you been diagnosed with an aneurysm?"],
  ["cancer", "Cancer", "Do you have cancer, or are you being treated or followed up for cancer?"],
  ["congestive_heart_failure", "Congestive heart failure", "Have you been diagnosed with congestive heart failure?"],
].map(([id, displayName, q]) => ({
  name: `contraindications/${id}`,
  displayName,
  kind: ContraindicationKind.CONDITION,
  screeningQuestion: q,
  guidance: `Massage is ruled out with ${displayName.toLowerCase()} until a medical provider clears it.`,
}));
const guidance = {
  targetPressure: 5,
  maxSafePressure: 7,
  minDurationSeconds: 180,
  maxDurationSeconds: 300,
  maxSessionsPerPointPerDay: 6,
  pressureDescription: "Aim for about 5 out of 10: strongly tender, never sharp.",
  summary: "Hold steady, moderate pressure for 3 to 5 minutes.",
  trendWindowDays: 7,
  expectedImprovementDays: 7,
};
const neckFlag: RedFlag = {
  name: "redFlags/neck_trauma",
  displayName: "After a fall or accident",
  advice: "Neck pain after a fall, accident or blow needs a medical check before any self-massage.",
  action: RedFlagAction.RULE_OUT_FIRST,
} as RedFlag;

const TP = (init: Parameters<typeof create<typeof TriggerPointSchema>>[1]) => create(TriggerPointSchema, init);
const points: TriggerPoint[] = [
  TP({
    name: "triggerPoints/upper_trapezius_1",
    muscle: "muscles/upper_trapezius",
    displayName: "Upper trapezius point 1 (front edge)",
    region: "regions/shoulder_top",
    locationDescription: "Halfway between the side of the neck and the tip of the shoulder, on the front edge of the muscle slope.",
    chartPoint: { view: BodyView.BACK, x: 0.565, y: 0.16 },
    bilateral: true,
    referrals: [
      { region: "regions/neck_side", kind: ReferralKind.PRIMARY },
      { region: "regions/temple", kind: ReferralKind.PRIMARY },
      { region: "regions/jaw", kind: ReferralKind.SPILLOVER },
    ],
    aggravatingFactors: ["Holding a phone between ear and shoulder"],
    cautions: [{ kind: StructureKind.ORGAN, structure: "Top of the lung", text: "Lift and pinch the muscle rather than pressing down behind the collarbone." }],
    techniques: [
      { tool: "tools/fingers", instructions: "Pinch the muscle between thumb and fingers and hold a tender band." },
      { tool: "tools/tennis_ball", instructions: "Lie on your back with the ball under the top of the shoulder." },
    ],
    excludedTools: [{ tool: "tools/massage_gun", reason: "Close to the nerves of the neck." }],
  }),
  TP({
    name: "triggerPoints/levator_scapulae_neck",
    muscle: "muscles/levator_scapulae",
    displayName: "Levator scapulae (neck)",
    region: "regions/neck_side",
    locationDescription: "Where the neck meets the shoulder, under the front edge of the trapezius.",
    chartPoint: { view: BodyView.BACK, x: 0.545, y: 0.155 },
    bilateral: true,
    referrals: [
      { region: "regions/neck_side", kind: ReferralKind.PRIMARY },
      { region: "regions/shoulder_blade", kind: ReferralKind.SPILLOVER },
    ],
    techniques: [{ tool: "tools/lacrosse_ball", instructions: "Lean the ball against a wall at the angle of the neck." }],
  }),
  TP({
    name: "triggerPoints/sternocleidomastoid_sternal",
    muscle: "muscles/sternocleidomastoid",
    displayName: "Sternocleidomastoid (sternal head)",
    region: "regions/neck_side",
    locationDescription: "The front strap of the neck; pinch it gently between thumb and fingers.",
    chartPoint: { view: BodyView.FRONT, x: 0.475, y: 0.14 },
    bilateral: true,
    referrals: [
      { region: "regions/temple", kind: ReferralKind.PRIMARY },
      { region: "regions/ear", kind: ReferralKind.SPILLOVER },
    ],
    cautions: [{ kind: StructureKind.ARTERY, structure: "Carotid artery", text: "Never press where you feel a pulse." }],
    techniques: [{ tool: "tools/fingers", instructions: "Pinch, never press inward." }],
  }),
];
const muscles: Record<string, string> = {
  "muscles/upper_trapezius": "Upper trapezius",
  "muscles/levator_scapulae": "Levator scapulae",
  "muscles/sternocleidomastoid": "Sternocleidomastoid",
};

interface User {
  profile: { tools: string[]; timeZone: string; createTime?: Timestamp };
  answers: Map<string, ScreeningAnswer>;
  sessions: SessionRecord[];
  guided: GuidedSession[];
  requests: Map<string, string>;
}
const users = new Map<string, User>();

function who(ctx: HandlerContext): User {
  const auth = ctx.requestHeader.get("authorization") ?? "";
  const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]*)$/.exec(auth);
  if (!m) throw new ConnectError("missing or malformed bearer token", Code.Unauthenticated);
  if (m[3] !== "mock") throw new ConnectError("token signature is not valid", Code.Unauthenticated);
  const sub = JSON.parse(Buffer.from(m[2], "base64url").toString()).sub as string;
  if (!users.has(sub)) users.set(sub, { profile: { tools: [], timeZone: "UTC" }, answers: new Map(), sessions: [], guided: [], requests: new Map() });
  return users.get(sub)!;
}

function screening(u: User) {
  const answers = [...u.answers.values()];
  const missing = conditions.filter((c) => !u.answers.has(c.name)).map((c) => c.name);
  const blocking = answers.filter((a) => a.present && !a.clearedByProvider).map((a) => a.contraindication);
  const status = missing.length ? ScreeningStatus.REQUIRED : blocking.length ? ScreeningStatus.CONTRAINDICATED : ScreeningStatus.CLEARED;
  return { answers, status, missing, blocking };
}

function findByPain(locations: { region: string; side: Side }[]) {
  const wanted = locations.map((l) => ({ ...l, region: l.region.startsWith("regions/") ? l.region : `regions/${l.region}` }));
  const byMuscle = new Map<string, { score: number; tps: { tp: TriggerPoint; reasons: { region: string; kind: ReferralKind; text: string }[]; side: Side; score: number }[] }>();
  for (const tp of points) {
    const reasons = tp.referrals
      .filter((r) => wanted.some((w) => w.region === r.region))
      .map((r) => ({
        region: r.region,
        kind: r.kind,
        text: `${r.kind === ReferralKind.PRIMARY ? "Refers pain to" : "Can spill over to"} ${regions.find((x) => x.name === r.region)?.displayName.toLowerCase()}`,
      }));
    if (!reasons.length) continue;
    const score = reasons.reduce((s, r) => s + (r.kind === ReferralKind.PRIMARY ? 1 : 0.4), 0);
    const side = wanted.find((w) => reasons.some((r) => r.region === w.region))?.side ?? Side.UNSPECIFIED;
    const m = byMuscle.get(tp.muscle) ?? { score: 0, tps: [] };
    m.score = Math.max(m.score, score);
    m.tps.push({ tp, reasons, side, score });
    byMuscle.set(tp.muscle, m);
  }
  return [...byMuscle.entries()]
    .sort((a, b) => b[1].score - a[1].score)
    .map(([muscle, m]) => ({
      muscle: { name: muscle, displayName: muscles[muscle] },
      score: m.score,
      primary: m.tps.some((t) => t.reasons.some((r) => r.kind === ReferralKind.PRIMARY)),
      triggerPoints: m.tps.map((t) => ({ triggerPoint: t.tp, reasons: t.reasons, pressSide: t.side, score: t.score })),
    }));
}

function localDate(ts: Timestamp | undefined): string {
  return (ts ? timestampDate(ts) : new Date()).toISOString().slice(0, 10);
}

function progress(u: User) {
  const byPoint = new Map<string, SessionRecord[]>();
  for (const s of u.sessions) byPoint.set(s.triggerPoint, [...(byPoint.get(s.triggerPoint) ?? []), s]);
  return [...byPoint.entries()].map(([tp, ss]) => {
    const days = new Map<string, SessionRecord[]>();
    for (const s of ss) days.set(s.localDate, [...(days.get(s.localDate) ?? []), s]);
    const mean = (xs: (number | undefined)[]) => {
      const v = xs.filter((x): x is number => x !== undefined);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
    };
    return {
      triggerPoint: tp,
      days: [...days.entries()].sort().map(([d, list]) => ({
        localDate: d,
        sessionCount: list.length,
        meanTendernessBefore: mean(list.map((s) => s.tendernessBefore)),
        meanTendernessAfter: mean(list.map((s) => s.tendernessAfter)),
        totalDurationSeconds: list.reduce((a, s) => a + s.durationSeconds, 0),
      })),
      status: ProgressStatus.INSUFFICIENT_DATA,
      advice: "Keep going: a few short sessions a day for a week tell whether this point is the one.",
      activeDaysInWindow: days.size,
      sessionsInWindow: ss.length,
    };
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The catalog's own body map, limited to the regions above, so the mock
// draws the same figure as the real catalog (GetBodyMap).
const bodyMap = bodyMapFromToml(
  readFileSync(new URL("../../../crates/catalog/data/body_map.toml", import.meta.url), "utf8"),
  new Map(regions.map((r) => [r.name.replace("regions/", ""), r.lateral])),
);

function routes(router: ConnectRouter) {
  router.service(CatalogService, {
    listRegions: () => ({ regions }),
    getBodyMap: () => ({ bodyMap, catalogVersion: "mock" }),
    listTools: () => ({ tools }),
    listContraindications: () => ({ contraindications: conditions }),
    getTechniqueGuidance: () => ({ guidance }),
    findByPain: (req) => ({ matches: findByPain(req.locations), redFlags: [neckFlag], resolvedLocations: req.locations.map((l) => ({ input: l.region, region: l.region, side: l.side })) }),
    getTriggerPoint: (req) => {
      const tp = points.find((p) => p.name === req.name);
      if (!tp) throw new ConnectError(`${req.name} not found`, Code.NotFound);
      return { triggerPoint: tp };
    },
    batchGetTriggerPoints: (req) => ({ triggerPoints: points.filter((p) => req.names.includes(p.name)) }),
  });
  router.service(ViewService, {
    getReliefPlan: (req, ctx) => {
      const u = who(ctx);
      const s = screening(u);
      const blocks = s.status === ScreeningStatus.REQUIRED ? [{ reason: "SCREENING_REQUIRED", message: "Answer the health questions before a guided session." }] : [];
      if (s.status === ScreeningStatus.CONTRAINDICATED) blocks.push({ reason: "CONTRAINDICATED", message: "A condition you reported rules self-massage out." });
      if (!u.profile.tools.length) blocks.push({ reason: "NO_OWNED_TOOL", message: "Tell us which tools you own." });
      const matches = findByPain(req.locations);
      return {
        candidates: matches.map((m, i) => ({
          match: m,
          catalogRank: i + 1,
          personalScore: m.score,
          points: m.triggerPoints.map((t) => ({
            triggerPoint: t.triggerPoint.name,
            techniques: t.triggerPoint.techniques.filter((x) => u.profile.tools.includes(x.tool)),
            blocks: [],
          })),
        })),
        screening: s,
        redFlags: [neckFlag],
        blocks,
        guidance,
        ownedTools: u.profile.tools,
        resolvedLocations: req.locations.map((l) => ({ input: l.region, region: l.region, side: l.side })),
      };
    },
  });
  router.service(SessionService, {
    getProfile: (_req, ctx) => ({ profile: who(ctx).profile }),
    updateProfile: (req, ctx) => {
      const u = who(ctx);
      u.profile = { ...u.profile, tools: req.profile?.tools ?? [], createTime: u.profile.createTime ?? timestampNow() };
      return { profile: u.profile };
    },
    getScreening: (_req, ctx) => ({ screening: screening(who(ctx)) }),
    submitScreening: (req, ctx) => {
      const u = who(ctx);
      for (const a of req.answers) u.answers.set(a.contraindication, a);
      return { screening: screening(u) };
    },
    startGuidedSession: (req, ctx) => {
      const u = who(ctx);
      if (screening(u).status !== ScreeningStatus.CLEARED) throw new ConnectError("screening required", Code.FailedPrecondition);
      const g = create(GuidedSessionSchema, {
        name: `guidedSessions/${crypto.randomUUID()}`,
        triggerPoint: req.triggerPoint,
        tool: req.tool,
        side: req.side,
        durationSeconds: req.durationSeconds || 180,
        targetPressure: 5,
        startTime: timestampNow(),
        localDate: localDate(undefined),
        sessionsToday: 1,
        instructions: points.find((p) => p.name === req.triggerPoint)?.techniques.find((t) => t.tool === req.tool)?.instructions ?? "",
      });
      u.guided.push(g);
      return { guidedSession: g };
    },
    async *guideSession(req, ctx) {
      const g = who(ctx).guided.find((x) => x.name === req.name);
      if (!g) throw new ConnectError(`${req.name} not found`, Code.NotFound);
      const sides = g.side === Side.BOTH ? [Side.RIGHT, Side.LEFT] : [g.side];
      const total = g.durationSeconds * sides.length;
      const cue = (c: GuideCue, elapsed: number, side: Side, message: string) => ({
        cue: c,
        elapsedSeconds: elapsed,
        remainingSeconds: total - elapsed,
        message,
        targetPressure: g.targetPressure,
        side,
      });
      yield cue(GuideCue.START, 0, sides[0], "Get into position and find the tender spot.");
      yield cue(GuideCue.PRESS_AND_HOLD, 0, sides[0], "Press to about 5 out of 10 and hold.");
      const step = 15;
      for (let e = step; e < total; e += step) {
        await sleep((step * 1000) / SPEEDUP);
        if (ctx.signal.aborted) return;
        const side = sides[Math.min(sides.length - 1, Math.floor(e / g.durationSeconds))];
        if (e === g.durationSeconds && sides.length > 1) yield cue(GuideCue.SWITCH_SIDE, e, side, "Switch to the other side.");
        else if (e % g.durationSeconds === Math.floor(g.durationSeconds / 2)) yield cue(GuideCue.HALFWAY, e, side, "Halfway there. Breathe out and let the muscle soften.");
        else yield cue(GuideCue.TICK, e, side, "");
      }
      await sleep((step * 1000) / SPEEDUP);
      yield cue(GuideCue.STOP, total, sides[sides.length - 1], "Time. Release slowly.");
    },
    logSession: (req, ctx) => {
      const u = who(ctx);
      const seen = u.requests.get(req.requestId);
      if (seen) return { session: u.sessions.find((s) => s.name === seen), replayed: true };
      const s = create(SessionRecordSchema, { ...req.session, name: `sessions/${crypto.randomUUID()}`, createTime: timestampNow(), localDate: localDate(req.session?.performTime), origin: SessionOrigin.GUIDED });
      const warnings: SafetyWarning[] = [];
      if (s.painQuality === PainQuality.SHARP)
        warnings.push(create(SafetyWarningSchema, { code: WarningCode.SHARP_PAIN, severity: WarningSeverity.MEDICAL_ATTENTION, message: "Sharp pain is not trigger point pain: seek medical attention.", medicalAttentionAdvised: true }));
      s.warnings = warnings;
      u.sessions.push(s);
      u.requests.set(req.requestId, s.name);
      return { session: s };
    },
    listProgress: (_req, ctx) => ({ progress: progress(who(ctx)) }),
    exportUserData: (_req, ctx) => {
      const u = who(ctx);
      return { export: { userId: [...users.entries()].find(([, v]) => v === u)?.[0] ?? "", profile: u.profile, screening: screening(u), sessions: u.sessions, guidedSessions: u.guided, exportTime: timestampNow() } };
    },
    deleteUserData: (req, ctx) => {
      if (!req.confirm) throw new ConnectError("confirm must be true", Code.InvalidArgument);
      const u = who(ctx);
      const r = { sessionsDeleted: BigInt(u.sessions.length), guidedSessionsDeleted: BigInt(u.guided.length) };
      for (const [k, v] of users) if (v === u) users.delete(k);
      return r;
    },
  });
}

const handler = connectNodeAdapter({ routes, grpc: false, grpcWeb: true, connect: false });
const server = createServer((req, res) => {
  res.setHeader("access-control-allow-origin", req.headers.origin ?? "*");
  res.setHeader("access-control-expose-headers", "grpc-status, grpc-message, grpc-status-details-bin");
  if (req.method === "OPTIONS") {
    res.writeHead(204, {
      "access-control-allow-methods": "POST, OPTIONS",
      "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
      "access-control-max-age": "600",
    });
    res.end();
    return;
  }
  handler(req, res);
});
const port = Number(process.env.PORT ?? 0);
server.listen(port, "127.0.0.1", () => {
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : port}`;
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const token = `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "mock-user", exp: Math.floor(Date.now() / 1000) + 86400 })}.mock`;
  console.log(`MOCK_GATEWAY=${url}`);
  console.log(`MOCK_TOKEN=${token}`);
});
