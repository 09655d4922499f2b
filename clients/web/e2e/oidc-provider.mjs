// A real OpenID provider for the sign-in tests: `oidc-provider` (a certified
// OpenID Connect implementation, pinned in e2e/oidc-e2e.sh) on 127.0.0.1 with
// one public test client and its development login form (any login and
// password signs in as the account named by the login, so `josé` is a user).
//
//   node e2e/oidc-provider.mjs --redirect-uri http://127.0.0.1:PORT/ [--port N] [--id-token-ttl S] [--keys FILE]
//
// Prints one line `issuer=http://127.0.0.1:PORT` when it serves, and runs
// until killed. The client `knotwork` is public (PKCE, no secret) and may use
// the authorization code, refresh token and device grants; consent is given
// by the first-party rule below, so a sign-in is login form -> back to the app.
// Test-only: in-memory storage, development interactions, a key made at start
// unless --keys names a JSON file `{"keys": [private JWK, ...]}`: then those are
// published and the first one signs (how a provider rotates: publish the next
// key, sign with it, later drop the old one; the rotation test restarts the
// provider with each key set on the same port, so its issuer stays the same).

import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const redirectUri = arg("redirect-uri");
if (!redirectUri) {
  console.error("oidc-provider.mjs: --redirect-uri is required");
  process.exit(2);
}
const port = Number(arg("port", "0"));
const idTokenTtl = Number(arg("id-token-ttl", "600"));
const tools = process.env.KNOTWORK_TOOLS ?? join(homedir(), ".cache", "knotwork-tools");
const { default: Provider } = await import(
  pathToFileURL(join(tools, "node_modules", "oidc-provider", "lib", "index.js")).href
);

const server = http.createServer();
await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// The signing keys: from --keys, or one RS256 key made now.
const keysFile = arg("keys");
let keys;
if (keysFile) {
  keys = JSON.parse(readFileSync(keysFile, "utf8")).keys;
} else {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  keys = [{ ...privateKey.export({ format: "jwk" }), kid: "test-1", alg: "RS256", use: "sig" }];
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "knotwork",
      client_name: "Knotwork",
      token_endpoint_auth_method: "none",
      application_type: "web",
      grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [redirectUri],
    },
  ],
  jwks: { keys },
  cookies: { keys: ["knotwork-test-only-cookie-key"] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  scopes: ["openid", "offline_access"],
  ttl: {
    IdToken: idTokenTtl,
    AccessToken: idTokenTtl,
    AuthorizationCode: 60,
    DeviceCode: 600,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    RefreshToken: 86400,
  },
  // The account is the login typed into the form; its only claim is `sub`.
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  // The test client is first-party: consent is implied.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid offline_access");
    await grant.save();
    return grant;
  },
  // Refresh tokens whenever the client may use them (browser and CLI alike).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
});
// Plain http on loopback is the point of this test provider.
provider.proxy = false;
server.on("request", provider.callback());
console.log(`issuer=${issuer}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
