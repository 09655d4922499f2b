use super::super::catalog::fixture;
use super::super::{Answer, Side};
use super::*;
use jiff::civil::date;

fn answered(items: &[(&str, bool, bool)]) -> Screening {
    Screening {
        answers: items
            .iter()
            .map(|(id, present, cleared)| {
                (
                    (*id).to_owned(),
                    Answer {
                        present: *present,
                        cleared_by_provider: *cleared,
                        cleared_date: cleared.then(|| date(2026, 1, 1)),
                    },
                )
            })
            .collect(),
        update_time: None,
    }
}

fn cleared() -> Screening {
    answered(&[("aneurysm", false, false), ("cancer", false, false)])
}

#[track_caller]
fn check_status(s: Screening, status: ScreeningStatus, missing: &[&str], blocking: &[&str]) {
    let a = assess(&s, &fixture::catalog());
    assert_eq!(a.status, status);
    assert_eq!(a.missing, missing);
    assert_eq!(a.blocking, blocking);
}

#[test]
fn screening_status() {
    use ScreeningStatus::*;
    check_status(Screening::default(), Required, &["aneurysm", "cancer"], &[]);
    check_status(
        answered(&[("aneurysm", false, false)]),
        Required,
        &["cancer"],
        &[],
    );
    check_status(cleared(), Cleared, &[], &[]);
    check_status(
        answered(&[("aneurysm", true, false), ("cancer", false, false)]),
        Contraindicated,
        &[],
        &["aneurysm"],
    );
    check_status(
        answered(&[("aneurysm", true, true), ("cancer", false, false)]),
        Cleared,
        &[],
        &[],
    );
    // Blocking wins over missing: it is the more serious screen.
    check_status(
        answered(&[("cancer", true, false)]),
        Contraindicated,
        &["aneurysm"],
        &["cancer"],
    );
}

fn req(point: &str, tool: &str) -> GuidedRequest {
    GuidedRequest {
        trigger_point: point.into(),
        tool: tool.into(),
        side: Side::Both,
        duration_seconds: 60,
    }
}

#[track_caller]
fn check_admit(
    r: GuidedRequest,
    screening: Screening,
    now: &str,
    zone: &str,
    before: u32,
    expected: Result<(&str, u32), RefusalReason>,
) -> Option<Refusal> {
    let tz = time::zone(zone).unwrap();
    let got = admit_guided(
        &r,
        &screening,
        &fixture::catalog(),
        now.parse().unwrap(),
        &tz,
        before,
    );
    match (got, expected) {
        (Ok(a), Ok((d, n))) => {
            assert_eq!(
                (a.local_date.to_string().as_str(), a.sessions_today),
                (d, n)
            );
            assert_eq!(a.target_pressure, 5);
            None
        }
        (Err(r), Err(reason)) => {
            assert_eq!(r.reason, reason);
            Some(r)
        }
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn admission_rules() {
    use RefusalReason::*;
    let ql = || req("ql_superficial", "lacrosse_ball");
    let now = "2026-03-10T12:00:00Z";
    check_admit(ql(), cleared(), now, "UTC", 0, Ok(("2026-03-10", 1)));
    check_admit(ql(), cleared(), now, "UTC", 5, Ok(("2026-03-10", 6)));
    let r = check_admit(
        ql(),
        Screening::default(),
        now,
        "UTC",
        0,
        Err(ScreeningRequired),
    )
    .unwrap();
    assert_eq!(
        r.metadata["missing"],
        "contraindications/aneurysm,contraindications/cancer"
    );
    let r = check_admit(
        ql(),
        answered(&[("aneurysm", false, false), ("cancer", true, false)]),
        now,
        "UTC",
        0,
        Err(Contraindicated),
    )
    .unwrap();
    assert_eq!(r.metadata["blocking"], "contraindications/cancer");
    check_admit(
        req("ql_superficial", "massage_gun"),
        cleared(),
        now,
        "UTC",
        0,
        Err(ToolExcluded),
    );
    // Aneurysm cleared for massage in general, but the psoas point lies
    // over the aorta: still ruled out.
    let r = check_admit(
        req("iliopsoas_1", "fingers"),
        answered(&[("aneurysm", true, true), ("cancer", false, false)]),
        now,
        "UTC",
        0,
        Err(ConditionExcluded),
    )
    .unwrap();
    assert_eq!(r.metadata["conditions"], "contraindications/aneurysm");
    check_admit(
        req("iliopsoas_1", "fingers"),
        cleared(),
        now,
        "UTC",
        0,
        Ok(("2026-03-10", 1)),
    );
    // A therapist-only point is refused for every tool, before the
    // screening is even asked about: no answer changes it.
    for (tool, screening) in [
        ("massage_therapist", cleared()),
        ("fingers", cleared()),
        ("fingers", Screening::default()),
    ] {
        let r = check_admit(
            req("levator_ani_1", tool),
            screening,
            now,
            "UTC",
            0,
            Err(TherapistOnly),
        )
        .unwrap();
        assert_eq!(r.metadata["trigger_point"], "triggerPoints/levator_ani_1");
        assert!(
            r.message.contains("It lies inside the pelvis."),
            "{}",
            r.message
        );
    }
}

/// Screening answers for the catalog with limits: nothing but the listed
/// conditions present, `cleared` ones cleared by a provider.
fn limits_screening(present: &[&str], cleared: &[&str]) -> Screening {
    let ids = ["aneurysm", "cancer", "pregnancy"];
    answered(
        &ids.iter()
            .map(|id| (*id, present.contains(id), cleared.contains(id)))
            .collect::<Vec<_>>(),
    )
}

/// One row of the LIMITS table: admission with `screening` on `point`
/// with `tool` gives `expected` (the target pressure, or the refusal).
#[track_caller]
fn check_limits(point: &str, tool: &str, screening: Screening, expected: Result<u8, &str>) {
    let tz = time::zone("UTC").unwrap();
    let got = admit_guided(
        &req(point, tool),
        &screening,
        &fixture::with_limits(),
        "2026-03-10T12:00:00Z".parse().unwrap(),
        &tz,
        0,
    );
    match (got, expected) {
        (Ok(a), Ok(p)) => assert_eq!(a.target_pressure, p),
        (Err(r), Err(conditions)) => {
            assert_eq!(r.reason, RefusalReason::ConditionExcluded);
            assert_eq!(r.metadata["conditions"], conditions);
            // People never see raw ids; the metadata carries them.
            assert!(!r.message.contains("contraindications/"), "{}", r.message);
            assert!(!r.message.contains("tools/"), "{}", r.message);
        }
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn limits_conditions_narrow_without_blocking() {
    // A LIMITS condition does not block the screening...
    let a = assess(
        &limits_screening(&["pregnancy"], &[]),
        &fixture::with_limits(),
    );
    assert_eq!(a.status, ScreeningStatus::Cleared);
    assert!(a.blocking.is_empty());
    // ...but a new condition is still a missing answer.
    let a = assess(&cleared(), &fixture::with_limits());
    assert_eq!(a.status, ScreeningStatus::Required);
    assert_eq!(a.missing, ["pregnancy"]);

    let ql = "ql_superficial";
    let psoas = "iliopsoas_1";
    let preg = "contraindications/pregnancy";
    // Nothing reported: the guidance's target.
    check_limits(ql, "lacrosse_ball", limits_screening(&[], &[]), Ok(5));
    // Pregnant, not cleared for firm pressure: aim no higher than 3.
    check_limits(
        ql,
        "lacrosse_ball",
        limits_screening(&["pregnancy"], &[]),
        Ok(3),
    );
    // Cleared by a provider: the ceiling lifts...
    check_limits(
        ql,
        "lacrosse_ball",
        limits_screening(&["pregnancy"], &["pregnancy"]),
        Ok(5),
    );
    // ...but the belly point and the massage gun stay ruled out.
    check_limits(
        psoas,
        "fingers",
        limits_screening(&["pregnancy"], &["pregnancy"]),
        Err(preg),
    );
    check_limits(
        "upper_trap_1",
        "massage_gun",
        limits_screening(&["pregnancy"], &["pregnancy"]),
        Err(preg),
    );
    // The belly's own ceiling applies to everyone.
    check_limits(psoas, "fingers", limits_screening(&[], &[]), Ok(4));
}

#[test]
fn pressure_ceiling_names_what_set_it() {
    let c = fixture::with_limits();
    let none = limits_screening(&[], &[]);
    let preg = limits_screening(&["pregnancy"], &[]);
    let check = |s: &Screening, point: &str, value: u8, why: CeilingWhy| {
        assert_eq!(pressure_ceiling(s, &c, point), Ceiling { value, why });
    };
    check(&none, "ql_superficial", 7, CeilingWhy::Guidance);
    check(&none, "iliopsoas_1", 4, CeilingWhy::Place);
    check(
        &preg,
        "iliopsoas_1",
        3,
        CeilingWhy::Conditions(vec!["Pregnancy".into()]),
    );
    check(
        &preg,
        "nope",
        3,
        CeilingWhy::Conditions(vec!["Pregnancy".into()]),
    );
}

#[test]
fn warnings_under_limits() {
    use WarningCode::*;
    let c = fixture::with_limits();
    let run = |edit: &dyn Fn(&mut SessionDraft), screening: Screening| {
        let mut s = draft();
        edit(&mut s);
        let ctx = SessionContext {
            catalog: &c,
            screening: &screening,
            sessions_that_day: 1,
            history: &[],
            local_date: date(2026, 3, 10),
        };
        session_warnings(&s, &ctx)
    };
    let codes = |w: Vec<Warning>| w.into_iter().map(|w| w.code).collect::<Vec<_>>();
    // Pressure 5 is fine on the low back, too firm while pregnant and
    // not cleared, fine again once cleared.
    assert!(codes(run(&|_| {}, limits_screening(&[], &[]))).is_empty());
    let w = run(&|_| {}, limits_screening(&["pregnancy"], &[]));
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].code, PressureTooHigh);
    assert!(w[0].message.contains("Pregnancy"), "{}", w[0].message);
    assert!(
        codes(run(
            &|_| {},
            limits_screening(&["pregnancy"], &["pregnancy"])
        ))
        .is_empty()
    );
    // 5 on the belly point is above its own ceiling of 4.
    let w = run(
        &|s| {
            s.trigger_point = "iliopsoas_1".into();
            s.tool = "fingers".into();
            s.duration_seconds = 60;
        },
        limits_screening(&[], &[]),
    );
    assert_eq!(codes(w.clone()), [PressureTooHigh]);
    assert!(w[0].message.contains("gentler"), "{}", w[0].message);
    // Logged on the belly while pregnant, even cleared: stored, warned.
    assert_eq!(
        codes(run(
            &|s| {
                s.trigger_point = "iliopsoas_1".into();
                s.tool = "fingers".into();
                s.pressure = 3;
                s.duration_seconds = 60;
            },
            limits_screening(&["pregnancy"], &["pregnancy"]),
        )),
        [ConditionExcluded]
    );
    // The massage gun while pregnant: ruled out by the condition, and on
    // the QL point by the point too.
    let w = run(
        &|s| s.tool = "massage_gun".into(),
        limits_screening(&["pregnancy"], &["pregnancy"]),
    );
    assert_eq!(codes(w.clone()), [ConditionExcluded, ToolExcluded]);
    assert!(!w[0].message.contains("tools/"), "{}", w[0].message);
}

/// The belly's hold limit (catalog data, `max_hold_seconds`): a guided
/// session holds no longer and says so; a logged one held longer is
/// warned; elsewhere nothing changes.
#[test]
fn belly_holds_are_short() {
    use WarningCode::*;
    let c = fixture::with_limits();
    let tz = time::zone("UTC").unwrap();
    let admit = |point: &str, tool: &str, secs: u32| {
        let mut r = req(point, tool);
        r.duration_seconds = secs;
        admit_guided(
            &r,
            &limits_screening(&[], &[]),
            &c,
            "2026-03-10T12:00:00Z".parse().unwrap(),
            &tz,
            0,
        )
        .unwrap()
    };
    // (point, tool, requested, held, warned)
    for (point, tool, asked, held, warned) in [
        ("iliopsoas_1", "fingers", 240, 60, true),
        ("iliopsoas_1", "fingers", 180, 60, true),
        ("ql_superficial", "lacrosse_ball", 240, 240, false),
    ] {
        let a = admit(point, tool, asked);
        assert_eq!(a.duration_seconds, held, "{point} {asked}");
        assert_eq!(
            a.hold_warning.as_ref().map(|w| w.code),
            warned.then_some(HoldLimited),
            "{point}"
        );
    }
    let w = admit("iliopsoas_1", "fingers", 240).hold_warning.unwrap();
    assert!(w.message.contains("60 seconds"), "{}", w.message);
    // Logged: 60 s on the belly is fine, 61 s is warned, 240 s on the
    // low back is fine.
    let logged = |point: &str, tool: &str, secs: u32| {
        let mut s = draft();
        s.trigger_point = point.into();
        s.tool = tool.into();
        s.pressure = 3;
        s.duration_seconds = secs;
        let screening = limits_screening(&[], &[]);
        let ctx = SessionContext {
            catalog: &c,
            screening: &screening,
            sessions_that_day: 1,
            history: &[],
            local_date: date(2026, 3, 10),
        };
        session_warnings(&s, &ctx)
            .into_iter()
            .map(|w| w.code)
            .collect::<Vec<_>>()
    };
    assert_eq!(logged("iliopsoas_1", "fingers", 60), []);
    assert_eq!(logged("iliopsoas_1", "fingers", 61), [DurationTooLong]);
    assert_eq!(logged("ql_superficial", "lacrosse_ball", 240), []);
    // A therapist-only point in the pelvis: the hold is the therapist's
    // call; the therapist-only warning says what matters.
    let mut c2 = c.clone();
    if let Some(p) = c2.points.get_mut("levator_ani_1") {
        p.max_hold_seconds = Some(60);
    }
    let mut s = draft();
    s.trigger_point = "levator_ani_1".into();
    s.tool = "massage_therapist".into();
    s.pressure = 3;
    s.duration_seconds = 120;
    let screening = limits_screening(&[], &[]);
    let ctx = SessionContext {
        catalog: &c2,
        screening: &screening,
        sessions_that_day: 1,
        history: &[],
        local_date: date(2026, 3, 10),
    };
    let codes: Vec<_> = session_warnings(&s, &ctx)
        .into_iter()
        .map(|w| w.code)
        .collect();
    assert!(!codes.contains(&DurationTooLong), "{codes:?}");
}

#[test]
fn daily_limit_names_the_next_local_midnight() {
    use RefusalReason::*;
    let ql = || req("ql_superficial", "lacrosse_ball");
    // 23:30 UTC on 28 March is 00:30 on 29 March in Berlin, the day
    // summer time starts; the next session is allowed at midnight on the
    // 30th, which is +02:00.
    let r = check_admit(
        ql(),
        cleared(),
        "2026-03-28T23:30:00Z",
        "Europe/Berlin",
        6,
        Err(DailyLimitReached),
    )
    .unwrap();
    assert_eq!(r.metadata["local_date"], "2026-03-29");
    assert_eq!(
        r.metadata["next_allowed_local_time"],
        "2026-03-30T00:00:00+02:00"
    );
    assert_eq!(r.metadata["next_allowed_time"], "2026-03-29T22:00:00Z");
    // The same instant in New York is still the 28th.
    let r = check_admit(
        ql(),
        cleared(),
        "2026-03-28T23:30:00Z",
        "America/New_York",
        6,
        Err(DailyLimitReached),
    )
    .unwrap();
    assert_eq!(r.metadata["local_date"], "2026-03-28");
    assert_eq!(
        r.metadata["next_allowed_local_time"],
        "2026-03-29T00:00:00-04:00"
    );
    // In autumn Berlin's day is 25 hours long; midnight is +01:00 again.
    let r = check_admit(
        ql(),
        cleared(),
        "2026-10-25T10:00:00Z",
        "Europe/Berlin",
        6,
        Err(DailyLimitReached),
    )
    .unwrap();
    assert_eq!(
        r.metadata["next_allowed_local_time"],
        "2026-10-26T00:00:00+01:00"
    );
    assert_eq!(r.metadata["limit"], "6");
}

fn draft() -> SessionDraft {
    SessionDraft {
        trigger_point: "ql_superficial".into(),
        tool: "lacrosse_ball".into(),
        side: Side::Left,
        pressure: 5,
        duration_seconds: 90,
        tenderness_before: Some(5),
        tenderness_after: Some(3),
        pain_quality: PainQuality::Aching,
        worse_with_activity: false,
        worse_with_massage: false,
        twitch_response: false,
        notes: String::new(),
        perform_time: "2026-03-10T12:00:00Z".parse().unwrap(),
        guided_session: None,
    }
}

#[track_caller]
fn check_warnings(
    edit: impl FnOnce(&mut SessionDraft),
    screening: Screening,
    that_day: u32,
    history: &[(Date, u8)],
    expected: &[WarningCode],
) {
    let mut s = draft();
    edit(&mut s);
    let catalog = fixture::catalog();
    let ctx = SessionContext {
        catalog: &catalog,
        screening: &screening,
        sessions_that_day: that_day,
        history,
        local_date: date(2026, 3, 10),
    };
    let got: Vec<_> = session_warnings(&s, &ctx)
        .into_iter()
        .map(|w| w.code)
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn warnings_on_logged_sessions() {
    use WarningCode::*;
    check_warnings(|_| {}, cleared(), 1, &[], &[]);
    check_warnings(|s| s.pressure = 7, cleared(), 1, &[], &[]);
    check_warnings(|s| s.pressure = 8, cleared(), 1, &[], &[PressureTooHigh]);
    check_warnings(|s| s.duration_seconds = 300, cleared(), 1, &[], &[]);
    check_warnings(
        |s| s.duration_seconds = 301,
        cleared(),
        1,
        &[],
        &[DurationTooLong],
    );
    check_warnings(|_| {}, cleared(), 6, &[], &[]);
    check_warnings(|_| {}, cleared(), 7, &[], &[DailyLimitExceeded]);
    check_warnings(
        |s| s.pain_quality = PainQuality::Sharp,
        cleared(),
        1,
        &[],
        &[SharpPain],
    );
    check_warnings(
        |s| s.worse_with_activity = true,
        cleared(),
        1,
        &[],
        &[WorseWithActivity],
    );
    check_warnings(
        |s| s.worse_with_massage = true,
        cleared(),
        1,
        &[],
        &[WorseWithMassage],
    );
    check_warnings(|_| {}, Screening::default(), 1, &[], &[ScreeningIncomplete]);
    check_warnings(
        |_| {},
        answered(&[("aneurysm", false, false), ("cancer", true, false)]),
        1,
        &[],
        &[Contraindicated],
    );
    check_warnings(
        |s| s.tool = "massage_gun".into(),
        cleared(),
        1,
        &[],
        &[ToolExcluded],
    );
    check_warnings(
        |s| s.trigger_point = "iliopsoas_1".into(),
        answered(&[("aneurysm", true, true), ("cancer", false, false)]),
        1,
        &[],
        &[ConditionExcluded],
    );
    // A logged session on a therapist-only point is kept, with a warning.
    check_warnings(
        |s| s.trigger_point = "levator_ani_1".into(),
        cleared(),
        1,
        &[],
        &[TherapistOnly],
    );
    check_warnings(
        |s| {
            s.trigger_point = "levator_ani_1".into();
            s.pressure = 9;
        },
        cleared(),
        1,
        &[],
        &[TherapistOnly, PressureTooHigh],
    );
    let rising = [
        (date(2026, 3, 5), 3),
        (date(2026, 3, 7), 4),
        (date(2026, 3, 8), 5),
    ];
    check_warnings(
        |s| s.tenderness_before = Some(6),
        cleared(),
        1,
        &rising,
        &[TendernessRising],
    );
    let falling = [
        (date(2026, 3, 5), 8),
        (date(2026, 3, 7), 7),
        (date(2026, 3, 8), 6),
    ];
    check_warnings(|_| {}, cleared(), 1, &falling, &[]);
    // Readings older than the window do not count.
    let old = [(date(2026, 2, 1), 1), (date(2026, 2, 2), 2)];
    check_warnings(|s| s.tenderness_before = Some(6), cleared(), 1, &old, &[]);
    check_warnings(
        |s| {
            s.pressure = 9;
            s.pain_quality = PainQuality::Sharp;
        },
        cleared(),
        8,
        &[],
        &[SharpPain, PressureTooHigh, DailyLimitExceeded],
    );
}

#[track_caller]
fn check_allowance(done: u32, max: u32, on_hold: bool, remaining: u32, next_tomorrow: bool) {
    assert_eq!(
        allowance(done, max, on_hold),
        Allowance {
            remaining,
            next_tomorrow
        }
    );
}

#[test]
fn daily_allowance() {
    check_allowance(0, 3, false, 3, false);
    check_allowance(2, 3, false, 1, false);
    check_allowance(3, 3, false, 0, true);
    check_allowance(5, 3, false, 0, true);
    check_allowance(0, 3, true, 0, false);
    check_allowance(3, 3, true, 0, false);
    check_allowance(0, 0, false, 0, true);
}
