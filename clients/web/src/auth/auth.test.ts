import { describe, expect, it } from "vitest";
import { readToken } from "../logic/token";
import { configFromQuery, parseAuthConfig } from "./config";
import { DEV_SECRET, localNameProblem, mintLocalToken } from "./local";
import { redirectUri, renewDelayMs } from "./oidc";

function memoryStorage(): Pick<Storage, "getItem" | "setItem"> {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v) };
}

describe("auth config", () => {
  it.each([
    [{ issuer: "https://id.example/", clientId: "web" }, { issuer: "https://id.example/", clientId: "web", localSignIn: false }],
    [{ issuer: "https://id.example/", clientId: "web", localSignIn: true }, { issuer: "https://id.example/", clientId: "web", localSignIn: true }],
    [{ localSignIn: true }, { issuer: undefined, clientId: undefined, localSignIn: true }],
    [{ issuer: "https://id.example/" }, null],
    ["text", null],
    [null, null],
  ])("reads %j", (doc, want) => {
    expect(parseAuthConfig(doc)).toEqual(want);
  });

  it("remembers ?issuer=&client_id= in development", () => {
    const s = memoryStorage();
    expect(configFromQuery("", s)).toEqual({ issuer: undefined, clientId: undefined, localSignIn: true });
    configFromQuery("?issuer=http%3A%2F%2F127.0.0.1%3A9%2F&client_id=knotwork", s);
    expect(configFromQuery("?other=1", s)).toEqual({ issuer: "http://127.0.0.1:9/", clientId: "knotwork", localSignIn: true });
  });
});

describe("local user", () => {
  it.each([
    ["", "Enter a name."],
    ["   ", "Enter a name."],
    ["a\u0007b", "letters"],
    ["x".repeat(256), "255"],
    ["josé", null],
    ["😀".repeat(255), null],
  ])("name %j", (name, want) => {
    const got = localNameProblem(name);
    if (want === null) expect(got).toBeNull();
    else expect(got).toContain(want);
  });

  it("mints what `knotwork token` mints: HS256 with the development secret", async () => {
    const t = await mintLocalToken(" josé ", 1_000_000, 60);
    const [h, p, sig] = t.split(".");
    const bytes = (b64url: string) =>
      Uint8Array.from(atob(b64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(b64url.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    const enc = new TextEncoder();
    const key = await crypto.subtle.importKey("raw", enc.encode(DEV_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    expect(await crypto.subtle.verify("HMAC", key, bytes(sig), enc.encode(`${h}.${p}`))).toBe(true);
    const json = (b64url: string) => JSON.parse(new TextDecoder().decode(bytes(b64url)));
    expect(json(h)).toEqual({ alg: "HS256", typ: "JWT" });
    expect(json(p)).toEqual({ sub: "josé", iss: "knotwork-dev", aud: "knotwork", iat: 1_000_000, nbf: 1_000_000, exp: 1_000_060 });
    expect(readToken(t)).toEqual({ subject: "josé", expires: 1_000_060, issuedAt: 1_000_000 });
  });
});

describe("provider sign-in", () => {
  it.each([
    // now, expires, issuedAt, want ms
    [1000, 1600, 1000, 450_000],
    [1300, 1600, 1000, 150_000],
    [1500, 1600, 1000, 5_000],
    [1000, 1030, 1000, 22_500],
    [1000, 1600, undefined, 450_000],
  ])("renews at 3/4 of the life (now %d, exp %d)", (now, exp, iat, want) => {
    expect(renewDelayMs(now, exp, iat)).toBe(want);
  });

  it("comes back to this page without query or hash", () => {
    expect(redirectUri({ origin: "http://127.0.0.1:5173", pathname: "/" })).toBe("http://127.0.0.1:5173/");
    expect(redirectUri({ origin: "https://app.example", pathname: "/knotwork/index.html" })).toBe("https://app.example/knotwork/index.html");
  });
});
