// After a guided session: tenderness and pain quality, then the safety
// warnings the service returns, shown prominently.

import { timestampNow } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { requestId } from "../api";
import { PainQuality, type SessionRecord } from "../gen/knotwork/session/v1/session_pb";
import { describeError, type Problem } from "../logic/errors";
import { idOf, PAIN_QUALITIES, sideLabel } from "../logic/labels";
import { nameMap, useApp } from "./app-state";
import { ErrorBox, NeedSignIn, ScreenTitle, Warnings } from "./common";

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

export function LogScreen() {
  const app = useApp();
  const g = app.guide;
  const [before, setBefore] = useState(6);
  const [after, setAfter] = useState(4);
  const [quality, setQuality] = useState<PainQuality>(PainQuality.UNSPECIFIED);
  const [pressure, setPressure] = useState(g?.session.targetPressure ?? 5);
  const [worseActivity, setWorseActivity] = useState(false);
  const [worseMassage, setWorseMassage] = useState(false);
  const [twitch, setTwitch] = useState(false);
  const [notes, setNotes] = useState("");
  const [reqId] = useState(requestId());
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saving, setSaving] = useState(false);
  const [stored, setStored] = useState<SessionRecord | null>(null);
  const toolNames = nameMap(app.vocab?.tools ?? []);

  if (!app.token) return <NeedSignIn what="log a session" />;
  if (!g) {
    return (
      <section>
        <ScreenTitle>Log a session</ScreenTitle>
        <p>
          Start a guided session from <a href="#/plan">your candidates</a> first.
        </p>
      </section>
    );
  }
  const s = g.session;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (quality === PainQuality.UNSPECIFIED) {
      setProblem({ code: "", message: "Choose how the pain felt.", metadata: {}, violations: [] });
      return;
    }
    setSaving(true);
    setProblem(null);
    try {
      const r = await app.api.session.logSession({
        requestId: reqId,
        session: {
          triggerPoint: s.triggerPoint,
          tool: s.tool,
          side: s.side,
          pressure,
          durationSeconds: g.doneSeconds ?? s.durationSeconds,
          tendernessBefore: before,
          tendernessAfter: after,
          painQuality: quality,
          worseWithActivity: worseActivity,
          worseWithMassage: worseMassage,
          twitchResponse: twitch,
          notes,
          performTime: timestampNow(),
          guidedSession: s.name,
        },
      });
      setStored(r.session ?? null);
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  if (stored) {
    return (
      <section>
        <ScreenTitle>Session logged</ScreenTitle>
        <Warnings warnings={stored.warnings} />
        <p role="status" data-testid="logged">
          Saved for {stored.localDate}: {g.pointDisplayName}, tenderness {stored.tendernessBefore ?? "–"} →{" "}
          {stored.tendernessAfter ?? "–"}.
        </p>
        <div class="actions">
          <a class="button primary" href={`#/progress?point=${idOf(s.triggerPoint)}`}>
            See your progress
          </a>
          <a class="button" href="#/">
            Back to the body map
          </a>
        </div>
      </section>
    );
  }

  return (
    <section>
      <ScreenTitle>How did it go?</ScreenTitle>
      <p>
        {g.pointDisplayName}, {toolNames.get(s.tool) ?? idOf(s.tool)}, {sideLabel(s.side) || "middle"}.
      </p>
      <form onSubmit={submit} data-testid="log-form">
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
