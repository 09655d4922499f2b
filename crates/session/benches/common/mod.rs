//! What the session benches share: a small catalog, the session every
//! write logs, and the writers that log them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use knotwork_session::domain::catalog::{CatalogView, Condition, Guidance, PointInfo};
use knotwork_session::domain::{PainQuality, SessionDraft, Side};
use knotwork_session::store::{LogItem, Store};

/// A catalog of one point and one tool, with the product's guidance.
pub fn catalog() -> CatalogView {
    let mut points = std::collections::BTreeMap::new();
    points.insert(
        "ql_superficial".to_owned(),
        PointInfo {
            id: "ql_superficial".into(),
            bilateral: true,
            ..Default::default()
        },
    );
    CatalogView {
        version: "bench".into(),
        guidance: Guidance {
            target_pressure: 5,
            max_safe_pressure: 7,
            min_duration_seconds: 30,
            max_duration_seconds: 300,
            max_sessions_per_point_per_day: 6,
            recommended_sessions_per_day_min: 1,
            expected_improvement_days: 7,
            trend_window_days: 7,
            consistent_days_min: 5,
            min_tenderness_change: 1,
        },
        conditions: vec![Condition {
            id: "cancer".into(),
            display_name: "Cancer".into(),
            ..Default::default()
        }],
        points,
        regions: Default::default(),
        tools: ["lacrosse_ball".to_owned()].into_iter().collect(),
    }
}

/// The `n`th session a writer logs.
pub fn draft(n: u64) -> SessionDraft {
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
        twitch_response: n.is_multiple_of(3),
        notes: "Felt a release after a minute; less tender afterwards.".into(),
        perform_time: Timestamp::now() - jiff::SignedDuration::from_secs((n % 86_400) as i64),
        guided_session: None,
    }
}

/// `writers` tasks, each logging one session per call as its own user
/// until `deadline`: the latency of every call.
pub async fn log_for(
    store: &Arc<Store>,
    catalog: Arc<CatalogView>,
    writers: usize,
    deadline: Instant,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, catalog) = (store.clone(), catalog.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("user{w}");
            let mut lat = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let item = LogItem {
                    request_id: format!("r{n}"),
                    draft: draft(n),
                    field_prefix: "session.".into(),
                };
                let t = Instant::now();
                let out = store
                    .log_sessions(&user, vec![item], catalog.clone(), Timestamp::now())
                    .await
                    .unwrap();
                assert!(out[0].is_ok());
                lat.push(t.elapsed());
                n += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}
