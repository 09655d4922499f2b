// The provider sign-in's life in the app: finishing a sign-in when the provider
// sends the person back, renewing the token before it lapses (and on load, when
// only the refresh token is left), and ending the provider's session on sign-out.

import { useEffect, useState } from "preact/hooks";
import { readToken, type TokenInfo } from "../logic/token";
import { type AuthConfig, loadAuthConfig } from "./config";
import { completeSignIn, isReturning, loadSession, renew, renewDelayMs, signOutAtProvider } from "./oidc";

export interface ProviderAuth {
  /** Where sign-in happens; `null` while loading. */
  config: AuthConfig | null;
  /** Why the last provider sign-in or renewal failed. */
  problem: string | null;
  /** Signs out at the provider too (after the app forgot the token). */
  endSession(idToken: string | null): void;
}

interface Hooks {
  token: string | null;
  tokenInfo: TokenInfo | null;
  signIn(token: string, info: TokenInfo): void;
  navigate(hash: string): void;
}

function accept(token: string, signIn: Hooks["signIn"]): void {
  const info = readToken(token);
  if ("error" in info) throw new Error(`The provider's token is not usable: ${info.error}`);
  signIn(token, info);
}

export function useProviderAuth({ token, tokenInfo, signIn, navigate }: Hooks): ProviderAuth {
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    loadAuthConfig().then(setConfig);
    if (isReturning()) {
      completeSignIn()
        .then(({ idToken, back }) => {
          accept(idToken, signIn);
          setProblem(null);
          navigate(back && back !== "#/signin" ? back : "#/");
        })
        .catch((e: unknown) => {
          setProblem(e instanceof Error ? e.message : String(e));
          navigate("#/signin");
        });
    } else if (!token && loadSession()?.refreshToken) {
      // The token lapsed while the page was closed: renew silently.
      const session = loadSession();
      if (session) renew(session).then(({ idToken }) => accept(idToken, signIn), () => undefined);
    }
  }, []);

  // Renew a provider token at three quarters of its life.
  useEffect(() => {
    const session = loadSession();
    if (!token || !session?.refreshToken || tokenInfo?.expires === undefined) return;
    const delay = renewDelayMs(Date.now() / 1000, tokenInfo.expires, tokenInfo.issuedAt);
    const timer = setTimeout(() => {
      renew(session).then(
        ({ idToken }) => accept(idToken, signIn),
        (e: unknown) => setProblem(`Your sign-in could not be renewed: ${e instanceof Error ? e.message : String(e)}`),
      );
    }, delay);
    return () => clearTimeout(timer);
  }, [token]);

  return {
    config,
    problem,
    endSession: (idToken) => {
      const session = loadSession();
      if (session) void signOutAtProvider(session, idToken);
    },
  };
}
