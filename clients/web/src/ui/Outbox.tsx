// The offline banner and the queue of sessions kept on this device: sent
// when the network returns (the `online` event), at start, every 30 s while
// some wait, or with "Send now". Safety warnings of sent sessions show here,
// since the person was offline when they saved them.

import { useEffect, useState } from "preact/hooks";
import { discard, onQueueChange, queued, syncNow } from "../offline/sync";
import type { QueuedSession, SyncOutcome } from "../offline/queue";
import { useApp } from "./app-state";

export function Outbox() {
  const app = useApp();
  const subject = app.tokenInfo?.subject ?? "";
  const [items, setItems] = useState<QueuedSession[]>([]);
  const [last, setLast] = useState<SyncOutcome | null>(null);
  const [online, setOnline] = useState(navigator.onLine);
  const [busy, setBusy] = useState(false);

  const refresh = () => {
    if (subject) queued(subject).then(setItems, () => setItems([]));
  };
  const sync = async () => {
    if (!subject || !app.token) return;
    setBusy(true);
    try {
      const out = await syncNow(app.api, subject);
      if (out.synced.length || out.refused.length) setLast(out);
    } finally {
      setBusy(false);
      refresh();
    }
  };

  useEffect(() => {
    refresh();
    const off = onQueueChange(refresh);
    const up = () => {
      setOnline(true);
      void sync();
    };
    const down = () => setOnline(false);
    addEventListener("online", up);
    addEventListener("offline", down);
    if (navigator.onLine) void sync();
    return () => {
      off();
      removeEventListener("online", up);
      removeEventListener("offline", down);
    };
  }, [subject, app.api]);

  const waiting = items.filter((i) => !i.refused);
  const refused = items.filter((i) => i.refused);
  useEffect(() => {
    if (!waiting.length || !online) return;
    const t = setInterval(() => void sync(), 30_000);
    return () => clearInterval(t);
  }, [waiting.length, online]);

  const medical = last?.synced.flatMap((s) => s.warnings.filter((w) => w.medical).map((w) => ({ ...w, label: s.item.label }))) ?? [];
  const other = last?.synced.flatMap((s) => s.warnings.filter((w) => !w.medical).map((w) => ({ ...w, label: s.item.label }))) ?? [];
  if (!subject && online) return null;
  return (
    <div class="outbox" data-testid="outbox">
      {!online && (
        <p class="alert alert-warn" role="status" data-testid="offline">
          You are offline. The app keeps working from this device; sessions you log are kept here and sent later.
        </p>
      )}
      {waiting.length > 0 && (
        <div class="alert alert-info" data-testid="waiting">
          <p role="status">
            {waiting.length === 1 ? "1 session is" : `${waiting.length} sessions are`} waiting on this device to be sent.
          </p>
          <button type="button" onClick={() => void sync()} disabled={busy || !online}>
            {busy ? "Sending…" : "Send now"}
          </button>
        </div>
      )}
      {last && last.synced.length > 0 && (
        <div class="alert alert-ok" role="status" data-testid="synced">
          <p>
            {last.synced.length === 1 ? "1 session" : `${last.synced.length} sessions`} saved offline{" "}
            {last.synced.length === 1 ? "is" : "are"} now in your journal.
          </p>
          <button type="button" class="link" onClick={() => setLast(null)}>
            Dismiss
          </button>
        </div>
      )}
      {medical.length > 0 && (
        <section class="alert alert-danger" role="alert" data-testid="synced-medical">
          <h2>Seek medical attention</h2>
          <ul>
            {medical.map((w, i) => (
              <li key={i}>
                {w.label}: {w.message}
              </li>
            ))}
          </ul>
        </section>
      )}
      {other.length > 0 && (
        <section class="alert alert-warn">
          <h2>Please note</h2>
          <ul>
            {other.map((w, i) => (
              <li key={i}>
                {w.label}: {w.message}
              </li>
            ))}
          </ul>
        </section>
      )}
      {refused.length > 0 && (
        <section class="alert alert-error" data-testid="refused">
          <h2>Not accepted by your journal</h2>
          <ul>
            {refused.map((r) => (
              <li key={r.requestId}>
                {r.label}: {r.refused?.message}{" "}
                <button type="button" class="link" onClick={() => void discard(r.requestId)}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
