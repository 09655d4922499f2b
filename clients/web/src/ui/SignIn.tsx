// Development sign-in: paste a token minted by `knotwork token --user ID`.

import { useState } from "preact/hooks";
import { createApi } from "../api";
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

  return (
    <section>
      <ScreenTitle>Sign in (development)</ScreenTitle>
      {app.tokenInfo && (
        <p class="alert alert-info">
          Signed in as <strong>{app.tokenInfo.subject}</strong>.{" "}
          <button type="button" class="link" onClick={app.signOut}>
            Sign out
          </button>
        </p>
      )}
      <p>
        Mint a token with <code>knotwork token --user YOUR-NAME</code> and paste it here.
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
    </section>
  );
}
