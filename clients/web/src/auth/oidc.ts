// Signing in with an OpenID provider: Authorization Code with PKCE through
// oauth4webapi (a maintained, certified client library; no hand-written
// protocol code), renewal with the refresh token, and sign-out.
//
// The token the gateway receives is the provider's ID token (its `aud` is the
// client id, which the gateway is configured to accept). The refresh token and
// where it came from are kept in localStorage beside it; the PKCE verifier and
// state live in sessionStorage only for the round trip to the provider.

import * as oauth from "oauth4webapi";
import type { AuthConfig } from "./config";

const PENDING_KEY = "knotwork.oidc.pending";
const SESSION_KEY = "knotwork.oidc.session";
const SCOPE = "openid offline_access";

/** What renews a signed-in person's token. */
export interface OidcSession {
  issuer: string;
  clientId: string;
  refreshToken?: string;
}

/** A token the provider issued. */
export interface Issued {
  idToken: string;
  session: OidcSession;
}

/** Loopback http is accepted (development and tests); anything else must be https. */
function insecureOk(issuer: string): boolean {
  const u = new URL(issuer);
  return u.protocol === "http:" && (u.hostname === "127.0.0.1" || u.hostname === "localhost" || u.hostname === "[::1]");
}

function options(issuer: string): { [oauth.allowInsecureRequests]?: boolean } {
  return insecureOk(issuer) ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  const res = await oauth.discoveryRequest(url, { algorithm: "oidc", ...options(issuer) });
  return oauth.processDiscoveryResponse(url, res);
}

/** Where the provider sends the person back: this page, without query or hash. */
export function redirectUri(loc: Pick<Location, "origin" | "pathname"> = location): string {
  return `${loc.origin}${loc.pathname}`;
}

/** Sends the browser to the provider's sign-in page (Authorization Code + PKCE). */
export async function startSignIn(config: AuthConfig): Promise<void> {
  if (!config.issuer || !config.clientId) throw new Error("No identity provider is configured.");
  const as = await discover(config.issuer);
  if (!as.authorization_endpoint) throw new Error("The provider has no authorization endpoint.");
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  sessionStorage.setItem(
    PENDING_KEY,
    JSON.stringify({ verifier, state, issuer: config.issuer, clientId: config.clientId, back: location.hash }),
  );
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("redirect_uri", redirectUri());
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", SCOPE);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", state);
  location.assign(url.href);
}

/** Whether this page load is the provider sending the person back. */
export function isReturning(search: string = location.search): boolean {
  const q = new URLSearchParams(search);
  return (q.has("code") || q.has("error")) && q.has("state") && sessionStorage.getItem(PENDING_KEY) !== null;
}

/**
 * Finishes a sign-in on the page the provider sent the person back to: checks
 * the state, exchanges the code (with the PKCE verifier) for tokens and
 * validates the ID token. Returns the token and the hash to go back to.
 */
export async function completeSignIn(): Promise<Issued & { back: string }> {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (!raw) throw new Error("No sign-in was started from this browser tab.");
  const pending = JSON.parse(raw) as { verifier: string; state: string; issuer: string; clientId: string; back: string };
  const current = new URL(location.href);
  // Whatever happens next, the code must not stay in the address bar.
  history.replaceState(null, "", `${current.pathname}${pending.back || ""}`);
  const as = await discover(pending.issuer);
  const client: oauth.Client = { client_id: pending.clientId };
  const params = oauth.validateAuthResponse(as, client, current, pending.state);
  const res = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(),
    pending.verifier,
    options(pending.issuer),
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { requireIdToken: true });
  const session: OidcSession = { issuer: pending.issuer, clientId: pending.clientId, refreshToken: tokens.refresh_token };
  saveSession(session);
  return { idToken: tokens.id_token as string, session, back: pending.back };
}

/** Renews the ID token with the refresh token (rotated when the provider sends a new one). */
export async function renew(session: OidcSession): Promise<Issued> {
  if (!session.refreshToken) throw new Error("The provider gave no refresh token: sign in again.");
  const as = await discover(session.issuer);
  const client: oauth.Client = { client_id: session.clientId };
  const res = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), session.refreshToken, options(session.issuer));
  const tokens = await oauth.processRefreshTokenResponse(as, client, res);
  if (!tokens.id_token) throw new Error("The provider renewed the sign-in without an ID token.");
  const next: OidcSession = { ...session, refreshToken: tokens.refresh_token ?? session.refreshToken };
  saveSession(next);
  return { idToken: tokens.id_token, session: next };
}

/**
 * Signs out at the provider too: revokes the refresh token, then, when the
 * provider offers it, ends its session and comes back here. Local state is
 * cleared by the caller first.
 */
export async function signOutAtProvider(session: OidcSession, idToken: string | null): Promise<void> {
  saveSession(null);
  let as: oauth.AuthorizationServer;
  try {
    as = await discover(session.issuer);
  } catch {
    return;
  }
  const client: oauth.Client = { client_id: session.clientId };
  if (session.refreshToken && as.revocation_endpoint) {
    try {
      await oauth.revocationRequest(as, client, oauth.None(), session.refreshToken, options(session.issuer));
    } catch {
      // Best effort: the token is forgotten here either way.
    }
  }
  if (as.end_session_endpoint) {
    const url = new URL(as.end_session_endpoint);
    url.searchParams.set("client_id", session.clientId);
    url.searchParams.set("post_logout_redirect_uri", redirectUri());
    if (idToken) url.searchParams.set("id_token_hint", idToken);
    location.assign(url.href);
  }
}

export function loadSession(): OidcSession | null {
  const raw = localStorage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as OidcSession;
    return typeof s.issuer === "string" && typeof s.clientId === "string" ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: OidcSession | null): void {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
}

/**
 * When to renew a token valid from `issuedAt` to `expires` (seconds): at three
 * quarters of its life, at least 5 s from `now`, so a short-lived token is renewed
 * well before it lapses without renewing in a loop. In milliseconds from now.
 */
export function renewDelayMs(nowSeconds: number, expires: number, issuedAt?: number): number {
  const start = issuedAt ?? nowSeconds;
  const at = start + (expires - start) * 0.75;
  return Math.max(5, at - nowSeconds) * 1000;
}
