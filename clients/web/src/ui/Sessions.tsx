// The sessions logged on one point, each of which can be corrected
// (UpdateSession with a field mask) or deleted (DeleteSession). Progress and
// the day's counts follow on the server; deleting a session never releases a
// hold, so the screen says so before asking.

import { useState } from "preact/hooks";
import { PainQuality, type SafetyWarning, type SessionRecord } from "../gen/knotwork/session/v1/session_pb";
import { shortDate } from "../logic/chart";
import { describeError, type Problem } from "../logic/errors";
import { correctionPaths, type Editable, parseRating } from "../logic/journal";
import { PAIN_QUALITIES } from "../logic/labels";
import { useApp } from "./app-state";
import { ErrorBox, Loading, Warnings } from "./common";

const qualityLabel = (q: PainQuality) => PAIN_QUALITIES.find((x) => x.value === q)?.label ?? "–";
const rating = (v: number | undefined) => (v === undefined ? "–" : String(v));

function editable(s: SessionRecord): Editable {
  return {
    tendernessBefore: s.tendernessBefore,
    tendernessAfter: s.tendernessAfter,
    pressure: s.pressure,
    durationSeconds: s.durationSeconds,
    painQuality: s.painQuality,
  };
}

function CorrectForm({ s, onDone }: { s: SessionRecord; onDone(warnings: SafetyWarning[] | null): void }) {
  const app = useApp();
  const [before, setBefore] = useState(rating(s.tendernessBefore).replace("–", ""));
  const [after, setAfter] = useState(rating(s.tendernessAfter).replace("–", ""));
  const [pressure, setPressure] = useState(String(s.pressure));
  const [minutes, setMinutes] = useState(String(Math.round((s.durationSeconds / 60) * 10) / 10));
  const [quality, setQuality] = useState<PainQuality>(s.painQuality);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saving, setSaving] = useState(false);
  const base = `edit-${s.name.replace(/\W/g, "-")}`;
  const plain = (message: string): Problem => ({ code: "", message, metadata: {}, violations: [] });

  const save = async (e: Event) => {
    e.preventDefault();
    const b = parseRating(before);
    const a = parseRating(after);
    const p = parseRating(pressure);
    const secs = Math.round(Number(minutes) * 60);
    if (b === "invalid" || a === "invalid") return setProblem(plain("Tenderness is a whole number from 0 to 10."));
    if (p === "invalid" || p === undefined) return setProblem(plain("Pressure is a whole number from 0 to 10."));
    if (!Number.isFinite(secs) || secs <= 0) return setProblem(plain("Give the time in minutes."));
    const edited: Editable = { tendernessBefore: b, tendernessAfter: a, pressure: p, durationSeconds: secs, painQuality: quality };
    const paths = correctionPaths(editable(s), edited);
    if (paths.length === 0) return onDone(null);
    setSaving(true);
    setProblem(null);
    try {
      const r = await app.api.session.updateSession({ session: { name: s.name, ...edited }, updateMask: { paths } });
      onDone(r.session?.warnings ?? []);
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form class="correct" onSubmit={save} data-testid="correct-form">
      <div class="row">
        <label>
          Tenderness before (0–10)
          <input id={`${base}-before`} type="text" inputMode="numeric" value={before} onInput={(e) => setBefore(e.currentTarget.value)} />
        </label>
        <label>
          Tenderness after (0–10)
          <input id={`${base}-after`} type="text" inputMode="numeric" value={after} onInput={(e) => setAfter(e.currentTarget.value)} />
        </label>
        <label>
          Pressure (0–10)
          <input type="text" inputMode="numeric" value={pressure} onInput={(e) => setPressure(e.currentTarget.value)} />
        </label>
        <label>
          Minutes
          <input type="text" inputMode="decimal" value={minutes} onInput={(e) => setMinutes(e.currentTarget.value)} />
        </label>
        <label>
          How it felt
          <select value={String(quality)} onChange={(e) => setQuality(Number(e.currentTarget.value) as PainQuality)}>
            {PAIN_QUALITIES.map((q) => (
              <option key={q.value} value={String(q.value)}>
                {q.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox problem={problem} title="The correction was not saved" />
      <p class="actions">
        <button type="submit" class="primary" disabled={saving}>
          {saving ? "Saving…" : "Save the correction"}
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </p>
    </form>
  );
}

/** The sessions on `point`, folded until opened; `onChanged` after a correction or a deletion. */
export function PointSessions({ point, title, onChanged }: { point: string; title: string; onChanged(): void }) {
  const app = useApp();
  const [sessions, setSessions] = useState<SessionRecord[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  const [warnings, setWarnings] = useState<SafetyWarning[]>([]);

  const load = () =>
    app.api.session
      .listSessions({ triggerPoint: point, pageSize: 50 })
      .then((r) => setSessions(r.sessions))
      .catch((e) => setProblem(describeError(e)));

  const remove = async (s: SessionRecord) => {
    setProblem(null);
    try {
      const r = await app.api.session.deleteSession({ name: s.name });
      setNotice(r.deleted ? `Deleted the session of ${shortDate(s.localDate)}.` : "That session was already gone.");
      setConfirming(null);
      setWarnings([]);
      await load();
      onChanged();
    } catch (e) {
      setProblem(describeError(e));
    }
  };

  return (
    <details
      class="sessions"
      data-testid="sessions"
      onToggle={(e) => {
        if ((e.currentTarget as HTMLDetailsElement).open && !sessions) void load();
      }}
    >
      <summary>Sessions on this point: correct or delete</summary>
      <ErrorBox problem={problem} title="Your sessions could not be changed" />
      {notice && (
        <p role="status" data-testid="sessions-notice">
          {notice}
        </p>
      )}
      <Warnings warnings={warnings} />
      {!sessions && !problem && <Loading what="your sessions" />}
      {sessions && sessions.length === 0 && <p>No sessions left on this point.</p>}
      {sessions && sessions.length > 0 && (
        <ul class="session-list">
          {sessions.map((s) => {
            const when = shortDate(s.localDate);
            return (
              <li key={s.name} data-testid="session-row" data-session={s.name}>
                <p>
                  <strong>{when}</strong> · tenderness {rating(s.tendernessBefore)} → {rating(s.tendernessAfter)} · pressure{" "}
                  {s.pressure} · {qualityLabel(s.painQuality)}
                </p>
                {editing === s.name ? (
                  <CorrectForm
                    s={s}
                    onDone={async (w) => {
                      setEditing(null);
                      if (w === null) return;
                      setWarnings(w);
                      setNotice(`Corrected the session of ${when}.`);
                      await load();
                      onChanged();
                    }}
                  />
                ) : confirming === s.name ? (
                  <div class="alert alert-warn" data-testid="confirm-delete">
                    <p>Delete this session for good? A hold it started stays until a provider has checked the point.</p>
                    <p class="actions">
                      <button type="button" class="danger" onClick={() => void remove(s)}>
                        Delete this session
                      </button>
                      <button type="button" onClick={() => setConfirming(null)}>
                        Keep it
                      </button>
                    </p>
                  </div>
                ) : (
                  <p class="actions">
                    <button type="button" aria-label={`Correct the session of ${when} on ${title}`} onClick={() => setEditing(s.name)}>
                      Correct
                    </button>
                    <button type="button" aria-label={`Delete the session of ${when} on ${title}`} onClick={() => setConfirming(s.name)}>
                      Delete
                    </button>
                  </p>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </details>
  );
}
