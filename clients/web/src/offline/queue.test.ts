import "fake-indexeddb/auto";
import { Code } from "@connectrpc/connect";
import type { JsonValue } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { idbStore } from "./idb-store";
import { type BatchResult, memoryStore, pending, type QueuedSession, syncQueue } from "./queue";

function item(id: string, at: number, subject = "ana"): QueuedSession {
  return { requestId: id, subject, request: { requestId: id, session: { notes: id } }, label: id, queuedAt: at, attempts: 0 };
}

/** A stand-in session service that keeps request ids like the real one. */
function service() {
  const stored = new Map<string, string>();
  let calls = 0;
  let loseNextAnswer = false;
  let failNext = false;
  const refuse = new Map<string, number>();
  const send = async (reqs: JsonValue[]): Promise<BatchResult[]> => {
    calls++;
    if (failNext) {
      failNext = false;
      throw new Error("Failed to fetch");
    }
    const out = reqs.map((r, index): BatchResult => {
      const id = (r as { requestId: string }).requestId;
      const code = refuse.get(id);
      if (code !== undefined) return { index, replayed: false, error: { code, message: "no" } };
      const replayed = stored.has(id);
      if (!replayed) stored.set(id, `sessions/${stored.size + 1}`);
      return { index, replayed, stored: { name: stored.get(id)!, localDate: "2026-12-02" } };
    });
    if (loseNextAnswer) {
      loseNextAnswer = false;
      throw new Error("connection reset after the write");
    }
    return out;
  };
  return {
    stored,
    send,
    refuse,
    calls: () => calls,
    loseNextAnswer: () => (loseNextAnswer = true),
    failNext: () => (failNext = true),
  };
}

describe("syncQueue", () => {
  it("sends the pending items oldest first and empties the queue", async () => {
    const store = memoryStore();
    await store.put(item("b", 2));
    await store.put(item("a", 1));
    const sent: string[] = [];
    const svc = service();
    const out = await syncQueue(store, "ana", async (reqs) => {
      sent.push(...reqs.map((r) => (r as { requestId: string }).requestId));
      return svc.send(reqs);
    });
    expect(sent).toEqual(["a", "b"]);
    expect(out.synced.map((s) => [s.item.requestId, s.replayed])).toEqual([["a", false], ["b", false]]);
    expect(out.waiting).toBe(0);
    expect(store.items.size).toBe(0);
  });

  it("keeps everything when the network is down, then sends it once", async () => {
    const store = memoryStore();
    await store.put(item("a", 1));
    const svc = service();
    svc.failNext();
    const down = await syncQueue(store, "ana", svc.send);
    expect(down.error).toMatch(/fetch/);
    expect(down.waiting).toBe(1);
    expect(store.items.get("a")?.attempts).toBe(1);
    const up = await syncQueue(store, "ana", svc.send);
    expect(up.synced).toHaveLength(1);
    expect(svc.stored.size).toBe(1);
    expect(store.items.size).toBe(0);
  });

  it("a lost answer is retried with the same id and stored once", async () => {
    const store = memoryStore();
    await store.put(item("a", 1));
    const svc = service();
    svc.loseNextAnswer();
    const lost = await syncQueue(store, "ana", svc.send);
    expect(lost.waiting).toBe(1);
    expect(svc.stored.size).toBe(1);
    const again = await syncQueue(store, "ana", svc.send);
    expect(again.synced.map((s) => s.replayed)).toEqual([true]);
    expect(svc.stored.size).toBe(1);
    expect(store.items.size).toBe(0);
    // Nothing left: a third sync sends nothing.
    const calls = svc.calls();
    await syncQueue(store, "ana", svc.send);
    expect(svc.calls()).toBe(calls);
  });

  it("keeps a refused item aside and never resends it; retries a busy one", async () => {
    const store = memoryStore();
    await store.put(item("bad", 1));
    await store.put(item("busy", 2));
    await store.put(item("ok", 3));
    const svc = service();
    svc.refuse.set("bad", Code.InvalidArgument);
    svc.refuse.set("busy", Code.Unavailable);
    const out = await syncQueue(store, "ana", svc.send);
    expect(out.refused.map((r) => [r.requestId, r.refused?.code])).toEqual([["bad", Code.InvalidArgument]]);
    expect(out.synced.map((s) => s.item.requestId)).toEqual(["ok"]);
    expect(out.waiting).toBe(1);
    expect([...store.items.keys()].sort()).toEqual(["bad", "busy"]);
    expect(pending(await store.all(), "ana").map((p) => p.requestId)).toEqual(["busy"]);
  });

  it("splits into batches and stops at the first failed call", async () => {
    const store = memoryStore();
    for (let i = 0; i < 5; i++) await store.put(item(`s${i}`, i));
    const svc = service();
    let n = 0;
    const out = await syncQueue(
      store,
      "ana",
      async (reqs) => {
        n++;
        expect(reqs.length).toBeLessThanOrEqual(2);
        if (n === 2) throw new Error("offline again");
        return svc.send(reqs);
      },
      2,
    );
    expect(out.synced.map((s) => s.item.requestId)).toEqual(["s0", "s1"]);
    expect(out.waiting).toBe(3);
    expect([...store.items.keys()].sort()).toEqual(["s2", "s3", "s4"]);
  });

  it("sends only the signed-in person's items", async () => {
    const store = memoryStore();
    await store.put(item("mine", 1, "ana"));
    await store.put(item("theirs", 2, "ben"));
    const svc = service();
    await syncQueue(store, "ana", svc.send);
    expect([...svc.stored.keys()]).toEqual(["mine"]);
    expect([...store.items.keys()]).toEqual(["theirs"]);
  });
});

describe("idbStore", () => {
  it("keeps items by request id across opens", async () => {
    const s = idbStore();
    await s.put(item("x", 1));
    await s.put({ ...item("x", 1), attempts: 2 });
    await s.put(item("y", 2));
    expect((await s.all()).map((i) => [i.requestId, i.attempts])).toEqual([["x", 2], ["y", 0]]);
    await s.remove(["x"]);
    expect((await idbStore().all()).map((i) => i.requestId)).toEqual(["y"]);
  });
});
