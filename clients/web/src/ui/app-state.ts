// What every screen shares: the clients, the catalog vocabulary, the person's
// profile and screening, their "where it hurts" picks, and the navigation.

import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Api } from "../api";
import type { ProviderAuth } from "../auth/session";
import type { BodyMap, Contraindication, Region, Symptom, TechniqueGuidance, Tool } from "../gen/knotwork/catalog/v1/catalog_pb";
import type { GuidedSession, Profile, Screening } from "../gen/knotwork/session/v1/session_pb";
import type { PainPick } from "../logic/pain";
import type { Plan } from "../logic/plan";
import type { TokenInfo } from "../logic/token";

/** The catalog vocabulary loaded once at start. */
export interface Vocabulary {
  regions: Region[];
  tools: Tool[];
  conditions: Contraindication[];
  guidance?: TechniqueGuidance;
  symptoms: Symptom[];
  /** The body map's geometry (GetBodyMap): every figure is drawn from it. */
  bodyMap?: BodyMap;
}

/** A guided session that was started, with what the log form needs after it. */
export interface ActiveGuide {
  session: GuidedSession;
  pointDisplayName: string;
  /** Set when the stream has finished: seconds on the point per side, as guided. */
  doneSeconds?: number;
}

export interface AppState {
  api: Api;
  gateway: string;
  setGateway(url: string): void;
  token: string | null;
  tokenInfo: TokenInfo | null;
  signIn(token: string, info: TokenInfo): void;
  signOut(): void;
  /** Sign-in with an OpenID provider (config, last problem, provider sign-out). */
  auth?: ProviderAuth;
  vocab: Vocabulary | null;
  vocabError: string | null;
  reloadVocab(): void;
  profile: Profile | null;
  setProfile(p: Profile): void;
  screening: Screening | null;
  setScreening(s: Screening | null): void;
  picks: PainPick[];
  setPicks(p: PainPick[]): void;
  /** Symptoms picked beside the map, as `symptoms/{id}`. */
  symptoms: string[];
  setSymptoms(s: string[]): void;
  plan: Plan | undefined;
  setPlan(p: Plan | undefined): void;
  guide: ActiveGuide | null;
  setGuide(g: ActiveGuide | null): void;
  navigate(hash: string): void;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const s = useContext(AppContext);
  if (!s) throw new Error("AppContext missing");
  return s;
}

/** Display names by resource name. */
export function nameMap<T extends { name: string; displayName: string }>(items: readonly T[]): Map<string, string> {
  return new Map(items.map((i) => [i.name, i.displayName]));
}
