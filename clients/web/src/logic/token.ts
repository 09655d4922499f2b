// The development token: what the sign-in screen can tell from it without the
// server (the server still verifies it).

/** The claims the app shows. */
export interface TokenInfo {
  subject: string;
  /** Expiry in seconds since the epoch, when present. */
  expires?: number;
  /** Issue time in seconds since the epoch, when present (paces renewal). */
  issuedAt?: number;
}

function base64UrlDecode(s: string): string {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Strips whitespace and an optional "Bearer " prefix from a pasted token. */
export function cleanToken(raw: string): string {
  return raw.trim().replace(/^bearer\s+/i, "").replace(/\s+/g, "");
}

/** Reads a JWT's subject and expiry, or explains why the text is not a JWT. */
export function readToken(raw: string): TokenInfo | { error: string } {
  const token = cleanToken(raw);
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    return { error: "This does not look like a token: expected three parts separated by dots." };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return { error: "The token's middle part is not readable JSON." };
  }
  if (typeof claims !== "object" || claims === null) return { error: "The token has no claims." };
  const c = claims as Record<string, unknown>;
  if (typeof c.sub !== "string" || c.sub === "") return { error: "The token names no user (no `sub` claim)." };
  return {
    subject: c.sub,
    expires: typeof c.exp === "number" ? c.exp : undefined,
    issuedAt: typeof c.iat === "number" ? c.iat : undefined,
  };
}

/** Whether the token's expiry has passed at `nowSeconds`. */
export function isExpired(info: TokenInfo, nowSeconds: number): boolean {
  return info.expires !== undefined && info.expires <= nowSeconds;
}
