// Pure rules of the service worker, kept apart so vitest can check them:
// which requests it answers, under which cache names, and which reminders
// are due.

/** The build's shell: the files to keep for offline use, and their version. */
export interface Build {
  version: string;
  shell: string[];
}

export const SHELL_PREFIX = "knotwork-shell-";
export const CATALOG_PREFIX = "knotwork-catalog-";
export const META_CACHE = "knotwork-meta";

/** The catalog cache of one catalog version (the served content hash). */
export function catalogCacheName(version: string | null): string {
  return `${CATALOG_PREFIX}${version ? version.replace(/[^\w.-]/g, "_").slice(0, 80) : "unversioned"}`;
}

/** Caches to delete: other builds' shells and other versions' catalogs. */
export function staleCaches(names: readonly string[], shell: string, catalog: string | null): string[] {
  return names.filter(
    (n) => (n.startsWith(SHELL_PREFIX) && n !== shell) || (catalog !== null && n.startsWith(CATALOG_PREFIX) && n !== catalog),
  );
}

/**
 * Catalog reads, answered from the network and kept for offline use. Only
 * the public CatalogService's read methods: the journal is never cached.
 */
export function isCatalogRead(method: string, url: string): boolean {
  if (method !== "POST") return false;
  const m = /\/knotwork\.catalog\.v1\.CatalogService\/(\w+)$/.exec(new URL(url).pathname);
  return !!m && m[1] !== "ReloadCatalog";
}

/** A GET key for a POST: the URL plus the body's digest (hex). */
export function cacheKey(url: string, bodyDigestHex: string): string {
  const u = new URL(url);
  u.searchParams.set("knotwork-body", bodyDigestHex);
  return u.toString();
}

export function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A reminder the page handed over, shown as a notification at `at`. */
export interface StoredReminder {
  id: string;
  /** ms since the epoch */
  at: number;
  title: string;
  body: string;
}

/**
 * Reminders to show now: due (not more than an hour late, a stale one is
 * noise) and not shown yet.
 */
export function dueReminders(all: readonly StoredReminder[], shown: ReadonlySet<string>, now: number): StoredReminder[] {
  return all.filter((r) => r.at <= now && now - r.at <= 3_600_000 && !shown.has(r.id));
}
