//! Error replies stay small, so one caller's bad input cannot break the
//! gateway-to-backend connection that other callers share (issue 17, item 1).
//!
//! User A holds 6 GuideSession streams open; user B (and an anonymous
//! caller) sends 1 000 requests whose errors once repeated unbounded input
//! (a 17 000-character resource name, 500 unknown tools, 300 unknown
//! conditions, 100 bad 200-character names, 1 000 unknown kinds). Every
//! reply must have its documented code, a `grpc-message` of at most 1 KiB,
//! at most 20 field violations and at most 4 KiB of details; A's streams
//! must still be open afterwards, all of them on one backend connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use knotwork_tests::procs::POINT;
use prost_types::FieldMask;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// How many oversized-error requests the flood sends.
const FLOOD: usize = 1_000;

/// Asserts the reply's bounds and returns its code.
#[track_caller]
fn bounded(s: &Status) -> Code {
    assert!(
        s.message().len() <= 1024,
        "message {} bytes",
        s.message().len()
    );
    assert!(
        s.details().len() <= 4096,
        "details {} bytes",
        s.details().len()
    );
    if let Some(br) = s.get_details_bad_request() {
        assert!(br.field_violations.len() <= 20);
        assert!(br.field_violations.iter().all(|v| v.field.len() <= 128));
    }
    s.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_streams_survive_oversized_errors() {
    let stack = TestStack::start_with(1, |g| {
        // One connection per backend: every call below shares it.
        g.backend_connections = 1;
        g.user_rate = 100_000;
        g.user_burst = 100_000;
        g.addr_rate = 100_000;
        g.addr_burst = 100_000;
    })
    .await;
    let mut catalog = stack.catalog().await;
    let mut a = stack.session().await;
    let conditions = catalog
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .contraindications;
    let tool = catalog
        .get_trigger_point(cat::GetTriggerPointRequest { name: POINT.into() })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap()
        .techniques[0]
        .tool
        .clone();
    a.submit_screening(
        stack.as_user(
            "user-a",
            ses::SubmitScreeningRequest {
                answers: conditions
                    .iter()
                    .map(|c| ses::ScreeningAnswer {
                        contraindication: c.name.clone(),
                        ..Default::default()
                    })
                    .collect(),
            },
        ),
    )
    .await
    .unwrap();
    let mut streams = Vec::new();
    for i in 0..6 {
        let guided = a
            .start_guided_session(stack.as_user(
                "user-a",
                ses::StartGuidedSessionRequest {
                    request_id: format!("guided-{i}"),
                    trigger_point: POINT.into(),
                    tool: tool.clone(),
                    side: cat::Side::Right as i32,
                    duration_seconds: 0,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .guided_session
            .unwrap();
        let mut stream = a
            .guide_session(stack.as_user("user-a", ses::GuideSessionRequest { name: guided.name }))
            .await
            .unwrap()
            .into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert_eq!(first.cue(), ses::GuideCue::Start);
        streams.push(stream);
    }

    let mut b = stack.session().await;
    let mut anon = stack.catalog().await;
    let mut codes = std::collections::BTreeMap::<(usize, i32), usize>::new();
    for i in 0..FLOOD {
        let kind = i % 5;
        let reply = match kind {
            0 => b
                .get_session(stack.as_user(
                    "user-b",
                    ses::GetSessionRequest {
                        name: format!("sessions/{}", "a".repeat(17_000)),
                    },
                ))
                .await
                .map(|_| ()),
            1 => b
                .update_profile(stack.as_user(
                    "user-b",
                    ses::UpdateProfileRequest {
                        profile: Some(ses::Profile {
                            time_zone: "UTC".into(),
                            tools: (0..500).map(|t| format!("tools/unknown-{t}")).collect(),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["tools".into()],
                        }),
                    },
                ))
                .await
                .map(|_| ()),
            2 => b
                .submit_screening(
                    stack.as_user(
                        "user-b",
                        ses::SubmitScreeningRequest {
                            answers: (0..300)
                                .map(|c| ses::ScreeningAnswer {
                                    contraindication: format!("contraindications/nope-{c}"),
                                    ..Default::default()
                                })
                                .collect(),
                        },
                    ),
                )
                .await
                .map(|_| ()),
            3 => anon
                .batch_get_trigger_points(cat::BatchGetTriggerPointsRequest {
                    names: (0..100)
                        .map(|n| format!("triggerPoints/{n}{}", "x".repeat(200)))
                        .collect(),
                })
                .await
                .map(|_| ()),
            _ => anon
                .search(cat::SearchRequest {
                    query: "back".into(),
                    kinds: (0..1000).map(|k| 100 + k).collect(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
        };
        let status = reply.expect_err("every flood request is refused");
        *codes.entry((kind, bounded(&status) as i32)).or_default() += 1;
    }
    let expected = [
        Code::NotFound,
        Code::InvalidArgument,
        Code::InvalidArgument,
        Code::InvalidArgument,
        Code::InvalidArgument,
    ];
    for ((kind, code), n) in &codes {
        assert_eq!(
            Code::from(*code),
            expected[*kind],
            "request kind {kind}: {n} x {code:?}"
        );
    }
    assert_eq!(codes.values().sum::<usize>(), FLOOD);

    // A's streams are still open: each either has its next cue or is
    // still waiting for it; none ended or failed.
    for (i, s) in streams.iter_mut().enumerate() {
        match tokio::time::timeout(Duration::from_millis(200), s.message()).await {
            Err(_) | Ok(Ok(Some(_))) => {}
            Ok(other) => panic!("stream {i} ended: {other:?}"),
        }
    }
    println!("{FLOOD} oversized-error requests: {codes:?}; 6 of 6 streams open");
}
