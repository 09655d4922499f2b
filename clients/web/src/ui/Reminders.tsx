// Reminders at the plan's suggested times, as Web Notifications shown by the
// service worker, only after the person turns them on here (the browser asks
// for permission then, never on its own). The times come from ListReminders,
// or from today's suggested times when the service has no reminders to give.
// The waking hours the times are spread over are the person's to set.

import { useEffect, useState } from "preact/hooks";
import { describeError, type Problem } from "../logic/errors";
import { remindersFromSlots, type TodayView } from "../logic/today";
import { type ReminderItem, remindersOn, scheduleReminders, turnOffReminders, turnOnReminders } from "../offline/sw-client";
import { useApp } from "./app-state";
import { ErrorBox } from "./common";

function clockOf(ms: number): string {
  return new Date(ms).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

export function RemindersCard({ view, onHoursChanged }: { view: TodayView; onHoursChanged(): void }) {
  const app = useApp();
  const supported = typeof Notification !== "undefined" && "serviceWorker" in navigator;
  const [on, setOn] = useState(supported && remindersOn());
  const [items, setItems] = useState<ReminderItem[]>([]);
  const [note, setNote] = useState<string | null>(null);
  const [wake, setWake] = useState(app.profile?.wakeTime || view.hours?.split("–")[0] || "07:00");
  const [sleep, setSleep] = useState(app.profile?.sleepTime || view.hours?.split("–")[1] || "22:00");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [savedHours, setSavedHours] = useState(false);
  const [calendar, setCalendar] = useState<string | null>(null);
  const [calProblem, setCalProblem] = useState<Problem | null>(null);

  // The coming week's plan as an iCalendar file, for any calendar app.
  const downloadCalendar = async () => {
    setCalProblem(null);
    setCalendar(null);
    try {
      const r = await app.api.session.exportCalendar({ days: 7 });
      const url = URL.createObjectURL(new Blob([r.calendar as Uint8Array<ArrayBuffer>], { type: r.contentType || "text/calendar" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `knotwork-plan-${view.date}.ics`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      setCalendar(`Downloaded ${r.events} suggested time${r.events === 1 ? "" : "s"} for the coming week.`);
    } catch (err) {
      setCalProblem(describeError(err));
    }
  };

  useEffect(() => {
    if (!on) return;
    let live = true;
    (async () => {
      let list: ReminderItem[];
      try {
        const r = await app.api.session.listReminders({ pageSize: 50 });
        list = r.reminders.map((x) => ({ id: x.name, at: Number(x.time?.seconds ?? 0n) * 1000, title: x.title, body: x.body }));
      } catch {
        // No reminders from the service (offline, or not offered): today's times.
        list = remindersFromSlots(view.slots, Date.now(), view.date);
      }
      if (!live) return;
      setItems(list);
      await scheduleReminders(list);
    })();
    return () => {
      live = false;
    };
  }, [on, view]);

  const turnOn = async () => {
    const p = await turnOnReminders();
    if (p === "granted") {
      setOn(true);
      setNote(null);
    } else if (p === "unsupported") {
      setNote("This browser cannot show notifications.");
    } else {
      setNote("Notifications are blocked for this site. Allow them in the browser's site settings, then try again.");
    }
  };

  const saveHours = async (e: Event) => {
    e.preventDefault();
    setProblem(null);
    setSavedHours(false);
    try {
      const r = await app.api.session.updateProfile({
        profile: { wakeTime: wake, sleepTime: sleep },
        updateMask: { paths: ["wake_time", "sleep_time"] },
      });
      if (r.profile) app.setProfile(r.profile);
      setSavedHours(true);
      onHoursChanged();
    } catch (err) {
      setProblem(describeError(err));
    }
  };

  const coming = items.filter((i) => i.at > Date.now()).slice(0, 4);
  return (
    <section class="panel" aria-labelledby="reminders-title" data-testid="reminders">
      <h2 id="reminders-title">Reminders</h2>
      {!supported ? (
        <p>This browser cannot show notifications.</p>
      ) : on ? (
        <>
          <p role="status" data-testid="reminders-on">
            Reminders are on
            {coming.length ? `: next at ${coming.map((c) => clockOf(c.at)).join(", ")}.` : ". Nothing more is planned for today."}
          </p>
          <button
            type="button"
            onClick={() => {
              turnOffReminders();
              setOn(false);
              setItems([]);
            }}
          >
            Turn reminders off
          </button>
        </>
      ) : (
        <>
          <p>
            Get a notification at each suggested time with points still to do. Your browser will ask whether this site
            may show notifications; nothing is sent anywhere.
          </p>
          <button type="button" class="primary" onClick={() => void turnOn()}>
            Turn on reminders
          </button>
        </>
      )}
      {note && (
        <p class="small" role="status">
          {note}
        </p>
      )}
      <p>
        <button type="button" onClick={() => void downloadCalendar()}>
          Add the week to your calendar (.ics)
        </button>
      </p>
      <ErrorBox problem={calProblem} title="The calendar file could not be made" />
      {calendar && (
        <p class="small" role="status" data-testid="calendar-done">
          {calendar}
        </p>
      )}
      <details>
        <summary>Your waking hours{view.hours ? ` (${view.hours})` : ""}</summary>
        <form onSubmit={saveHours}>
          <div class="row">
            <label>
              I usually wake up at
              <input type="time" required value={wake} onInput={(e) => setWake(e.currentTarget.value)} />
            </label>
            <label>
              and go to sleep at
              <input type="time" required value={sleep} onInput={(e) => setSleep(e.currentTarget.value)} />
            </label>
          </div>
          <button type="submit">Save my hours</button>
          <ErrorBox problem={problem} title="Your hours were not saved" />
          {savedHours && (
            <p class="small" role="status">
              Saved: the suggested times now spread from {wake} to {sleep}.
            </p>
          )}
        </form>
      </details>
    </section>
  );
}
