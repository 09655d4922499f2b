// A trigger point's referral picture, rendered by the catalog
// (GetTriggerPointPicture) so that every client shows the same one. Shown as an
// <img> (no script can run in it); its <title> and <desc> become the image's
// alternative text and a visible caption.

import { useEffect, useState } from "preact/hooks";
import type { Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { describeError } from "../logic/errors";
import { useApp } from "./app-state";

interface Picture {
  url: string;
  title: string;
  desc: string;
}

/** Pictures already fetched, by catalog version, point and side. */
const cache = new Map<string, Picture>();

/** The title and description of an SVG document. */
export function svgText(svg: string): { title: string; desc: string } {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  return {
    title: doc.querySelector("svg > title")?.textContent ?? "",
    desc: doc.querySelector("svg > desc")?.textContent ?? "",
  };
}

export function ReferralPicture({ point, side }: { point: string; side: Side }) {
  const app = useApp();
  const [pic, setPic] = useState<Picture | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const hit = [...cache.entries()].find(([k]) => k.endsWith(`|${point}|${side}`));
    if (hit) setPic(hit[1]);
    app.api.catalog
      .getTriggerPointPicture({ name: point, side })
      .then((r) => {
        const key = `${r.catalogVersion}|${point}|${side}`;
        const ready = cache.get(key) ?? {
          url: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.svg)}`,
          ...svgText(r.svg),
        };
        cache.set(key, ready);
        if (live) setPic(ready);
      })
      .catch((e) => live && setProblem(describeError(e).message));
    return () => {
      live = false;
    };
  }, [point, side]);
  if (problem) return <p class="muted small">The referral picture could not be loaded: {problem}</p>;
  if (!pic) return <div class="detail-figure placeholder" aria-hidden="true" />;
  return (
    <figure class="referral" data-testid="referral-picture">
      <img src={pic.url} alt={pic.title} class="detail-figure" />
      <figcaption class="small">{pic.desc}</figcaption>
    </figure>
  );
}
