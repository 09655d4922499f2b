//! The session service over real gRPC on loopback, with a fake catalog.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use knotwork_proto::catalog::v1::Side;
use knotwork_proto::session::v1 as pb;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

fn ts(s: &str) -> prost_types::Timestamp {
    let t: jiff::Timestamp = s.parse().unwrap();
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

fn now_minus(secs: i64) -> prost_types::Timestamp {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: 0,
    }
}

fn record(point: &str, perform: prost_types::Timestamp) -> pb::SessionRecord {
    pb::SessionRecord {
        trigger_point: format!("triggerPoints/{point}"),
        tool: "tools/lacrosse_ball".into(),
        side: Side::Left as i32,
        pressure: 5,
        duration_seconds: 90,
        tenderness_before: Some(5),
        tenderness_after: Some(3),
        pain_quality: pb::PainQuality::Aching as i32,
        perform_time: Some(perform),
        ..Default::default()
    }
}

fn log(rid: &str, s: pb::SessionRecord) -> pb::LogSessionRequest {
    pb::LogSessionRequest {
        request_id: rid.into(),
        session: Some(s),
    }
}

fn answers(present: &[&str], cleared: &[&str]) -> pb::SubmitScreeningRequest {
    pb::SubmitScreeningRequest {
        answers: CONDITIONS
            .iter()
            .map(|c| pb::ScreeningAnswer {
                contraindication: format!("contraindications/{c}"),
                present: present.contains(c),
                cleared_by_provider: cleared.contains(c),
                cleared_date: if cleared.contains(c) {
                    "2025-01-01".into()
                } else {
                    String::new()
                },
            })
            .collect(),
    }
}

fn start(rid: &str, point: &str, tool: &str) -> pb::StartGuidedSessionRequest {
    pb::StartGuidedSessionRequest {
        request_id: rid.into(),
        trigger_point: format!("triggerPoints/{point}"),
        tool: format!("tools/{tool}"),
        side: Side::Both as i32,
        duration_seconds: 30,
    }
}

fn fields(s: &tonic::Status) -> Vec<String> {
    s.get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[track_caller]
fn reason(s: &tonic::Status) -> String {
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    s.get_details_error_info().expect("ErrorInfo").reason
}

#[tokio::test]
async fn health_waits_for_the_catalog_and_calls_need_the_credential() {
    let dir = tempfile::tempdir().unwrap();
    let (url, fake) = start_catalog(false).await;
    let server = start_session_with(config(dir.path(), &url), false).await;
    // Storage is open but there is no catalog yet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while health(server.addr).await == -1 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(health(server.addr).await, SERVING);
    let mut c = client(server.addr, "alice").await;
    let e = c
        .log_session(log("r1", record("ql_superficial", now_minus(60))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    fake.available
        .store(true, std::sync::atomic::Ordering::SeqCst);
    wait_serving(server.addr).await;

    for (user, token) in [
        (Some("alice"), None),
        (Some("alice"), Some("wrong")),
        (None, Some(TOKEN)),
        (Some(""), Some(TOKEN)),
    ] {
        let mut c = client_with(server.addr, user, token).await;
        let e = c.get_profile(pb::GetProfileRequest {}).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{user:?} {token:?}");
        let e = c
            .log_session(log("r1", record("ql_superficial", now_minus(60))))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    for token in [None, Some("wrong")] {
        let mut a = admin(server.addr, token).await;
        let e = a
            .list_users(pb::ListUsersRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    let p = c
        .get_profile(pb::GetProfileRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.profile.unwrap().time_zone, "UTC");
    server.stop().await;
}

#[tokio::test]
async fn guided_sessions_follow_the_safety_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "bob").await;

    // Before screening.
    let e = c
        .start_guided_session(start("g0", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "SCREENING_REQUIRED");
    let missing = e.get_details_error_info().unwrap().metadata["missing"].clone();
    for cond in CONDITIONS {
        assert!(
            missing.contains(&format!("contraindications/{cond}")),
            "{missing}"
        );
    }
    // Half done: still required, naming only what is missing.
    let mut half = answers(&[], &[]);
    half.answers.truncate(3);
    let s = c
        .submit_screening(half)
        .await
        .unwrap()
        .into_inner()
        .screening
        .unwrap();
    assert_eq!(s.status, pb::ScreeningStatus::Required as i32);
    assert_eq!(s.missing.len(), 4);
    // Cancer, not cleared.
    let s = c
        .submit_screening(answers(&["cancer"], &[]))
        .await
        .unwrap()
        .into_inner()
        .screening
        .unwrap();
    assert_eq!(s.status, pb::ScreeningStatus::Contraindicated as i32);
    assert_eq!(s.blocking, ["contraindications/cancer"]);
    let e = c
        .start_guided_session(start("g0", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "CONTRAINDICATED");
    assert_eq!(
        e.get_details_error_info().unwrap().metadata["blocking"],
        "contraindications/cancer"
    );
    // Unknown condition and missing clearance date are field violations.
    let bad = pb::SubmitScreeningRequest {
        answers: vec![
            pb::ScreeningAnswer {
                contraindication: "contraindications/pulse".into(),
                ..Default::default()
            },
            pb::ScreeningAnswer {
                contraindication: "contraindications/cancer".into(),
                present: true,
                cleared_by_provider: true,
                cleared_date: String::new(),
            },
        ],
    };
    let e = c.submit_screening(bad).await.unwrap_err();
    assert_eq!(
        fields(&e),
        ["answers[0].contraindication", "answers[1].cleared_date"]
    );
    // Aneurysm, cleared by a provider: massage in general is fine ...
    let s = c
        .submit_screening(answers(&["aneurysm"], &["aneurysm"]))
        .await
        .unwrap()
        .into_inner()
        .screening
        .unwrap();
    assert_eq!(s.status, pb::ScreeningStatus::Cleared as i32);
    // ... but never the massage gun on the QL, nor the psoas over the aorta.
    let e = c
        .start_guided_session(start("g1", "ql_superficial", "massage_gun"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "TOOL_EXCLUDED");
    let e = c
        .start_guided_session(start("g2", "iliopsoas_1", "fingers"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "CONDITION_EXCLUDED");
    assert_eq!(
        e.get_details_error_info().unwrap().metadata["conditions"],
        "contraindications/aneurysm"
    );
    // Bad input.
    let mut bad = start("", "nope", "tools/x");
    bad.duration_seconds = 301;
    let e = c.start_guided_session(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&e),
        ["request_id", "trigger_point", "tool", "duration_seconds"]
    );

    // Six a day on one point, counted in the user's zone.
    c.update_profile(pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            time_zone: "Pacific/Auckland".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["time_zone".into()],
        }),
    })
    .await
    .unwrap();
    let first = c
        .start_guided_session(start("d1", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap()
        .into_inner()
        .guided_session
        .unwrap();
    assert_eq!(first.sessions_today, 1);
    assert_eq!(first.target_pressure, 5);
    assert_eq!(first.instructions, "Use the lacrosse_ball gently.");
    // A retry returns the same session and does not count again.
    let again = c
        .start_guided_session(start("d1", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap()
        .into_inner()
        .guided_session
        .unwrap();
    assert_eq!(again.name, first.name);
    for i in 2..=6 {
        let g = c
            .start_guided_session(start(&format!("d{i}"), "ql_superficial", "lacrosse_ball"))
            .await
            .unwrap()
            .into_inner()
            .guided_session
            .unwrap();
        assert_eq!(g.sessions_today, i);
    }
    let e = c
        .start_guided_session(start("d7", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), "DAILY_LIMIT_REACHED");
    let md = e.get_details_error_info().unwrap().metadata;
    let next: jiff::Timestamp = md["next_allowed_time"].parse().unwrap();
    let local: jiff::Zoned = md["next_allowed_local_time"]
        .parse::<jiff::Timestamp>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Pacific/Auckland").unwrap());
    assert_eq!(local.timestamp(), next);
    assert_eq!(
        (local.hour(), local.minute()),
        (0, 0),
        "local midnight in Auckland"
    );
    assert_eq!(md["local_date"], first.local_date);
    // Another point is still fine.
    c.start_guided_session(start("d8", "gluteus_medius_1", "lacrosse_ball"))
        .await
        .unwrap();
    // GetDay shows what remains.
    let day = c
        .get_day(pb::GetDayRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(day.time_zone, "Pacific/Auckland");
    assert_eq!(day.local_date, first.local_date);

    // Completing a guided session by logging it does not count twice.
    let mut done = record("ql_superficial", now_minus(1));
    done.guided_session = first.name.clone();
    let r = c
        .log_session(log("done1", done))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(r.origin, pb::SessionOrigin::Guided as i32);
    assert!(
        r.warnings
            .iter()
            .all(|w| w.code != pb::WarningCode::DailyLimitExceeded as i32),
        "{:?}",
        r.warnings
    );
    let mut ghost = record("ql_superficial", now_minus(1));
    ghost.guided_session = "guidedSessions/nope".into();
    let e = c.log_session(log("ghost", ghost)).await.unwrap_err();
    assert_eq!(fields(&e), ["session.guided_session"]);
    let day = c
        .get_day(pb::GetDayRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ql = day
        .allowances
        .iter()
        .find(|a| a.trigger_point == "triggerPoints/ql_superficial")
        .unwrap();
    assert_eq!((ql.sessions_done, ql.sessions_remaining), (6, 0));
    assert!(ql.next_allowed_time.is_some());
    let glute = day
        .allowances
        .iter()
        .find(|a| a.trigger_point == "triggerPoints/gluteus_medius_1")
        .unwrap();
    assert_eq!(
        (glute.sessions_done, glute.sessions_remaining),
        (1, 5),
        "guided starts count"
    );
    assert!(glute.next_allowed_time.is_none());
    server.stop().await;
}

#[tokio::test]
async fn guide_session_streams_cues_until_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "carol").await;
    c.submit_screening(answers(&[], &[])).await.unwrap();
    let g = c
        .start_guided_session(start("g", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap()
        .into_inner()
        .guided_session
        .unwrap();
    let stream = c
        .guide_session(pb::GuideSessionRequest {
            name: g.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let cues: Vec<pb::GuideSessionResponse> = tokio::time::timeout(
        Duration::from_secs(10),
        stream.collect::<Result<Vec<_>, _>>(),
    )
    .await
    .unwrap()
    .unwrap();
    let kinds: Vec<i32> = cues.iter().map(|c| c.cue).collect();
    use pb::GuideCue::*;
    assert_eq!(&kinds[..2], [Start as i32, PressAndHold as i32]);
    assert!(kinds.contains(&(Tick as i32)));
    assert!(kinds.contains(&(Halfway as i32)));
    assert!(kinds.contains(&(SwitchSide as i32)));
    assert_eq!(*kinds.last().unwrap(), Stop as i32);
    assert_eq!(
        cues.last().unwrap().elapsed_seconds,
        60,
        "30 s per side, both sides"
    );
    assert_eq!(cues.last().unwrap().remaining_seconds, 0);
    // Another user cannot follow it.
    let mut other = client(server.addr, "mallory").await;
    let e = other
        .guide_session(pb::GuideSessionRequest { name: g.name })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn logged_sessions_validate_warn_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "dave").await;
    c.submit_screening(answers(&[], &[])).await.unwrap();

    // Bad input: field violations, nothing stored.
    type Edit = Box<dyn Fn(&mut pb::LogSessionRequest)>;
    let cases: Vec<(Edit, &[&str])> = vec![
        (
            Box::new(|r| r.session.as_mut().unwrap().pressure = 11),
            &["session.pressure"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().duration_seconds = -5),
            &["session.duration_seconds"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().tenderness_before = Some(12)),
            &["session.tenderness_before"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().trigger_point = "triggerPoints/nope".into()),
            &["session.trigger_point"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().tool = "tools/hammer".into()),
            &["session.tool"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().notes = "x".repeat(2001)),
            &["session.notes"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().pain_quality = 42),
            &["session.pain_quality"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().side = 42),
            &["session.side"],
        ),
        (
            Box::new(|r| r.session.as_mut().unwrap().perform_time = Some(now_minus(-3600))),
            &["session.perform_time"],
        ),
        (
            Box::new(|r| {
                r.session.as_mut().unwrap().perform_time = Some(ts("1999-01-01T00:00:00Z"))
            }),
            &["session.perform_time"],
        ),
        (
            Box::new(|r| {
                r.session.as_mut().unwrap().perform_time = Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                })
            }),
            &["session.perform_time"],
        ),
        (Box::new(|r| r.request_id = "x".repeat(65)), &["request_id"]),
        (Box::new(|r| r.session = None), &["session"]),
    ];
    for (edit, expected) in cases {
        let mut req = log("bad", record("ql_superficial", now_minus(60)));
        edit(&mut req);
        let e = c.log_session(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(fields(&e), expected);
    }
    let listed = c
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.sessions.is_empty(), "nothing partial is stored");

    // Warnings.
    let mut hard = record("ql_superficial", now_minus(60));
    hard.pressure = 9;
    hard.duration_seconds = 400;
    hard.pain_quality = pb::PainQuality::Sharp as i32;
    hard.worse_with_massage = true;
    let hard_again = hard.clone();
    let r = c.log_session(log("w1", hard)).await.unwrap().into_inner();
    assert!(!r.replayed);
    let s = r.session.unwrap();
    let codes: Vec<i32> = s.warnings.iter().map(|w| w.code).collect();
    use pb::WarningCode::*;
    assert_eq!(
        codes,
        [
            SharpPain as i32,
            WorseWithMassage as i32,
            PressureTooHigh as i32,
            DurationTooLong as i32
        ]
    );
    assert!(s.warnings[0].medical_attention_advised);
    assert!(!s.warnings[2].medical_attention_advised);
    assert_eq!(s.origin, pb::SessionOrigin::Logged as i32);

    // Idempotent retry: same id and session, stored once, first result
    // returned.
    let again = c
        .log_session(log("w1", hard_again.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.session.unwrap(), s);
    // The same id with a different session: REQUEST_ID_REUSED, alone and
    // in a batch, and the first record is untouched.
    let mut changed = hard_again.clone();
    changed.pressure = 1;
    let e = c.log_session(log("w1", changed.clone())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(fields(&e), ["request_id"]);
    assert_eq!(
        e.get_details_error_info().map(|i| i.reason),
        Some("REQUEST_ID_REUSED".to_owned())
    );
    let batch = c
        .batch_log_sessions(pb::BatchLogSessionsRequest {
            requests: vec![log("w1", changed)],
        })
        .await
        .unwrap()
        .into_inner();
    match &batch.results[0].outcome {
        Some(pb::batch_log_result::Outcome::Error(err)) => {
            assert_eq!(err.reason, "REQUEST_ID_REUSED");
            assert_eq!(err.code, Code::InvalidArgument as i32);
            assert_eq!(err.field_violations[0].field, "requests[0].request_id");
        }
        other => panic!("reused id in a batch: {other:?}"),
    }
    let stored = c
        .get_session(pb::GetSessionRequest {
            name: s.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(stored, s, "the first record is untouched");
    // Concurrent retries of one id.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.log_session(log("same", record("gluteus_medius_1", now_minus(10))))
                .await
                .unwrap()
                .into_inner()
        }));
    }
    let mut names = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for t in tasks {
        let r = t.await.unwrap();
        fresh += usize::from(!r.replayed);
        names.insert(r.session.unwrap().name);
    }
    assert_eq!((fresh, names.len()), (1, 1));
    let listed = c
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sessions.len(), 2);

    // The daily count warns on the seventh.
    for i in 0..7 {
        let r = c
            .log_session(log(
                &format!("n{i}"),
                record("upper_trapezius_1", now_minus(100 - i)),
            ))
            .await
            .unwrap()
            .into_inner();
        let codes: Vec<i32> = r.session.unwrap().warnings.iter().map(|w| w.code).collect();
        assert_eq!(
            codes.contains(&(DailyLimitExceeded as i32)),
            i == 6,
            "session {}",
            i + 1
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn batches_report_each_item() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "erin").await;
    let mut bad = record("ql_superficial", now_minus(60));
    bad.pressure = 11;
    // The same request twice in one batch (a client resending its queue).
    let first = record("ql_superficial", now_minus(300));
    let req = pb::BatchLogSessionsRequest {
        requests: vec![
            log("b1", first.clone()),
            log("b2", bad),
            log("b1", first),
            log("b3", record("gluteus_medius_1", now_minus(100))),
        ],
    };
    let out = c
        .batch_log_sessions(req.clone())
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(out.len(), 4);
    use pb::batch_log_result::Outcome;
    assert!(matches!(out[0].outcome, Some(Outcome::Session(_))) && !out[0].replayed);
    match &out[1].outcome {
        Some(Outcome::Error(e)) => {
            assert_eq!(e.code, Code::InvalidArgument as i32);
            assert_eq!(e.field_violations[0].field, "requests[1].session.pressure");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        out[2].replayed,
        "a duplicate within one batch is stored once"
    );
    assert_eq!(out[3].index, 3);
    // Resending the whole batch replays everything that was stored.
    let again = c
        .batch_log_sessions(req)
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(again[0].replayed && again[2].replayed && again[3].replayed);
    let listed = c
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sessions.len(), 2);
    // Oversized and empty batches are refused whole.
    let big = pb::BatchLogSessionsRequest {
        requests: (0..501)
            .map(|i| log(&format!("x{i}"), record("ql_superficial", now_minus(60))))
            .collect(),
    };
    let e = c.batch_log_sessions(big).await.unwrap_err();
    assert_eq!(fields(&e), ["requests"]);
    let e = c
        .batch_log_sessions(pb::BatchLogSessionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let full = pb::BatchLogSessionsRequest {
        requests: (0..500)
            .map(|i| {
                log(
                    &format!("y{i}"),
                    record("ql_superficial", now_minus(600 + i)),
                )
            })
            .collect(),
    };
    let out = c
        .batch_log_sessions(full)
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(
        out.iter()
            .all(|r| matches!(r.outcome, Some(Outcome::Session(_))))
    );
    server.stop().await;
}

#[tokio::test]
async fn listing_paginates_and_isolates_users() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut a = client(server.addr, "frank").await;
    let mut b = client(server.addr, "grace").await;
    let mut names = Vec::new();
    for d in 1..=7 {
        let r = a
            .log_session(log(
                &format!("r{d}"),
                record("ql_superficial", ts(&format!("2026-01-0{d}T12:00:00Z"))),
            ))
            .await
            .unwrap()
            .into_inner();
        names.push(r.session.unwrap().name);
    }
    b.log_session(log(
        "r1",
        record("ql_superficial", ts("2026-01-03T12:00:00Z")),
    ))
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = a
            .list_sessions(pb::ListSessionsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.sessions.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    names.reverse();
    assert_eq!(seen, names, "newest first, every session once");
    let ranged = a
        .list_sessions(pb::ListSessionsRequest {
            start_time: Some(ts("2026-01-03T00:00:00Z")),
            end_time: Some(ts("2026-01-05T00:00:00Z")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranged.sessions.len(), 2);
    let e = a
        .list_sessions(pb::ListSessionsRequest {
            page_size: 501,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["page_size"]);
    // Grace sees only her own.
    let e = b
        .get_session(pb::GetSessionRequest {
            name: names[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let got = a
        .get_session(pb::GetSessionRequest {
            name: names[0].clone(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().session.unwrap().name, names[0]);
    assert_eq!(
        b.list_sessions(pb::ListSessionsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .sessions
            .len(),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn progress_and_local_days() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "heidi").await;
    c.update_profile(pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            time_zone: "America/New_York".into(),
            tools: vec!["tools/fingers".into()],
            ..Default::default()
        }),
        update_mask: None,
    })
    .await
    .unwrap();
    let e = c
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                time_zone: "Mars/Olympus".into(),
                tools: vec!["tools/hammer".into()],
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["profile.time_zone", "profile.tools[0]"]);
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let at = |days_ago: i64, hour: i8| {
        let d = today.checked_sub(jiff::Span::new().days(days_ago)).unwrap();
        let z = d.at(hour, 0, 0, 0).to_zoned(tz.clone()).unwrap();
        prost_types::Timestamp {
            seconds: z.timestamp().as_second(),
            nanos: 0,
        }
    };
    // A flat week on the QL, daily: not improving, with alternatives.
    for d in 0..7 {
        let mut r = record("ql_superficial", at(6 - d, 0));
        r.tenderness_before = Some(5);
        c.log_session(log(&format!("ql{d}"), r)).await.unwrap();
    }
    // Rising tenderness on the trapezius: the third reading warns.
    let mut last = None;
    for (i, t) in [3, 5, 7].iter().enumerate() {
        let mut r = record("upper_trapezius_1", at(4 - 2 * i as i64, 0));
        r.tool = "tools/fingers".into();
        r.tenderness_before = Some(*t);
        last = c
            .log_session(log(&format!("tr{i}"), r))
            .await
            .unwrap()
            .into_inner()
            .session;
    }
    let codes: Vec<i32> = last.unwrap().warnings.iter().map(|w| w.code).collect();
    assert!(
        codes.contains(&(pb::WarningCode::TendernessRising as i32)),
        "{codes:?}"
    );
    let p = c
        .list_progress(pb::ListProgressRequest::default())
        .await
        .unwrap()
        .into_inner()
        .progress;
    let ql = p
        .iter()
        .find(|p| p.trigger_point == "triggerPoints/ql_superficial")
        .unwrap();
    assert_eq!(ql.status, pb::ProgressStatus::NotImproving as i32, "{ql:?}");
    assert!(
        ql.alternative_trigger_points
            .contains(&"triggerPoints/gluteus_medius_1".to_owned())
    );
    assert!(
        ql.alternative_trigger_points
            .contains(&"triggerPoints/iliopsoas_1".to_owned())
    );
    assert_eq!(ql.days.len(), 7);
    assert_eq!(ql.active_days_in_window, 7);
    let tr = p
        .iter()
        .find(|p| p.trigger_point == "triggerPoints/upper_trapezius_1")
        .unwrap();
    assert_eq!(tr.status, pb::ProgressStatus::Worsening as i32);
    assert!(tr.tenderness_trend_per_day > 0.0);
    let only = c
        .list_progress(pb::ListProgressRequest {
            trigger_point: "triggerPoints/upper_trapezius_1".into(),
            days: 3,
        })
        .await
        .unwrap()
        .into_inner()
        .progress;
    assert_eq!(only.len(), 1);
    assert_eq!(
        only[0].days.len(),
        2,
        "readings 2 and 0 days ago fall within 3 days"
    );

    // A session late in the evening local time belongs to that local day,
    // although it is already the next day in UTC.
    let late = at(1, 23);
    let r = c
        .log_session(log("late", record("gluteus_medius_1", late)))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let yesterday = today
        .checked_sub(jiff::Span::new().days(1))
        .unwrap()
        .to_string();
    assert_eq!(r.local_date, yesterday);
    let day = c
        .get_day(pb::GetDayRequest {
            local_date: yesterday.clone(),
            max_sessions: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(day.sessions.iter().any(|s| s.name == r.name));
    assert_eq!(day.time_zone, "America/New_York");
    server.stop().await;
}

#[tokio::test]
async fn export_delete_and_move_between_shards() {
    let dir = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let shard2 = start_session(dir2.path(), &url).await;
    let mut c = client(server.addr, "ivan").await;
    let mut other = client(server.addr, "ivana").await;
    c.update_profile(pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            time_zone: "Europe/Berlin".into(),
            tools: vec!["tools/lacrosse_ball".into()],
            ..Default::default()
        }),
        update_mask: None,
    })
    .await
    .unwrap();
    c.submit_screening(answers(&[], &[])).await.unwrap();
    c.start_guided_session(start("g1", "ql_superficial", "lacrosse_ball"))
        .await
        .unwrap();
    for i in 0..3 {
        c.log_session(log(
            &format!("s{i}"),
            record("ql_superficial", now_minus(100 + i)),
        ))
        .await
        .unwrap();
    }
    other
        .log_session(log("s0", record("ql_superficial", now_minus(50))))
        .await
        .unwrap();

    let export = c
        .export_user_data(pb::ExportUserDataRequest {})
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export.user_id, "ivan");
    assert_eq!(export.profile.as_ref().unwrap().time_zone, "Europe/Berlin");
    assert_eq!(export.screening.as_ref().unwrap().answers.len(), 7);
    assert_eq!(export.sessions.len(), 3);
    assert_eq!(export.guided_sessions.len(), 1);
    assert_eq!(export.request_ids.len(), 4);

    // Move ivan to shard 2 through the admin API.
    let mut admin1 = admin(server.addr, Some(TOKEN)).await;
    let mut admin2 = admin(shard2.addr, Some(TOKEN)).await;
    let users = admin1
        .list_users(pb::ListUsersRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.user_ids, ["ivan"]);
    let users2 = admin1
        .list_users(pb::ListUsersRequest {
            page_size: 1,
            page_token: users.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users2.user_ids, ["ivana"]);
    assert!(users2.next_page_token.is_empty());
    let moved = admin1
        .export_user(pb::ExportUserRequest {
            user_id: "ivan".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    let n = admin2
        .import_user(pb::ImportUserRequest {
            export: Some(moved),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.sessions_imported, 3);
    let mut c2 = client(shard2.addr, "ivan").await;
    let export2 = c2
        .export_user_data(pb::ExportUserDataRequest {})
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export2.sessions, export.sessions);
    assert_eq!(export2.guided_sessions, export.guided_sessions);
    assert_eq!(export2.request_ids, export.request_ids);
    // Retries stay idempotent on the new shard.
    let r = c2
        .log_session(log("s1", record("ql_superficial", now_minus(5))))
        .await
        .unwrap()
        .into_inner();
    assert!(r.replayed);
    let e = admin1
        .export_user(pb::ExportUserRequest {
            user_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Delete needs confirmation, then removes everything of ivan's only.
    let e = c
        .delete_user_data(pb::DeleteUserDataRequest { confirm: false })
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["confirm"]);
    let d = c
        .delete_user_data(pb::DeleteUserDataRequest { confirm: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((d.sessions_deleted, d.guided_sessions_deleted), (3, 1));
    let after = c
        .export_user_data(pb::ExportUserDataRequest {})
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert!(
        after.sessions.is_empty()
            && after.guided_sessions.is_empty()
            && after.request_ids.is_empty()
    );
    let d2 = admin2
        .delete_user(pb::DeleteUserRequest {
            user_id: "ivan".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d2.sessions_deleted, 3);
    server.stop().await;
    shard2.stop().await;

    // Scan every table of both shards: nothing of ivan's remains.
    for (d, others) in [(dir.path(), true), (dir2.path(), false)] {
        let store = knotwork_session::store::Store::open(d, Default::default()).unwrap();
        let keys = store.scan_all_keys().unwrap();
        assert!(
            !keys
                .iter()
                .any(|(_, k)| k.as_slice() == b"ivan" || k.starts_with(b"ivan\0")),
            "{keys:?}"
        );
        assert_eq!(keys.iter().any(|(_, k)| k.starts_with(b"ivana\0")), others);
        assert!(!keys.iter().any(|(_, k)| k.as_slice() == b"<unknown table>"));
    }
}

#[tokio::test]
async fn catalog_changes_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let (url, fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "judy").await;
    let mut r = record("ql_superficial", now_minus(60));
    r.pressure = 8;
    let s = c
        .log_session(log("p1", r.clone()))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert!(
        s.warnings
            .iter()
            .any(|w| w.code == pb::WarningCode::PressureTooHigh as i32)
    );
    // The catalog now allows 8: the next session carries no pressure warning.
    fake.set(snapshot("v2", 8));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    loop {
        i += 1;
        let s = c
            .log_session(log(&format!("p2-{i}"), r.clone()))
            .await
            .unwrap()
            .into_inner()
            .session
            .unwrap();
        if !s
            .warnings
            .iter()
            .any(|w| w.code == pb::WarningCode::PressureTooHigh as i32)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new guidance never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Polling asks for the version first and fetches the snapshot only on change.
    let calls = fake
        .snapshot_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(calls, 2, "one snapshot at start, one after the change");
    server.stop().await;
}

#[tokio::test]
async fn daily_counts_follow_local_days_across_dst_in_two_zones() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let set_zone = |zone: &'static str| pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            time_zone: zone.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["time_zone".into()],
        }),
    };
    let daily_warning = |r: &pb::SessionRecord| {
        r.warnings
            .iter()
            .any(|w| w.code == pb::WarningCode::DailyLimitExceeded as i32)
    };
    // Berlin springs forward on 2026-03-29: that local day runs from
    // 2026-03-28T23:00Z to 2026-03-29T22:00Z (23 hours).
    let mut berlin = client(server.addr, "kim").await;
    berlin
        .update_profile(set_zone("Europe/Berlin"))
        .await
        .unwrap();
    // New York is already on summer time; its 2026-03-29 runs from 04:00Z.
    let mut new_york = client(server.addr, "lee").await;
    new_york
        .update_profile(set_zone("America/New_York"))
        .await
        .unwrap();
    let instants = [
        "2026-03-28T23:00:00Z", // Berlin 00:00 (+01:00); New York 19:00 on the 28th
        "2026-03-29T00:59:59Z", // Berlin 01:59:59 (+01:00), just before the gap
        "2026-03-29T01:00:00Z", // Berlin 03:00 (+02:00), just after the gap
        "2026-03-29T03:59:59Z", // New York 23:59:59 on the 28th
        "2026-03-29T04:00:00Z", // New York 00:00 on the 29th
        "2026-03-29T12:00:00Z",
        "2026-03-29T21:59:59Z", // Berlin 23:59:59 (+02:00), the 7th on the 29th
        "2026-03-29T22:00:00Z", // Berlin 00:00 on the 30th
    ];
    // (local date, daily-limit warning) per instant, for each zone.
    let berlin_expected = [
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", true),
        ("2026-03-30", false),
    ];
    let new_york_expected = [
        ("2026-03-28", false),
        ("2026-03-28", false),
        ("2026-03-28", false),
        ("2026-03-28", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
        ("2026-03-29", false),
    ];
    for (c, expected) in [
        (&mut berlin, berlin_expected),
        (&mut new_york, new_york_expected),
    ] {
        for (i, (at, (date, warned))) in instants.iter().zip(expected).enumerate() {
            let r = c
                .log_session(log(&format!("dst{i}"), record("ql_superficial", ts(at))))
                .await
                .unwrap()
                .into_inner()
                .session
                .unwrap();
            assert_eq!(
                (r.local_date.as_str(), daily_warning(&r)),
                (date, warned),
                "{at}"
            );
        }
    }
    // GetDay uses the 23-hour local day.
    let day = berlin
        .get_day(pb::GetDayRequest {
            local_date: "2026-03-29".into(),
            max_sessions: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(day.sessions.len(), 7);
    let a = &day.allowances[0];
    assert_eq!((a.sessions_done, a.sessions_remaining), (7, 0));
    assert_eq!(a.next_allowed_local_time, "2026-03-30T00:00:00+02:00");
    server.stop().await;
}

#[tokio::test]
async fn a_dropped_guide_stream_reattaches_at_the_elapsed_time() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    // 100x real time: the 600 s session below takes 6 s of wall time.
    let mut config = config(dir.path(), &url);
    config.guide_speedup = 100;
    let server = start_session_with(config, true).await;
    let mut c = client(server.addr, "erin").await;
    c.submit_screening(answers(&[], &[])).await.unwrap();
    let mut req = start("r", "ql_superficial", "lacrosse_ball");
    req.duration_seconds = 300;
    let g = c
        .start_guided_session(req)
        .await
        .unwrap()
        .into_inner()
        .guided_session
        .unwrap();
    let follow = |mut c: Client, name: String| async move {
        c.guide_session(pb::GuideSessionRequest { name })
            .await
            .unwrap()
            .into_inner()
    };
    // Follow until 10 s in, then drop the stream (a tunnel, a lock screen).
    let mut stream = follow(c.clone(), g.name.clone()).await;
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.resumed);
    assert_eq!(first.elapsed_seconds, 0);
    loop {
        let cue = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if cue.elapsed_seconds >= 10 {
            break;
        }
    }
    drop(stream);
    // Reattach: it resumes where the session really is, not at 0:00.
    let mut stream = follow(c.clone(), g.name.clone()).await;
    let resumed = stream.next().await.unwrap().unwrap();
    assert!(resumed.resumed, "{resumed:?}");
    assert!((10..600).contains(&resumed.elapsed_seconds), "{resumed:?}");
    assert_eq!(resumed.remaining_seconds, 600 - resumed.elapsed_seconds);
    assert!(resumed.message.starts_with("Reconnected"));
    let next = stream.next().await.unwrap().unwrap();
    assert!(!next.resumed);
    assert!(next.elapsed_seconds >= resumed.elapsed_seconds);
    drop(stream);
    // Ending early records the time that really passed, not the plan.
    let mut done = record("ql_superficial", now_minus(0));
    done.guided_session = g.name.clone();
    done.duration_seconds = 300;
    let logged = c
        .log_session(log("r-done", done))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert!(
        (5..300).contains(&logged.duration_seconds),
        "per side, real time: {}",
        logged.duration_seconds
    );
    server.stop().await;
}

/// Prod mode refuses, at start, the development internal credential and
/// one shorter than 32 bytes, naming the setting; a strong one starts.
#[tokio::test]
async fn prod_mode_refuses_weak_internal_credentials() {
    for (token, word) in [
        (knotwork_runtime::prod::DEV_INTERNAL_TOKEN, "development"),
        ("short-credential", "16 bytes"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(dir.path(), "http://127.0.0.1:1");
        config.mode = knotwork_runtime::prod::Mode::Prod;
        config.internal_token = token.to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = knotwork_session::run(config, listener, async {})
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("KNOTWORK_INTERNAL_TOKEN"), "{err}");
        assert!(err.contains(word), "{err}");
        assert!(!err.contains(token), "the value is not repeated: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), "http://127.0.0.1:1");
    config.mode = knotwork_runtime::prod::Mode::Prod;
    config.internal_token = "p".repeat(32);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    knotwork_session::run(config, listener, async {})
        .await
        .expect("a strong credential starts (and stops at once)");
}

/// With a progress limit, GetOverview returns the most recently worked
/// points up to it, then every other point on hold or worsening, each as
/// ListProgress answers it, and counts every point.
#[tokio::test]
async fn overview_limits_progress_but_keeps_what_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "olga").await;
    let hours_ago = |h: i64| prost_types::Timestamp {
        seconds: jiff::Timestamp::now().as_second() - h * 3600,
        nanos: 0,
    };
    // Oldest first: sharp pain on the QL puts its muscle on hold.
    let mut sharp = record("ql_superficial", hours_ago(4));
    sharp.pain_quality = pb::PainQuality::Sharp as i32;
    c.log_session(log("l0", sharp)).await.unwrap();
    for (i, (point, h)) in [
        ("gluteus_medius_1", 3),
        ("iliopsoas_1", 2),
        ("upper_trapezius_1", 1),
    ]
    .into_iter()
    .enumerate()
    {
        c.log_session(log(&format!("l{}", i + 1), record(point, hours_ago(h))))
            .await
            .unwrap();
    }
    let every = c
        .list_progress(pb::ListProgressRequest::default())
        .await
        .unwrap()
        .into_inner()
        .progress;
    let names: Vec<&str> = every.iter().map(|p| p.trigger_point.as_str()).collect();
    assert_eq!(
        names,
        [
            "triggerPoints/upper_trapezius_1",
            "triggerPoints/iliopsoas_1",
            "triggerPoints/gluteus_medius_1",
            "triggerPoints/ql_superficial"
        ]
    );
    assert!(every[3].hold.is_some(), "the QL point is held");
    let limited = c
        .get_overview(pb::GetOverviewRequest {
            progress_limit: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(limited.progress_total, 4);
    let shown = limited.progress.unwrap().progress;
    assert_eq!(
        shown,
        [every[0].clone(), every[1].clone(), every[3].clone()]
    );
    // A limit past the points returns them all.
    let wide = c
        .get_overview(pb::GetOverviewRequest {
            progress_limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(wide.progress.unwrap().progress, every);
    assert_eq!(wide.progress_total, 4);
}

/// GetOverview answers each part exactly as its own method does, leaves
/// out what was not asked for, and reports the plan's date error first.
#[tokio::test]
async fn overview_is_each_part_as_its_own_method_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "olga").await;
    // Earlier today (UTC, the zone of a user with no profile), however
    // soon after midnight the test runs: GetDay below is today's.
    let now = jiff::Timestamp::now().as_second();
    let now = prost_types::Timestamp {
        seconds: now - (now.rem_euclid(86_400) / 2).min(3600),
        nanos: 0,
    };
    for (i, point) in ["ql_superficial", "upper_trapezius_1"].iter().enumerate() {
        c.log_session(log(&format!("o{i}"), record(point, now)))
            .await
            .unwrap();
    }
    let all = c
        .get_overview(pb::GetOverviewRequest {
            local_date: String::new(),
            include_plan: true,
            include_profile: true,
            include_region_progress: true,
            progress_limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.progress_total, 2);
    let day = c
        .get_day(pb::GetDayRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(day.sessions.len(), 2);
    assert_eq!(all.day, Some(day));
    let progress = c
        .list_progress(pb::ListProgressRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(progress.progress.len(), 2);
    assert_eq!(all.progress, Some(progress));
    let screening = c.get_screening(pb::GetScreeningRequest {}).await.unwrap();
    assert_eq!(all.screening, Some(screening.into_inner()));
    let holds = c.list_holds(pb::ListHoldsRequest::default()).await.unwrap();
    assert_eq!(all.holds, Some(holds.into_inner()));
    let plan = c
        .get_daily_plan(pb::GetDailyPlanRequest::default())
        .await
        .unwrap();
    assert_eq!(all.plan, Some(plan.into_inner()));
    let profile = c.get_profile(pb::GetProfileRequest {}).await.unwrap();
    assert_eq!(all.profile, Some(profile.into_inner()));
    let regions = c
        .list_region_progress(pb::ListRegionProgressRequest::default())
        .await
        .unwrap();
    assert_eq!(all.region_progress, Some(regions.into_inner()));

    // Only what was asked for.
    let some = c
        .get_overview(pb::GetOverviewRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(some.day.is_some() && some.progress.is_some());
    assert!(some.plan.is_none() && some.profile.is_none() && some.region_progress.is_none());

    // A bad date fails the call with the plan's field violation.
    let e = c
        .get_overview(pb::GetOverviewRequest {
            local_date: "yesterday".into(),
            include_plan: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(fields(&e), ["local_date"]);
    // Without the internal credential: refused like every call.
    let mut anonymous = client_with(server.addr, Some("olga"), None).await;
    let e = anonymous
        .get_overview(pb::GetOverviewRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
}
