// Logging a session: right after a guided session, or one already done
// (possibly days ago). Tenderness and pain quality go in; the safety warnings
// the service returns come out, "seek medical attention" first and loudest.

import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useMemo, useState } from "preact/hooks";
import { requestId } from "../api";
import { Side, type TriggerPoint } from "../gen/knotwork/catalog/v1/catalog_pb";
import {
  LogSessionRequestSchema,
  PainQuality,
  SessionOrigin,
  type SessionRecord,
} from "../gen/knotwork/session/v1/session_pb";
import { describeError, isUnreachable, type Problem } from "../logic/errors";
import { enqueue } from "../offline/sync";
import { idOf, PAIN_QUALITIES, sideLabel } from "../logic/labels";
import { sessionSides } from "../logic/pain";
import { findPlanPoint, usableTools } from "../logic/plan";
import { fromLocalInput, toLocalInput } from "../logic/time";
import { nameMap, useApp } from "./app-state";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle, Warnings } from "./common";

function Scale({ label, value, onChange, id }: { label: string; value: number; onChange(v: number): void; id: string }) {
  return (
    <div class="scale">
      <label for={id}>
        {label}: <output for={id}>{value}</output> / 10
      </label>
      <input
        id={id}
        type="range"
        min={0}
        max={10}
        step={1}
        value={value}
        aria-valuetext={`${value} out of 10`}
        onInput={(e) => onChange(Number(e.currentTarget.value))}
      />
      <div class="scale-ends small muted" aria-hidden="true">
        <span>0 none</span>
        <span>10 worst</span>
      </div>
    </div>
  );
}

/** What is already known about the session before the form. */
interface Known {
  point: string;
  pointDisplayName: string;
  /** Fixed by the guided session; chosen in the form otherwise. */
  tool?: string;
  side?: Side;
  durationSeconds?: number;
  targetPressure: number;
  guidedSession?: string;
  /** For a session already done: the tools and sides to offer. */
  tools?: string[];
  sides?: Side[];
}

export function LogScreen({ point }: { point?: string }) {
  const app = useApp();
  if (!app.token) return <NeedSignIn what="log a session" />;
  if (point) return <LogPastSession id={point} />;
  const g = app.guide;
  if (!g) {
    return (
      <section>
        <ScreenTitle>Log a session</ScreenTitle>
        <p>
          Start a guided session from <a href="#/plan">your candidates</a>, or open a trigger point to log a session you
          already did.
        </p>
      </section>
    );
  }
  const s = g.session;
  return (
    <LogForm
      title="How did it go?"
      known={{
        point: s.triggerPoint,
        pointDisplayName: g.pointDisplayName,
        tool: s.tool,
        side: s.side,
        durationSeconds: g.doneSeconds ?? s.durationSeconds,
        targetPressure: s.targetPressure || 5,
        guidedSession: s.name,
      }}
    />
  );
}

function LogPastSession({ id }: { id: string }) {
  const app = useApp();
  const name = `triggerPoints/${id}`;
  const planned = findPlanPoint(app.plan, name);
  const [point, setPoint] = useState<TriggerPoint | null>(planned?.point ?? null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    if (point) return;
    app.api.catalog
      .getTriggerPoint({ name })
      .then((r) => setPoint(r.triggerPoint ?? null))
      .catch((e) => setProblem(describeError(e)));
  }, [name]);
  if (problem) return <ErrorBox problem={problem} title="This trigger point could not be loaded" />;
  if (!point) return <Loading what="the trigger point" />;
  const owned = usableTools(point, app.profile?.tools ?? []);
  const excluded = new Set(point.excludedTools.map((x) => x.tool));
  const others = point.techniques.map((t) => t.tool).filter((t) => !owned.includes(t) && !excluded.has(t));
  return (
    <LogForm
      title="Log a session you already did"
      known={{
        point: point.name,
        pointDisplayName: point.displayName,
        targetPressure: app.vocab?.guidance?.targetPressure || 5,
        tools: [...owned, ...others],
        sides: sessionSides(point.bilateral, planned?.pressSide ?? Side.UNSPECIFIED),
      }}
    />
  );
}

function LogForm({ title, known }: { title: string; known: Known }) {
  const app = useApp();
  const past = !known.guidedSession;
  const [before, setBefore] = useState(6);
  const [after, setAfter] = useState(4);
  const [quality, setQuality] = useState<PainQuality>(PainQuality.UNSPECIFIED);
  const [pressure, setPressure] = useState(known.targetPressure);
  const [worseActivity, setWorseActivity] = useState(false);
  const [worseMassage, setWorseMassage] = useState(false);
  const [twitch, setTwitch] = useState(false);
  const [notes, setNotes] = useState("");
  const [tool, setTool] = useState(known.tool ?? known.tools?.[0] ?? "");
  const [side, setSide] = useState<Side>(known.side ?? known.sides?.[0] ?? Side.UNSPECIFIED);
  const [minutes, setMinutes] = useState(Math.max(1, Math.round((app.vocab?.guidance?.minDurationSeconds ?? 180) / 60)));
  const [when, setWhen] = useState(toLocalInput(new Date()));
  const [reqId] = useState(requestId());
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saving, setSaving] = useState(false);
  const [stored, setStored] = useState<SessionRecord | null>(null);
  const [queued, setQueued] = useState(false);
  const toolNames = useMemo(() => nameMap(app.vocab?.tools ?? []), [app.vocab]);

  const submit = async (e: Event) => {
    e.preventDefault();
    const plain = (message: string) => ({ code: "", message, metadata: {}, violations: [] });
    if (quality === PainQuality.UNSPECIFIED) return setProblem(plain("Choose how the pain felt."));
    const performed = past ? fromLocalInput(when) : new Date();
    if (!performed) return setProblem(plain("Enter when you did the session."));
    if (!tool) return setProblem(plain("Choose the tool you used."));
    setSaving(true);
    setProblem(null);
    const req = create(LogSessionRequestSchema, {
      requestId: reqId,
      session: {
        triggerPoint: known.point,
        tool,
        side,
        pressure,
        durationSeconds: past ? minutes * 60 : (known.durationSeconds ?? minutes * 60),
        tendernessBefore: before,
        tendernessAfter: after,
        painQuality: quality,
        worseWithActivity: worseActivity,
        worseWithMassage: worseMassage,
        twitchResponse: twitch,
        notes,
        performTime: timestampFromDate(performed),
        guidedSession: known.guidedSession ?? "",
      },
    });
    // Without a network the session waits on this device under the same
    // request id, and is sent once the network is back (src/offline/).
    const keep = async () => {
      await enqueue(req, app.tokenInfo?.subject ?? "", `${known.pointDisplayName}, ${performed.toLocaleString()}`);
      setQueued(true);
    };
    try {
      if (navigator.onLine === false) {
        await keep();
      } else {
        const r = await app.api.session.logSession(req);
        setStored(r.session ?? null);
      }
    } catch (err) {
      if (isUnreachable(err, navigator.onLine)) {
        try {
          await keep();
        } catch (e) {
          setProblem(describeError(e));
        }
      } else {
        setProblem(describeError(err));
      }
    } finally {
      setSaving(false);
    }
  };

  if (queued) {
    return (
      <section>
        <ScreenTitle>Saved on this device</ScreenTitle>
        <p class="alert alert-info" role="status" data-testid="queued">
          You are offline. {known.pointDisplayName}, tenderness {before} → {after}, is kept on this device and will be
          sent to your journal as soon as the network is back. Safety warnings will show then.
        </p>
        <div class="actions">
          <a class="button primary" href="#/today">
            Back to today
          </a>
        </div>
      </section>
    );
  }

  if (stored) {
    return (
      <section>
        <ScreenTitle>Session logged</ScreenTitle>
        <Warnings warnings={stored.warnings} />
        <p role="status" data-testid="logged">
          Saved for {stored.localDate}
          {stored.origin === SessionOrigin.GUIDED ? " (guided)" : ""}: {known.pointDisplayName}, tenderness{" "}
          {stored.tendernessBefore ?? "–"} → {stored.tendernessAfter ?? "–"}.
        </p>
        <div class="actions">
          <a class="button primary" href={`#/progress?point=${idOf(known.point)}`}>
            See your progress
          </a>
          <a class="button" href="#/today">
            Back to today
          </a>
        </div>
      </section>
    );
  }

  return (
    <section>
      <ScreenTitle>{title}</ScreenTitle>
      {past ? (
        <p>{known.pointDisplayName}</p>
      ) : (
        <p>
          {known.pointDisplayName}, {toolNames.get(tool) ?? idOf(tool)}, {sideLabel(side) || "middle"}.
        </p>
      )}
      <form onSubmit={submit} data-testid="log-form">
        {past && (
          <>
            <label>
              When
              <input
                type="datetime-local"
                required
                value={when}
                max={toLocalInput(new Date(Date.now() + 60_000))}
                onInput={(e) => setWhen(e.currentTarget.value)}
              />
            </label>
            <div class="row">
              <label>
                Tool
                <select value={tool} onChange={(e) => setTool(e.currentTarget.value)}>
                  {(known.tools ?? []).map((t) => (
                    <option key={t} value={t}>
                      {toolNames.get(t) ?? idOf(t)}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Side
                <select value={String(side)} onChange={(e) => setSide(Number(e.currentTarget.value) as Side)}>
                  {(known.sides ?? []).map((s) => (
                    <option key={s} value={String(s)}>
                      {s === Side.MIDLINE ? "Middle" : sideLabel(s)}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Minutes
                <input
                  type="number"
                  min={1}
                  max={60}
                  value={minutes}
                  onInput={(e) => setMinutes(Math.max(1, Math.min(60, Number(e.currentTarget.value) || 1)))}
                />
              </label>
            </div>
          </>
        )}
        <Scale id="tender-before" label="Tenderness before" value={before} onChange={setBefore} />
        <Scale id="tender-after" label="Tenderness after" value={after} onChange={setAfter} />
        <Scale id="pressure" label="Pressure you used" value={pressure} onChange={setPressure} />
        <label>
          How did the pain feel?
          <select
            value={String(quality)}
            required
            onChange={(e) => setQuality(Number(e.currentTarget.value) as PainQuality)}
            data-testid="quality"
          >
            <option value={String(PainQuality.UNSPECIFIED)}>Choose…</option>
            {PAIN_QUALITIES.map((q) => (
              <option key={q.value} value={String(q.value)}>
                {q.label}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Anything else?</legend>
          <label class="check">
            <input type="checkbox" checked={worseActivity} onChange={(e) => setWorseActivity(e.currentTarget.checked)} />
            The pain gets worse with activity such as eating or walking
          </label>
          <label class="check">
            <input type="checkbox" checked={worseMassage} onChange={(e) => setWorseMassage(e.currentTarget.checked)} />
            The pain got worse with the massage
          </label>
          <label class="check">
            <input type="checkbox" checked={twitch} onChange={(e) => setTwitch(e.currentTarget.checked)} />
            I felt a twitch in the muscle
          </label>
        </fieldset>
        <label>
          Notes
          <textarea value={notes} maxLength={2000} rows={3} onInput={(e) => setNotes(e.currentTarget.value)} />
        </label>
        <ErrorBox problem={problem} title="The session was not saved" />
        <button type="submit" class="primary" disabled={saving}>
          {saving ? "Saving…" : "Save session"}
        </button>
      </form>
    </section>
  );
}
