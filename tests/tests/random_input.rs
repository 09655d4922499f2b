//! Seeded random input through the gateway, a property test standing in
//! for fuzzing until cargo-fuzz targets exist: random LogSession requests
//! (each field drawn from valid, boundary and absurd values), random page
//! tokens for the catalog and the journal, random resource names. The
//! properties: no INTERNAL or UNKNOWN answer (no panic, no storage error),
//! every INVALID_ARGUMENT names at least one field, every accepted session
//! is valid and reads back as stored, and nothing refused is stored.
//! Also the abuse limits: per-user and per-address rate limits answer
//! RESOURCE_EXHAUSTED with a retry delay.
//!
//! `KNOTWORK_FUZZ_SEED` replays a run; `KNOTWORK_FUZZ_CASES` sets how many.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use prost_types::Timestamp;
use tonic::Code;
use tonic_types::StatusExt;

fn pick<T: Clone>(rng: &mut fastrand::Rng, v: &[T]) -> T {
    v[rng.usize(..v.len())].clone()
}

fn random_string(rng: &mut fastrand::Rng, max: usize) -> String {
    let n = rng.usize(..=max);
    (0..n)
        .map(|_| match rng.u8(..10) {
            0 => char::from_u32(rng.u32(0..0x20)).unwrap_or('x'),
            1 => pick(rng, &['/', '_', '.', ' ', '%', '\u{0}', 'é', '🙂']),
            2 => char::from_u32(rng.u32(0x80..0x2FFF)).unwrap_or('y'),
            _ => rng.alphanumeric(),
        })
        .collect()
}

fn random_i32(rng: &mut fastrand::Rng, valid: std::ops::RangeInclusive<i32>) -> i32 {
    match rng.u8(..6) {
        0 => pick(rng, &[i32::MIN, -1, 0, i32::MAX, 11, 3601]),
        1 => rng.i32(..),
        _ => rng.i32(valid),
    }
}

fn random_time(rng: &mut fastrand::Rng) -> Option<Timestamp> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    match rng.u8(..8) {
        0 => None,
        1 => Some(Timestamp {
            seconds: rng.i64(..),
            nanos: rng.i32(..),
        }),
        2 => Some(Timestamp {
            seconds: pick(
                rng,
                &[i64::MIN, -1, 0, 946_684_799, 253_402_300_799, i64::MAX],
            ),
            nanos: pick(rng, &[0, -1, 999_999_999, 1_000_000_000]),
        }),
        3 => Some(Timestamp {
            seconds: now + rng.i64(0..=3600),
            nanos: 0,
        }),
        _ => Some(Timestamp {
            seconds: now - rng.i64(60..=30 * 86_400),
            nanos: rng.i32(0..1_000_000_000),
        }),
    }
}

fn seed(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_break_the_service() {
    let seed = seed("KNOTWORK_FUZZ_SEED");
    let cases: usize = std::env::var("KNOTWORK_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("random input seed: {seed} (replay: KNOTWORK_FUZZ_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let stack = TestStack::start_with(1, |g| g.user_rate = 0).await;
    let mut catalog = stack.catalog().await;
    let tools: Vec<String> = catalog
        .list_tools(cat::ListToolsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tools
        .into_iter()
        .map(|t| t.name)
        .collect();
    let points: Vec<String> = catalog
        .list_trigger_points(cat::ListTriggerPointsRequest {
            page_size: 20,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_points
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut session = stack.session().await;
    let user = "random-user";
    let mut accepted: BTreeMap<String, ses::SessionRecord> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();

    for i in 0..cases {
        // A valid session with random values, then (in most cases) one to
        // three fields made absurd.
        let now = SystemTime::now();
        let mut s = ses::SessionRecord {
            trigger_point: pick(&mut rng, &points),
            tool: pick(&mut rng, &tools),
            side: rng.i32(0..=4),
            pressure: rng.i32(0..=10),
            duration_seconds: rng.i32(1..=3600),
            tenderness_before: rng.bool().then(|| rng.i32(0..=10)),
            tenderness_after: rng.bool().then(|| rng.i32(0..=10)),
            pain_quality: rng.i32(0..=5),
            worse_with_activity: rng.bool(),
            worse_with_massage: rng.bool(),
            twitch_response: rng.bool(),
            notes: random_string(&mut rng, 60),
            perform_time: Some(Timestamp::from(
                now - Duration::from_secs(rng.u64(60..=30 * 86_400)),
            )),
            // Output-only fields a client may still send.
            name: if rng.bool() {
                "sessions/forged".into()
            } else {
                String::new()
            },
            origin: rng.i32(..),
            local_date: random_string(&mut rng, 12),
            ..Default::default()
        };
        let mut request_id = format!("rnd-{i}");
        let mutations = if rng.u8(..10) < 3 { 0 } else { rng.u8(1..=3) };
        for _ in 0..mutations {
            match rng.u8(..12) {
                0 => s.trigger_point = random_string(&mut rng, 40),
                1 => s.trigger_point = format!("triggerPoints/{}", random_string(&mut rng, 20)),
                2 => s.tool = random_string(&mut rng, 30),
                3 => s.side = random_i32(&mut rng, 5..=100),
                4 => s.pressure = random_i32(&mut rng, 11..=100),
                5 => s.duration_seconds = random_i32(&mut rng, 3601..=100_000),
                6 => s.tenderness_before = Some(random_i32(&mut rng, -100..=-1)),
                7 => s.pain_quality = random_i32(&mut rng, 6..=100),
                8 => s.notes = "n".repeat(rng.usize(2001..2100)),
                9 => s.perform_time = random_time(&mut rng),
                10 => s.guided_session = random_string(&mut rng, 30),
                _ => request_id = random_string(&mut rng, 70),
            }
        }
        let got = session
            .log_session(stack.as_user(
                user,
                ses::LogSessionRequest {
                    request_id: request_id.clone(),
                    session: Some(s.clone()),
                },
            ))
            .await;
        let key = match &got {
            Ok(_) => "OK".to_owned(),
            Err(e) => format!("{:?}", e.code()),
        };
        *counts.entry(key).or_default() += 1;
        match got {
            Ok(r) => {
                let r = r.into_inner();
                let stored = r.session.unwrap();
                // What was accepted is valid.
                let valid = (0..=10).contains(&stored.pressure)
                    && (1..=3600).contains(&stored.duration_seconds)
                    && stored.notes.chars().count() <= 2000
                    && stored.name.starts_with("sessions/")
                    && stored.name != "sessions/forged"
                    && stored.notes == s.notes;
                if !valid {
                    failures.push(format!("case {i}: accepted an invalid session {stored:?}"));
                }
                if !r.replayed {
                    accepted.insert(stored.name.clone(), stored);
                }
            }
            Err(e) if e.code() == Code::InvalidArgument => {
                if e.get_details_bad_request()
                    .is_none_or(|b| b.field_violations.is_empty())
                {
                    failures.push(format!("case {i}: INVALID_ARGUMENT without fields: {e:?}"));
                }
            }
            Err(e) => failures.push(format!("case {i}: {:?}: {}", e.code(), e.message())),
        }
    }

    // Random page tokens and names: refused or answered, never broken.
    // Structured extremes first (the journal's tokens are `micros_id`),
    // then random text.
    let extremes = [
        "9223372036854775807_zzzz",
        "-9223372036854775808_a",
        "0_0",
        "-1_\u{7f}",
        "1_../../etc",
        "00000000000000000000000000000001_x",
    ];
    for i in 0..60 + extremes.len() {
        let token = match extremes.get(i) {
            Some(t) => (*t).to_owned(),
            None => random_string(&mut rng, 80),
        };
        let checks = [
            catalog
                .search(cat::SearchRequest {
                    query: "neck".into(),
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            session
                .list_sessions(stack.as_user(
                    user,
                    ses::ListSessionsRequest {
                        page_token: token.clone(),
                        ..Default::default()
                    },
                ))
                .await
                .map(|_| ()),
            session
                .get_session(stack.as_user(
                    user,
                    ses::GetSessionRequest {
                        name: format!("sessions/{token}"),
                    },
                ))
                .await
                .map(|_| ()),
            catalog
                .get_muscle(cat::GetMuscleRequest {
                    name: random_string(&mut rng, 40),
                })
                .await
                .map(|_| ()),
        ];
        for c in checks {
            if let Err(e) = c
                && !matches!(e.code(), Code::InvalidArgument | Code::NotFound)
            {
                failures.push(format!(
                    "token case {i} {token:?}: {:?} {}",
                    e.code(),
                    e.message()
                ));
            }
        }
    }

    // What is stored is exactly what was accepted.
    let export = session
        .export_user_data(stack.as_user(user, ses::ExportUserDataRequest {}))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    let stored: BTreeMap<String, ses::SessionRecord> = export
        .sessions
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        accepted.keys().collect::<Vec<_>>(),
        "stored differs from accepted"
    );
    println!(
        "random input: {cases} LogSession cases {counts:?}, {} token/name cases, {} stored, {} failures",
        4 * (60 + extremes.len()),
        stored.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_resource_exhausted_with_a_delay() {
    let stack = TestStack::start_with(1, |g| {
        g.user_rate = 1;
        g.user_burst = 5;
        g.addr_rate = 1000;
        g.addr_burst = 1000;
    })
    .await;
    let mut session = stack.session().await;
    let mut ok = 0;
    let mut limited = None;
    for _ in 0..20 {
        match session
            .get_profile(stack.as_user("greedy", ses::GetProfileRequest {}))
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => {
                limited = Some(e);
                break;
            }
        }
    }
    let e = limited.expect("the user limit never applied");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(ok >= 5, "burst of 5 not honoured: {ok}");
    let retry = e.get_details_retry_info().and_then(|r| r.retry_delay);
    assert!(retry.is_some(), "no RetryInfo");
    // Another user is not affected.
    session
        .get_profile(stack.as_user("patient", ses::GetProfileRequest {}))
        .await
        .expect("another user is not limited");
    // After the delay the user is served again.
    tokio::time::sleep(retry.unwrap() + Duration::from_millis(50)).await;
    session
        .get_profile(stack.as_user("greedy", ses::GetProfileRequest {}))
        .await
        .expect("served again after the retry delay");

    // The per-address limit covers anonymous catalog calls.
    let stack = TestStack::start_with(1, |g| {
        g.addr_rate = 1;
        g.addr_burst = 5;
    })
    .await;
    let mut catalog = stack.catalog().await;
    let mut codes = Vec::new();
    for _ in 0..10 {
        codes.push(
            catalog
                .get_catalog_version(cat::GetCatalogVersionRequest {})
                .await
                .map_or_else(|e| e.code(), |_| Code::Ok),
        );
    }
    assert!(
        codes.contains(&Code::ResourceExhausted),
        "address limit never applied: {codes:?}"
    );
    println!(
        "rate limits: user burst {ok} then RESOURCE_EXHAUSTED (retry {retry:?}); address: {codes:?}"
    );
}
