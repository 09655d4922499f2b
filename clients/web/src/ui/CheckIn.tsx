// The daily pain check-in: how much each region hurts today, 0-10. Regions
// come from earlier check-ins and the body map's picks; more can be added.
// One RecordCheckIn per region; a second one the same day replaces the first.

import { useEffect, useMemo, useState } from "preact/hooks";
import { requestId } from "../api";
import type { PainCheckIn } from "../gen/knotwork/session/v1/session_pb";
import { addDays } from "../logic/daily";
import { describeError, type Problem } from "../logic/errors";
import { nameMap, useApp } from "./app-state";
import { ErrorBox } from "./common";

/** A 0-10 slider with its value in words. */
function PainScale({ id, label, value, onChange }: { id: string; label: string; value: number; onChange(v: number): void }) {
  return (
    <div class="scale">
      <label for={id}>
        {label}: <output for={id}>{value}</output> / 10
      </label>
      <input
        id={id}
        type="range"
        min={0}
        max={10}
        step={1}
        value={value}
        aria-valuetext={`${value} out of 10`}
        onInput={(e) => onChange(Number(e.currentTarget.value))}
      />
      <div class="scale-ends small muted" aria-hidden="true">
        <span>0 no pain</span>
        <span>10 worst</span>
      </div>
    </div>
  );
}

export function CheckInCard({ today, onSaved }: { today: string; onSaved?(): void }) {
  const app = useApp();
  const regionNames = useMemo(() => nameMap(app.vocab?.regions ?? []), [app.vocab]);
  const [recent, setRecent] = useState<PainCheckIn[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [scores, setScores] = useState<Map<string, number>>(new Map());
  const [extra, setExtra] = useState<string[]>([]);
  const [adding, setAdding] = useState("");
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);

  useEffect(() => {
    if (!app.token || !today) return;
    app.api.session
      .listCheckIns({ startDate: addDays(today, -30), endDate: today })
      .then((r) => setRecent(r.checkIns))
      .catch((e) => {
        setRecent([]);
        setProblem(describeError(e));
      });
  }, [app.token, today]);

  const doneToday = (recent ?? []).filter((c) => c.localDate === today);
  const regions = useMemo(() => {
    const seen = new Set<string>();
    const out: string[] = [];
    const add = (r: string) => {
      if (r && !seen.has(r)) {
        seen.add(r);
        out.push(r);
      }
    };
    // Latest first: the regions the person has been checking.
    [...(recent ?? [])].reverse().forEach((c) => add(c.region));
    app.picks.forEach((p) => add(p.region));
    extra.forEach(add);
    return out;
  }, [recent, app.picks, extra]);

  const value = (r: string) => scores.get(r) ?? doneToday.find((c) => c.region === r)?.score ?? [...(recent ?? [])].reverse().find((c) => c.region === r)?.score ?? 5;

  const save = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    setProblem(null);
    try {
      for (const r of regions) {
        await app.api.session.recordCheckIn({ requestId: requestId(), region: r, score: value(r) });
      }
      const list = await app.api.session.listCheckIns({ startDate: addDays(today, -30), endDate: today });
      setRecent(list.checkIns);
      setScores(new Map());
      setExtra([]);
      setSaved(regions.map((r) => `${regionNames.get(r) ?? r} ${value(r)}`).join(", "));
      onSaved?.();
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  if (!recent) return null;
  const allDone = regions.length > 0 && regions.every((r) => doneToday.some((c) => c.region === r));
  return (
    <section class="panel checkin" aria-labelledby="checkin-title" data-testid="checkin">
      <h2 id="checkin-title">How is your pain today?</h2>
      <p class="small muted">
        Once a day, rate the pain where it hurts, 0 (none) to 10 (worst). This is separate from how tender a point is.
      </p>
      {allDone && !saved && (
        <p class="small" data-testid="checkin-done">
          Checked in today: {doneToday.map((c) => `${regionNames.get(c.region) ?? c.region} ${c.score}`).join(", ")}. You
          can change it until midnight.
        </p>
      )}
      <form onSubmit={save}>
        {regions.map((r) => (
          <PainScale
            key={r}
            id={`pain-${r.replace(/\W/g, "-")}`}
            label={regionNames.get(r) ?? r}
            value={value(r)}
            onChange={(v) => setScores(new Map(scores).set(r, v))}
          />
        ))}
        <label>
          {regions.length ? "Add another place" : "Where does it hurt?"}
          <select value={adding} onChange={(e) => setAdding(e.currentTarget.value)} data-testid="checkin-region">
            <option value="">Choose a place…</option>
            {(app.vocab?.regions ?? [])
              .filter((r) => !regions.includes(r.name))
              .map((r) => (
                <option key={r.name} value={r.name}>
                  {r.displayName}
                </option>
              ))}
          </select>
        </label>
        <div class="actions">
          <button
            type="button"
            disabled={!adding}
            onClick={() => {
              setExtra([...extra, adding]);
              setAdding("");
            }}
          >
            Add this place
          </button>
          <button type="submit" class="primary" disabled={saving || regions.length === 0}>
            {saving ? "Saving…" : "Save today's pain"}
          </button>
        </div>
        <ErrorBox problem={problem} title="The check-in was not saved" />
        {saved && (
          <p class="alert alert-ok" role="status" data-testid="checkin-saved">
            Saved for today: {saved}.
          </p>
        )}
      </form>
    </section>
  );
}
