// "Where does it hurt?": choose an area of the front or back figure, then tap
// every place that hurts in the close-up (or pick it from its list, or from the
// full list below); left and right are kept apart. Symptoms can be added beside
// the map. The figure is drawn from the catalog's body map (GetBodyMap).

import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { ScreeningStatus } from "../gen/knotwork/session/v1/session_pb";
import { drawingSize, type Hotspot, hotspots, sections } from "../logic/body";
import { sideLabel } from "../logic/labels";
import { isPicked, type PainPick, togglePick } from "../logic/pain";
import { nameMap, useApp } from "./app-state";
import { Loading, ScreenTitle } from "./common";
import { Figure } from "./Figure";

function spotLabel(name: string, side: Side): string {
  return side === Side.MIDLINE ? name : `${name}, ${sideLabel(side)} side`;
}

export function BodyMap() {
  const app = useApp();
  const [view, setViewState] = useState<BodyView>(BodyView.FRONT);
  const [zoom, setZoom] = useState<string | null>(null);
  const [hover, setHover] = useState<Hotspot | null>(null);
  const [listRegion, setListRegion] = useState("");
  const [listSide, setListSide] = useState<Side>(Side.RIGHT);
  const regions = app.vocab?.regions ?? [];
  const map = app.vocab?.bodyMap;
  const size = drawingSize(map);
  const names = useMemo(() => nameMap(regions), [regions]);
  const byName = useMemo(() => new Map(regions.map((r) => [r.name, r])), [regions]);
  const spots = useMemo(() => hotspots(map, view), [map, view]);
  const groups = useMemo(() => sections(spots, view, (r) => byName.get(r)?.area ?? "Other", size), [spots, view, byName]);
  // Keyboard users land on the close-up's heading after zooming in, and back
  // on the area's button after zooming out.
  // A layout effect, so the focus moves in the same frame the close-up appears.
  const lastZoom = useRef<string | null>(null);
  useLayoutEffect(() => {
    if (zoom) document.getElementById("zoom-title")?.focus();
    else if (lastZoom.current) document.querySelector<HTMLElement>(`button[data-section="${lastZoom.current}"]`)?.focus();
    lastZoom.current = zoom;
  }, [zoom]);
  const areas = useMemo(() => {
    const m = new Map<string, typeof regions>();
    for (const r of regions) m.set(r.area, [...(m.get(r.area) ?? []), r]);
    return [...m.entries()];
  }, [regions]);

  if (!app.vocab) return app.vocabError ? null : <Loading what="the body map" />;

  const setView = (v: BodyView) => {
    setViewState(v);
    setZoom(null);
    setHover(null);
  };
  const picks = app.picks;
  const toggle = (p: PainPick) => app.setPicks(togglePick(picks, p));
  const picked = (h: Hotspot) => isPicked(picks, { region: h.region, side: h.side });
  const chosen = byName.get(listRegion);
  const addFromList = (e: Event) => {
    e.preventDefault();
    if (!chosen) return;
    const sides = !chosen.lateral ? [Side.MIDLINE] : listSide === Side.BOTH ? [Side.RIGHT, Side.LEFT] : [listSide];
    let next = picks;
    for (const side of sides) if (!isPicked(next, { region: chosen.name, side })) next = [...next, { region: chosen.name, side }];
    app.setPicks(next);
  };
  const needsScreening = app.token && app.screening?.status === ScreeningStatus.REQUIRED;
  const section = groups.find((g) => g.key === zoom) ?? null;
  const sectionSpots = section ? section.spots.map((i) => spots[i]) : [];
  const sectionOf = (h: Hotspot) => groups.find((g) => g.spots.some((i) => spots[i] === h));
  const viewWord = view === BodyView.BACK ? "back" : "front";
  const symptoms = app.vocab.symptoms;

  return (
    <section aria-labelledby="map-title">
      <ScreenTitle>
        <span id="map-title">Where does it hurt?</span>
      </ScreenTitle>
      {needsScreening && (
        <p class="alert alert-info">
          First time here? <a href="#/screening">Answer the health questions</a> before you start pressing.
        </p>
      )}
      <p>Choose an area, then tap every place that hurts. Switch between the front and the back of the body.</p>
      <div class="segmented" role="group" aria-label="Side of the body shown">
        <button type="button" aria-pressed={view === BodyView.FRONT} onClick={() => setView(BodyView.FRONT)}>
          Front
        </button>
        <button type="button" aria-pressed={view === BodyView.BACK} onClick={() => setView(BodyView.BACK)}>
          Back
        </button>
      </div>
      <div class="map-layout">
        <div class="map-pane">
          {!section ? (
            <>
              <Figure
                map={map}
                view={view}
                label={`Body map, ${viewWord}: choose an area below to zoom in`}
                shapes={spots}
                isPicked={picked}
                onShapeTap={(h) => {
                  const g = sectionOf(h);
                  if (g) setZoom(g.key);
                }}
                class="map"
              />
              <nav aria-label={`Areas of the ${viewWord}`}>
                <ul class="section-list" data-testid="sections">
                  {groups.map((g) => {
                    const count = g.spots.filter((i) => picked(spots[i])).length;
                    return (
                      <li key={g.key}>
                        <button type="button" onClick={() => setZoom(g.key)} data-section={g.key}>
                          {g.label}
                          {count > 0 && <span class="badge">{count} chosen</span>}
                        </button>
                      </li>
                    );
                  })}
                </ul>
              </nav>
            </>
          ) : (
            <div class="zoom" data-testid="zoom" data-section={section.key}>
              <div class="zoom-head">
                <h2 id="zoom-title" tabindex={-1}>
                  {section.label} ({viewWord})
                </h2>
                <button
                  type="button"
                  onClick={() => {
                    setZoom(null);
                    setHover(null);
                  }}
                >
                  Whole body
                </button>
              </div>
              <p class="map-label" aria-hidden="true" data-testid="map-label">
                {hover ? spotLabel(names.get(hover.region) ?? hover.region, hover.side) : "Point at or focus a place to see its name."}
              </p>
              <Figure
                map={map}
                view={view}
                box={section.box}
                label={`${section.label}, ${viewWord}: each place is a button`}
                hotspots={sectionSpots}
                isPicked={picked}
                onToggle={(h) => toggle({ region: h.region, side: h.side })}
                onHover={setHover}
                regionName={(r) => names.get(r) ?? r}
                class="map zoomed"
              />
              <ul class="region-list" aria-labelledby="zoom-title" data-testid="region-list">
                {sectionSpots.map((h) => {
                  const label = spotLabel(names.get(h.region) ?? h.region, h.side);
                  return (
                    <li key={`${h.region}-${h.side}`}>
                      <button
                        type="button"
                        aria-pressed={picked(h)}
                        data-region={h.region}
                        onClick={() => toggle({ region: h.region, side: h.side })}
                        onFocus={() => setHover(h)}
                        onBlur={() => setHover(null)}
                      >
                        {label}
                      </button>
                    </li>
                  );
                })}
              </ul>
            </div>
          )}
        </div>

        {symptoms.length > 0 && (
          <details class="panel symptoms" data-testid="symptoms">
            <summary>
              What does it feel like? (optional)
              {app.symptoms.length > 0 && <span class="badge">{app.symptoms.length} chosen</span>}
            </summary>
            <fieldset class="plain">
              <legend class="visually-hidden">Symptoms</legend>
              <div class="symptom-grid">
                {symptoms.map((s) => (
                  <label key={s.name} class="check">
                    <input
                      type="checkbox"
                      checked={app.symptoms.includes(s.name)}
                      onChange={(e) =>
                        app.setSymptoms(
                          e.currentTarget.checked ? [...app.symptoms, s.name] : app.symptoms.filter((x) => x !== s.name),
                        )
                      }
                    />
                    {s.displayName}
                  </label>
                ))}
              </div>
            </fieldset>
          </details>
        )}
      </div>

      <form class="panel list-picker" onSubmit={addFromList}>
        <h2>Or choose from a list</h2>
        <div class="row">
          <label>
            Area
            <select value={listRegion} onChange={(e) => setListRegion(e.currentTarget.value)} data-testid="region-select">
              <option value="">Choose…</option>
              {areas.map(([area, rs]) => (
                <optgroup key={area} label={area}>
                  {rs.map((r) => (
                    <option key={r.name} value={r.name}>
                      {r.displayName}
                    </option>
                  ))}
                </optgroup>
              ))}
            </select>
          </label>
          <label>
            Side
            <select
              value={String(listSide)}
              disabled={chosen ? !chosen.lateral : false}
              onChange={(e) => setListSide(Number(e.currentTarget.value) as Side)}
            >
              <option value={String(Side.RIGHT)}>Right</option>
              <option value={String(Side.LEFT)}>Left</option>
              <option value={String(Side.BOTH)}>Both</option>
            </select>
          </label>
          <button type="submit" disabled={!chosen}>
            Add
          </button>
        </div>
      </form>

      <section aria-labelledby="picked-title" class="panel">
        <h2 id="picked-title">Where it hurts</h2>
        {picks.length === 0 ? (
          <p class="muted">Nothing chosen yet.</p>
        ) : (
          <ul class="chips" data-testid="picks">
            {picks.map((p) => {
              const label = `${names.get(p.region) ?? p.region}${p.side === Side.MIDLINE ? "" : ` (${sideLabel(p.side)})`}`;
              return (
                <li key={`${p.region}-${p.side}`}>
                  {label}
                  <button type="button" class="chip-remove" aria-label={`Remove ${label}`} onClick={() => toggle(p)}>
                    ×
                  </button>
                </li>
              );
            })}
          </ul>
        )}
        <div class="actions">
          <button
            type="button"
            class="primary"
            disabled={picks.length === 0}
            onClick={() => {
              app.setPlan(undefined);
              app.navigate("#/plan");
            }}
          >
            Find what may cause it
          </button>
          {picks.length > 0 && (
            <button type="button" onClick={() => app.setPicks([])}>
              Clear
            </button>
          )}
        </div>
      </section>
    </section>
  );
}
