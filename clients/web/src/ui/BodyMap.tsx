// "Where does it hurt?": tap regions on the front or back outline, or pick them
// from a list; left and right are kept apart.

import { useMemo, useState } from "preact/hooks";
import { BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { ScreeningStatus } from "../gen/knotwork/session/v1/session_pb";
import { hotspots } from "../logic/body";
import { sideLabel } from "../logic/labels";
import { isPicked, type PainPick, togglePick } from "../logic/pain";
import { nameMap, useApp } from "./app-state";
import { Loading, ScreenTitle } from "./common";
import { Figure } from "./Figure";

export function BodyMap() {
  const app = useApp();
  const [view, setView] = useState<BodyView>(BodyView.FRONT);
  const [listRegion, setListRegion] = useState("");
  const [listSide, setListSide] = useState<Side>(Side.RIGHT);
  const regions = app.vocab?.regions ?? [];
  const names = useMemo(() => nameMap(regions), [regions]);
  const byName = useMemo(() => new Map(regions.map((r) => [r.name, r])), [regions]);
  const spots = useMemo(() => hotspots(regions, view), [regions, view]);
  const areas = useMemo(() => {
    const m = new Map<string, typeof regions>();
    for (const r of regions) m.set(r.area, [...(m.get(r.area) ?? []), r]);
    return [...m.entries()];
  }, [regions]);

  if (!app.vocab) return app.vocabError ? null : <Loading what="the body map" />;

  const picks = app.picks;
  const toggle = (p: PainPick) => app.setPicks(togglePick(picks, p));
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
      <p>Tap every place that hurts. Switch between the front and the back of the body.</p>
      <div class="segmented" role="group" aria-label="Side of the body shown">
        <button type="button" aria-pressed={view === BodyView.FRONT} onClick={() => setView(BodyView.FRONT)}>
          Front
        </button>
        <button type="button" aria-pressed={view === BodyView.BACK} onClick={() => setView(BodyView.BACK)}>
          Back
        </button>
      </div>
      <Figure
        view={view}
        label="Body map: each area is a button"
        hotspots={spots}
        isPicked={(h) => isPicked(picks, { region: h.region, side: h.side })}
        onToggle={(h) => toggle({ region: h.region, side: h.side })}
        regionName={(r) => names.get(r) ?? r}
        class="map"
      />

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
