// The service worker: keeps the app shell (this build's files) and the
// catalog's answers (by catalog version) for offline use, and shows the
// reminders the page handed over as notifications. Session calls are never
// touched: logging offline is the page's outbox (src/offline/).
//
// Built as its own entry (vite.config.ts) into /sw.js; the build prepends
// `self.__KNOTWORK_BUILD__ = { version, shell }`.

/// <reference lib="webworker" />

import {
  type Build,
  CATALOG_PREFIX,
  cacheKey,
  catalogCacheName,
  dueReminders,
  hex,
  isCatalogRead,
  META_CACHE,
  SHELL_PREFIX,
  staleCaches,
  type StoredReminder,
} from "./keys";

declare const self: ServiceWorkerGlobalScope & { __KNOTWORK_BUILD__?: Build };

const build: Build = self.__KNOTWORK_BUILD__ ?? { version: "dev", shell: [] };
const SHELL = `${SHELL_PREFIX}${build.version}`;
const VERSION_KEY = "/__knotwork/catalog-version";
const REMINDERS_KEY = "/__knotwork/reminders";
const SHOWN_KEY = "/__knotwork/reminders-shown";

async function metaGet<T>(key: string): Promise<T | null> {
  const r = await (await caches.open(META_CACHE)).match(key);
  return r ? ((await r.json()) as T) : null;
}

async function metaPut(key: string, value: unknown): Promise<void> {
  await (await caches.open(META_CACHE)).put(key, new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } }));
}

let catalogVersion: string | null | undefined;
async function currentCatalog(): Promise<string> {
  if (catalogVersion === undefined) catalogVersion = await metaGet<string>(VERSION_KEY);
  return catalogCacheName(catalogVersion);
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      await cache.addAll(["./", ...build.shell]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const version = await metaGet<string>(VERSION_KEY);
      for (const n of staleCaches(await caches.keys(), SHELL, version ? catalogCacheName(version) : null)) await caches.delete(n);
      await self.clients.claim();
    })(),
  );
});

async function fromCatalog(request: Request): Promise<Response> {
  const body = await request.clone().arrayBuffer();
  const key = cacheKey(request.url, hex(await crypto.subtle.digest("SHA-256", body)));
  try {
    const response = await fetch(request);
    const status = response.headers.get("grpc-status");
    if (response.ok && (status === null || status === "0")) {
      const cache = await caches.open(await currentCatalog());
      await cache.put(key, response.clone());
    }
    return response;
  } catch (e) {
    // Offline: any version's answer beats none; the current one first.
    const hit = (await (await caches.open(await currentCatalog())).match(key)) ?? (await caches.match(key));
    if (hit) return hit;
    throw e;
  }
}

async function navigation(request: Request): Promise<Response> {
  try {
    return await fetch(request);
  } catch (e) {
    const cache = await caches.open(SHELL);
    const hit = (await cache.match("./")) ?? (await cache.match("index.html"));
    if (hit) return hit;
    throw e;
  }
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.mode === "navigate") {
    event.respondWith(navigation(req));
    return;
  }
  if (isCatalogRead(req.method, req.url)) {
    event.respondWith(fromCatalog(req));
    return;
  }
  if (req.method === "GET" && new URL(req.url).origin === self.location.origin) {
    event.respondWith(
      (async () => (await (await caches.open(SHELL)).match(req, { ignoreSearch: true })) ?? fetch(req))(),
    );
  }
  // Anything else (the journal, sign-in) goes to the network untouched.
});

async function showDue(): Promise<void> {
  const all = (await metaGet<StoredReminder[]>(REMINDERS_KEY)) ?? [];
  const shown = new Set((await metaGet<string[]>(SHOWN_KEY)) ?? []);
  const due = dueReminders(all, shown, Date.now());
  for (const r of due) {
    await self.registration.showNotification(r.title, { body: r.body, tag: r.id, icon: "icon-192.png", data: { url: "./#/today" } });
    shown.add(r.id);
  }
  if (due.length) await metaPut(SHOWN_KEY, [...shown].slice(-200));
}

let timer: ReturnType<typeof setTimeout> | undefined;
function armTimer(all: StoredReminder[]) {
  if (timer) clearTimeout(timer);
  const next = all.map((r) => r.at).filter((at) => at > Date.now()).sort((a, b) => a - b)[0];
  // While the worker is awake it shows the next one on time; otherwise the
  // page (or a periodic sync) wakes it.
  if (next !== undefined && next - Date.now() < 2 ** 31 - 1) timer = setTimeout(() => void showDue(), next - Date.now());
}

self.addEventListener("message", (event) => {
  const msg = event.data as { type?: string; version?: string; reminders?: StoredReminder[] } | null;
  if (msg?.type === "catalog-version" && typeof msg.version === "string") {
    const version = msg.version;
    event.waitUntil(
      (async () => {
        catalogVersion = version;
        await metaPut(VERSION_KEY, version);
        const keep = catalogCacheName(version);
        for (const n of await caches.keys()) if (n.startsWith(CATALOG_PREFIX) && n !== keep) await caches.delete(n);
        // The page waits for this before its catalog reads (sw-client.ts).
        event.ports[0]?.postMessage(true);
      })(),
    );
  } else if (msg?.type === "reminders" && Array.isArray(msg.reminders)) {
    const all = msg.reminders;
    event.waitUntil(
      (async () => {
        await metaPut(REMINDERS_KEY, all);
        await showDue();
        armTimer(all);
      })(),
    );
  } else if (msg?.type === "show-due") {
    event.waitUntil(showDue());
  }
});

// Chromium's periodic background sync (installed apps) wakes the worker now and then.
self.addEventListener("periodicsync" as keyof ServiceWorkerGlobalScopeEventMap, (event) => {
  (event as ExtendableEvent).waitUntil(showDue());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const url = new URL((event.notification.data as { url?: string } | null)?.url ?? "./#/today", self.registration.scope).href;
      const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const c of open) {
        if ("focus" in c) {
          await (c as WindowClient).navigate(url).catch(() => undefined);
          return void (await (c as WindowClient).focus());
        }
      }
      await self.clients.openWindow(url);
    })(),
  );
});
