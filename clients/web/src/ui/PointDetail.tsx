// One trigger point: where it is, the techniques for the person's own tools,
// its cautions, and the start of a guided session.

import { useEffect, useMemo, useState } from "preact/hooks";
import { requestId } from "../api";
import { Side, type TriggerPoint } from "../gen/knotwork/catalog/v1/catalog_pb";
import { ScreeningStatus, type Hold } from "../gen/knotwork/session/v1/session_pb";
import { describeError, type Problem } from "../logic/errors";
import { humanizeName, localMinute, sideLabel, structureLabel } from "../logic/labels";
import { sessionSides } from "../logic/pain";
import { detailBlocks, findPlanPoint, noToolPlace, usableTools } from "../logic/plan";
import { nameMap, useApp } from "./app-state";
import { ErrorBox, Loading, ScreenTitle, Warnings } from "./common";
import { unlockAudio } from "./cue-sound";
import { GuideLinks } from "./Guides";
import { ReferralPicture } from "./Picture";
import { blockTitle, DetailBlocks } from "./Plan";

export function PointDetail({ id, side: sideParam }: { id: string; side: Side }) {
  const app = useApp();
  const name = `triggerPoints/${id}`;
  const planned = findPlanPoint(app.plan, name);
  const [point, setPoint] = useState<TriggerPoint | null>(planned?.point ?? null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [startProblem, setStartProblem] = useState<Problem | null>(null);
  const [starting, setStarting] = useState(false);
  const [pendingId, setPendingId] = useState(requestId());
  const toolNames = useMemo(() => nameMap(app.vocab?.tools ?? []), [app.vocab]);
  const conditionNames = useMemo(() => nameMap(app.vocab?.conditions ?? []), [app.vocab]);
  const owned = app.profile?.tools ?? [];
  const pressSide = planned?.pressSide ?? sideParam;
  const [holds, setHolds] = useState<Hold[]>([]);
  const [checkedDate, setCheckedDate] = useState("");
  const [providerChecked, setProviderChecked] = useState(false);
  const [releaseProblem, setReleaseProblem] = useState<Problem | null>(null);
  const [releasing, setReleasing] = useState(false);

  const loadHolds = () => {
    if (!app.token) return;
    app.api.session
      .listHolds({ includeReleased: false })
      .then((r) => setHolds(r.holds))
      .catch(() => setHolds([]));
  };
  useEffect(loadHolds, [name, app.token]);

  useEffect(() => {
    if (point) return;
    app.api.catalog
      .getTriggerPoint({ name })
      .then((r) => setPoint(r.triggerPoint ?? null))
      .catch((e) => setProblem(describeError(e)));
  }, [name]);

  const tools = point ? usableTools(point, owned, planned) : [];
  const sides = point ? sessionSides(point.bilateral, pressSide) : [];
  const [tool, setTool] = useState("");
  const [side, setSide] = useState<Side | null>(null);
  const guidance = app.vocab?.guidance;
  const minMinutes = Math.max(1, Math.round((guidance?.minDurationSeconds ?? 180) / 60));
  const maxMinutes = Math.max(minMinutes, Math.round((guidance?.maxDurationSeconds ?? 300) / 60));
  const [minutes, setMinutes] = useState(minMinutes);

  if (problem) return <ErrorBox problem={problem} title="This trigger point could not be loaded" />;
  if (!point) return <Loading what="the trigger point" />;

  const chosenTool = tool || tools[0] || "";
  const chosenSide = side ?? sides[0] ?? Side.UNSPECIFIED;
  const ownedTechniques = point.techniques.filter((t) => tools.includes(t.tool));
  const otherTechniques = point.techniques.filter((t) => !tools.includes(t.tool));
  const screeningStatus = app.screening?.status;
  const blocksView = planned ? detailBlocks(planned) : undefined;
  // Where the screen says, once, that none of the person's tools can be used here.
  const noTool = noToolPlace({
    usable: tools.length > 0,
    signedIn: !!app.token,
    view: blocksView,
    startRuledOut: screeningStatus === ScreeningStatus.CONTRAINDICATED,
  });
  // A hold covers the whole muscle: every point of it is paused.
  const hold = holds.find((h) => h.active && h.muscle === point.muscle);

  const release = async (e: Event) => {
    e.preventDefault();
    if (!hold) return;
    setReleasing(true);
    setReleaseProblem(null);
    try {
      await app.api.session.releaseHold({
        triggerPoint: point.name,
        providerChecked,
        checkedDate,
      });
      loadHolds();
    } catch (err) {
      setReleaseProblem(describeError(err));
    } finally {
      setReleasing(false);
    }
  };

  const start = async (e: Event) => {
    e.preventDefault();
    // The press is the gesture browsers need before a guided cue can sound.
    unlockAudio();
    setStarting(true);
    setStartProblem(null);
    try {
      const r = await app.api.session.startGuidedSession({
        requestId: pendingId,
        triggerPoint: point.name,
        tool: chosenTool,
        side: chosenSide,
        durationSeconds: minutes * 60,
      });
      setPendingId(requestId());
      if (!r.guidedSession) throw new Error("The guided session did not start.");
      app.setGuide({ session: r.guidedSession, pointDisplayName: point.displayName });
      app.navigate(`#/guide`);
    } catch (err) {
      setStartProblem(describeError(err));
    } finally {
      setStarting(false);
    }
  };

  return (
    <article aria-labelledby="point-title">
      <p>
        <a href="#/plan">← Back to the candidates</a>
      </p>
      <ScreenTitle>
        <span id="point-title">{point.displayName}</span>
      </ScreenTitle>
      <div class="detail-grid">
        <ReferralPicture point={point.name} side={chosenSide} />
        <div>
          <h2>Where to press{sideLabel(chosenSide) ? ` (${sideLabel(chosenSide)})` : ""}</h2>
          <p data-testid="location">{point.locationDescription}</p>
          {point.aggravatingFactors.length > 0 && (
            <>
              <h3>What tends to aggravate it</h3>
              <ul>
                {point.aggravatingFactors.map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </>
          )}
        </div>
      </div>

      {(point.cautions.length > 0 || point.excludedTools.length > 0 || point.excludedConditions.length > 0) && (
        <section class="alert alert-warn" aria-labelledby="cautions-title" data-testid="cautions">
          {/* Focusable from the tool note's "see Cautions above". */}
          <h2 id="cautions-title" tabIndex={-1}>
            Cautions
          </h2>
          <ul>
            {point.cautions.map((c, i) => (
              <li key={i}>
                <strong>
                  {structureLabel(c.kind)}: {c.structure}.
                </strong>{" "}
                {c.text}
              </li>
            ))}
            {point.excludedTools.map((x) => (
              <li key={x.tool} data-testid="excluded-tool" data-owned={owned.includes(x.tool) ? "true" : undefined}>
                <strong>
                  {toolNames.get(x.tool) ?? humanizeName(x.tool)}
                  {/* In words, not in colour alone: the guided session's tool note points here. */}
                  {owned.includes(x.tool) && " (one of your tools)"}: never on this point.
                </strong>{" "}
                {x.reason}
              </li>
            ))}
            {point.excludedConditions.map((x) => (
              <li key={x.contraindication}>
                <strong>Not with {conditionNames.get(x.contraindication) ?? humanizeName(x.contraindication)}.</strong> {x.reason}
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="tech-title">
        <h2 id="tech-title">Techniques for your tools</h2>
        {!app.token ? (
          <p>
            <a href="#/signin">Sign in</a> to see the techniques for the tools you own.
          </p>
        ) : ownedTechniques.length > 0 ? (
          <ul class="techniques" data-testid="techniques">
            {ownedTechniques.map((t) => (
              <li key={t.tool}>
                <h3>{toolNames.get(t.tool) ?? humanizeName(t.tool)}</h3>
                <p>{t.instructions}</p>
              </li>
            ))}
          </ul>
        ) : noTool === "techniques" ? (
          <p>
            None of your tools suits this point. <a href="#/tools">Choose your tools</a>.
          </p>
        ) : (
          // The guided session below says why, with its one "Choose your tools".
          <p data-testid="techniques-none">None to show: see Guided session below.</p>
        )}
        {otherTechniques.length > 0 && (
          <details>
            <summary>Techniques for other tools ({otherTechniques.length})</summary>
            <ul class="techniques">
              {otherTechniques.map((t) => (
                <li key={t.tool}>
                  <h3>{toolNames.get(t.tool) ?? humanizeName(t.tool)}</h3>
                  <p>{t.instructions}</p>
                </li>
              ))}
            </ul>
          </details>
        )}
      </section>

      <GuideLinks tools={ownedTechniques.length ? ownedTechniques.map((t) => t.tool) : point.techniques.map((t) => t.tool)} />

      {hold && (
        <section class="alert alert-block" aria-labelledby="hold-title" data-testid="on-hold">
          <h2 id="hold-title">On hold</h2>
          <p>
            <strong>Since {localMinute(hold.sinceLocalTime)}:</strong> {hold.why}
          </p>
          <p>{hold.advice}</p>
          <form onSubmit={release} data-testid="release-form">
            <label class="radio">
              <input
                type="checkbox"
                checked={providerChecked}
                onChange={(e) => setProviderChecked(e.currentTarget.checked)}
                data-testid="provider-checked"
              />
              A medical provider has checked it
            </label>
            <label>
              Date of the check
              <input
                type="date"
                value={checkedDate}
                onInput={(e) => setCheckedDate(e.currentTarget.value)}
                data-testid="checked-date"
              />
            </label>
            <ErrorBox problem={releaseProblem} title="The hold could not be released" />
            <button type="submit" disabled={releasing || !providerChecked || !checkedDate}>
              {releasing ? "Releasing…" : "Release the hold"}
            </button>
          </form>
        </section>
      )}

      <section aria-labelledby="start-title" class="panel">
        <h2 id="start-title">Guided session</h2>
        {guidance && <p class="small">{guidance.pressureDescription}</p>}
        {blocksView && <DetailBlocks view={blocksView} cautionsId="cautions-title" />}
        {screeningStatus === ScreeningStatus.CONTRAINDICATED ? (
          <p class="alert alert-block">
            <strong>{blockTitle("CONTRAINDICATED")}</strong> Your health answers rule self-massage out until a medical
            provider clears it. <a href="#/screening">Review your answers</a>.
          </p>
        ) : !app.token ? (
          <p>
            <a href="#/signin">Sign in</a> to start a guided session.
          </p>
        ) : tools.length === 0 ? (
          // Unless the blocks above already say so, with their "Choose your tools".
          noTool === "start" && (
            <p>
              You need one of this point's tools. <a href="#/tools">Choose your tools</a>.
            </p>
          )
        ) : (
          <form onSubmit={start}>
            <div class="row">
              <label>
                Tool
                <select value={chosenTool} onChange={(e) => setTool(e.currentTarget.value)} data-testid="tool-select">
                  {tools.map((t) => (
                    <option key={t} value={t}>
                      {toolNames.get(t) ?? humanizeName(t)}
                    </option>
                  ))}
                </select>
              </label>
              <fieldset class="inline">
                <legend>Side</legend>
                {sides.map((s) => (
                  <label key={s} class="radio">
                    <input type="radio" name="side" checked={s === chosenSide} onChange={() => setSide(s)} />
                    {s === Side.MIDLINE ? "Middle" : sideLabel(s)}
                  </label>
                ))}
              </fieldset>
              <label>
                Minutes per side
                <select value={String(minutes)} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
                  {Array.from({ length: maxMinutes - minMinutes + 1 }, (_, i) => minMinutes + i).map((m) => (
                    <option key={m} value={String(m)}>
                      {m}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <ErrorBox problem={startProblem} title="The session could not start" />
            {startProblem?.reason === "SCREENING_REQUIRED" && (
              <p>
                <a class="button primary" href="#/screening">
                  Answer the health questions
                </a>
              </p>
            )}
            {hold && (
              <p id="hold-reason" data-testid="hold-reason">
                Guided sessions are paused on this muscle: {hold.why}
              </p>
            )}
            <button
              type="submit"
              class="primary"
              disabled={starting || !!hold}
              aria-describedby={hold ? "hold-reason" : undefined}
              data-testid="start-guide"
            >
              {starting ? "Starting…" : "Start guided session"}
            </button>
          </form>
        )}
      </section>
      {app.token && (
        <p>
          <a href={`#/log?point=${id}`}>Log a session you already did on this point</a>
        </p>
      )}
      {app.guide && app.guide.session.triggerPoint === point.name && app.guide.session.warnings.length > 0 && (
        <Warnings warnings={app.guide.session.warnings} />
      )}
    </article>
  );
}
