// A one-page report a clinician can read: pain per region, tenderness per
// point, adherence, holds and warnings, for the dates and sections the
// person chooses, printed with the print style sheet (or saved as PDF from
// the print dialog). The same range also downloads as a FHIR R4 Bundle.

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Hold, PainCheckIn, SessionRecord } from "../gen/knotwork/session/v1/session_pb";
import { WarningSeverity } from "../gen/knotwork/session/v1/session_pb";
import { dayNumber } from "../logic/chart";
import { addDays, assembleReport, type ReportChoice } from "../logic/daily";
import { describeError, type Problem } from "../logic/errors";
import { humanizeName } from "../logic/labels";
import { toLocalInput } from "../logic/time";
import { nameMap, useApp } from "./app-state";
import { Chart } from "./Chart";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle } from "./common";

interface Data {
  sessions: SessionRecord[];
  checkIns: PainCheckIn[];
  holds: Hold[];
  pointNames: Map<string, string>;
}

const SECTIONS: { key: keyof Omit<ReportChoice, "start" | "end">; label: string }[] = [
  { key: "pain", label: "Pain check-ins per region" },
  { key: "tenderness", label: "Tenderness per point" },
  { key: "adherence", label: "Sessions and days (adherence)" },
  { key: "holds", label: "Points on hold" },
  { key: "warnings", label: "Safety warnings" },
];

function save(filename: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function ReportScreen() {
  const app = useApp();
  const today = toLocalInput(new Date()).slice(0, 10);
  const [choice, setChoice] = useState<ReportChoice>({
    start: addDays(today, -27),
    end: today,
    pain: true,
    tenderness: true,
    adherence: true,
    holds: true,
    warnings: true,
  });
  const [data, setData] = useState<Data | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [fhir, setFhir] = useState<string | null>(null);
  const regionNames = useMemo(() => nameMap(app.vocab?.regions ?? []), [app.vocab]);
  const validRange = !Number.isNaN(dayNumber(choice.start)) && !Number.isNaN(dayNumber(choice.end)) && choice.start <= choice.end;

  useEffect(() => {
    if (!app.token || !validRange) return;
    let live = true;
    setData(null);
    setProblem(null);
    (async () => {
      try {
        // The person's local days may start up to 14 h either side of UTC:
        // ask for a wider window and keep the sessions by their local date.
        const from = new Date(dayNumber(choice.start) * 86_400_000 - 86_400_000);
        const to = new Date((dayNumber(choice.end) + 2) * 86_400_000);
        const sessions: SessionRecord[] = [];
        let pageToken = "";
        do {
          const r = await app.api.session.listSessions({
            startTime: timestampFromDate(from),
            endTime: timestampFromDate(to),
            pageSize: 500,
            pageToken,
          });
          sessions.push(...r.sessions);
          pageToken = r.nextPageToken;
        } while (pageToken && sessions.length < 5000);
        const [checkIns, holds] = await Promise.all([
          app.api.session.listCheckIns({ startDate: choice.start, endDate: choice.end }),
          app.api.session.listHolds({ includeReleased: true }),
        ]);
        const points = [...new Set([...sessions.map((s) => s.triggerPoint), ...holds.holds.map((h) => h.triggerPoint)])];
        let pointNames = new Map<string, string>();
        if (points.length) {
          try {
            const r = await app.api.catalog.batchGetTriggerPoints({ names: points.slice(0, 100) });
            pointNames = new Map(r.triggerPoints.map((t) => [t.name, t.displayName]));
          } catch {
            // The ids stand in for names.
          }
        }
        if (live) setData({ sessions, checkIns: checkIns.checkIns, holds: holds.holds, pointNames });
      } catch (e) {
        if (live) setProblem(describeError(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [app.token, choice.start, choice.end, validRange]);

  const report = useMemo(() => {
    if (!data) return null;
    return assembleReport(
      {
        sessions: data.sessions.map((s) => ({
          point: s.triggerPoint,
          localDate: s.localDate,
          tendernessBefore: s.tendernessBefore,
          tendernessAfter: s.tendernessAfter,
          warnings: s.warnings.map((w) => ({
            message: w.message,
            medical: w.medicalAttentionAdvised || w.severity === WarningSeverity.MEDICAL_ATTENTION,
          })),
        })),
        checkIns: data.checkIns,
        holds: data.holds.map((h) => ({
          point: h.triggerPoint,
          why: h.why,
          advice: h.advice,
          sinceDate: h.sinceLocalTime.slice(0, 10),
          active: h.active,
          providerCheckedDate: h.providerCheckedDate,
        })),
        regionName: (r) => regionNames.get(r) ?? humanizeName(r),
        pointName: (p) => data.pointNames.get(p) ?? humanizeName(p),
      },
      choice,
    );
  }, [data, choice, regionNames]);

  const downloadFhir = async () => {
    setFhir(null);
    try {
      const r = await app.api.session.exportFhirBundle({
        startDate: choice.start,
        endDate: choice.end,
        omitCheckIns: !choice.pain,
        omitSessions: !choice.tenderness,
      });
      save(`knotwork-fhir-${choice.start}-${choice.end}.json`, r.bundleJson, "application/fhir+json");
      setFhir(`Downloaded: ${r.observations} pain observations and ${r.procedures} sessions.`);
    } catch (e) {
      setProblem(describeError(e));
    }
  };

  if (!app.token) return <NeedSignIn what="make a report" />;
  const set = (patch: Partial<ReportChoice>) => setChoice({ ...choice, ...patch });
  return (
    <section class="report-screen">
      <div class="no-print">
        <ScreenTitle>Report for your clinician</ScreenTitle>
        <form class="report-form" onSubmit={(e) => e.preventDefault()} data-testid="report-form">
          <div class="row">
            <label>
              From
              <input type="date" value={choice.start} max={choice.end} onInput={(e) => set({ start: e.currentTarget.value })} />
            </label>
            <label>
              To
              <input type="date" value={choice.end} min={choice.start} onInput={(e) => set({ end: e.currentTarget.value })} />
            </label>
          </div>
          <fieldset>
            <legend>Include</legend>
            {SECTIONS.map((s) => (
              <label class="check" key={s.key}>
                <input type="checkbox" checked={choice[s.key]} onChange={(e) => set({ [s.key]: e.currentTarget.checked })} />
                {s.label}
              </label>
            ))}
          </fieldset>
          {!validRange && <p class="field-error">Choose a start date on or before the end date.</p>}
          <div class="actions">
            <button type="button" class="primary" onClick={() => print()} disabled={!report}>
              Print or save as PDF
            </button>
            <button type="button" onClick={() => void downloadFhir()}>
              Download for a clinic system (FHIR)
            </button>
          </div>
          {fhir && (
            <p class="small" role="status" data-testid="fhir-done">
              {fhir}
            </p>
          )}
        </form>
      </div>
      <ErrorBox problem={problem} title="The report could not be made" />
      {!report && !problem && validRange && <Loading what="the report" />}
      {report && (
        <article class="report" data-testid="report" aria-labelledby="report-title">
          <header class="report-head">
            <h2 id="report-title">{report.title}</h2>
            <p>
              {report.range} · made {new Date().toLocaleDateString("en-GB")} · Knotwork self-care journal (the person's
              own entries; not a diagnosis)
            </p>
          </header>
          {report.adherence && (
            <section data-testid="report-adherence">
              <h3>Adherence</h3>
              <p>
                {report.adherence.sessions} sessions on {report.adherence.activeDays} of {report.adherence.days} days (
                {report.adherence.perDay} a day on average); longest run {report.adherence.longestStreak} days in a row.
              </p>
            </section>
          )}
          {report.warnings && (
            <section data-testid="report-warnings">
              <h3>Safety warnings</h3>
              {report.warnings.length === 0 ? (
                <p>None in this period.</p>
              ) : (
                <ul>
                  {report.warnings.map((w, i) => (
                    <li key={i} class={w.medical ? "medical" : undefined}>
                      {w.date}, {w.name}: {w.medical ? <strong>{w.message}</strong> : w.message}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )}
          {report.holds && (
            <section data-testid="report-holds">
              <h3>Points on hold</h3>
              {report.holds.length === 0 ? (
                <p>None in this period.</p>
              ) : (
                <ul>
                  {report.holds.map((h, i) => (
                    <li key={i}>
                      <strong>{h.name}</strong> since {h.since} ({h.status}): {h.why}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )}
          {report.pain && (
            <section data-testid="report-pain">
              <h3>Pain per region (0–10, daily check-ins)</h3>
              {report.pain.length === 0 && <p>No check-ins in this period.</p>}
              <div class="report-charts">
                {report.pain.map((p) => (
                  <div key={p.region} class="report-chart">
                    <p>
                      <strong>{p.summary}</strong>
                    </p>
                    <Chart days={p.days} title={p.name} kind="pain" />
                  </div>
                ))}
              </div>
            </section>
          )}
          {report.tenderness && (
            <section data-testid="report-tenderness">
              <h3>Tenderness per point (0–10, before and after)</h3>
              {report.tenderness.length === 0 && <p>No sessions in this period.</p>}
              <div class="report-charts">
                {report.tenderness.map((t) => (
                  <div key={t.point} class="report-chart">
                    <p>
                      <strong>{t.name}</strong>: {t.sessions} sessions
                    </p>
                    <Chart days={t.days} title={t.name} />
                  </div>
                ))}
              </div>
            </section>
          )}
        </article>
      )}
    </section>
  );
}
