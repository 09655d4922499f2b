// Sign-in against a real OpenID provider (oidc-provider, e2e/oidc-provider.mjs)
// on 127.0.0.1, with `$KNOTWORK_BIN up` trusting it by issuer URL:
//
// - the web app signs in through the provider's own login form in Chromium
//   (Authorization Code + PKCE), as `josé`, and its calls go through the gateway
//   (the profile it saves is read back by the CLI with the same account);
// - the short-lived ID token (30 s) is renewed with the refresh token;
// - sign-out forgets the token;
// - `knotwork login --issuer --client-id` (device grant) is approved by a
//   scripted browser, its token works for session calls, is renewed when it is
//   about to expire, and `knotwork logout` forgets it;
// - key rotation, against a second provider and a separate `knotwork-gateway`
//   process that trusts it: the provider restarts publishing a new key and
//   signing with it, and the gateway accepts its tokens without a restart;
//   once the old key is gone from the provider, tokens signed with it are
//   refused; with the provider down, the cached keys keep working;
// - at start, the gateway refuses a discovery document naming another issuer
//   and an http issuer in prod, each with a message naming the problem. (A
//   JWKS holding an HMAC key is refused too, but oidc-provider never publishes
//   one: that case runs against a fake provider in crates/gateway/tests/it/oidc.rs.)
//
//   KNOTWORK_BIN=target/debug/knotwork node e2e/oidc.mjs   (after npm run build)
//
// The last line is `oidc-e2e: N passed, M failed`; the exit code is non-zero on failure.

import { execFile, spawn } from "node:child_process";
import { createServer } from "node:http";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const dist = path.join(root, "dist");
const artifacts = path.join(root, "test-artifacts");
const CLIENT_ID = "knotwork";
const USER = "josé";
const log = (...a) => console.log(`[oidc-e2e ${new Date().toISOString().slice(11, 19)}]`, ...a);

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts a child process and resolves once `ready` matches its output. */
async function startProcess(cmd, args, env, ready, what) {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let exited = null;
  child.on("exit", (code, sig) => (exited = { code, sig }));
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 60 s:\n${output}`)), 60_000);
    const onData = (d) => {
      output += d.toString();
      const m = ready.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error(`${what} exited early (${JSON.stringify(exited)}):\n${output}`));
    });
  });
  return {
    match,
    output: () => output,
    async stop() {
      if (exited) return;
      child.kill("SIGTERM");
      const t = Date.now();
      while (!exited && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 100));
      if (!exited) child.kill("SIGKILL");
    },
  };
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".map": "application/json" };

/** Serves dist/ and an `auth-config.json` naming the provider (set once it runs). */
async function serveDist(port, authConfig) {
  await stat(path.join(dist, "index.html")).catch(() => {
    throw new Error("dist/index.html is missing: run `npm run build` first");
  });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/auth-config.json") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(authConfig));
      return;
    }
    let file = path.normalize(path.join(dist, decodeURIComponent(url.pathname)));
    if (!file.startsWith(dist)) return void res.writeHead(403).end();
    if (url.pathname === "/" || !path.extname(file)) file = path.join(dist, "index.html");
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) };
}

let passed = 0;
let failed = 0;
function expect(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

/** An RS256 private JWK named `kid`. */
function signingKey(kid) {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
}

/** The `kid` in a JWT's header. */
function kidOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()).kid;
}

/**
 * `knotwork login --issuer --client-id` with its own config folder, approved
 * in a fresh browser context; returns the ID token it stored.
 */
async function deviceLogin(browser, bin, env, issuer, user) {
  const home = await mkdtemp(path.join(os.tmpdir(), "knotwork-oidc-device-"));
  try {
    const login = spawn(bin, ["login", "--issuer", issuer, "--client-id", CLIENT_ID], {
      env: { ...env, XDG_CONFIG_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    login.stdout.on("data", (d) => (out += d));
    login.stderr.on("data", (d) => (out += d));
    const done = new Promise((resolve) => login.on("exit", resolve));
    const deadline = Date.now() + 20_000;
    let url;
    while (!(url = /(http:\/\/127\.0\.0\.1:\d+\/device\S*)/.exec(out)?.[1]) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!url) {
      login.kill("SIGKILL");
      throw new Error(`no verification URL from knotwork login:\n${out}`);
    }
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(url);
      await page.getByRole("button", { name: "Continue" }).first().click();
      await providerLogin(page, user);
      await page.getByText(/Sign-in Success|success/i).first().waitFor({ timeout: 15_000 });
    } finally {
      await context.close();
    }
    const code = await done;
    expect(code === 0, `knotwork login exit 0, got ${code}:\n${out}`);
    return (await readFile(path.join(home, "knotwork", "token"), "utf8")).trim();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** `knotwork profile` with `token` through `gateway`: "ok" or the refusal's text. */
async function profileWith(bin, env, gateway, token) {
  return run(bin, ["--token", token, "profile"], { env: { ...env, KNOTWORK_GATEWAY_URL: gateway }, timeout: 15_000 }).then(
    () => "ok",
    (e) => `${e.stdout}${e.stderr}`,
  );
}

/** Runs the gateway binary to its exit (bounded); resolves to its code and output. */
async function gatewayExit(gatewayBin, env) {
  return new Promise((resolve) => {
    execFile(gatewayBin, [], { env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? err.signal) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

/**
 * Key rotation, an outage and the refusals at start, against a second
 * provider (fixed port, so a restart keeps its issuer) and a separate
 * `knotwork-gateway` process in front of the running stack's backends.
 */
async function rotationSteps({ browser, bin, env, web, cat, ses }) {
  const gatewayBin = path.join(path.dirname(bin), "knotwork-gateway");
  await stat(gatewayBin).catch(() => {
    throw new Error(`${gatewayBin} is missing: build the workspace's binaries`);
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), "knotwork-oidc-rotation-"));
  const port = await freePort();
  const [k1, k2] = [signingKey("rotation-1"), signingKey("rotation-2")];
  let provider = null;
  const startProvider = async (keys) => {
    const file = path.join(dir, `keys-${keys.map((k) => k.kid).join("+")}.json`);
    await writeFile(file, JSON.stringify({ keys }));
    provider = await startProcess(
      process.execPath,
      [path.join(here, "oidc-provider.mjs"), "--redirect-uri", web.url, "--port", String(port), "--keys", file],
      process.env,
      /issuer=(http:\/\/127\.0\.0\.1:\d+)/,
      "oidc-provider (rotation)",
    );
    return provider.match[1];
  };
  const issuer = await startProvider([k1]);
  const [gw, admin] = [await freePort(), await freePort()];
  const gatewayEnv = {
    ...process.env,
    KNOTWORK_GATEWAY_LISTEN: `127.0.0.1:${gw}`,
    KNOTWORK_GATEWAY_ADMIN_LISTEN: `127.0.0.1:${admin}`,
    KNOTWORK_CATALOG_URLS: `http://127.0.0.1:${cat}`,
    KNOTWORK_SESSION_SHARDS: `http://127.0.0.1:${ses}`,
    KNOTWORK_OIDC_ISSUERS: issuer,
    KNOTWORK_OIDC_AUDIENCES: CLIENT_ID,
    // Short cache bounds so the test sees a removed key go within seconds.
    KNOTWORK_OIDC_JWKS_MIN_SECS: "1",
    KNOTWORK_OIDC_JWKS_MAX_SECS: "2",
    KNOTWORK_OIDC_UNKNOWN_KEY_REFETCH_SECS: "1",
    RUST_LOG: "info",
  };
  const gateway = await startProcess(gatewayBin, [], gatewayEnv, /gateway listening/, "knotwork-gateway");
  const gatewayUrl = `http://127.0.0.1:${gw}`;
  try {
    let oldToken;
    let newToken;
    await step("rotation: the provider's new key is trusted without a gateway restart, the removed one is refused", async () => {
      oldToken = await deviceLogin(browser, bin, env, issuer, USER);
      expect(kidOf(oldToken) === "rotation-1", `a token signed with rotation-1, got ${kidOf(oldToken)}`);
      expect((await profileWith(bin, env, gatewayUrl, oldToken)) === "ok", "the first key's token accepted");
      // Rotate: publish both, sign with the new one.
      await provider.stop();
      await startProvider([k2, k1]);
      newToken = await deviceLogin(browser, bin, env, issuer, USER);
      expect(kidOf(newToken) === "rotation-2", `a token signed with rotation-2, got ${kidOf(newToken)}`);
      const first = await profileWith(bin, env, gatewayUrl, newToken);
      expect(first === "ok", `the new key's token accepted by the running gateway: ${first}`);
      expect((await profileWith(bin, env, gatewayUrl, oldToken)) === "ok", "the old key's token still accepted while published");
      // Retire the old key: after the cache's longest time it is gone.
      await provider.stop();
      await startProvider([k2]);
      let refusal = "ok";
      for (let i = 0; i < 40 && refusal === "ok"; i++) {
        await new Promise((r) => setTimeout(r, 250));
        refusal = await profileWith(bin, env, gatewayUrl, oldToken);
      }
      expect(/UNAUTHENTICATED/.test(refusal), `the removed key's token refused with UNAUTHENTICATED, got: ${refusal}`);
      expect((await profileWith(bin, env, gatewayUrl, newToken)) === "ok", "the new key's token still accepted");
    });

    await step("start: a wrong issuer and an http issuer in prod are refused, naming the problem", async () => {
      const other = issuer.replace("127.0.0.1", "localhost");
      const wrong = await gatewayExit(gatewayBin, {
        ...gatewayEnv,
        KNOTWORK_GATEWAY_LISTEN: "127.0.0.1:0",
        KNOTWORK_GATEWAY_ADMIN_LISTEN: "127.0.0.1:0",
        KNOTWORK_OIDC_ISSUERS: other,
      });
      expect(wrong.code !== 0 && wrong.output.includes(issuer) && wrong.output.includes(other), `exit non-zero naming both issuers, got ${wrong.code}:\n${wrong.output}`);
      const prod = await gatewayExit(gatewayBin, {
        ...gatewayEnv,
        KNOTWORK_GATEWAY_LISTEN: "127.0.0.1:0",
        KNOTWORK_GATEWAY_ADMIN_LISTEN: "127.0.0.1:0",
        KNOTWORK_MODE: "prod",
      });
      expect(prod.code !== 0 && /http issuer/.test(prod.output) && /https/.test(prod.output), `exit non-zero naming the http issuer, got ${prod.code}:\n${prod.output}`);
    });

    await step("provider down: the gateway keeps its last good keys, and says so", async () => {
      await provider.stop();
      // Past the cache's longest time, refetches fail and the keys stay.
      await new Promise((r) => setTimeout(r, 3_000));
      const answer = await profileWith(bin, env, gatewayUrl, newToken);
      expect(answer === "ok", `the cached key's token accepted with the provider down: ${answer}`);
      const metrics = await fetch(`http://127.0.0.1:${admin}/metrics`).then((r) => r.text());
      const errors = /jwks_fetches_total\{[^}]*result="error"[^}]*\} (\d+)/.exec(metrics);
      expect(errors && Number(errors[1]) > 0, `failed JWKS fetches counted:\n${metrics.split("\n").filter((l) => l.includes("jwks")).join("\n")}`);
      expect(/jwks_keys\{[^}]*\} 1\b/.test(metrics), "one key still in use");
    });
  } finally {
    await gateway.stop();
    if (provider) await provider.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fills the provider's own development login form and submits it. */
async function providerLogin(page, login) {
  await page.locator('input[name="login"]').waitFor({ timeout: 15_000 });
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any-password");
  await page.getByRole("button", { name: "Sign-in" }).click();
}

async function main() {
  const bin = process.env.KNOTWORK_BIN;
  if (!bin) throw new Error("set KNOTWORK_BIN to the knotwork binary");
  await mkdir(artifacts, { recursive: true });
  const webPort = await freePort();
  const authConfig = { clientId: CLIENT_ID, localSignIn: true };
  const web = await serveDist(webPort, authConfig);
  const provider = await startProcess(
    process.execPath,
    [path.join(here, "oidc-provider.mjs"), "--redirect-uri", web.url, "--id-token-ttl", "30"],
    process.env,
    /issuer=(http:\/\/127\.0\.0\.1:\d+)/,
    "oidc-provider",
  );
  const issuer = provider.match[1];
  authConfig.issuer = issuer;
  log(`provider ${issuer}, web app ${web.url}`);

  const dataDir = await mkdtemp(path.join(os.tmpdir(), "knotwork-oidc-e2e-"));
  const home = await mkdtemp(path.join(os.tmpdir(), "knotwork-oidc-home-"));
  const [gw, admin, cat, ses] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: home,
    KNOTWORK_GATEWAY_LISTEN: `127.0.0.1:${gw}`,
    KNOTWORK_GATEWAY_ADMIN_LISTEN: `127.0.0.1:${admin}`,
    KNOTWORK_CATALOG_LISTEN: `127.0.0.1:${cat}`,
    KNOTWORK_SESSION_LISTEN: `127.0.0.1:${ses}`,
    KNOTWORK_GATEWAY_URL: `http://127.0.0.1:${gw}`,
    KNOTWORK_OIDC_ISSUERS: issuer,
    KNOTWORK_OIDC_AUDIENCES: CLIENT_ID,
    RUST_LOG: process.env.RUST_LOG ?? "warn",
  };
  delete env.KNOTWORK_TOKEN;
  delete env.KNOTWORK_USER;
  const stack = await startProcess(bin, ["up", "--data-dir", dataDir], env, /gateway\s+grpc:\/\/[\d.]+:\d+/, "knotwork up");
  for (let i = 0; ; i++) {
    try {
      await run(bin, ["health"], { env, timeout: 10_000 });
      break;
    } catch (e) {
      if (i > 120) throw new Error(`the stack did not become healthy:\n${stack.output()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const gateway = `http://127.0.0.1:${gw}`;
  log(`stack healthy, gateway ${gateway}`);

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const storage = (key) => page.evaluate((k) => localStorage.getItem(k), key);
  const profileCalls = [];
  page.on("response", (r) => {
    if (r.url().startsWith(`${gateway}/knotwork.session.v1.SessionService/GetProfile`)) {
      profileCalls.push({ auth: Boolean(r.request().headers().authorization), status: r.status() });
    }
  });
  try {
    await step("web: sign in through the provider's login form (PKCE) as josé", async () => {
      await page.goto(`${web.url}?gateway=${encodeURIComponent(gateway)}#/signin`);
      const host = new URL(issuer).host;
      await page.getByRole("button", { name: `Sign in with ${host}` }).waitFor();
      await page.screenshot({ path: path.join(artifacts, "oidc-00-signin-screen.png"), fullPage: true });
      await page.getByRole("button", { name: `Sign in with ${host}` }).click();
      await page.waitForURL((u) => u.origin === new URL(issuer).origin, { timeout: 15_000 });
      await page.screenshot({ path: path.join(artifacts, "oidc-01-provider-login.png") });
      await providerLogin(page, USER);
      await page.waitForURL((u) => u.origin === new URL(web.url).origin && !u.search.includes("code="), { timeout: 20_000 });
      await page.getByTestId("account").getByText(USER).waitFor({ timeout: 15_000 });
      const session = JSON.parse((await storage("knotwork.oidc.session")) ?? "null");
      expect(session?.refreshToken, "a refresh token kept for renewal");
      await page.screenshot({ path: path.join(artifacts, "oidc-02-signed-in.png"), fullPage: true });
    });

    await step("web: its calls go through the gateway as the provider's user", async () => {
      const token = await storage("knotwork.token");
      expect(token, "an ID token in use");
      const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
      expect(claims.sub === USER && claims.iss === issuer && claims.aud === CLIENT_ID, `the token of ${USER} from ${issuer}: ${JSON.stringify(claims)}`);
      // The landing page makes several calls at once: wait (bounded) for GetProfile's answer.
      for (let i = 0; i < 100 && profileCalls.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(profileCalls.length > 0 && profileCalls.every((c) => c.auth && c.status === 200), `GetProfile through the gateway with the token: ${JSON.stringify(profileCalls)}`);
      expect((await page.getByRole("alert").count()) === 0, "no error on the page");
      // The same token from the CLI: the shard knows the person by the issuer-scoped id.
      const { stdout } = await run(bin, ["--token", token, "--json", "export"], { env, timeout: 15_000 });
      const userId = JSON.parse(stdout).export?.userId ?? JSON.parse(stdout).userId;
      expect(typeof userId === "string" && userId.startsWith("oidc:") && userId.endsWith(`:${USER}`), `an issuer-scoped user id, got ${userId}`);
    });

    await step("web: the 30 s ID token is renewed with the refresh token", async () => {
      const before = await storage("knotwork.token");
      const deadline = Date.now() + 40_000;
      let after = before;
      while (after === before && Date.now() < deadline) {
        await page.waitForTimeout(1000);
        after = await storage("knotwork.token");
      }
      expect(after && after !== before, "a new ID token within 40 s");
      await page.getByTestId("account").getByText(USER).waitFor();
    });

    await step("web: sign out forgets the token and ends the provider session", async () => {
      await page.goto(`${web.url}#/signin`);
      await page.getByRole("button", { name: "Sign out" }).click();
      // The provider asks to confirm its sign-out, then sends the person back.
      await page.getByRole("button", { name: "Yes, sign me out" }).click({ timeout: 15_000 });
      await page.waitForURL((u) => u.origin === new URL(web.url).origin, { timeout: 15_000 });
      expect((await storage("knotwork.token")) === null, "no token after sign-out");
      expect((await storage("knotwork.oidc.session")) === null, "no refresh token after sign-out");
    });

    await step("CLI: device login approved in a browser, renewed, then logout", async () => {
      const login = spawn(bin, ["login", "--issuer", issuer, "--client-id", CLIENT_ID], { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      login.stdout.on("data", (d) => (out += d));
      login.stderr.on("data", (d) => (out += d));
      const done = new Promise((resolve) => login.on("exit", resolve));
      const deadline = Date.now() + 20_000;
      let url;
      while (!(url = /(http:\/\/127\.0\.0\.1:\d+\/device\S*)/.exec(out)?.[1]) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(url, `a verification URL from knotwork login:\n${out}`);
      const device = await context.newPage();
      await device.goto(url);
      // With the complete URL, the page asks to confirm the code, then to sign in.
      await device.getByRole("button", { name: "Continue" }).first().click();
      await providerLogin(device, USER);
      await device.getByText(/Sign-in Success|success/i).first().waitFor({ timeout: 15_000 });
      await device.screenshot({ path: path.join(artifacts, "oidc-03-device-approved.png") });
      const code = await done;
      expect(code === 0, `knotwork login exit 0, got ${code}:\n${out}`);
      expect(out.includes(`signed in as ${USER}`), `"signed in as ${USER}" in:\n${out}`);
      const sessionPath = path.join(home, "knotwork", "oidc.json");
      const first = JSON.parse(await readFile(sessionPath, "utf8"));
      expect(first.refresh_token, "a refresh token stored beside the token");
      // A session call with the stored token; the 30 s token is renewed first
      // (it expires within the CLI's 60 s margin), which rotates the refresh token.
      const { stdout, stderr } = await run(bin, ["--json", "profile"], { env, timeout: 20_000 });
      expect(stdout.includes("{"), `a profile:\n${stdout}${stderr}`);
      const second = JSON.parse(await readFile(sessionPath, "utf8"));
      expect(second.refresh_token && second.refresh_token !== first.refresh_token, `the token renewed with the refresh token (rotated) ${stderr}`);
      const logout = await run(bin, ["logout"], { env, timeout: 10_000 });
      expect(/signed out/.test(logout.stdout), `logout output: ${logout.stdout}`);
      const refused = await run(bin, ["profile"], { env, timeout: 10_000 }).then(
        () => "passed",
        (e) => `${e.stdout}${e.stderr}`,
      );
      expect(/UNAUTHENTICATED|sign in/i.test(refused), `a refusal after logout, got: ${refused}`);
    });

    await rotationSteps({ browser, bin, env, web, cat, ses });
  } finally {
    await browser.close();
    await stack.stop();
    await provider.stop();
    await web.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }
}

main()
  .catch((e) => {
    failed++;
    log(`FAIL setup: ${e?.stack ?? e}`);
  })
  .finally(() => {
    console.log(`oidc-e2e: ${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });
