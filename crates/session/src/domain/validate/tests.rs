use super::super::catalog::fixture;
use super::*;

fn now() -> Timestamp {
    "2026-03-10T12:00:00Z".parse().unwrap()
}

fn good() -> RawSession {
    RawSession {
        trigger_point: "triggerPoints/ql_superficial".into(),
        tool: "tools/lacrosse_ball".into(),
        side: 1,
        pressure: 5,
        duration_seconds: 90,
        tenderness_before: Some(6),
        tenderness_after: Some(4),
        pain_quality: 2,
        notes: "ok".into(),
        perform_time: Some("2026-03-10T11:00:00Z".parse().unwrap()),
        ..RawSession::default()
    }
}

/// Applies `edit` to a good session and checks which fields are refused.
#[track_caller]
fn check(edit: impl FnOnce(&mut RawSession), expected: &[&str]) {
    let mut raw = good();
    edit(&mut raw);
    let got = match session(&raw, &fixture::catalog(), now(), "session.") {
        Ok(_) => Vec::new(),
        Err(vs) => vs.into_iter().map(|v| v.field).collect(),
    };
    assert_eq!(got, expected);
}

#[test]
fn session_fields() {
    check(|_| {}, &[]);
    check(|r| r.pressure = 11, &["session.pressure"]);
    check(|r| r.pressure = -1, &["session.pressure"]);
    check(|r| r.pressure = 10, &[]);
    check(|r| r.duration_seconds = 0, &["session.duration_seconds"]);
    check(|r| r.duration_seconds = -5, &["session.duration_seconds"]);
    check(|r| r.duration_seconds = 3601, &["session.duration_seconds"]);
    check(|r| r.duration_seconds = 3600, &[]);
    check(
        |r| r.tenderness_before = Some(11),
        &["session.tenderness_before"],
    );
    check(
        |r| r.tenderness_after = Some(-1),
        &["session.tenderness_after"],
    );
    check(|r| r.tenderness_after = None, &[]);
    check(|r| r.notes = "x".repeat(2000), &[]);
    check(|r| r.notes = "é".repeat(2001), &["session.notes"]);
    check(|r| r.side = 9, &["session.side"]);
    check(|r| r.pain_quality = 8, &["session.pain_quality"]);
    check(
        |r| r.trigger_point = "triggerPoints/nope".into(),
        &["session.trigger_point"],
    );
    check(
        |r| r.trigger_point = "ql_superficial".into(),
        &["session.trigger_point"],
    );
    check(|r| r.tool = "tools/hammer".into(), &["session.tool"]);
    check(|r| r.perform_time = None, &["session.perform_time"]);
    check(
        |r| r.perform_time = Some("2026-03-10T12:05:00Z".parse().unwrap()),
        &[],
    );
    check(
        |r| r.perform_time = Some("2026-03-10T12:05:01Z".parse().unwrap()),
        &["session.perform_time"],
    );
    check(
        |r| r.perform_time = Some("1999-12-31T23:59:59Z".parse().unwrap()),
        &["session.perform_time"],
    );
    check(|r| r.guided_session = "guidedSessions/abc".into(), &[]);
    check(
        |r| r.guided_session = "sessions/abc".into(),
        &["session.guided_session"],
    );
    check(
        |r| {
            r.pressure = 11;
            r.duration_seconds = 0;
        },
        &["session.pressure", "session.duration_seconds"],
    );
}

#[test]
fn request_ids_and_batches() {
    assert!(request_id("a", "request_id").is_ok());
    assert!(request_id(&"a".repeat(64), "request_id").is_ok());
    assert!(request_id(&"a".repeat(65), "request_id").is_err());
    assert!(request_id("", "request_id").is_err());
    assert!(request_id("a\nb", "request_id").is_err());
    assert!(batch_size(1).is_ok());
    assert!(batch_size(500).is_ok());
    assert!(batch_size(501).is_err());
    assert!(batch_size(0).is_err());
}

#[test]
fn guided_requests() {
    let c = fixture::catalog();
    let r = guided(
        "triggerPoints/ql_superficial",
        "tools/lacrosse_ball",
        0,
        0,
        &c,
    )
    .unwrap();
    assert_eq!((r.side, r.duration_seconds), (Side::Both, 60));
    let r = guided("triggerPoints/ql_superficial", "tools/fingers", 1, 300, &c).unwrap();
    assert_eq!((r.side, r.duration_seconds), (Side::Left, 300));
    let e = guided("triggerPoints/ql_superficial", "tools/fingers", 1, 301, &c).unwrap_err();
    assert_eq!(e[0].field, "duration_seconds");
    let e = guided("triggerPoints/x", "tools/y", 7, -1, &c).unwrap_err();
    let fields: Vec<_> = e.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        ["trigger_point", "tool", "side", "duration_seconds"]
    );
}

/// Checks a waking patch against saved times of 07:00-22:00: the
/// resulting (wake, sleep) or the fields refused.
#[track_caller]
fn check_waking(wake: &str, sleep: &str, mask: &[&str], expected: Result<WakingPatch, &[&str]>) {
    let mask: Vec<String> = mask.iter().map(|m| (*m).to_owned()).collect();
    let got = waking_patch(wake, sleep, &mask, (Some(420), Some(1320)));
    match (got, expected) {
        (Ok(g), Ok(e)) => assert_eq!(g, e, "{wake}-{sleep}"),
        (Err(g), Err(e)) => {
            let fields: Vec<&str> = g.iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, e, "{wake}-{sleep}");
        }
        (g, e) => panic!("{wake}-{sleep}: got {g:?}, expected {e:?}"),
    }
}

#[test]
fn waking_patches() {
    check_waking(
        "05:00",
        "21:00",
        &[],
        Ok((Some(Some(300)), Some(Some(1260)))),
    );
    check_waking(
        "12:00",
        "02:00",
        &[],
        Ok((Some(Some(720)), Some(Some(120)))),
    );
    check_waking("", "", &[], Ok((Some(None), Some(None))));
    // Only the wake time: checked against the saved sleep time.
    check_waking("05:00", "", &["wake_time"], Ok((Some(Some(300)), None)));
    check_waking(
        "20:00",
        "",
        &["profile.wake_time"],
        Err(&["profile.sleep_time"]),
    );
    check_waking("", "", &["tools"], Ok((None, None)));
    check_waking(
        "7am",
        "25:00",
        &[],
        Err(&["profile.wake_time", "profile.sleep_time"]),
    );
    check_waking("09:00", "11:00", &[], Err(&["profile.sleep_time"]));
}

#[test]
fn profile_patches() {
    let c = fixture::catalog();
    let p = profile_patch("Europe/Berlin", &["tools/fingers".into()], &[], &c).unwrap();
    assert_eq!(p.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(p.tools, Some(vec!["fingers".to_owned()]));
    let p = profile_patch("", &[], &["tools".into()], &c).unwrap();
    assert_eq!(p.time_zone, None);
    let e = profile_patch("Mars/Base", &["tools/x".into()], &[], &c).unwrap_err();
    assert_eq!(e.len(), 2);
    let e = profile_patch("UTC", &[], &["colour".into()], &c).unwrap_err();
    assert_eq!(e[0].field, "update_mask");
}

#[test]
fn screening_answers() {
    let c = fixture::catalog();
    let today = jiff::civil::date(2026, 3, 10);
    let a = |id: &str, present, cleared, date: &str| RawAnswer {
        contraindication: format!("contraindications/{id}"),
        present,
        cleared_by_provider: cleared,
        cleared_date: date.into(),
    };
    assert!(answers(&[a("aneurysm", false, false, "")], &c, today).is_ok());
    assert!(answers(&[a("aneurysm", true, true, "2026-03-01")], &c, today).is_ok());
    let fields = |r: Result<_, Vec<FieldViolation>>| -> Vec<String> {
        r.unwrap_err().into_iter().map(|v| v.field).collect()
    };
    assert_eq!(
        fields(answers(&[a("aneurysm", true, true, "")], &c, today)),
        ["answers[0].cleared_date"]
    );
    assert_eq!(
        fields(answers(
            &[a("aneurysm", true, true, "2026-04-01")],
            &c,
            today
        )),
        ["answers[0].cleared_date"]
    );
    assert_eq!(
        fields(answers(&[a("pulse", true, false, "")], &c, today)),
        ["answers[0].contraindication"]
    );
    assert_eq!(
        fields(answers(
            &[a("cancer", false, false, ""), a("cancer", true, false, "")],
            &c,
            today
        )),
        ["answers[1].contraindication"]
    );
    assert_eq!(fields(answers(&[], &c, today)), ["answers"]);
}
