// Sessions logged without a network wait here, then go to BatchLogSessions.
//
// Each queued item keeps the request id it was given when the person pressed
// "Save", so a retry after a lost answer stores nothing twice (the session
// service replays a known id), and an item leaves the queue only when the
// service has answered for it: nothing is lost. The store is an interface so
// the rules are tested without a browser; `idb-store.ts` keeps it in IndexedDB.

import { Code } from "@connectrpc/connect";
import type { JsonValue } from "@bufbuild/protobuf";

/** One session waiting to be sent. */
export interface QueuedSession {
  /** The LogSessionRequest's request id: the key, fixed at "Save". */
  requestId: string;
  /** Whose journal it belongs to (the token's subject): sent only for them. */
  subject: string;
  /** The LogSessionRequest as protobuf JSON. */
  request: JsonValue;
  /** What the person saw, for the list of waiting sessions. */
  label: string;
  /** When it was queued (ms since the epoch): the send order. */
  queuedAt: number;
  /** Tries so far. */
  attempts: number;
  /** Set when the service refused it for good: kept to be shown, never resent. */
  refused?: { code: number; message: string; reason?: string };
}

/** Where queued sessions live. */
export interface QueueStore {
  put(item: QueuedSession): Promise<void>;
  all(): Promise<QueuedSession[]>;
  remove(requestIds: readonly string[]): Promise<void>;
}

/** The parts of a BatchLogSessions answer the queue reads. */
export interface BatchResult {
  index: number;
  /** Set when stored (or replayed), with the safety warnings that applied. */
  stored?: { name: string; localDate: string; warnings?: { message: string; medical: boolean }[] };
  error?: { code: number; message: string; reason?: string };
  replayed: boolean;
}

/** Sends one batch; throws when the call as a whole failed (network, auth). */
export type SendBatch = (requests: JsonValue[]) => Promise<BatchResult[]>;

/** What one sync did. */
export interface SyncOutcome {
  /** Stored now or found already stored (replayed). */
  synced: { item: QueuedSession; name: string; replayed: boolean; warnings: { message: string; medical: boolean }[] }[];
  /** Refused for good during this sync. */
  refused: QueuedSession[];
  /** Still waiting (including after a failed call). */
  waiting: number;
  /** Why the call failed, when it did. */
  error?: string;
}

/** The service's limit per BatchLogSessions call. */
export const MAX_BATCH = 500;

/**
 * Item codes worth trying again later: the service was busy or could not be
 * reached. Anything else (a bad field, a reused id) will never succeed and
 * is kept aside for the person to see.
 */
const TRANSIENT = new Set<number>([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Internal,
  Code.Unknown,
  Code.Canceled,
]);

export function isTransient(code: number): boolean {
  return TRANSIENT.has(code);
}

/** Items to send for `subject`, oldest first (refused ones stay put). */
export function pending(items: readonly QueuedSession[], subject: string): QueuedSession[] {
  return items.filter((i) => i.subject === subject && !i.refused).sort((a, b) => a.queuedAt - b.queuedAt);
}

/**
 * Sends every pending item of `subject` in batches of at most `batchSize`.
 * An item leaves the store only once the service answered for it; a failed
 * call leaves everything from that batch on in the store for the next try.
 */
export async function syncQueue(store: QueueStore, subject: string, send: SendBatch, batchSize = MAX_BATCH): Promise<SyncOutcome> {
  const todo = pending(await store.all(), subject);
  const out: SyncOutcome = { synced: [], refused: [], waiting: 0 };
  const size = Math.max(1, Math.min(MAX_BATCH, batchSize));
  for (let start = 0; start < todo.length; start += size) {
    const batch = todo.slice(start, start + size);
    let results: BatchResult[];
    try {
      results = await send(batch.map((b) => b.request));
    } catch (e) {
      for (const b of batch) await store.put({ ...b, attempts: b.attempts + 1 });
      out.waiting = todo.length - start;
      out.error = e instanceof Error ? e.message : String(e);
      return out;
    }
    const done: string[] = [];
    const answered = new Set<number>();
    for (const r of results) {
      const item = batch[r.index];
      if (!item || answered.has(r.index)) continue;
      answered.add(r.index);
      if (r.stored) {
        done.push(item.requestId);
        out.synced.push({ item, name: r.stored.name, replayed: r.replayed, warnings: r.stored.warnings ?? [] });
      } else if (r.error && !isTransient(r.error.code)) {
        const refused = { ...item, attempts: item.attempts + 1, refused: r.error };
        await store.put(refused);
        out.refused.push(refused);
      } else {
        await store.put({ ...item, attempts: item.attempts + 1 });
        out.waiting++;
      }
    }
    // An item the answer skipped stays queued (never dropped silently).
    for (let i = 0; i < batch.length; i++) {
      if (!answered.has(i)) out.waiting++;
    }
    await store.remove(done);
  }
  return out;
}

/** A store in memory: for tests and for browsers without IndexedDB. */
export function memoryStore(): QueueStore & { items: Map<string, QueuedSession> } {
  const items = new Map<string, QueuedSession>();
  return {
    items,
    async put(item) {
      items.set(item.requestId, structuredClone(item));
    },
    async all() {
      return [...items.values()].map((i) => structuredClone(i));
    },
    async remove(ids) {
      for (const id of ids) items.delete(id);
    },
  };
}
