// The offline queue in IndexedDB (through `idb`), one object store keyed by
// request id, so a session saved without a network survives a reload, a
// closed tab and a restarted phone.

import { openDB, type IDBPDatabase } from "idb";
import type { QueueStore, QueuedSession } from "./queue";

const DB_NAME = "knotwork";
const DB_VERSION = 1;
const OUTBOX = "outbox";

let db: Promise<IDBPDatabase> | null = null;

function open(): Promise<IDBPDatabase> {
  db ??= openDB(DB_NAME, DB_VERSION, {
    upgrade(d) {
      if (!d.objectStoreNames.contains(OUTBOX)) d.createObjectStore(OUTBOX, { keyPath: "requestId" });
    },
  });
  return db;
}

/** The queue of sessions waiting for a network, in this browser's IndexedDB. */
export function idbStore(): QueueStore {
  return {
    async put(item: QueuedSession) {
      await (await open()).put(OUTBOX, item);
    },
    async all() {
      return (await (await open()).getAll(OUTBOX)) as QueuedSession[];
    },
    async remove(ids) {
      if (ids.length === 0) return;
      const tx = (await open()).transaction(OUTBOX, "readwrite");
      await Promise.all([...ids.map((id) => tx.store.delete(id)), tx.done]);
    },
  };
}
