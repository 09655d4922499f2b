import { describe, expect, it } from "vitest";
import { cleanToken, isExpired, readToken } from "./token";

function jwt(claims: object): string {
  const b64 = (s: string) => btoa(s).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(JSON.stringify(claims))}.c2ln`;
}

describe("tokens", () => {
  it("reads the subject and expiry", () => {
    expect(readToken(jwt({ sub: "e2e-1", exp: 2000000000 }))).toEqual({ subject: "e2e-1", expires: 2000000000 });
  });

  it("accepts a pasted Bearer prefix and line breaks", () => {
    const t = jwt({ sub: "ana" });
    expect(cleanToken(`  Bearer ${t.slice(0, 10)}\n${t.slice(10)}\n`)).toBe(t);
    expect(readToken(`Bearer ${t}`)).toEqual({ subject: "ana", expires: undefined });
  });

  it.each([
    ["not a jwt", "three parts"],
    ["a.b.c", "readable JSON"],
    [jwt({ name: "x" }), "no user"],
  ])("explains %s", (raw, want) => {
    const r = readToken(raw);
    expect("error" in r && r.error).toContain(want);
  });

  it("knows expiry", () => {
    expect(isExpired({ subject: "a", expires: 10 }, 11)).toBe(true);
    expect(isExpired({ subject: "a", expires: 10 }, 9)).toBe(false);
    expect(isExpired({ subject: "a" }, 9)).toBe(false);
  });
});
