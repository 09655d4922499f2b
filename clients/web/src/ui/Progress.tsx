// Progress per trigger point: tenderness over days as an SVG chart, with the
// service's verdict and advice.

import { useEffect, useMemo, useState } from "preact/hooks";
import { type Adherence, type PointProgress, ProgressStatus, type RegionProgress } from "../gen/knotwork/session/v1/session_pb";
import { type DayValue, shortDate } from "../logic/chart";
import { painDays, painSummary } from "../logic/daily";
import { Chart } from "./Chart";
import { describeError, type Problem } from "../logic/errors";
import { humanizeName, idOf, localMinute, plural, progressLabel, weekLine } from "../logic/labels";
import { nameMap, useApp } from "./app-state";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle } from "./common";
import { PointSessions } from "./Sessions";

function PointCard({ p, names, onChanged }: { p: PointProgress; names: Map<string, string>; onChanged(): void }) {
  const title = names.get(p.triggerPoint) ?? humanizeName(p.triggerPoint);
  const days: DayValue[] = p.days.map((d) => ({
    date: d.localDate,
    before: d.meanTendernessBefore,
    after: d.meanTendernessAfter,
  }));
  const worsening = p.status === ProgressStatus.WORSENING;
  // A held point is not to be worked until a provider checks it: the hold,
  // not the advice to keep working it, is what the card says.
  const hold = p.hold?.active ? p.hold : undefined;
  return (
    <li class="progress-card" data-testid="progress-card" data-point={p.triggerPoint}>
      <h2>{title}</h2>
      <p>
        <span class={`status status-${ProgressStatus[p.status]?.toLowerCase()}`} data-testid="progress-status">
          {progressLabel(p.status)}
        </span>{" "}
        <span class="small muted">
          {plural(p.sessionsInWindow, "session")} on {plural(p.activeDaysInWindow, "day")}
          {p.status !== ProgressStatus.INSUFFICIENT_DATA &&
            ` · trend ${p.tendernessTrendPerDay > 0 ? "+" : ""}${p.tendernessTrendPerDay.toFixed(2)} per day`}
        </span>
      </p>
      {hold ? (
        <div class="alert alert-danger" data-testid="progress-hold">
          <p>
            <strong>On hold since {localMinute(hold.sinceLocalTime)}:</strong> {hold.why}
          </p>
          <p>{hold.advice}</p>
        </div>
      ) : (
        p.advice && (
          <p class={worsening ? "alert alert-danger" : "advice"} role={worsening ? "alert" : undefined}>
            {p.advice}
          </p>
        )
      )}
      <Chart days={days} title={title} />
      <details>
        <summary>The numbers</summary>
        <table>
          <caption class="visually-hidden">Daily tenderness for {title}</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Sessions</th>
              <th scope="col">Before</th>
              <th scope="col">After</th>
            </tr>
          </thead>
          <tbody>
            {p.days.map((d) => (
              <tr key={d.localDate}>
                <th scope="row">{shortDate(d.localDate)}</th>
                <td>{d.sessionCount}</td>
                <td>{d.meanTendernessBefore?.toFixed(1) ?? "–"}</td>
                <td>{d.meanTendernessAfter?.toFixed(1) ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <p class="actions">
        <a class="button" href={`#/point/${idOf(p.triggerPoint)}`}>
          Open this point
        </a>
        <a class="button" href={`#/log?point=${idOf(p.triggerPoint)}`} aria-label={`Log a past session on ${title}`}>
          Log a past session
        </a>
      </p>
      <PointSessions point={p.triggerPoint} title={title} onChanged={onChanged} />
      {p.alternativeTriggerPoints.length > 0 && (
        <p>
          Other points that refer to the same place:{" "}
          {p.alternativeTriggerPoints.map((a, i) => (
            <span key={a}>
              {i > 0 && ", "}
              <a href={`#/point/${idOf(a)}`}>{names.get(a) ?? humanizeName(a)}</a>
            </span>
          ))}
        </p>
      )}
    </li>
  );
}

/** One region's pain check-ins: the summary line, a chart and its numbers. */
export function RegionCard({ r, name }: { r: RegionProgress; name: string }) {
  const scores = r.daily.map((d) => ({ localDate: d.localDate, score: d.score }));
  const days = painDays(scores);
  const better = r.change < 0;
  return (
    <li class="progress-card" data-testid="region-card" data-region={r.region}>
      <h3 data-testid="region-summary">
        {painSummary(name, scores)}
        {r.checkIns > 1 && (
          <span class="small muted"> ({better ? "better" : r.change > 0 ? "worse" : "no change"})</span>
        )}
      </h3>
      {r.advice && <p class="advice">{r.advice}</p>}
      <Chart days={days} title={name} kind="pain" />
      <details>
        <summary>The numbers</summary>
        <table>
          <caption class="visually-hidden">Daily pain in {name}</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Pain (0–10)</th>
            </tr>
          </thead>
          <tbody>
            {r.daily.map((d) => (
              <tr key={d.localDate}>
                <th scope="row">{shortDate(d.localDate)}</th>
                <td>{d.score}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </li>
  );
}

export function ProgressScreen({ only }: { only?: string }) {
  const app = useApp();
  const [items, setItems] = useState<PointProgress[] | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [problem, setProblem] = useState<Problem | null>(null);
  // Bumped after a correction or a deletion: progress is read again.
  const [version, setVersion] = useState(0);
  const [regions, setRegions] = useState<RegionProgress[]>([]);
  const [keeping, setKeeping] = useState<Adherence | null>(null);
  const regionNames = useMemo(() => nameMap(app.vocab?.regions ?? []), [app.vocab]);

  useEffect(() => {
    if (!app.token) return;
    app.api.session
      .listRegionProgress({ days: 90 })
      .then((r) => setRegions(r.regions))
      .catch(() => setRegions([]));
  }, [app.token, version]);

  useEffect(() => {
    if (!app.token) return;
    let live = true;
    (async () => {
      try {
        const r = await app.api.session.listProgress({ days: 28 });
        if (live) setKeeping(r.adherence ?? null);
        const wanted = new Set(r.progress.flatMap((p) => [p.triggerPoint, ...p.alternativeTriggerPoints]));
        let m = new Map<string, string>();
        if (wanted.size) {
          try {
            const tps = await app.api.catalog.batchGetTriggerPoints({ names: [...wanted].slice(0, 100) });
            m = new Map(tps.triggerPoints.map((t) => [t.name, t.displayName]));
          } catch {
            // Names are a nicety: fall back to the ids.
          }
        }
        if (live) {
          setNames(m);
          setItems(r.progress);
        }
      } catch (e) {
        if (live) setProblem(describeError(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [app.token, version]);

  const sorted = useMemo(() => {
    if (!items || !only) return items;
    const key = `triggerPoints/${only}`;
    return [...items].sort((a, b) => Number(b.triggerPoint === key) - Number(a.triggerPoint === key));
  }, [items, only]);

  if (!app.token) return <NeedSignIn what="see your progress" />;
  return (
    <section>
      <ScreenTitle>Your progress</ScreenTitle>
      <ErrorBox problem={problem} title="Your progress could not be loaded" />
      {keeping && (
        <p class="keeping" data-testid="adherence">
          {weekLine(keeping)}
        </p>
      )}
      <p>
        <a href="#/report">Make a report for your clinician</a>
      </p>
      {regions.length > 0 && (
        <section aria-labelledby="regions-title">
          <h2 id="regions-title">Pain where it hurts</h2>
          <ul class="progress-list" data-testid="region-progress">
            {regions.map((r) => (
              <RegionCard key={r.region} r={r} name={regionNames.get(r.region) ?? humanizeName(r.region)} />
            ))}
          </ul>
        </section>
      )}
      {regions.length > 0 && sorted && sorted.length > 0 && <h2>Points you worked</h2>}
      {!sorted && !problem && <Loading what="your progress" />}
      {sorted && sorted.length === 0 && (
        <p>
          No sessions yet. Start from the <a href="#/map">body map</a>.
        </p>
      )}
      {sorted && sorted.length > 0 && (
        <ul class="progress-list">
          {sorted.map((p) => (
            <PointCard key={p.triggerPoint} p={p} names={names} onChanged={() => setVersion((v) => v + 1)} />
          ))}
        </ul>
      )}
    </section>
  );
}
