// Today: the plan from GetToday (points, sessions done and left, what is set
// aside), the streak and the week, today's sessions, the pain check-in, and
// the reminders opt-in. Signed-in people land here.

import { useEffect, useMemo, useState } from "preact/hooks";
import type { GetTodayResponse } from "../gen/knotwork/gateway/v1/gateway_pb";
import { describeError, type Problem } from "../logic/errors";
import { humanizeName, idOf, plural } from "../logic/labels";
import { localClock, longDate, todayView } from "../logic/today";
import { useApp } from "./app-state";
import { CheckInCard } from "./CheckIn";
import { RemindersCard } from "./Reminders";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle } from "./common";

export function TodayScreen() {
  const app = useApp();
  const [today, setToday] = useState<GetTodayResponse | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [problem, setProblem] = useState<Problem | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    if (!app.token) return;
    let live = true;
    (async () => {
      try {
        const t = await app.api.view.getToday({});
        const wanted = new Set([
          ...t.progress.map((p) => p.triggerPoint),
          ...(t.day?.allowances ?? []).map((a) => a.triggerPoint),
          ...t.setAside.map((s) => s.triggerPoint),
        ]);
        let m = new Map<string, string>();
        if (wanted.size) {
          try {
            const tps = await app.api.catalog.batchGetTriggerPoints({ names: [...wanted].slice(0, 100) });
            m = new Map(tps.triggerPoints.map((p) => [p.name, p.displayName]));
          } catch {
            // Names are a nicety: fall back to the ids.
          }
        }
        if (live) {
          setNames(m);
          setToday(t);
        }
      } catch (e) {
        if (live) setProblem(describeError(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [app.token, app.api, reload]);

  const view = useMemo(() => (today ? todayView(today) : null), [today]);
  if (!app.token) return <NeedSignIn what="see today's plan" />;
  const name = (p: string) => names.get(p) ?? humanizeName(p);

  return (
    <section class="today">
      <ScreenTitle>Today</ScreenTitle>
      <ErrorBox problem={problem} title="Today's plan could not be loaded" />
      {!view && !problem && <Loading what="today's plan" />}
      {view && today && (
        <>
          <p class="muted">{longDate(view.date)}</p>
          <dl class="stats" data-testid="today-stats">
            <div>
              <dt>Days in a row</dt>
              <dd data-testid="streak">{view.streak}</dd>
            </div>
            {view.plannedToday !== undefined ? (
              <div>
                <dt>Today's plan</dt>
                <dd data-testid="plan-today">
                  {view.plannedDone ?? 0}
                  <span class="small muted">of {view.plannedToday} sessions done</span>
                </dd>
              </div>
            ) : (
              <div>
                <dt>Sessions today</dt>
                <dd data-testid="sessions-today">{view.sessionsToday}</dd>
              </div>
            )}
            <div>
              <dt>Last 7 days</dt>
              <dd data-testid="week">
                {view.week.planned !== undefined ? `${view.week.percent ?? 0}%` : view.week.sessions}
                <span class="small muted">
                  {view.week.planned !== undefined
                    ? `${view.week.sessions} of ${view.week.planned} planned sessions`
                    : `${view.week.sessions === 1 ? "session" : "sessions"} on ${plural(view.week.activeDays, "day")}`}
                </span>
              </dd>
            </div>
          </dl>
          <section aria-labelledby="plan-title">
            <h2 id="plan-title">Your points today</h2>
            {view.plan.length === 0 && view.setAside.length > 0 ? (
              <p data-testid="plan-aside">No point to work today: see why below.</p>
            ) : view.plan.length === 0 ? (
              <p data-testid="plan-empty">
                Nothing planned yet. Start from the <a href="#/map">body map</a>: find what may cause your pain and work
                a point for three to five minutes.
              </p>
            ) : (
              <ul class="plan-list" data-testid="plan">
                {view.plan.map((p) => (
                  <li key={p.point} data-point={p.point}>
                    <div>
                      <strong>{name(p.point)}</strong>
                      <p class="small">
                        {p.planned !== undefined
                          ? `${p.done} of ${p.planned} planned done${p.left ? `, ${p.left} to go` : ""}.`
                          : p.onHold
                          ? "On hold until a medical provider has checked it."
                          : p.left === undefined
                            ? "Not worked yet today."
                            : p.left > 0
                              ? `${plural(p.done, "session")} done, ${p.left} more allowed today.`
                              : `${plural(p.done, "session")} done: enough for today${p.nextAllowed ? `; next from ${localClock(p.nextAllowed)}` : ""}.`}
                      </p>
                    </div>
                    {!p.onHold && p.left !== 0 && (
                      <a class="button" href={`#/point/${idOf(p.point)}`} aria-label={`Work it: ${name(p.point)}`}>
                        Work it
                      </a>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </section>
          {view.slots.length > 0 && (
            <section aria-labelledby="times-title">
              <h2 id="times-title">Suggested times</h2>
              <ol class="slots" data-testid="slots">
                {view.slots.map((x, i) => (
                  <li key={i} data-state={x.state}>
                    <strong class="slot-time">{x.clock}</strong>{" "}
                    <span class={`slot-state slot-${x.state}`}>
                      {x.state === "done" ? "✓ done" : x.state === "due" ? "due now" : "later"}
                    </span>
                    <span class="small">
                      {" "}
                      {(x.state === "done" ? x.points : x.pointsLeft).map(name).join(", ")}
                    </span>
                  </li>
                ))}
              </ol>
            </section>
          )}
          {view.setAside.length > 0 && (
            <section class="alert alert-warn" aria-labelledby="aside-title" data-testid="set-aside">
              <h2 id="aside-title">Not today</h2>
              <ul>
                {view.setAside.map((s) => (
                  <li key={s.triggerPoint}>
                    <strong>{name(s.triggerPoint)}:</strong> {s.message} {s.advice}
                  </li>
                ))}
              </ul>
            </section>
          )}
          {today.day && today.day.sessions.length > 0 && (
            <section aria-labelledby="done-title">
              <h2 id="done-title">Done today</h2>
              <ul class="done-list" data-testid="done-today">
                {today.day.sessions.map((s) => (
                  <li key={s.name}>
                    {name(s.triggerPoint)}: tenderness {s.tendernessBefore ?? "–"} → {s.tendernessAfter ?? "–"}
                  </li>
                ))}
              </ul>
            </section>
          )}
          <CheckInCard today={view.date} />
          <RemindersCard view={view} onHoursChanged={() => setReload((n) => n + 1)} />
          <p class="actions">
            <a class="button" href="#/guides">
              How-to guides
            </a>
            <a class="button" href="#/report">
              Report for your clinician
            </a>
          </p>
        </>
      )}
    </section>
  );
}
