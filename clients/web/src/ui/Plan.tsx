// The ranked candidates: possible causes of the pain, why each matches, and
// where to press.

import { Code, ConnectError } from "@connectrpc/connect";
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { type BodyMap, BodyView, ReferralKind, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import type { Block } from "../gen/knotwork/gateway/v1/gateway_pb";
import { cropBox, dotsFor, drawingSize, ellipseCorners, hotspots } from "../logic/body";
import { describeError, type Problem } from "../logic/errors";
import { humanizeName, idOf, localMinute, noToolLeft, notWithTools, sideLabel } from "../logic/labels";
import { type PainPick, toLocations } from "../logic/pain";
import {
  blockAction,
  blockedTools,
  type BlockLink,
  type DetailBlocksView,
  planFromCatalog,
  planFromRelief,
  pointBlocks,
  type PlanPoint,
} from "../logic/plan";
import { nameMap, useApp } from "./app-state";
import { ErrorBox, Loading, RedFlags, ScreenTitle } from "./common";
import { Figure, type Zone } from "./Figure";

/** What to do about a block, as a link. */
function BlockAction({ block }: { block: Block }) {
  const a = blockAction(block.reason);
  return a ? <ActionLink link={a} /> : null;
}

function ActionLink({ link }: { link: BlockLink }) {
  return (
    <a class={link.primary ? "button primary" : "button"} href={link.href}>
      {link.label}
    </a>
  );
}

/** A tool's display name from the catalog's tools (the id's words until they load). */
function useToolName(): (tool: string) => string {
  const app = useApp();
  const names = useMemo(() => nameMap(app.vocab?.tools ?? []), [app.vocab]);
  return (tool) => names.get(tool) ?? humanizeName(tool);
}

/** "Not with the foam roller or the massage gun." for the blocks that name a tool. */
function notWithLine(blocks: readonly Block[], toolName: (tool: string) => string): string {
  const tools = blockedTools(blocks);
  return tools.length ? notWithTools(tools.map(toolName)) : "";
}

/** Blocks as stops, one each; `children` are further stops (a `div.block` each) in the same section. */
export function Blocks({ blocks, children }: { blocks: readonly Block[]; children?: ComponentChildren }) {
  const toolName = useToolName();
  if (blocks.length === 0 && !children) return null;
  return (
    <section class="alert alert-block" data-testid="blocks" aria-label="Before you start">
      {blocks.map((b, i) => (
        <div key={i} class="block">
          <p>
            <strong>{b.tool ? notWithLine([b], toolName) : blockTitle(b.reason)}</strong> {b.message}
          </p>
          <BlockAction block={b} />
        </div>
      ))}
      {children}
    </section>
  );
}

export function blockTitle(reason: string): string {
  switch (reason) {
    case "SCREENING_REQUIRED":
      return "Health questions first.";
    case "CONTRAINDICATED":
      return "Self-massage is ruled out for now.";
    case "TOOL_EXCLUDED":
      return "Not with this tool.";
    case "CONDITION_EXCLUDED":
      return "Not with your condition.";
    case "DAILY_LIMIT_REACHED":
      return "Enough for today on this point.";
    case "NO_OWNED_TOOL":
      return "No suitable tool.";
    default:
      return "";
  }
}

/**
 * The referral zones of a point on the side pressed, from the body map, with
 * those that match where it hurts highlighted; drawn on the view where the
 * matches are (else the point's own view), cropped to them and the point.
 */
function thumbnail(p: PlanPoint, map: BodyMap | undefined, picks: readonly PainPick[]) {
  const cp = p.point.chartPoint;
  const showSide = (s: Side) =>
    s === Side.MIDLINE || !p.point.bilateral || p.pressSide === Side.BOTH || p.pressSide === Side.UNSPECIFIED || s === p.pressSide;
  const zones: Zone[] = [];
  for (const r of p.point.referrals) {
    for (const h of hotspots(map, BodyView.FRONT).concat(hotspots(map, BodyView.BACK))) {
      if (h.region !== r.region || !showSide(h.side)) continue;
      const highlight = picks.some((k) => k.region === h.region && (k.side === h.side || k.side === Side.MIDLINE || h.side === Side.MIDLINE));
      zones.push({ ...h, primary: r.kind === ReferralKind.PRIMARY, highlight });
    }
  }
  const viewOf = (z: Zone) => map?.shapes.find((s) => s.region === z.region)?.view ?? BodyView.FRONT;
  const match = zones.find((z) => z.highlight);
  const view = match ? viewOf(match) : (cp?.view ?? BodyView.FRONT);
  const onView = zones.filter((z) => viewOf(z) === view);
  const dots = cp && cp.view === view ? dotsFor(cp, p.point.bilateral, p.pressSide) : [];
  const { w, h } = drawingSize(map);
  const box = cropBox([...onView.filter((z) => z.highlight || !match).flatMap(ellipseCorners), ...dots], 260, w, h);
  return { view, zones: onView, dots, box, matches: zones.filter((z) => z.highlight).length };
}

/**
 * A point's blocks on its card, one short line each: the tools it must not
 * be worked with as a calm note while an owned tool is left (the point is
 * not blocked), in the red of a block when none is; the blocks on the point
 * itself in red.
 */
function CardBlocks({ p }: { p: PlanPoint }) {
  const toolName = useToolName();
  const { tools, point, workable } = pointBlocks(p);
  const notWith = notWithLine(tools, toolName);
  const stops = point.map((b) => blockTitle(b.reason) || b.message);
  if (!workable && notWith) stops.push(notWith);
  return (
    <>
      {stops.length > 0 && (
        <p class="small block-note" data-testid="block-note">
          {stops.join(" ")}
        </p>
      )}
      {workable && notWith && (
        <p class="small tool-note" data-testid="tool-note">
          {notWith}
        </p>
      )}
    </>
  );
}

/**
 * A point's blocks on its detail screen, as `detailBlocks` lays them out
 * (the screen computes that once and passes it): the blocks on the point as
 * stops; the tools it must not be worked with in one line, a note while an
 * owned tool is left, one stop with its next step when none is. Either says
 * why only where the screen's cautions do not already; otherwise it points
 * to them (`cautionsId`, the cautions' heading).
 */
export function DetailBlocks({ view, cautionsId }: { view: DetailBlocksView; cautionsId: string }) {
  const toolName = useToolName();
  const names = view.tools.map(toolName);
  // A button, not `href="#cautions-title"`: the app routes on the hash, and
  // that link would leave the point's screen for "page not found".
  const toCautions = () => {
    const heading = document.getElementById(cautionsId);
    heading?.scrollIntoView({ block: "start" });
    heading?.focus({ preventScroll: true });
  };
  const why = (
    <>
      {view.shown.length > 0 && (
        <ul class="small">
          {view.shown.map((b, i) => (
            <li key={i}>{b.message}</li>
          ))}
        </ul>
      )}
      {view.seeCautions && (
        <p class="small">
          Why:{" "}
          <button type="button" class="link" onClick={toCautions} data-testid="see-cautions">
            see Cautions above
          </button>
          .
        </p>
      )}
    </>
  );
  return (
    <>
      {view.toolStop ? (
        <Blocks blocks={view.stops}>
          <div class="block" data-testid="tool-stop">
            <p>
              <strong>{noToolLeft(names)}</strong>
            </p>
            {why}
            {view.actions.map((a) => (
              <ActionLink key={a.href + a.label} link={a} />
            ))}
          </div>
        </Blocks>
      ) : (
        <Blocks blocks={view.stops} />
      )}
      {!view.toolStop && view.tools.length > 0 && (
        <div class="alert alert-info" data-testid="tool-note">
          <p>
            <strong>{notWithTools(names)}</strong>
          </p>
          {why}
        </div>
      )}
    </>
  );
}

function PointCard({ p, regionName }: { p: PlanPoint; regionName: (r: string) => string }) {
  const app = useApp();
  const cp = p.point.chartPoint;
  const thumb = useMemo(() => thumbnail(p, app.vocab?.bodyMap, app.picks), [p, app.vocab, app.picks]);
  const id = idOf(p.point.name);
  const side = sideLabel(p.pressSide);
  return (
    <li class="point-card" data-testid="point-card" data-point={p.point.name}>
      {cp && (
        <Figure
          map={app.vocab?.bodyMap}
          view={thumb.view}
          label={`Referral pattern of ${p.point.displayName}: ${thumb.matches} of its zones match where it hurts`}
          zones={thumb.zones}
          dots={thumb.dots}
          box={thumb.box}
          small
          class="thumb"
        />
      )}
      <div>
        <h4>{p.point.displayName}</h4>
        <p class="why">
          <span class="label">Why it matches:</span>{" "}
          {p.reasons.length
            ? p.reasons.map((r) => r.text || `${r.kind === ReferralKind.PRIMARY ? "Refers pain to" : "Can spill over to"} ${regionName(r.region)}`).join(" · ")
            : "Its referral zone covers where it hurts."}
        </p>
        <details class="where">
          <summary>Where to press{side ? ` (${side})` : ""}</summary>
          <p>{p.point.locationDescription}</p>
        </details>
        {p.allowance && (
          <p class="small muted">
            Today: {p.allowance.sessionsDone} done, {p.allowance.sessionsRemaining} left
            {p.allowance.sessionsRemaining === 0 && p.allowance.nextAllowedLocalTime
              ? ` (next from ${localMinute(p.allowance.nextAllowedLocalTime)})`
              : ""}
            .
          </p>
        )}
        <CardBlocks p={p} />
        <a class="button" href={`#/point/${id}?side=${p.pressSide}`} aria-label={`Details and start: ${p.point.displayName}`}>
          Details and start
        </a>
      </div>
    </li>
  );
}

export function PlanScreen() {
  const app = useApp();
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(false);
  const regions = app.vocab?.regions ?? [];
  const names = useMemo(() => nameMap(regions), [regions]);
  const lateral = useMemo(() => {
    const m = new Map(regions.map((r) => [r.name, r.lateral]));
    return (r: string) => m.get(r) ?? true;
  }, [regions]);

  useEffect(() => {
    if (app.plan || app.picks.length === 0 || !app.vocab) return;
    const locations = toLocations(app.picks, lateral);
    let live = true;
    setLoading(true);
    setProblem(null);
    (async () => {
      try {
        if (app.token) {
          try {
            const r = await app.api.view.getReliefPlan({ locations, symptoms: app.symptoms, maxCandidates: 10 });
            if (live) app.setPlan(planFromRelief(r));
            if (live && r.screening) app.setScreening(r.screening);
            return;
          } catch (e) {
            // Fall back to the public ranking when the personal view is unavailable.
            const code = ConnectError.from(e).code;
            if (code !== Code.Unimplemented && code !== Code.Unavailable) throw e;
          }
        }
        const r = await app.api.catalog.findByPain({ locations, symptoms: app.symptoms, pageSize: 10 });
        if (live) app.setPlan(planFromCatalog(r));
      } catch (e) {
        if (live) setProblem(describeError(e));
      } finally {
        if (live) setLoading(false);
      }
    })();
    return () => {
      live = false;
    };
  }, [app.plan, app.picks, app.symptoms, app.vocab, app.token]);

  const plan = app.plan;
  return (
    <section>
      <ScreenTitle>What may be causing it</ScreenTitle>
      {app.picks.length === 0 && (
        <p>
          Choose where it hurts on the <a href="#/map">body map</a> first.
        </p>
      )}
      <ErrorBox problem={problem} title="The candidates could not be loaded" />
      {loading && <Loading what="the candidates" />}
      {plan && (
        <>
          <RedFlags flags={plan.redFlags} />
          <Blocks blocks={plan.blocks} />
          <p class="muted small">
            Possible causes, best match first: trigger points whose referral zones cover{" "}
            {plan.resolved.map((l) => `${names.get(l.region) ?? l.input}${sideLabel(l.side) ? ` (${sideLabel(l.side)})` : ""}`).join(", ") ||
              "where it hurts"}
            . Never a diagnosis.
          </p>
          {plan.suggestedNext && (
            <p class="alert alert-info" data-testid="suggested-next">
              {plan.suggestedNextReason || "A point you have worked for a week has not improved."} Try{" "}
              <a href={`#/point/${idOf(plan.suggestedNext)}`}>this one next</a>.
            </p>
          )}
          {plan.candidates.length === 0 ? (
            <p>No trigger point in the catalog refers pain there. If the pain persists, see a medical provider.</p>
          ) : (
            <ol class="candidates" data-testid="candidates">
              {plan.candidates.map((c) => (
                <li key={c.muscle?.name ?? c.rank} class="candidate" data-testid="candidate">
                  <h2>
                    <span class="rank">{c.rank}.</span> {c.muscle?.displayName ?? "Muscle"}
                    {c.primary && <span class="badge">main zone</span>}
                  </h2>
                  {c.muscle?.description && <p class="muted small clamp">{c.muscle.description}</p>}
                  {c.adjustments.length > 0 && (
                    <p class="small">{c.adjustments.map((a) => a.reason).join(" · ")}</p>
                  )}
                  <ul class="points">
                    {c.points.slice(0, 1).map((p) => (
                      <PointCard key={p.point.name} p={p} regionName={(r) => names.get(r) ?? r} />
                    ))}
                  </ul>
                  {c.points.length > 1 && (
                    <details class="more-points">
                      <summary>
                        {c.points.length - 1} more {c.points.length === 2 ? "point" : "points"} in this muscle
                      </summary>
                      <ul class="points">
                        {c.points.slice(1).map((p) => (
                          <PointCard key={p.point.name} p={p} regionName={(r) => names.get(r) ?? r} />
                        ))}
                      </ul>
                    </details>
                  )}
                </li>
              ))}
            </ol>
          )}
          {!app.token && (
            <p class="alert alert-info">
              <a href="#/signin">Sign in</a> to see techniques for your own tools and to start a guided session.
            </p>
          )}
        </>
      )}
    </section>
  );
}
