// The browser side of the offline queue: queue a LogSession request, and send
// the queue with BatchLogSessions when the network is back (the `online`
// event, the app's start, or "Sync now"). One sync at a time per browser (a
// Web Lock when there is one, a shared promise otherwise); the request ids make
// even an overlapping one harmless.

import { fromJson, toJson } from "@bufbuild/protobuf";
import {
  BatchLogSessionsRequestSchema,
  LogSessionRequestSchema,
  type LogSessionRequest,
  WarningSeverity,
} from "../gen/knotwork/session/v1/session_pb";
import type { Api } from "../api";
import { idbStore } from "./idb-store";
import { memoryStore, type QueueStore, type QueuedSession, type SyncOutcome, syncQueue } from "./queue";

let store: QueueStore | null = null;

/** The queue's store: IndexedDB when the browser has it. */
export function queueStore(): QueueStore {
  store ??= typeof indexedDB === "undefined" ? memoryStore() : idbStore();
  return store;
}

type Listener = () => void;
const listeners = new Set<Listener>();

/** Called whenever the queue may have changed. */
export function onQueueChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function changed() {
  for (const l of listeners) l();
}

/** Puts a session in the queue under its own request id. */
export async function enqueue(req: LogSessionRequest, subject: string, label: string): Promise<QueuedSession> {
  const item: QueuedSession = {
    requestId: req.requestId,
    subject,
    request: toJson(LogSessionRequestSchema, req),
    label,
    queuedAt: Date.now(),
    attempts: 0,
  };
  await queueStore().put(item);
  changed();
  return item;
}

/** The queued sessions of `subject` (waiting and refused). */
export async function queued(subject: string): Promise<QueuedSession[]> {
  return (await queueStore().all()).filter((i) => i.subject === subject).sort((a, b) => a.queuedAt - b.queuedAt);
}

/** Drops a refused item after the person has seen it. */
export async function discard(requestId: string): Promise<void> {
  await queueStore().remove([requestId]);
  changed();
}

let running: Promise<SyncOutcome> | null = null;

/** Sends the queue of `subject`; concurrent calls share one run. */
export function syncNow(api: Api, subject: string): Promise<SyncOutcome> {
  if (running) return running;
  const work = async () =>
    syncQueue(queueStore(), subject, async (requests) => {
      const r = await api.session.batchLogSessions(
        fromJson(BatchLogSessionsRequestSchema, { requests }),
      );
      return r.results.map((x) => ({
        index: x.index,
        replayed: x.replayed,
        stored:
          x.outcome.case === "session"
            ? {
                name: x.outcome.value.name,
                localDate: x.outcome.value.localDate,
                warnings: x.outcome.value.warnings.map((w) => ({
                  message: w.message,
                  medical: w.medicalAttentionAdvised || w.severity === WarningSeverity.MEDICAL_ATTENTION,
                })),
              }
            : undefined,
        error:
          x.outcome.case === "error"
            ? { code: x.outcome.value.code, message: x.outcome.value.message, reason: x.outcome.value.reason || undefined }
            : undefined,
      }));
    });
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  running = (locks ? locks.request("knotwork-outbox", work).then((r) => r) : work()).finally(() => {
    running = null;
    changed();
  });
  return running;
}
