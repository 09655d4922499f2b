//! A 100,000-session user (issue 17): exported in a stream, moved by the
//! reshard tool (what `knotwork reshard` runs) and imported byte-identical,
//! then served through the gateway from the new shard.
//!
//! The journal is written straight to the old shard: 98,000 sessions as
//! an import (StreamImportUser, which skips the per-session rules), then
//! 2,000 through BatchLogSessions at the largest batch (500), one hour
//! apart on two points. Logging all 100,000 through the rules took over
//! ten minutes in a debug build on the shared two-core machine.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1::Side;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::{INTERNAL_TOKEN, TestStack};
use prost::Message as _;
use tonic::transport::Channel;

const SESSIONS: usize = 100_000;
const BATCH: usize = 500;
/// Sessions written as an import; the rest are logged.
const IMPORTED: usize = 98_000;

fn point(n: usize) -> String {
    if n.is_multiple_of(2) {
        "triggerPoints/quadratus_lumborum_superficial".into()
    } else {
        "triggerPoints/upper_trapezius_1".into()
    }
}

async fn channel(url: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A request as the gateway sends it to a shard.
fn internal<T>(user: Option<&str>, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        INTERNAL_TOKEN.parse().unwrap(),
    );
    if let Some(u) = user {
        r.metadata_mut()
            .insert(knotwork_proto::metadata::USER_ID, u.parse().unwrap());
    }
    r.set_timeout(Duration::from_secs(600));
    r
}

/// The merged streamed export of `user` from `shard`, without its export
/// time, encoded.
async fn exported(shard: &str, user: &str) -> Vec<u8> {
    let mut admin = SessionAdminServiceClient::new(channel(shard).await);
    let mut parts = admin
        .stream_export_user(internal(
            None,
            ses::StreamExportUserRequest {
                user_id: user.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut whole = ses::UserDataExport::default();
    while let Some(m) = parts.message().await.unwrap() {
        whole
            .merge(m.part.unwrap().encode_to_vec().as_slice())
            .unwrap();
    }
    whole.export_time = None;
    whole.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_000_session_user_is_resharded_byte_identical() {
    let stack = TestStack::start_with_shards(2).await;
    let (old, new) = (&stack.session_urls[0], &stack.session_urls[1]);
    // A user who lives on shard 0 of one and on shard 1 of two.
    let user = (0..)
        .map(|i| format!("heavy-{i}"))
        .find(|u| knotwork_gateway::shard_for(u, 2) == 1)
        .unwrap();

    let started = Instant::now();
    let now = jiff::Timestamp::now().as_second();
    let at = move |n: usize| now - 600 - 3600 * n as i64;
    let first_user = user.clone();
    let parts = (0..IMPORTED / BATCH).map(move |b| {
        let sessions: Vec<_> = (b * BATCH..(b + 1) * BATCH)
            .map(|n| {
                let t = jiff::Timestamp::from_second(at(n)).unwrap();
                ses::SessionRecord {
                    name: format!("sessions/imported-{n:06}"),
                    trigger_point: point(n),
                    tool: "tools/lacrosse_ball".into(),
                    side: Side::Left as i32,
                    pressure: 4,
                    duration_seconds: 90,
                    notes: format!("session {n}"),
                    perform_time: Some(prost_types::Timestamp {
                        seconds: at(n),
                        nanos: 0,
                    }),
                    create_time: Some(prost_types::Timestamp {
                        seconds: at(n) + 60,
                        nanos: 0,
                    }),
                    local_date: t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string(),
                    origin: ses::SessionOrigin::Logged as i32,
                    ..Default::default()
                }
            })
            .collect();
        let request_ids = sessions
            .iter()
            .map(|s: &ses::SessionRecord| ses::RequestIdEntry {
                request_id: s.name.replace("sessions/", "r-"),
                resource: s.name.clone(),
            })
            .collect();
        ses::StreamImportUserRequest {
            part: Some(ses::UserDataExport {
                user_id: if b == 0 {
                    first_user.clone()
                } else {
                    String::new()
                },
                sessions,
                request_ids,
                ..Default::default()
            }),
            complete: b + 1 == IMPORTED / BATCH,
        }
    });
    let imported = SessionAdminServiceClient::new(channel(old).await)
        .stream_import_user(internal(None, tokio_stream::iter(parts)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.sessions_imported as usize, IMPORTED);
    let mut shard =
        SessionServiceClient::new(channel(old).await).max_encoding_message_size(16 * 1024 * 1024);
    for b in IMPORTED / BATCH..SESSIONS / BATCH {
        let requests = (0..BATCH)
            .map(|i| {
                let n = b * BATCH + i;
                ses::LogSessionRequest {
                    request_id: format!("h{n}"),
                    session: Some(ses::SessionRecord {
                        trigger_point: point(n),
                        tool: "tools/lacrosse_ball".into(),
                        side: Side::Left as i32,
                        pressure: 4,
                        duration_seconds: 90,
                        notes: format!("session {n}"),
                        perform_time: Some(prost_types::Timestamp {
                            seconds: at(n),
                            nanos: 0,
                        }),
                        ..Default::default()
                    }),
                }
            })
            .collect();
        let resp = shard
            .batch_log_sessions(internal(
                Some(&user),
                ses::BatchLogSessionsRequest { requests },
            ))
            .await
            .unwrap()
            .into_inner();
        let stored = resp
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Some(ses::batch_log_result::Outcome::Session(_))))
            .count();
        assert_eq!(stored, BATCH, "batch {b}: {:?}", resp.results.first());
    }
    let written = started.elapsed();

    let before = exported(old, &user).await;
    let exported_in = started.elapsed() - written;
    let report = knotwork_gateway::reshard(
        std::slice::from_ref(old),
        &stack.session_urls,
        INTERNAL_TOKEN,
    )
    .await
    .unwrap();
    let resharded_in = started.elapsed() - written - exported_in;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!((report.users_seen, report.users_moved), (1, 1));

    // Byte-identical on the new shard, and gone from the old one.
    let after = exported(new, &user).await;
    assert_eq!(after.len(), before.len());
    assert!(after == before, "the moved export differs");
    let decoded = ses::UserDataExport::decode(after.as_slice()).unwrap();
    assert_eq!(decoded.sessions.len(), SESSIONS);
    assert_eq!(decoded.request_ids.len(), SESSIONS);
    let mut admin = SessionAdminServiceClient::new(channel(old).await);
    let gone = admin
        .list_users(internal(None, ses::ListUsersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(gone.user_ids.is_empty(), "{:?}", gone.user_ids);

    // Served through the gateway from the new shard: the largest page,
    // a day, and the user's own streamed export, byte-identical again.
    let mut app = stack.session().await;
    let page = app
        .list_sessions(stack.as_user(
            &user,
            ses::ListSessionsRequest {
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.sessions.len(), 500);
    assert!(!page.next_page_token.is_empty());
    let yesterday = page.sessions[30].local_date.clone();
    let day = app
        .get_day(stack.as_user(
            &user,
            ses::GetDayRequest {
                local_date: yesterday,
                max_sessions: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        (20..=25).contains(&day.total_sessions),
        "{}",
        day.total_sessions
    );
    let mut own = app
        .stream_export_user_data(stack.as_user(&user, ses::StreamExportUserDataRequest {}))
        .await
        .unwrap()
        .into_inner();
    let mut whole = ses::UserDataExport::default();
    let mut parts = 0;
    while let Some(m) = own.message().await.unwrap() {
        parts += 1;
        whole
            .merge(m.part.unwrap().encode_to_vec().as_slice())
            .unwrap();
    }
    whole.export_time = None;
    assert!(
        whole.encode_to_vec() == before,
        "the user's own export differs"
    );
    eprintln!(
        "100,000 sessions: written in {:.1} s, exported ({:.1} MB) in {:.1} s, resharded \
         (export, import, verify, delete) in {:.1} s; the user's own export came in {parts} parts",
        written.as_secs_f64(),
        before.len() as f64 / 1e6,
        exported_in.as_secs_f64(),
        resharded_in.as_secs_f64(),
    );
}
