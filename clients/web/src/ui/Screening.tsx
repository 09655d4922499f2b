// The first-run health questions (the catalog's CONDITION contraindications),
// and the clear "not for now" when an answer rules self-massage out.

import { useEffect, useState } from "preact/hooks";
import { ScreeningEffect } from "../gen/knotwork/catalog/v1/catalog_pb";
import { ScreeningStatus } from "../gen/knotwork/session/v1/session_pb";
import { describeError, type Problem } from "../logic/errors";
import { nameMap, useApp } from "./app-state";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle } from "./common";

interface Answer {
  present: boolean | null;
  cleared: boolean;
  clearedDate: string;
}

export function ScreeningScreen() {
  const app = useApp();
  const conditions = app.vocab?.conditions ?? [];
  const [answers, setAnswers] = useState<Record<string, Answer | undefined>>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [missing, setMissing] = useState<string[]>([]);
  const [saving, setSaving] = useState(false);
  const [loaded, setLoaded] = useState(false);

  useEffect(() => {
    if (!app.token) return;
    app.api.session
      .getScreening({})
      .then((r) => {
        const s = r.screening;
        if (s) app.setScreening(s);
        const a: Record<string, Answer | undefined> = {};
        for (const x of s?.answers ?? []) {
          a[x.contraindication] = { present: x.present, cleared: x.clearedByProvider, clearedDate: x.clearedDate };
        }
        setAnswers(a);
      })
      .catch((e) => setProblem(describeError(e)))
      .finally(() => setLoaded(true));
  }, [app.token]);

  if (!app.token) return <NeedSignIn what="answer the health questions" />;
  if (!app.vocab || !loaded) return <Loading what="the health questions" />;

  const set = (name: string, patch: Partial<Answer>) =>
    setAnswers({ ...answers, [name]: { present: null, cleared: false, clearedDate: "", ...answers[name], ...patch } });

  const submit = async (e: Event) => {
    e.preventDefault();
    const unanswered = conditions.filter((c) => answers[c.name]?.present == null).map((c) => c.name);
    setMissing(unanswered);
    if (unanswered.length) return;
    setSaving(true);
    setProblem(null);
    try {
      const r = await app.api.session.submitScreening({
        answers: conditions.map((c) => {
          const a = answers[c.name]!;
          const cleared = Boolean(a.present && a.cleared);
          return {
            contraindication: c.name,
            present: Boolean(a.present),
            clearedByProvider: cleared,
            clearedDate: cleared ? a.clearedDate : "",
          };
        }),
      });
      if (r.screening) app.setScreening(r.screening);
      app.setPlan(undefined);
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  const status = app.screening?.status;
  const names = nameMap(conditions);
  const byName = new Map(conditions.map((c) => [c.name, c]));
  const ownsTools = (app.profile?.tools.length ?? 0) > 0;
  const limits = (name: string) => byName.get(name)?.effect === ScreeningEffect.LIMITS;
  // Saved LIMITS answers: self-massage within limits, gentle until cleared.
  const limiting = (app.screening?.answers ?? []).filter((x) => x.present && limits(x.contraindication));

  return (
    <section>
      <ScreenTitle>Health questions</ScreenTitle>
      <p>
        Self-massage is not safe with some conditions. Answer each question once; you can change your answers at any
        time.
      </p>

      {status === ScreeningStatus.CONTRAINDICATED && (
        <section class="alert alert-block" role="alert" data-testid="screening-blocked">
          <h2>Self-massage is ruled out for now</h2>
          <p>Because of your answers, trigger point self-massage could harm you. Please talk to a medical provider first.</p>
          <ul>
            {(app.screening?.blocking ?? []).map((b) => (
              <li key={b}>
                <strong>{names.get(b) ?? b}.</strong> {byName.get(b)?.guidance}
              </li>
            ))}
          </ul>
          <p>When a provider has cleared you, answer "yes" again and tick "cleared by a medical provider" with the date.</p>
        </section>
      )}
      {status === ScreeningStatus.CLEARED && (
        <section class="alert alert-ok" role="status" data-testid="screening-cleared">
          <p>
            <strong>{limiting.length ? "You're cleared for self-massage, within limits." : "You're cleared for self-massage."}</strong>{" "}
            {ownsTools ? (
              app.picks.length ? (
                <a href="#/plan">Back to your candidates</a>
              ) : (
                <a href="#/map">Go to the body map</a>
              )
            ) : (
              <a href="#/tools">Next: choose the tools you own</a>
            )}
          </p>
          {limiting.length > 0 && (
            <ul data-testid="screening-limits">
              {limiting.map((x) => (
                <li key={x.contraindication}>
                  <strong>{names.get(x.contraindication) ?? "A condition you reported"}.</strong>{" "}
                  {x.clearedByProvider
                    ? "Firm pressure is cleared; the places and tools it rules out stay ruled out."
                    : byName.get(x.contraindication)?.guidance}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}

      <form onSubmit={submit} class="screening" data-testid="screening-form">
        {conditions.map((c) => {
          const a = answers[c.name];
          const id = c.name.replace(/\W/g, "-");
          const isMissing = missing.includes(c.name);
          return (
            <fieldset key={c.name} class={`question${isMissing ? " missing" : ""}`} aria-describedby={isMissing ? `${id}-missing` : undefined}>
              <legend>{c.screeningQuestion || c.displayName}</legend>
              <label class="radio">
                <input type="radio" name={id} checked={a?.present === false} onChange={() => set(c.name, { present: false })} />
                No
              </label>
              <label class="radio">
                <input type="radio" name={id} checked={a?.present === true} onChange={() => set(c.name, { present: true })} />
                Yes
              </label>
              {isMissing && (
                <p id={`${id}-missing`} class="field-error">
                  Please answer this question.
                </p>
              )}
              {a?.present && (
                <div class="cleared">
                  <label class="check">
                    <input type="checkbox" checked={a.cleared} onChange={(e) => set(c.name, { cleared: e.currentTarget.checked })} />
                    {limits(c.name) ? "A medical provider has cleared me for firm pressure" : "A medical provider has cleared me for massage"}
                  </label>
                  {a.cleared && (
                    <label>
                      Date cleared
                      <input
                        type="date"
                        required
                        value={a.clearedDate}
                        onInput={(e) => set(c.name, { clearedDate: e.currentTarget.value })}
                      />
                    </label>
                  )}
                </div>
              )}
            </fieldset>
          );
        })}
        {missing.length > 0 && (
          <p class="field-error" role="alert">
            {missing.length === 1 ? "One question is" : `${missing.length} questions are`} still unanswered.
          </p>
        )}
        <ErrorBox problem={problem} title="Your answers were not saved" />
        <button type="submit" class="primary" disabled={saving}>
          {saving ? "Saving…" : "Save my answers"}
        </button>
      </form>
    </section>
  );
}
