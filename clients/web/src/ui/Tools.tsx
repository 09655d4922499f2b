// The tools the person owns: only their techniques are offered.

import { useEffect, useState } from "preact/hooks";
import { describeError, type Problem } from "../logic/errors";
import { useApp } from "./app-state";
import { ErrorBox, Loading, NeedSignIn, ScreenTitle } from "./common";

export function ToolsScreen() {
  const app = useApp();
  const [chosen, setChosen] = useState<string[]>(app.profile?.tools ?? []);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    if (app.profile) setChosen(app.profile.tools);
  }, [app.profile]);

  if (!app.token) return <NeedSignIn what="choose your tools" />;
  if (!app.vocab) return <Loading what="the tools" />;

  const toggle = (name: string, on: boolean) => {
    setSaved(false);
    setChosen(on ? [...chosen.filter((t) => t !== name), name] : chosen.filter((t) => t !== name));
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    setProblem(null);
    try {
      const r = await app.api.session.updateProfile({
        profile: { tools: chosen, timeZone: app.profile?.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" },
        updateMask: { paths: app.profile?.createTime ? ["tools"] : ["tools", "time_zone"] },
      });
      if (r.profile) app.setProfile(r.profile);
      app.setPlan(undefined);
      setSaved(true);
    } catch (err) {
      setProblem(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <section>
      <ScreenTitle>Your tools</ScreenTitle>
      <p>Tick what you have. The app only shows techniques for these tools.</p>
      <form onSubmit={save} data-testid="tools-form">
        <fieldset>
          <legend>Tools you own</legend>
          <ul class="tool-list">
            {app.vocab.tools.map((t) => (
              <li key={t.name}>
                <label class="check">
                  <input
                    type="checkbox"
                    checked={chosen.includes(t.name)}
                    onChange={(e) => toggle(t.name, e.currentTarget.checked)}
                  />
                  <span>
                    <strong>{t.displayName}</strong>
                    {t.requiresPartner && <span class="badge">needs a partner</span>}
                    <br />
                    <span class="small muted">{t.description}</span>
                  </span>
                </label>
              </li>
            ))}
          </ul>
        </fieldset>
        <ErrorBox problem={problem} title="Your tools were not saved" />
        <button type="submit" class="primary" disabled={saving}>
          {saving ? "Saving…" : "Save my tools"}
        </button>
        {saved && (
          <p role="status" class="alert alert-ok" data-testid="tools-saved">
            Saved. {app.picks.length ? <a href="#/plan">Back to your candidates</a> : <a href="#/map">Go to the body map</a>}
          </p>
        )}
      </form>
    </section>
  );
}
