// The catalog's how-to guides: a list, one guide, and the guides that go with
// a trigger point or a guided session (the basics, and the tool's own).

import { useEffect, useState } from "preact/hooks";
import type { Guide } from "../gen/knotwork/catalog/v1/catalog_pb";
import { describeError, type Problem } from "../logic/errors";
import { idOf } from "../logic/labels";
import type { Api } from "../api";
import { useApp } from "./app-state";
import { ErrorBox, Loading, ScreenTitle } from "./common";

const cache = new WeakMap<Api, Promise<Guide[]>>();

async function loadGuides(api: Api): Promise<Guide[]> {
  const all: Guide[] = [];
  let pageToken = "";
  do {
    const r = await api.catalog.listGuides({ pageSize: 500, pageToken });
    all.push(...r.guides);
    pageToken = r.nextPageToken;
  } while (pageToken);
  return all;
}

/** Every guide, loaded once per gateway. */
export function useGuides(): { guides: Guide[] | null; problem: Problem | null } {
  const app = useApp();
  const [guides, setGuides] = useState<Guide[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    let p = cache.get(app.api);
    if (!p) {
      p = loadGuides(app.api);
      cache.set(app.api, p);
      p.catch(() => cache.delete(app.api));
    }
    let live = true;
    p.then(
      (g) => live && setGuides(g),
      (e) => live && setProblem(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [app.api]);
  return { guides, problem };
}

/** The basics plus the guides of these tools, in reading order. */
export function guidesFor(guides: readonly Guide[], tools: readonly string[]): Guide[] {
  const want = new Set(tools);
  return guides.filter((g) => g.everyPoint || g.tools.some((t) => want.has(t)));
}

export function GuidesScreen() {
  const { guides, problem } = useGuides();
  const app = useApp();
  const toolNames = new Map((app.vocab?.tools ?? []).map((t) => [t.name, t.displayName]));
  return (
    <section>
      <ScreenTitle>How-to guides</ScreenTitle>
      <p>How to find a knot, how hard to press, and how to use each tool, in plain words.</p>
      <ErrorBox problem={problem} title="The guides could not be loaded" />
      {!guides && !problem && <Loading what="the guides" />}
      {guides && (
        <ul class="guide-list" data-testid="guide-list">
          {guides.map((g) => (
            <li key={g.name}>
              <a href={`#/guides/${idOf(g.name)}`}>{g.title}</a>
              <p class="small">{g.summary}</p>
              {g.tools.length > 0 && <p class="small muted">For: {g.tools.map((t) => toolNames.get(t) ?? idOf(t)).join(", ")}</p>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function GuideArticle({ id }: { id: string }) {
  const app = useApp();
  const [guide, setGuide] = useState<Guide | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    app.api.catalog
      .getGuide({ name: `guides/${id}` })
      .then((r) => setGuide(r.guide ?? null))
      .catch((e) => setProblem(describeError(e)));
  }, [id]);
  if (problem) return <ErrorBox problem={problem} title="This guide could not be loaded" />;
  if (!guide) return <Loading what="the guide" />;
  return (
    <article class="guide-article" data-testid="guide-article">
      <ScreenTitle>{guide.title}</ScreenTitle>
      <p class="lead">{guide.summary}</p>
      {guide.sections.map((s, i) => (
        <section key={i}>
          <h2>{s.heading}</h2>
          <p>{s.text}</p>
        </section>
      ))}
      {guide.sources.length > 0 && (
        <p class="small muted">Sources: {guide.sources.map(idOf).join(", ")}</p>
      )}
      <p>
        <a href="#/guides">All guides</a>
      </p>
    </article>
  );
}

/** Links to the guides for a point worked with these tools. */
export function GuideLinks({ tools }: { tools: readonly string[] }) {
  const { guides } = useGuides();
  const list = guides ? guidesFor(guides, tools) : [];
  if (list.length === 0) return null;
  return (
    <section aria-labelledby="guides-title" data-testid="point-guides">
      <h2 id="guides-title">How to do it</h2>
      <ul class="link-list">
        {list.map((g) => (
          <li key={g.name}>
            <a href={`#/guides/${idOf(g.name)}`}>{g.title}</a>
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * The guides for a running session, unfolded in place: opening another
 * screen would leave the timer.
 */
export function InlineGuides({ tool }: { tool: string }) {
  const { guides } = useGuides();
  const list = guides ? guidesFor(guides, tool ? [tool] : []) : [];
  if (list.length === 0) return null;
  return (
    <section aria-labelledby="inline-guides-title" data-testid="session-guides">
      <h2 id="inline-guides-title">Guides while you hold</h2>
      {list.map((g) => (
        <details key={g.name}>
          <summary>{g.title}</summary>
          <p>{g.summary}</p>
          {g.sections.map((s, i) => (
            <p key={i}>
              <strong>{s.heading}.</strong> {s.text}
            </p>
          ))}
        </details>
      ))}
    </section>
  );
}
