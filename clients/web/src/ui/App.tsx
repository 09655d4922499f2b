// The shell: header and navigation, shared state, and the screen for the hash.

import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { createApi, initialGateway, loadToken, saveGateway, saveToken } from "../api";
import { useProviderAuth } from "../auth/session";
import { ContraindicationKind, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import type { Profile, Screening } from "../gen/knotwork/session/v1/session_pb";
import { describeError } from "../logic/errors";
import { announceCatalogVersion } from "../offline/sw-client";
import { screeningLabel } from "../logic/labels";
import type { PainPick } from "../logic/pain";
import type { Plan } from "../logic/plan";
import { parseRoute } from "../logic/route";
import { isExpired, readToken, type TokenInfo } from "../logic/token";
import { type ActiveGuide, AppContext, type AppState, type Vocabulary } from "./app-state";
import { BodyMap } from "./BodyMap";
import { ScreenTitle } from "./common";
import { GuideScreen } from "./Guide";
import { GuideArticle, GuidesScreen } from "./Guides";
import { Outbox } from "./Outbox";
import { ReportScreen } from "./Report";
import { TodayScreen } from "./Today";
import { LogScreen } from "./LogSession";
import { MyDataScreen } from "./MyData";
import { PlanScreen } from "./Plan";
import { PointDetail } from "./PointDetail";
import { ProgressScreen } from "./Progress";
import { ScreeningScreen } from "./Screening";
import { SignIn } from "./SignIn";
import { ToolsScreen } from "./Tools";

function storedToken(): { token: string | null; info: TokenInfo | null } {
  const token = loadToken();
  if (!token) return { token: null, info: null };
  const info = readToken(token);
  if ("error" in info || isExpired(info, Date.now() / 1000)) {
    saveToken(null);
    return { token: null, info: null };
  }
  return { token, info };
}

async function loadVocabulary(api: ReturnType<typeof createApi>): Promise<Vocabulary> {
  // The service worker keeps the catalog's answers per catalog version: tell
  // it the version first (offline this fails and the kept answers serve).
  try {
    await announceCatalogVersion((await api.catalog.getCatalogVersion({})).catalogVersion);
  } catch {
    // Offline or an old gateway: the calls below say what is wrong.
  }
  const regions = [];
  let pageToken = "";
  do {
    const r = await api.catalog.listRegions({ pageSize: 500, pageToken });
    regions.push(...r.regions);
    pageToken = r.nextPageToken;
  } while (pageToken);
  const [tools, conditions, guidance, symptoms, bodyMap] = await Promise.all([
    api.catalog.listTools({ pageSize: 500 }),
    api.catalog.listContraindications({ kind: ContraindicationKind.CONDITION }),
    api.catalog.getTechniqueGuidance({}),
    api.catalog.listSymptoms({}),
    api.catalog.getBodyMap({}),
  ]);
  return {
    regions,
    tools: tools.tools,
    conditions: conditions.contraindications,
    guidance: guidance.guidance,
    symptoms: symptoms.symptoms,
    bodyMap: bodyMap.bodyMap,
  };
}

const NAV: { hash: string; label: string; screens: string[]; signedIn?: boolean }[] = [
  { hash: "#/today", label: "Today", screens: ["today"], signedIn: true },
  { hash: "#/map", label: "Body map", screens: ["map"] },
  { hash: "#/plan", label: "Causes", screens: ["plan", "point"] },
  { hash: "#/progress", label: "Progress", screens: ["progress", "report"] },
  { hash: "#/data", label: "My data", screens: ["data"] },
];

export function App() {
  const [hash, setHash] = useState(location.hash);
  const [gateway, setGatewayState] = useState(initialGateway);
  const initial = useMemo(storedToken, []);
  const [token, setToken] = useState<string | null>(initial.token);
  const [tokenInfo, setTokenInfo] = useState<TokenInfo | null>(initial.info);
  const [vocab, setVocab] = useState<Vocabulary | null>(null);
  const [vocabError, setVocabError] = useState<string | null>(null);
  const [vocabTry, setVocabTry] = useState(0);
  const [profile, setProfile] = useState<Profile | null>(null);
  const [screening, setScreening] = useState<Screening | null>(null);
  const [picks, setPicks] = useState<PainPick[]>([]);
  const [symptoms, setSymptoms] = useState<string[]>([]);
  const [plan, setPlan] = useState<Plan | undefined>(undefined);
  const [guide, setGuide] = useState<ActiveGuide | null>(null);

  const tokenRef = useMemo(() => ({ current: token }), []);
  tokenRef.current = token;
  const api = useMemo(() => createApi(gateway, () => tokenRef.current), [gateway]);

  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);

  useEffect(() => {
    setVocabError(null);
    loadVocabulary(api)
      .then(setVocab)
      .catch((e) => setVocabError(describeError(e).message));
  }, [api, vocabTry]);

  // A catalog that failed to load loads again by itself: once the browser
  // is back online (offline, with answers the device did not keep), and,
  // while it is online (a dropped connection, a gateway restarting, or an
  // "online" event that came before the network was usable), after 2 s,
  // then less often, up to every 30 s.
  useEffect(() => {
    if (!vocabError) return;
    const retry = () => setVocabTry((n) => n + 1);
    addEventListener("online", retry);
    const wait = Math.min(30_000, 2_000 * 2 ** Math.min(vocabTry, 4));
    const timer = navigator.onLine ? setTimeout(retry, wait) : undefined;
    return () => {
      removeEventListener("online", retry);
      clearTimeout(timer);
    };
  }, [vocabError, vocabTry]);

  useEffect(() => {
    if (!token) {
      setProfile(null);
      setScreening(null);
      return;
    }
    api.session.getProfile({}).then((r) => setProfile(r.profile ?? null), () => undefined);
    api.session.getScreening({}).then((r) => setScreening(r.screening ?? null), () => undefined);
  }, [api, token]);

  const navigate = useCallback((h: string) => {
    location.hash = h;
  }, []);

  // Signing in (or a renewed token for the same person) keeps the plan only
  // when the person did not change.
  const subjectRef = useMemo(() => ({ current: tokenInfo?.subject }), []);
  subjectRef.current = tokenInfo?.subject;
  const signIn = (t: string, info: TokenInfo) => {
    if (subjectRef.current !== info.subject) setPlan(undefined);
    saveToken(t);
    setToken(t);
    setTokenInfo(info);
  };
  const auth = useProviderAuth({ token, tokenInfo, signIn, navigate });

  const state: AppState = {
    api,
    gateway,
    setGateway: (url) => {
      saveGateway(url);
      setGatewayState(url);
    },
    token,
    tokenInfo,
    signIn,
    auth,
    signOut: () => {
      auth.endSession(token);
      saveToken(null);
      setToken(null);
      setTokenInfo(null);
      setPlan(undefined);
      setGuide(null);
    },
    vocab,
    vocabError,
    reloadVocab: () => setVocabTry((n) => n + 1),
    profile,
    setProfile,
    screening,
    setScreening,
    picks,
    setPicks: (p) => {
      setPicks(p);
      setPlan(undefined);
    },
    symptoms,
    setSymptoms: (s) => {
      setSymptoms(s);
      setPlan(undefined);
    },
    plan,
    setPlan,
    guide,
    setGuide,
    navigate,
  };

  const route = parseRoute(hash);
  // Signed-in people land on Today; everyone else on the body map.
  const shown = route.screen === "home" ? (token ? "today" : "map") : route.screen;
  let screen;
  switch (shown) {
    case "map":
      screen = <BodyMap />;
      break;
    case "today":
      screen = <TodayScreen />;
      break;
    case "guides":
      screen = route.arg ? <GuideArticle key={route.arg} id={route.arg} /> : <GuidesScreen />;
      break;
    case "report":
      screen = <ReportScreen />;
      break;
    case "plan":
      screen = <PlanScreen />;
      break;
    case "point":
      screen = <PointDetail key={route.arg} id={route.arg} side={Number(route.query.get("side") ?? Side.UNSPECIFIED) as Side} />;
      break;
    case "screening":
      screen = <ScreeningScreen />;
      break;
    case "tools":
      screen = <ToolsScreen />;
      break;
    case "guide":
      screen = <GuideScreen key={guide?.session.name} />;
      break;
    case "log":
      screen = <LogScreen key={`${guide?.session.name}-${route.query.get("point")}`} point={route.query.get("point") ?? undefined} />;
      break;
    case "progress":
      screen = <ProgressScreen only={route.query.get("point") ?? undefined} />;
      break;
    case "data":
      screen = <MyDataScreen />;
      break;
    case "signin":
      screen = <SignIn />;
      break;
    default:
      screen = (
        <section>
          <ScreenTitle>Not found</ScreenTitle>
          <p>
            Go to the <a href="#/map">body map</a>.
          </p>
        </section>
      );
  }

  return (
    <AppContext.Provider value={state}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Knotwork
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => !n.signedIn || token).map((n) => (
              <li key={n.hash}>
                <a href={n.hash} aria-current={n.screens.includes(shown) ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="account" data-testid="account">
          {tokenInfo ? (
            <a href="#/signin" class="small" title={screening ? screeningLabel(screening.status) : undefined}>
              <span class="visually-hidden">Account: </span>
              <span class="who">{tokenInfo.subject}</span>
            </a>
          ) : (
            <a href="#/signin" class="button small">
              Sign in
            </a>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {vocabError && (
          <div class="alert alert-error" role="alert">
            <p>
              <strong>The catalog could not be loaded from {gateway}.</strong> {vocabError}
            </p>
            <button type="button" onClick={() => setVocabTry((n) => n + 1)}>
              Try again
            </button>{" "}
            <a href="#/signin">Change the gateway address</a>
          </div>
        )}
        <Outbox />
        {screen}
      </main>
      <footer class="muted small">
        Knotwork suggests possible causes and self-care, never a diagnosis. Sharp, spreading or worsening pain needs a
        medical provider. <a href="#/guides">How-to guides</a>
      </footer>
    </AppContext.Provider>
  );
}
