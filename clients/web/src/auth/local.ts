// "Continue as a local user": a development token signed in the browser with the
// development secret, exactly what `knotwork token --user NAME` mints. Only a
// gateway in development mode accepts it (production refuses that secret).

/** The development secret, issuer and audience of `knotwork up`. */
export const DEV_SECRET = "knotwork-dev-secret";
export const DEV_ISSUER = "knotwork-dev";
export const DEV_AUDIENCE = "knotwork";

function base64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Why `name` cannot be a local user, or `null` when it can. */
export function localNameProblem(name: string): string | null {
  const n = name.trim();
  if (!n) return "Enter a name.";
  if ([...n].length > 255) return "At most 255 characters.";
  // Control characters are refused by the gateway.
  if (/\p{Cc}/u.test(n)) return "Use letters, digits and punctuation only.";
  return null;
}

/** An HS256 token for `user`, valid for `ttlSeconds`, signed with `secret`. */
export async function mintLocalToken(user: string, nowSeconds: number, ttlSeconds = 12 * 3600, secret = DEV_SECRET): Promise<string> {
  const header = base64Url(utf8(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const claims = {
    sub: user.trim(),
    iss: DEV_ISSUER,
    aud: DEV_AUDIENCE,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + ttlSeconds,
  };
  const payload = base64Url(utf8(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(`${header}.${payload}`)));
  return `${header}.${payload}.${base64Url(sig)}`;
}
