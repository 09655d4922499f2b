// Sign in: with the configured OpenID provider (Authorization Code + PKCE, see
// src/auth/), and in development also as a local user (a token signed with the
// development secret) or by pasting a token minted by `knotwork token --user ID`.

import { useState } from "preact/hooks";
import { createApi } from "../api";
import { localNameProblem, mintLocalToken } from "../auth/local";
import { startSignIn } from "../auth/oidc";
import { describeError, type Problem } from "../logic/errors";
import { cleanToken, isExpired, readToken } from "../logic/token";
import { useApp } from "./app-state";
import { ErrorBox, ScreenTitle } from "./common";

export function SignIn() {
  const app = useApp();
  const [raw, setRaw] = useState("");
  const [gateway, setGateway] = useState(app.gateway);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [hint, setHint] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const [localName, setLocalName] = useState("");
  const [localHint, setLocalHint] = useState<string | null>(null);
  const config = app.auth?.config ?? null;

  const withProvider = async () => {
    setProblem(null);
    setBusy(true);
    try {
      if (config) await startSignIn(config);
    } catch (err) {
      setProblem(describeError(err));
      setBusy(false);
    }
  };

  const continueLocal = async (e: Event) => {
    e.preventDefault();
    setProblem(null);
    const why = localNameProblem(localName);
    setLocalHint(why);
    if (why) return;
    setBusy(true);
    try {
      const token = await mintLocalToken(localName, Math.floor(Date.now() / 1000));
      const info = readToken(token);
      if ("error" in info) throw new Error(info.error);
      await createApi(app.gateway, () => token).session.getProfile({});
      app.signIn(token, info);
      app.navigate("#/");
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setProblem(null);
    const info = readToken(raw);
    if ("error" in info) {
      setHint(info.error);
      return;
    }
    if (isExpired(info, Date.now() / 1000)) {
      setHint("This token has expired: mint a new one.");
      return;
    }
    setHint(null);
    setBusy(true);
    const token = cleanToken(raw);
    try {
      // Check the token with the gateway before keeping it.
      await createApi(gateway, () => token).session.getProfile({});
      if (gateway !== app.gateway) app.setGateway(gateway);
      app.signIn(token, info);
      app.navigate("#/");
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const provider = config?.issuer ? new URL(config.issuer).host : null;
  return (
    <section>
      <ScreenTitle>Sign in</ScreenTitle>
      {app.tokenInfo && (
        <p class="alert alert-info">
          Signed in as <strong>{app.tokenInfo.subject}</strong>.{" "}
          <button type="button" class="link" onClick={app.signOut}>
            Sign out
          </button>
        </p>
      )}
      {app.auth?.problem && (
        <p class="alert alert-error" role="alert">
          {app.auth.problem}
        </p>
      )}
      {provider && (
        <div class="signin-provider">
          <button type="button" class="primary" disabled={busy} onClick={withProvider}>
            Sign in with {provider}
          </button>
          <p class="muted small">You sign in on your provider's page; Knotwork never sees your password.</p>
        </div>
      )}
      {config && !config.localSignIn && <ErrorBox problem={problem} title="Signing in did not work" />}
      {config?.localSignIn && (
        <>
          <h2>Local development</h2>
          <form onSubmit={continueLocal} data-testid="local-form">
            <label>
              Local user name
              <input
                type="text"
                value={localName}
                autocomplete="username"
                aria-describedby={localHint ? "local-hint" : undefined}
                onInput={(e) => setLocalName(e.currentTarget.value)}
              />
            </label>
            {localHint && (
              <p id="local-hint" class="field-error" role="alert">
                {localHint}
              </p>
            )}
            <button type="submit" disabled={busy}>
              Continue as a local user
            </button>
          </form>
          <p>
            Or mint a token with <code>knotwork token --user YOUR-NAME</code> and paste it here.
          </p>
      <form onSubmit={submit} data-testid="signin-form">
        <label>
          Development token
          <textarea
            value={raw}
            rows={4}
            required
            spellcheck={false}
            autocomplete="off"
            aria-describedby={hint ? "token-hint" : undefined}
            onInput={(e) => setRaw(e.currentTarget.value)}
          />
        </label>
        {hint && (
          <p id="token-hint" class="field-error" role="alert">
            {hint}
          </p>
        )}
        <label>
          Gateway address
          <input type="url" value={gateway} required onInput={(e) => setGateway(e.currentTarget.value)} />
        </label>
        <ErrorBox problem={problem} title="The gateway refused the sign-in" />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
        </>
      )}
    </section>
  );
}
