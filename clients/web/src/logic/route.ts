// Hash routes: "#/point/upper_trapezius_1?side=2" -> { screen: "point", arg, query }.

export type Screen =
  | "home"
  | "today"
  | "map"
  | "plan"
  | "point"
  | "screening"
  | "tools"
  | "guide"
  | "guides"
  | "log"
  | "progress"
  | "report"
  | "data"
  | "signin"
  | "missing";

export interface Route {
  screen: Screen;
  /** The path part after the screen, e.g. a trigger point id. */
  arg: string;
  query: URLSearchParams;
}

const SCREENS: Record<string, Screen> = {
  // The landing page: Today for a signed-in person, else the body map.
  "": "home",
  today: "today",
  map: "map",
  guides: "guides",
  report: "report",
  plan: "plan",
  point: "point",
  screening: "screening",
  tools: "tools",
  guide: "guide",
  log: "log",
  progress: "progress",
  data: "data",
  signin: "signin",
};

export function parseRoute(hash: string): Route {
  const body = hash.replace(/^#\/?/, "");
  const q = body.indexOf("?");
  const path = q >= 0 ? body.slice(0, q) : body;
  const query = new URLSearchParams(q >= 0 ? body.slice(q + 1) : "");
  const [first = "", ...rest] = path.split("/").filter((s, i) => s !== "" || i === 0);
  const screen = SCREENS[first] ?? "missing";
  const arg = rest.map((s) => decodeURIComponent(s)).join("/");
  if (screen === "point" && !arg) return { screen: "missing", arg, query };
  return { screen, arg, query };
}
