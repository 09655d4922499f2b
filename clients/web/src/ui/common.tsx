// Small building blocks shared by the screens.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { RedFlag } from "../gen/knotwork/catalog/v1/catalog_pb";
import { type SafetyWarning, WarningSeverity } from "../gen/knotwork/session/v1/session_pb";
import type { Problem } from "../logic/errors";
import { foldedLine, splitRedFlags } from "../logic/flags";
import { severityLabel } from "../logic/labels";

/** The screen's title; focused when the screen opens so screen readers announce it. */
export function ScreenTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 tabIndex={-1} ref={ref} class="screen-title">
      {children}
    </h1>
  );
}

/** A failed call, with its status, reason and field violations. */
export function ErrorBox({ problem, title }: { problem: Problem | null; title?: string }) {
  if (!problem) return null;
  return (
    <div class="alert alert-error" role="alert" data-testid="error">
      <p>
        <strong>{title ?? "Something went wrong"}</strong>
      </p>
      <p>{problem.message}</p>
      {problem.violations.length > 0 && (
        <ul>
          {problem.violations.map((v) => (
            <li key={v.field}>
              <code>{v.field}</code>: {v.description}
            </li>
          ))}
        </ul>
      )}
      {Object.keys(problem.metadata).length > 0 && (
        <ul class="small">
          {Object.entries(problem.metadata).map(([k, v]) => (
            <li key={k}>
              {k.replace(/_/g, " ")}: {v}
            </li>
          ))}
        </ul>
      )}
      <p class="muted small">
        gRPC status {problem.code}
        {problem.reason ? ` · ${problem.reason}` : ""}
      </p>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** Red flags come before anything else on a screen. */
export function RedFlags({ flags }: { flags: readonly RedFlag[] }) {
  if (flags.length === 0) return null;
  const { urgent, rest } = splitRedFlags(flags);
  return (
    <>
      {urgent.length > 0 && (
        <section class="alert alert-danger urgent-flags" aria-labelledby="urgent-flags-title" data-testid="urgent-flags">
          <h2 id="urgent-flags-title">Get urgent care, not massage, if you have</h2>
          <ul>
            {urgent.map((f) => (
              <li key={f.name}>
                <details>
                  <summary>{f.displayName}</summary>
                  <p>
                    {f.description} {f.advice}
                  </p>
                </details>
              </li>
            ))}
          </ul>
        </section>
      )}
      {rest.length > 0 && (
        <details class="alert alert-warn folded-flags" data-testid="red-flags">
          <summary>{foldedLine(rest.length)}</summary>
          <ul>
            {rest.map((f) => (
              <li key={f.name}>
                <strong>{f.displayName}.</strong> {f.advice || f.description}
              </li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}

/** Safety warnings, with "seek medical attention" impossible to miss. */
export function Warnings({ warnings }: { warnings: readonly SafetyWarning[] }) {
  if (warnings.length === 0) return null;
  const medical = warnings.filter((w) => w.medicalAttentionAdvised || w.severity === WarningSeverity.MEDICAL_ATTENTION);
  const other = warnings.filter((w) => !medical.includes(w));
  return (
    <div class="warnings">
      {medical.length > 0 && (
        <section class="alert alert-danger" role="alert" data-testid="medical-attention">
          <h2>Seek medical attention</h2>
          <ul>
            {medical.map((w, i) => (
              <li key={i}>{w.message}</li>
            ))}
          </ul>
          <p>Stop self-treatment on this point until a medical provider has looked at it.</p>
        </section>
      )}
      {other.length > 0 && (
        <section class="alert alert-warn" data-testid="warnings">
          <h2>Please note</h2>
          <ul>
            {other.map((w, i) => (
              <li key={i}>
                <strong>{severityLabel(w.severity)}:</strong> {w.message}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

/** Shown on screens that need a signed-in person. */
export function NeedSignIn({ what }: { what: string }) {
  return (
    <div class="panel">
      <p>Sign in to {what}.</p>
      <a class="button" href="#/signin">
        Sign in
      </a>
    </div>
  );
}
