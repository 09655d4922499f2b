// The page's side of the service worker: register it (production builds
// only), tell it the catalog version (it keeps the catalog's answers per
// version), and hand it the coming reminders once the person has agreed to
// notifications.

/** Registers /sw.js; a no-op in development and where unsupported. */
export function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js").catch(() => undefined);
}

/** The worker to message: the page's controller, else the active one (a first load). */
async function worker(): Promise<ServiceWorker | null> {
  if (!("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.controller ?? (await navigator.serviceWorker.getRegistration())?.active ?? null;
}

async function post(message: unknown): Promise<boolean> {
  const target = await worker();
  if (!target) return false;
  target.postMessage(message);
  return true;
}

/** Something a message can be posted to with a reply port (a service worker). */
export interface MessageTarget {
  postMessage(message: unknown, transfer: Transferable[]): void;
}

/**
 * Posts `message` to `target` with a reply port and resolves true once the
 * target answers on it, false after `timeoutMs` without an answer (a worker
 * of an older build never answers).
 */
export function postAndWait(target: MessageTarget, message: unknown, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const done = (ok: boolean) => {
      clearTimeout(timer);
      channel.port1.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    channel.port1.onmessage = () => done(true);
    target.postMessage(message, [channel.port2]);
  });
}

/**
 * The catalog version being served: the worker keeps the catalog's answers
 * under it and drops other versions'. Resolves once the worker has taken it
 * (or after a short wait), so the catalog reads that follow are kept under
 * this version, not under none (answers kept under none are dropped when a
 * version arrives).
 */
export async function announceCatalogVersion(version: string): Promise<void> {
  if (!version) return;
  const target = await worker();
  if (target) await postAndWait(target, { type: "catalog-version", version }, 1_000);
}

/** A reminder handed to the worker. */
export interface ReminderItem {
  id: string;
  /** ms since the epoch */
  at: number;
  title: string;
  body: string;
}

const OPT_IN_KEY = "knotwork.reminders";

/** Whether the person turned reminders on here (and the browser still allows them). */
export function remindersOn(): boolean {
  return localStorage.getItem(OPT_IN_KEY) === "1" && typeof Notification !== "undefined" && Notification.permission === "granted";
}

/** Asks the browser (inside the button's click) and remembers the answer. */
export async function turnOnReminders(): Promise<NotificationPermission | "unsupported"> {
  if (typeof Notification === "undefined" || !("serviceWorker" in navigator)) return "unsupported";
  const p = await Notification.requestPermission();
  localStorage.setItem(OPT_IN_KEY, p === "granted" ? "1" : "0");
  return p;
}

export function turnOffReminders(): void {
  localStorage.setItem(OPT_IN_KEY, "0");
  void post({ type: "reminders", reminders: [] });
}

let timers: ReturnType<typeof setTimeout>[] = [];

/**
 * Gives the worker the coming reminders (it shows due ones, also from a
 * periodic sync), and while this page is open wakes it at each one's time.
 */
export async function scheduleReminders(items: readonly ReminderItem[]): Promise<boolean> {
  for (const t of timers) clearTimeout(t);
  timers = [];
  if (!remindersOn()) return false;
  const ok = await post({ type: "reminders", reminders: items });
  const now = Date.now();
  for (const r of items) {
    if (r.at > now && r.at - now < 2 ** 31 - 1) timers.push(setTimeout(() => void post({ type: "show-due" }), r.at - now + 500));
  }
  const reg = await navigator.serviceWorker.getRegistration();
  // Chromium's periodic sync, where granted (installed apps): best effort.
  const periodic = (reg as unknown as { periodicSync?: { register(tag: string, o: { minInterval: number }): Promise<void> } } | undefined)
    ?.periodicSync;
  await periodic?.register("knotwork-reminders", { minInterval: 60 * 60 * 1000 }).catch(() => undefined);
  return ok;
}
