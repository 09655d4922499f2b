// How the page learns where people sign in (documented in clients/web/README.md):
//
// 1. `auth-config.json` beside index.html, written by whoever serves the app:
//    `{ "issuer": "https://id.example.org/", "clientId": "knotwork-web" }`, plus
//    `"localSignIn": true` to keep the development sign-ins (off by default there).
// 2. Without that file (a development server, `knotwork up`): `?issuer=URL&client_id=ID`
//    on the page's address (remembered), and the development sign-ins are on.

/** Where and how the page signs people in. */
export interface AuthConfig {
  /** The OpenID provider's issuer URL, exactly as the gateway trusts it. */
  issuer?: string;
  /** The public client id the provider knows this app by. */
  clientId?: string;
  /** Whether "Continue as a local user" and the token paste form are offered. */
  localSignIn: boolean;
}

const ISSUER_KEY = "knotwork.oidc.issuer";
const CLIENT_KEY = "knotwork.oidc.clientId";

/** Reads a served config document; `null` when it is missing or unusable. */
export function parseAuthConfig(doc: unknown): AuthConfig | null {
  if (typeof doc !== "object" || doc === null) return null;
  const d = doc as Record<string, unknown>;
  const issuer = typeof d.issuer === "string" && d.issuer ? d.issuer : undefined;
  const clientId = typeof d.clientId === "string" && d.clientId ? d.clientId : undefined;
  if ((issuer === undefined) !== (clientId === undefined)) return null;
  return { issuer, clientId, localSignIn: d.localSignIn === true };
}

/** The development fallback: query parameters (remembered), local sign-ins on. */
export function configFromQuery(search: string, storage: Pick<Storage, "getItem" | "setItem">): AuthConfig {
  const q = new URLSearchParams(search);
  const issuer = q.get("issuer");
  const clientId = q.get("client_id");
  if (issuer && clientId) {
    storage.setItem(ISSUER_KEY, issuer);
    storage.setItem(CLIENT_KEY, clientId);
  }
  return {
    issuer: storage.getItem(ISSUER_KEY) ?? undefined,
    clientId: storage.getItem(CLIENT_KEY) ?? undefined,
    localSignIn: true,
  };
}

/** Loads the config: the served file when there is one, else the development fallback. */
export async function loadAuthConfig(): Promise<AuthConfig> {
  try {
    const res = await fetch(new URL("auth-config.json", location.href), { cache: "no-store" });
    if (res.ok) {
      const parsed = parseAuthConfig(await res.json());
      if (parsed) return parsed;
    }
  } catch {
    // No file (or not JSON): a development setup.
  }
  return configFromQuery(location.search, localStorage);
}
