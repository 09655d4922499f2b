use super::*;
use jiff::civil::date;

fn tz(name: &str) -> TimeZone {
    time::zone(name).unwrap()
}

fn local(ts: Timestamp, zone: &str) -> String {
    ts.to_zoned(tz(zone))
        .strftime("%Y-%m-%dT%H:%M%:z")
        .to_string()
}

#[track_caller]
fn check_hhmm(input: &str, expected: Option<u16>) {
    assert_eq!(parse_hhmm(input), expected, "{input}");
    if let Some(m) = expected {
        assert_eq!(hhmm(m), input);
    }
}

#[test]
fn times_of_day() {
    check_hhmm("07:00", Some(420));
    check_hhmm("00:00", Some(0));
    check_hhmm("23:59", Some(1439));
    check_hhmm("24:00", None);
    check_hhmm("7:00", None);
    check_hhmm("07:60", None);
    check_hhmm("07-00", None);
    check_hhmm("+7:00", None);
    check_hhmm("", None);
}

/// Checks the suggested local times of `n` slots on `day` in `zone`.
#[track_caller]
fn check_slots(zone: &str, day: Date, wake: &str, sleep: &str, n: u32, expected: &[&str]) {
    let w = Waking {
        wake: parse_hhmm(wake).unwrap(),
        sleep: parse_hhmm(sleep).unwrap(),
    };
    let (a, b) = w.window(day, &tz(zone)).unwrap();
    let got: Vec<String> = slot_times(a, b, n)
        .into_iter()
        .map(|t| local(t, zone))
        .collect();
    assert_eq!(got, expected, "{zone} {day} {wake}-{sleep} x{n}");
}

#[test]
fn suggested_times_table() {
    // 07:00-22:00, three sessions: at 1/6, 3/6 and 5/6 of 15 hours.
    check_slots(
        "Europe/Berlin",
        date(2026, 3, 27),
        "07:00",
        "22:00",
        3,
        &[
            "2026-03-27T09:30+01:00",
            "2026-03-27T14:30+01:00",
            "2026-03-27T19:30+01:00",
        ],
    );
    // An early riser.
    check_slots(
        "Europe/Berlin",
        date(2026, 3, 27),
        "05:00",
        "21:00",
        2,
        &["2026-03-27T09:00+01:00", "2026-03-27T17:00+01:00"],
    );
    // Waking at noon and sleeping after midnight: the window ends at
    // midnight, where the next local day (and its daily count) begins.
    check_slots(
        "Europe/Berlin",
        date(2026, 3, 27),
        "12:00",
        "02:00",
        3,
        &[
            "2026-03-27T14:00+01:00",
            "2026-03-27T18:00+01:00",
            "2026-03-27T22:00+01:00",
        ],
    );
    // The spring-forward day: summer time from the morning, the same
    // wall-clock times as the day before, one hour earlier in UTC.
    check_slots(
        "Europe/Berlin",
        date(2026, 3, 29),
        "07:00",
        "22:00",
        3,
        &[
            "2026-03-29T09:30+02:00",
            "2026-03-29T14:30+02:00",
            "2026-03-29T19:30+02:00",
        ],
    );
    // Awake through the change (01:00-23:00): 21 real hours, spread
    // evenly in real time, so the wall clock jumps across 02:00.
    check_slots(
        "Europe/Berlin",
        date(2026, 3, 29),
        "01:00",
        "23:00",
        3,
        &[
            "2026-03-29T05:30+02:00",
            "2026-03-29T12:30+02:00",
            "2026-03-29T19:30+02:00",
        ],
    );
    // Falling back in New York: 25 hours in the day, so 00:30-07:30
    // holds 8 real hours and its middle is 03:30 standard time.
    check_slots(
        "America/New_York",
        date(2026, 11, 1),
        "00:30",
        "07:30",
        1,
        &["2026-11-01T03:30-05:00"],
    );
    // A half-hour zone keeps 5-minute wall-clock steps.
    check_slots(
        "Asia/Kolkata",
        date(2026, 3, 27),
        "06:10",
        "21:20",
        4,
        &[
            "2026-03-27T08:05+05:30",
            "2026-03-27T11:50+05:30",
            "2026-03-27T15:40+05:30",
            "2026-03-27T19:25+05:30",
        ],
    );
}

#[track_caller]
fn check_waking(wake: u16, sleep: u16, awake: u16, valid: bool) {
    let w = Waking { wake, sleep };
    assert_eq!((w.awake_minutes(), w.valid()), (awake, valid), "{w:?}");
}

#[test]
fn waking_day_lengths() {
    check_waking(420, 1320, 900, true);
    check_waking(720, 120, 840, true);
    check_waking(420, 600, 180, false);
    check_waking(420, 420, 0, false);
    check_waking(1380, 180, 240, true);
}

fn worked(entries: &[(&str, Date, u32)]) -> Worked {
    let mut w = Worked::new();
    for (p, d, n) in entries {
        w.entry((*p).to_owned()).or_default().insert(*d, *n);
    }
    w
}

const RULES: Rules = Rules { per_day: 3, cap: 6 };

/// Checks a day's points as (id, planned, done, left, allowed) and
/// the slots as (points left, state).
#[track_caller]
fn check_plan(
    w: &Worked,
    excluded: &[&str],
    date: Date,
    now: &str,
    points: &[(&str, u32, u32, u32, u32)],
    slots: &[(&[&str], SlotState)],
) {
    let zone = tz("Europe/London");
    let now: Timestamp = now.parse().unwrap();
    let today = time::local_date(now, &zone);
    let excluded = excluded.iter().map(|s| (*s).to_owned()).collect();
    let window = Waking::default().window(date, &zone).unwrap();
    let plan = day_plan(w, &excluded, date, today, now, window, RULES);
    let got: Vec<_> = plan
        .points
        .iter()
        .map(|p| (p.point.as_str(), p.planned, p.done, p.left, p.allowed))
        .collect();
    assert_eq!(got, points);
    let got: Vec<(Vec<&str>, SlotState)> = plan
        .slots
        .iter()
        .map(|s| (s.left.iter().map(String::as_str).collect(), s.state))
        .collect();
    let want: Vec<(Vec<&str>, SlotState)> = slots.iter().map(|(l, s)| (l.to_vec(), *s)).collect();
    assert_eq!(got, want);
    assert_eq!(plan.planned, points.iter().map(|p| p.1).sum::<u32>());
    assert_eq!(plan.left, points.iter().map(|p| p.3).sum::<u32>());
}

#[test]
fn plan_table() {
    let d = date(2026, 6, 10);
    use SlotState::*;
    // Nothing worked: no plan.
    check_plan(&Worked::new(), &[], d, "2026-06-10T08:00:00Z", &[], &[]);
    // Worked yesterday and 7 days ago; 8 days ago is out of the week.
    let w = worked(&[
        ("a", date(2026, 6, 9), 2),
        ("b", date(2026, 6, 3), 1),
        ("c", date(2026, 6, 2), 4),
    ]);
    check_plan(
        &w,
        &[],
        d,
        "2026-06-10T06:00:00Z",
        &[("a", 3, 0, 3, 6), ("b", 3, 0, 3, 6)],
        &[
            (&["a", "b"], Upcoming),
            (&["a", "b"], Upcoming),
            (&["a", "b"], Upcoming),
        ],
    );
    // Midday (13:00 London summer time): the 09:30 slot is done for a,
    // due for b; b is also set aside when held.
    let w = worked(&[("a", d, 1), ("b", date(2026, 6, 9), 1)]);
    check_plan(
        &w,
        &[],
        d,
        "2026-06-10T12:00:00Z",
        &[("a", 3, 1, 2, 5), ("b", 3, 0, 3, 6)],
        &[
            (&["b"], Due),
            (&["a", "b"], Upcoming),
            (&["a", "b"], Upcoming),
        ],
    );
    check_plan(
        &w,
        &["b"],
        d,
        "2026-06-10T12:00:00Z",
        &[("a", 3, 1, 2, 5)],
        &[(&[], Done), (&["a"], Upcoming), (&["a"], Upcoming)],
    );
    // Done beyond the plan: no left, the limit still counts.
    let w = worked(&[("a", d, 5)]);
    check_plan(
        &w,
        &[],
        d,
        "2026-06-10T20:00:00Z",
        &[("a", 3, 5, 0, 1)],
        &[(&[], Done), (&[], Done), (&[], Done)],
    );
    // A day ahead plans from the week before today.
    let w = worked(&[("a", date(2026, 6, 4), 1)]);
    check_plan(
        &w,
        &[],
        date(2026, 6, 14),
        "2026-06-10T08:00:00Z",
        &[("a", 3, 0, 3, 6)],
        &[(&["a"], Upcoming), (&["a"], Upcoming), (&["a"], Upcoming)],
    );
}

#[test]
fn guided_starts_count_toward_the_limit() {
    let d = date(2026, 6, 10);
    let w = worked(&[("a", d, 1), ("b", d, 1)]);
    let zone = tz("UTC");
    let now: Timestamp = "2026-06-10T12:00:00Z".parse().unwrap();
    let window = Waking::default().window(d, &zone).unwrap();
    let mut plan = day_plan(&w, &BTreeSet::new(), d, d, now, window, RULES);
    // a: five guided sessions started, one logged; b: counts unknown.
    let used: BTreeMap<String, u32> = [("a".to_owned(), 5)].into();
    plan.limit_by(&used, RULES.cap);
    let got: Vec<(u32, u32)> = plan.points.iter().map(|p| (p.left, p.allowed)).collect();
    assert_eq!(got, [(1, 1), (2, 5)]);
    assert_eq!(plan.left, 3);
}

#[test]
fn plan_is_capped_with_a_total() {
    let d = date(2026, 6, 10);
    let names: Vec<String> = (0..15).map(|i| format!("p{i:02}")).collect();
    let entries: Vec<(&str, Date, u32)> = names.iter().map(|n| (n.as_str(), d, 1)).collect();
    let w = worked(&entries);
    let (points, total, _) = plan_points(&w, &BTreeSet::new(), d, d);
    assert_eq!((points.len(), total), (MAX_PLAN_POINTS, 15));
}

/// Past the cap, the plan keeps the most recently worked points, ties by
/// id, in that order: the same as sorting them all.
#[test]
fn plan_keeps_the_most_recent_points_in_order() {
    let d = date(2026, 6, 10);
    let names: Vec<String> = (0..40).map(|i| format!("p{:02}", (i * 17) % 40)).collect();
    let entries: Vec<(&str, Date, u32)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), time::days_before(d, (i as u32 * 7) % 5), 1))
        .collect();
    let w = worked(&entries);
    let mut all: Vec<(String, Date)> = entries
        .iter()
        .map(|(p, day, _)| (p.to_string(), *day))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(MAX_PLAN_POINTS);
    let (points, total, _) = plan_points(&w, &BTreeSet::new(), d, d);
    assert_eq!(total, 40);
    assert_eq!(points, all);
}

/// Checks (streak, includes today, done, planned, active days).
#[track_caller]
fn check_adherence(w: &Worked, today: Date, expected: (u32, bool, u32, u32, u32)) {
    let a = adherence(w, &BTreeSet::new(), today, RULES);
    assert_eq!(
        (
            a.streak_days,
            a.includes_today,
            a.done,
            a.planned,
            a.active_days
        ),
        expected
    );
    assert_eq!(a.week_start, time::days_before(today, 6));
}

#[test]
fn adherence_table() {
    let t = date(2026, 6, 10);
    let day = |n: u32| time::days_before(t, n);
    check_adherence(&Worked::new(), t, (0, false, 0, 0, 0));
    // Three days in a row ending yesterday: the streak holds until
    // today ends. Planned from each point's first day on: 3 days x 3
    // plus today's 3.
    let w = worked(&[("a", day(1), 3), ("a", day(2), 1), ("a", day(3), 2)]);
    check_adherence(&w, t, (3, false, 6, 12, 3));
    // Today done too; a gap four days ago ends the streak.
    let w = worked(&[
        ("a", t, 4),
        ("a", day(1), 3),
        ("a", day(2), 1),
        ("a", day(4), 1),
    ]);
    check_adherence(&w, t, (3, true, 8, 15, 4));
    // Two days ago only: the streak is broken.
    let w = worked(&[("a", day(2), 1)]);
    check_adherence(&w, t, (0, false, 1, 9, 1));
}

#[test]
fn streak_is_bounded() {
    let t = date(2026, 6, 10);
    let entries: Vec<(&str, Date, u32)> = (0..450)
        .map(|n| ("a", time::days_before(t, n), 1))
        .collect();
    let a = adherence(&worked(&entries), &BTreeSet::new(), t, RULES);
    assert_eq!(a.streak_days, MAX_STREAK_DAYS);
    assert_eq!(a.percent(), 33);
}

#[test]
fn reminder_texts() {
    let n = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(reminder_text(&n(&["A"])).1, "1 point to work: A.");
    assert_eq!(
        reminder_text(&n(&["A", "B"])).1,
        "2 points to work: A and B."
    );
    assert_eq!(
        reminder_text(&n(&["A", "B", "C", "D"])).1,
        "4 points to work: A, B and 2 more."
    );
}

#[test]
fn plan_range() {
    let t = date(2026, 6, 10);
    assert!(in_range(t, t));
    assert!(in_range(date(2027, 7, 15), t));
    assert!(!in_range(date(2027, 7, 16), t));
    assert!(in_range(date(2025, 5, 6), t));
    assert!(!in_range(date(2025, 5, 5), t));
}

/// The week's planned and done are each day's plan over the whole journal,
/// with points worked at the edge of the plans' reach and more points than
/// a plan holds.
#[test]
fn adherence_counts_each_days_plan_over_the_whole_journal() {
    let t = date(2026, 6, 10);
    let day = |n: u32| time::days_before(t, n);
    let reach = 6 + PLAN_WINDOW_DAYS;
    let mut entries = vec![
        ("edge", day(reach), 2),
        ("beyond", day(reach + 1), 5),
        ("old", day(90), 1),
    ];
    let names: Vec<String> = (0..MAX_PLAN_POINTS + 4)
        .map(|i| format!("p{i:02}"))
        .collect();
    for (i, p) in names.iter().enumerate() {
        let i = u32::try_from(i).unwrap();
        entries.push((p.as_str(), day(i % 9), 1 + i % 4));
    }
    let w = worked(&entries);
    let excluded = BTreeSet::from(["p03".to_owned()]);
    let a = adherence(&w, &excluded, t, RULES);
    let (mut planned, mut done) = (0, 0);
    for n in 0..7 {
        let d = day(n);
        let (points, _, _) = plan_points(&w, &excluded, d, t);
        for (p, _) in points {
            planned += RULES.per_day;
            done += w[&p].get(&d).copied().unwrap_or(0).min(RULES.per_day);
        }
    }
    assert_eq!((a.planned, a.done), (planned, done));
    assert!(planned > 0 && done > 0);
}

/// The week as the seven days' plans count it, each plan made by
/// `ranked_points` over the whole maps: what `adherence` reads out of its
/// short lists must agree, for any journal.
fn week_by_plans(worked: &Worked, excluded: &BTreeSet<String>, today: Date) -> (u32, u32) {
    let (mut done, mut planned) = (0, 0);
    for offset in 0..WEEK_DAYS {
        let d = time::days_before(today, WEEK_DAYS - 1 - offset);
        let (points, _) = ranked_points(worked.iter(), d, today, |p| excluded.contains(p));
        for (_, days, _) in points {
            planned += RULES.per_day;
            done += days.get(&d).copied().unwrap_or(0).min(RULES.per_day);
        }
    }
    (done, planned)
}

#[test]
fn the_weeks_count_agrees_with_each_days_plan() {
    let today = date(2026, 3, 20);
    // A small linear congruential generator: the same journals every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    for round in 0..300 {
        // From a few points to more than a plan holds, over about a month.
        let points = 1 + next(if round % 3 == 0 { 40 } else { 8 });
        let mut worked = Worked::new();
        for p in 0..points {
            let days = worked.entry(format!("p{p:02}")).or_default();
            for _ in 0..1 + next(6) {
                let d = time::days_before(today, u32::try_from(next(35)).unwrap());
                *days.entry(d).or_default() += u32::try_from(1 + next(5)).unwrap();
            }
        }
        let excluded: BTreeSet<String> = (0..points)
            .filter(|_| next(5) == 0)
            .map(|p| format!("p{p:02}"))
            .collect();
        let a = adherence(&worked, &excluded, today, RULES);
        assert_eq!(
            (a.done, a.planned),
            week_by_plans(&worked, &excluded, today),
            "round {round}: {worked:?} without {excluded:?}"
        );
    }
}
