// The guided session: a live timer driven by the server's stream of cues.

import { useEffect, useReducer, useRef, useState } from "preact/hooks";
import { Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import { GuideCue } from "../gen/knotwork/session/v1/session_pb";
import { describeError } from "../logic/errors";
import { loadMuted, saveMuted } from "../logic/cues";
import {
  advanceLocal,
  applyCue,
  canLog,
  cancelled,
  clock,
  type Cue,
  fractionDone,
  type GuideState,
  initialGuide,
  shownElapsed,
  shownRemaining,
  streamClosed,
  streamFailed,
  streamLost,
} from "../logic/guide";
import { cueLabel, sideLabel } from "../logic/labels";
import { useApp } from "./app-state";
import { NeedSignIn, ScreenTitle, Warnings } from "./common";
import { playCue } from "./cue-sound";
import { InlineGuides } from "./Guides";

type Action =
  | { type: "cue"; cue: Cue; at: number }
  | { type: "closed" }
  | { type: "failed"; error: string; at: number }
  | { type: "lost"; at: number }
  | { type: "tick"; at: number }
  | { type: "cancel" };

function reduce(s: GuideState, a: Action): GuideState {
  switch (a.type) {
    case "cue":
      return applyCue(s, a.cue, a.at);
    case "closed":
      return streamClosed(s);
    case "failed":
      return streamFailed(s, a.error, a.at);
    case "lost":
      return streamLost(s, a.at);
    case "tick":
      return advanceLocal(s, a.at);
    case "cancel":
      return cancelled(s);
  }
}

export function GuideScreen() {
  const app = useApp();
  const g = app.guide;
  const session = g?.session;
  const sides = session?.side === Side.BOTH ? 2 : 1;
  const [state, dispatch] = useReducer(
    reduce,
    initialGuide((session?.durationSeconds ?? 0) * sides, session?.targetPressure ?? 5, session?.side ?? Side.UNSPECIFIED),
  );
  const abort = useRef<AbortController | null>(null);
  const logButton = useRef<HTMLAnchorElement>(null);
  // A dropped stream (a tunnel, a lock screen) is followed again with
  // backoff; the server resumes at the real elapsed time, not at 0:00.
  const [link, setLink] = useState<string | null>(null);

  useEffect(() => {
    if (!session || !app.token) return;
    const ctl = new AbortController();
    abort.current = ctl;
    const maxAttempts = 6;
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      let attempt = 0;
      for (;;) {
        let stopped = false;
        let error: unknown = null;
        try {
          for await (const c of app.api.session.guideSession({ name: session.name }, { signal: ctl.signal })) {
            attempt = 0;
            if (c.resumed) {
              const m = Math.floor(c.elapsedSeconds / 60);
              const s = String(c.elapsedSeconds % 60).padStart(2, "0");
              setLink(`Reconnected: ${m}:${s} in, continuing.`);
            }
            stopped ||= c.cue === GuideCue.STOP;
            dispatch({ type: "cue", cue: c, at: performance.now() });
          }
        } catch (e) {
          error = e;
        }
        if (ctl.signal.aborted) return;
        if (stopped) {
          dispatch({ type: "closed" });
          return;
        }
        attempt += 1;
        if (attempt > maxAttempts) {
          setLink(null);
          if (error) dispatch({ type: "failed", error: describeError(error).message, at: performance.now() });
          else dispatch({ type: "closed" });
          return;
        }
        // The clock goes on here meanwhile; a reconnect hands it back to the server.
        dispatch({ type: "lost", at: performance.now() });
        const delay = Math.min(8000, 500 * 2 ** (attempt - 1));
        setLink(`Connection lost: timing on this device. Reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt} of ${maxAttempts})…`);
        await wait(delay);
        if (ctl.signal.aborted) return;
      }
    })();
    return () => ctl.abort();
  }, [session?.name]);

  // Redraw a few times a second so the clock moves between the server's cues.
  const [now, setNow] = useState(performance.now());
  const running = state.phase === "pressing";
  const local = state.local;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => {
      const at = performance.now();
      setNow(at);
      if (local) dispatch({ type: "tick", at });
    }, 250);
    return () => clearInterval(t);
  }, [running, local]);

  // Each announced cue is also heard and felt, unless muted.
  const [muted, setMuted] = useState(loadMuted);
  const heard = useRef(0);
  useEffect(() => {
    const fresh = state.announcements.slice(heard.current);
    heard.current = state.announcements.length;
    const last = fresh[fresh.length - 1];
    if (last && !muted) playCue(last.cue);
  }, [state.announcements.length]);
  const toggleMute = () => {
    saveMuted(!muted);
    setMuted(!muted);
  };

  const loggable = canLog(state);
  useEffect(() => {
    if (loggable && g) {
      const perSide = session?.durationSeconds ?? 0;
      const done = state.phase === "done" ? perSide : Math.max(1, Math.min(perSide, Math.round(state.elapsed / sides)));
      app.setGuide({ ...g, doneSeconds: done });
      logButton.current?.focus();
      // Finished (maybe on the local clock): stop trying to reconnect.
      abort.current?.abort();
    }
  }, [loggable]);

  if (!app.token) return <NeedSignIn what="run a guided session" />;
  if (!g || !session) {
    return (
      <section>
        <ScreenTitle>Guided session</ScreenTitle>
        <p>
          No session is running. Pick a point from <a href="#/plan">your candidates</a> to start one.
        </p>
      </section>
    );
  }

  const pct = Math.round(fractionDone(state, now) * 100);
  const remaining = shownRemaining(state, now);
  const stop = () => {
    abort.current?.abort();
    dispatch({ type: "cancel" });
  };
  const last = state.announcements[state.announcements.length - 1];
  const guidance = app.vocab?.guidance;

  return (
    <section class="guide" data-phase={state.phase} data-local={state.local ? "yes" : undefined}>
      <ScreenTitle>Guided session: {g.pointDisplayName}</ScreenTitle>
      <Warnings warnings={session.warnings} />
      {link && !loggable && (
        <p class="alert alert-warn" role="status" data-testid="connection">
          {link}
        </p>
      )}
      <p class="mute-row">
        <button type="button" aria-pressed={muted} onClick={toggleMute} data-testid="mute">
          Mute sound and vibration
        </button>
      </p>
      {session.instructions && <p class="small">{session.instructions}</p>}
      <div class="timer-card">
        <p class="cue" data-testid="cue">
          {state.phase === "connecting" ? "Connecting…" : cueLabel(state.lastCue) || "Keep holding"}
        </p>
        <p class="clock" data-testid="remaining" aria-label={`${clock(remaining)} remaining`}>
          {clock(remaining)}
        </p>
        <div
          class="progress"
          role="progressbar"
          aria-label="Session progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct}
        >
          <div class="progress-fill" style={{ width: `${pct}%` }} />
        </div>
        <dl class="facts">
          <div>
            <dt>Pressure target</dt>
            <dd data-testid="pressure">{state.targetPressure} / 10</dd>
          </div>
          <div>
            <dt>Side now</dt>
            <dd data-testid="side-now">{sideLabel(state.side) || "—"}</dd>
          </div>
          <div>
            <dt>Elapsed</dt>
            <dd>{clock(shownElapsed(state, now))}</dd>
          </div>
        </dl>
        <p class="message" data-testid="guide-message">
          {state.message}
        </p>
        {guidance && <p class="small muted">{guidance.pressureDescription}</p>}
      </div>
      {/* Announce each cue once (not every tick) to screen readers. */}
      <p class="visually-hidden" aria-live="assertive">
        {last ? `${cueLabel(last.cue)}. ${last.message}` : ""}
      </p>
      <ol class="cue-log" aria-label="Cues so far" data-testid="cue-log">
        {state.announcements.map((a, i) => (
          <li key={i} data-cue={GuideCue[a.cue]}>
            <span class="muted">{clock(a.elapsedSeconds)}</span> <strong>{cueLabel(a.cue)}</strong>
            {a.message ? ` — ${a.message}` : ""}
          </li>
        ))}
      </ol>
      {state.phase === "error" && (
        <p class="alert alert-error" role="alert">
          The guide stopped: {state.error}
        </p>
      )}
      <div class="actions">
        {!loggable && state.phase !== "error" && (
          <button type="button" class="danger" onClick={stop}>
            Stop now
          </button>
        )}
        {loggable && (
          <>
            <p class="alert alert-ok" role="status" data-testid="guide-done">
              {state.phase === "done" ? "Done. Well held." : "Stopped early."} Now tell us how it went.
            </p>
            <a class="button primary" href="#/log" ref={logButton}>
              Log how it went
            </a>
          </>
        )}
      </div>
      <InlineGuides tool={session.tool} />
    </section>
  );
}
