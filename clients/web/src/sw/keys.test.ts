import { describe, expect, it } from "vitest";
import { cacheKey, catalogCacheName, dueReminders, isCatalogRead, staleCaches } from "./keys";

describe("service worker rules", () => {
  it("answers only the catalog's reads", () => {
    const gw = "http://127.0.0.1:50051";
    expect(isCatalogRead("POST", `${gw}/knotwork.catalog.v1.CatalogService/GetBodyMap`)).toBe(true);
    expect(isCatalogRead("POST", `${gw}/knotwork.catalog.v1.CatalogService/ReloadCatalog`)).toBe(false);
    expect(isCatalogRead("POST", `${gw}/knotwork.session.v1.SessionService/LogSession`)).toBe(false);
    expect(isCatalogRead("POST", `${gw}/knotwork.gateway.v1.ViewService/GetToday`)).toBe(false);
    expect(isCatalogRead("GET", `${gw}/knotwork.catalog.v1.CatalogService/GetBodyMap`)).toBe(false);
  });

  it("keys a POST by its body", () => {
    const u = "http://127.0.0.1:1/knotwork.catalog.v1.CatalogService/ListRegions";
    expect(cacheKey(u, "ab")).toBe(`${u}?knotwork-body=ab`);
    expect(cacheKey(u, "ab")).not.toBe(cacheKey(u, "cd"));
  });

  it("keeps one shell and one catalog version", () => {
    const names = ["knotwork-shell-a", "knotwork-shell-b", "knotwork-catalog-v1", "knotwork-catalog-v2", "knotwork-catalog-unversioned", "knotwork-meta", "other"];
    expect(staleCaches(names, "knotwork-shell-b", catalogCacheName("v2"))).toEqual([
      "knotwork-shell-a",
      "knotwork-catalog-v1",
      "knotwork-catalog-unversioned",
    ]);
    // Before any version is known, no catalog answer is dropped.
    expect(staleCaches(names, "knotwork-shell-b", null)).toEqual(["knotwork-shell-a"]);
    expect(catalogCacheName("sha256:ab/cd")).toBe("knotwork-catalog-sha256_ab_cd");
  });

  it("shows a reminder once, on time, and never an hour late", () => {
    const r = (id: string, at: number) => ({ id, at, title: "t", body: "b" });
    const all = [r("past", 0), r("due", 9_000_000), r("later", 20_000_000), r("seen", 9_500_000)];
    expect(dueReminders(all, new Set(["seen"]), 10_000_000).map((x) => x.id)).toEqual(["due"]);
  });
});
