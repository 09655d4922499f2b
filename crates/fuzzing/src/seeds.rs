//! The seed inputs the corpus started from: the catalog data files, one
//! valid (or nearly valid) request per public method, and issued page
//! tokens. Written to `fuzz/corpus/<target>/seed-*` by
//! `cargo test -p knotwork-fuzzing -- --ignored write_seed_corpus`.

use std::time::{Duration, SystemTime};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::session::v1 as ses;

use crate::requests::{self, input};

/// `(target, file name, bytes)` for every seed.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    out.push((
        "catalog_loader",
        "seed-catalog.toml".to_owned(),
        knotwork_catalog::state::EMBEDDED_CATALOG
            .as_bytes()
            .to_vec(),
    ));
    out.push((
        "catalog_loader",
        "seed-small.toml".to_owned(),
        include_bytes!("../../catalog/tests/fixtures/small.toml").to_vec(),
    ));

    let token = knotwork_catalog::domain::page::encode("fuzz-version", "search|fuzz|", 5);
    for (name, mut bytes) in [
        ("catalog-token", token.into_bytes()),
        ("catalog-round-trip", b"\0\0\0\x07v1\0search|neck|".to_vec()),
        (
            "session-token",
            b"1764230400000000_0190f3a2-7c1b-7000-8000-000000000001".to_vec(),
        ),
    ] {
        let pick = match name {
            "catalog-token" => 3 * 20,
            "catalog-round-trip" => 1,
            _ => 2,
        };
        bytes.insert(0, pick);
        out.push(("page_tokens", format!("seed-{name}"), bytes));
    }

    let (point, tool) = requests::harness().point_and_tool.clone();
    let when = prost_types::Timestamp::from(SystemTime::now() - Duration::from_secs(3600));
    let record = ses::SessionRecord {
        trigger_point: point.clone(),
        tool: tool.clone(),
        side: cat::Side::Right as i32,
        pressure: 5,
        duration_seconds: 90,
        tenderness_before: Some(6),
        tenderness_after: Some(4),
        notes: "eased after the second round".into(),
        perform_time: Some(when),
        ..Default::default()
    };
    let neck = cat::PainLocation {
        region: "neck".into(),
        side: cat::Side::Left as i32,
    };
    let mut r = |method: &str, bytes: Vec<u8>| {
        out.push(("requests", format!("seed-{method}"), bytes));
    };
    for m in requests::METHODS {
        // Every method with an empty message.
        r(&format!("{m}-empty"), input(m, &()));
    }
    r(
        "find_by_pain",
        input(
            "find_by_pain",
            &cat::FindByPainRequest {
                locations: vec![neck.clone()],
                symptoms: vec!["headache".into()],
                page_size: 2,
                ..Default::default()
            },
        ),
    );
    r(
        "search",
        input(
            "search",
            &cat::SearchRequest {
                query: "quadratus lumborum".into(),
                page_size: 3,
                ..Default::default()
            },
        ),
    );
    r(
        "get_trigger_point",
        input(
            "get_trigger_point",
            &cat::GetTriggerPointRequest {
                name: point.clone(),
            },
        ),
    );
    r(
        "list_trigger_points",
        input(
            "list_trigger_points",
            &cat::ListTriggerPointsRequest {
                page_size: 2,
                ..Default::default()
            },
        ),
    );
    r(
        "log_session",
        input(
            "log_session",
            &ses::LogSessionRequest {
                request_id: "seed-1".into(),
                session: Some(record.clone()),
            },
        ),
    );
    r(
        "batch_log_sessions",
        input(
            "batch_log_sessions",
            &ses::BatchLogSessionsRequest {
                requests: vec![
                    ses::LogSessionRequest {
                        request_id: "seed-2".into(),
                        session: Some(record.clone()),
                    },
                    ses::LogSessionRequest {
                        request_id: "seed-3".into(),
                        session: Some(record),
                    },
                ],
            },
        ),
    );
    r(
        "update_profile",
        input(
            "update_profile",
            &ses::UpdateProfileRequest {
                profile: Some(ses::Profile {
                    time_zone: "Europe/Berlin".into(),
                    tools: vec![tool.clone()],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["time_zone".into(), "tools".into()],
                }),
            },
        ),
    );
    r(
        "submit_screening",
        input(
            "submit_screening",
            &ses::SubmitScreeningRequest {
                answers: requests::harness()
                    .contraindications
                    .iter()
                    .map(|c| ses::ScreeningAnswer {
                        contraindication: c.clone(),
                        ..Default::default()
                    })
                    .collect(),
            },
        ),
    );
    r(
        "start_guided_session",
        input(
            "start_guided_session",
            &ses::StartGuidedSessionRequest {
                request_id: "seed-g".into(),
                trigger_point: point,
                tool,
                side: cat::Side::Left as i32,
                duration_seconds: 0,
            },
        ),
    );
    r(
        "list_sessions",
        input(
            "list_sessions",
            &ses::ListSessionsRequest {
                page_size: 1,
                ..Default::default()
            },
        ),
    );
    r(
        "get_day",
        input(
            "get_day",
            &ses::GetDayRequest {
                local_date: "2026-11-27".into(),
                max_sessions: 0,
            },
        ),
    );
    r(
        "list_progress",
        input(
            "list_progress",
            &ses::ListProgressRequest {
                days: 7,
                ..Default::default()
            },
        ),
    );
    r(
        "delete_user_data",
        input(
            "delete_user_data",
            &ses::DeleteUserDataRequest { confirm: true },
        ),
    );
    r(
        "get_relief_plan",
        input(
            "get_relief_plan",
            &gw::GetReliefPlanRequest {
                locations: vec![neck],
                symptoms: vec![],
                max_candidates: 5,
            },
        ),
    );
    out
}
