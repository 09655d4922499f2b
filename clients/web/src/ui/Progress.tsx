// Progress per trigger point: tenderness over days as an SVG chart, with the
// service's verdict and advice.

import { useEffect, useMemo, useState } from "preact/hooks";
import { type PointProgress, ProgressStatus } from "../gen/knotwork/session/v1/session_pb";
import { chartGeometry, DEFAULT_BOX, type DayValue, shortDate } from "../logic/chart";
import { describeError, type Problem } from "../logic/errors";
import { humanizeName, idOf, progressLabel } from "../logic/labels";
import { useApp } from "./app-state";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle } from "./common";
import { PointSessions } from "./Sessions";

function Chart({ days, title }: { days: DayValue[]; title: string }) {
  const g = chartGeometry(days);
  const box = DEFAULT_BOX;
  const id = title.replace(/\W/g, "-");
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${box.width} ${box.height}`} role="img" aria-labelledby={`${id}-cap`} data-testid="progress-chart">
        {g.yTicks.map((t) => (
          <g key={t.label}>
            <line class="grid" x1={g.plot.left} x2={g.plot.right} y1={t.y} y2={t.y} />
            <text class="tick" x={g.plot.left - 6} y={t.y + 4} text-anchor="end">
              {t.label}
            </text>
          </g>
        ))}
        {g.xTicks.map((t) => (
          <text key={t.label} class="tick" x={t.x} y={box.height - 8} text-anchor={t.anchor}>
            {t.label}
          </text>
        ))}
        {g.beforePath && <path class="line before" d={g.beforePath} />}
        {g.afterPath && <path class="line after" d={g.afterPath} />}
        {g.before.map((p) => (
          <circle key={`b${p.date}`} class="pt before" cx={p.x} cy={p.y} r={4} />
        ))}
        {g.after.map((p) => (
          <rect key={`a${p.date}`} class="pt after" x={p.x - 4} y={p.y - 4} width={8} height={8} data-value={p.value} />
        ))}
      </svg>
      <figcaption id={`${id}-cap`}>
        Tenderness (0–10) per day for {title}: <span class="legend before">● before</span>{" "}
        <span class="legend after">■ after</span> each day's sessions.
      </figcaption>
    </figure>
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function PointCard({ p, names, onChanged }: { p: PointProgress; names: Map<string, string>; onChanged(): void }) {
  const title = names.get(p.triggerPoint) ?? humanizeName(p.triggerPoint);
  const days: DayValue[] = p.days.map((d) => ({
    date: d.localDate,
    before: d.meanTendernessBefore,
    after: d.meanTendernessAfter,
  }));
  const worsening = p.status === ProgressStatus.WORSENING;
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
      {p.advice && (
        <p class={worsening ? "alert alert-danger" : "advice"} role={worsening ? "alert" : undefined}>
          {p.advice}
        </p>
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

export function ProgressScreen({ only }: { only?: string }) {
  const app = useApp();
  const [items, setItems] = useState<PointProgress[] | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [problem, setProblem] = useState<Problem | null>(null);
  // Bumped after a correction or a deletion: progress is read again.
  const [version, setVersion] = useState(0);

  useEffect(() => {
    if (!app.token) return;
    let live = true;
    (async () => {
      try {
        const r = await app.api.session.listProgress({ days: 28 });
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
      {!sorted && !problem && <Loading what="your progress" />}
      {sorted && sorted.length === 0 && (
        <p>
          No sessions yet. Start from the <a href="#/">body map</a>.
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
