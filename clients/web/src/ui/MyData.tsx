// Export everything stored about me as JSON, or delete it.

import { toJsonString } from "@bufbuild/protobuf";
import { useState } from "preact/hooks";
import { UserDataExportSchema } from "../gen/knotwork/session/v1/session_pb";
import { describeError, type Problem } from "../logic/errors";
import { useApp } from "./app-state";
import { ErrorBox, NeedSignIn, ScreenTitle } from "./common";

function download(filename: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function MyDataScreen() {
  const app = useApp();
  const [problem, setProblem] = useState<Problem | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [understood, setUnderstood] = useState(false);
  const [deleted, setDeleted] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (!app.token) return <NeedSignIn what="export or delete your data" />;

  const exportData = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const r = await app.api.session.exportUserData({});
      if (!r.export) throw new Error("The export was empty.");
      const json = toJsonString(UserDataExportSchema, r.export, { prettySpaces: 2 });
      const day = new Date().toISOString().slice(0, 10);
      download(`knotwork-export-${r.export.userId || "me"}-${day}.json`, json);
      setExported(`Downloaded ${count(r.export.sessions.length, "session")} and ${count(r.export.guidedSessions.length, "guided session")}.`);
    } catch (e) {
      setProblem(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const deleteData = async (e: Event) => {
    e.preventDefault();
    if (!understood) return;
    setBusy(true);
    setProblem(null);
    try {
      const r = await app.api.session.deleteUserData({ confirm: true });
      setDeleted(
        `Deleted ${count(Number(r.sessionsDeleted), "session")} and ${count(Number(r.guidedSessionsDeleted), "guided session")}, your profile and your health answers.`,
      );
      setConfirming(false);
      setUnderstood(false);
      app.setScreening(null);
      // Back to defaults: no tools, no answers.
      app.api.session.getProfile({}).then((p) => p.profile && app.setProfile(p.profile), () => undefined);
      app.api.session.getScreening({}).then((g) => app.setScreening(g.screening ?? null), () => undefined);
      app.setGuide(null);
      app.setPlan(undefined);
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <ScreenTitle>Your data</ScreenTitle>
      <ErrorBox problem={problem} />
      <section class="panel" aria-labelledby="export-title">
        <h2 id="export-title">Export</h2>
        <p>Download everything stored about you (profile, health answers, sessions) as a JSON file.</p>
        <button type="button" onClick={exportData} disabled={busy}>
          Download my data
        </button>
        {exported && (
          <p role="status" data-testid="exported">
            {exported}
          </p>
        )}
      </section>
      <section class="panel danger-zone" aria-labelledby="delete-title">
        <h2 id="delete-title">Delete</h2>
        <p>Delete everything stored about you. This cannot be undone.</p>
        {!confirming ? (
          <button type="button" class="danger" onClick={() => setConfirming(true)} disabled={busy}>
            Delete all my data…
          </button>
        ) : (
          <form onSubmit={deleteData} data-testid="delete-form">
            <label class="check">
              <input type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.currentTarget.checked)} />
              I understand that my sessions, progress and health answers will be deleted for good.
            </label>
            <div class="actions">
              <button type="submit" class="danger" disabled={!understood || busy}>
                Delete permanently
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          </form>
        )}
        {deleted && (
          <p role="status" class="alert alert-ok" data-testid="deleted">
            {deleted}
          </p>
        )}
      </section>
    </section>
  );
}
