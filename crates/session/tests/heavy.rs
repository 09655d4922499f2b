//! Heavy users and whole-shard copies, over real gRPC on loopback: the
//! per-user quota, the oversized-request refusal, GetDay's bound, the
//! streamed export and import, and backup and restore under write load.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use knotwork_proto::catalog::v1::Side;
use knotwork_proto::session::v1 as pb;
use prost::Message as _;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

fn ago(secs: i64) -> prost_types::Timestamp {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: 0,
    }
}

fn record(perform: prost_types::Timestamp, notes: &str) -> pb::SessionRecord {
    pb::SessionRecord {
        trigger_point: "triggerPoints/ql_superficial".into(),
        tool: "tools/lacrosse_ball".into(),
        side: Side::Left as i32,
        pressure: 4,
        duration_seconds: 60,
        tenderness_before: Some(5),
        tenderness_after: Some(4),
        notes: notes.into(),
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

/// A batch of `n` sessions, a second apart, ending `end_ago` seconds ago.
fn batch(prefix: &str, n: usize, end_ago: i64) -> pb::BatchLogSessionsRequest {
    pb::BatchLogSessionsRequest {
        requests: (0..n)
            .map(|i| {
                log(
                    &format!("{prefix}-{i}"),
                    record(ago(end_ago + i as i64), ""),
                )
            })
            .collect(),
    }
}

#[tokio::test]
async fn the_quota_refuses_with_quota_failure_and_follows_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let mut config = config(dir.path(), &url);
    config.quota_sessions = 5;
    let server = start_session_with(config.clone(), true).await;
    let mut c = client(server.addr, "hana").await;
    let mut other = client(server.addr, "otto").await;
    // The first record is kept: its replay must carry the same perform
    // time, whatever second the clock has reached by then.
    let first = record(ago(100), "");
    for i in 0..5 {
        let r = if i == 0 {
            first.clone()
        } else {
            record(ago(100 + i), "")
        };
        c.log_session(log(&format!("q{i}"), r)).await.unwrap();
    }
    let refused = c
        .log_session(log("q5", record(ago(50), "")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let q = refused.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(q.violations[0].subject, "user:sessions");
    assert_eq!(
        refused.get_details_error_info().unwrap().reason,
        "QUOTA_EXCEEDED"
    );
    // A retry of a stored session is a replay, not a new write.
    let replay = c
        .log_session(log("q0", first.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(replay.replayed);
    // In a batch, each item is refused on its own.
    let b = c.batch_log_sessions(batch("b", 2, 10)).await.unwrap();
    for r in &b.get_ref().results {
        match &r.outcome {
            Some(pb::batch_log_result::Outcome::Error(e)) => {
                assert_eq!(e.code, Code::ResourceExhausted as i32);
                assert_eq!(e.reason, "QUOTA_EXCEEDED");
            }
            other => panic!("not refused: {other:?}"),
        }
    }
    // Another user is not affected.
    other
        .log_session(log("o1", record(ago(10), "")))
        .await
        .unwrap();
    // Deleting a session frees room; the counter survives a restart.
    let first = c
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sessions[0]
        .name
        .clone();
    c.delete_session(pb::DeleteSessionRequest { name: first })
        .await
        .unwrap();
    server.stop().await;
    let server = start_session_with(config.clone(), true).await;
    let mut c = client(server.addr, "hana").await;
    c.log_session(log("q6", record(ago(40), ""))).await.unwrap();
    let again = c
        .log_session(log("q7", record(ago(30), "")))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::ResourceExhausted);
    server.stop().await;

    // The byte quota: 1 MiB holds a few hundred sessions with long notes.
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &url);
    config.quota_mib = 1;
    let server = start_session_with(config, true).await;
    let mut c = client(server.addr, "hana").await;
    let notes = "ü".repeat(2000);
    let mut stored = 0;
    let refusal = loop {
        match c
            .log_session(log(
                &format!("n{stored}"),
                record(ago(5000 - stored), &notes),
            ))
            .await
        {
            Ok(_) => stored += 1,
            Err(s) => break s,
        }
        assert!(stored < 1000, "never refused");
    };
    assert_eq!(refusal.code(), Code::ResourceExhausted);
    assert_eq!(
        refusal.get_details_quota_failure().unwrap().violations[0].subject,
        "user:bytes"
    );
    assert!(
        (100..600).contains(&stored),
        "{stored} sessions fit in 1 MiB"
    );
}

#[tokio::test]
async fn notes_are_capped_and_oversized_requests_are_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "nils").await;
    let long = c
        .log_session(log("long", record(ago(10), &"x".repeat(2001))))
        .await
        .unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument);
    let bad = long.get_details_bad_request().unwrap();
    assert_eq!(bad.field_violations[0].field, "session.notes");
    // Over the session server's own 16 MiB limit: refused before any
    // handler, as RESOURCE_EXHAUSTED (tonic alone says OUT_OF_RANGE).
    let mut c = c.max_encoding_message_size(64 * 1024 * 1024);
    let huge = c
        .log_session(log("huge", record(ago(10), &"x".repeat(17 * 1024 * 1024))))
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::ResourceExhausted, "{huge:?}");
    // The connection still serves.
    c.log_session(log("ok", record(ago(10), ""))).await.unwrap();
}

#[tokio::test]
async fn get_day_is_bounded_and_reports_totals() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let server = start_session(dir.path(), &url).await;
    let mut c = client(server.addr, "dora").await;
    // 130 sessions within the last few minutes: today in UTC (unless the
    // test runs right after midnight, when some fall on yesterday).
    let b = c.batch_log_sessions(batch("d", 130, 5)).await.unwrap();
    assert!(
        b.get_ref()
            .results
            .iter()
            .all(|r| matches!(r.outcome, Some(pb::batch_log_result::Outcome::Session(_))))
    );
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let on_today = b
        .get_ref()
        .results
        .iter()
        .filter(|r| match &r.outcome {
            Some(pb::batch_log_result::Outcome::Session(s)) => s.local_date == today.to_string(),
            _ => false,
        })
        .count();
    let day = c
        .get_day(pb::GetDayRequest {
            local_date: today.to_string(),
            max_sessions: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(day.total_sessions as usize, on_today);
    assert_eq!(day.total_duration_seconds, 60 * on_today as i64);
    assert_eq!(day.sessions.len(), on_today.min(100));
    assert_eq!(day.sessions_truncated, on_today > 100);
    let few = c
        .get_day(pb::GetDayRequest {
            local_date: today.to_string(),
            max_sessions: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(few.sessions.len(), on_today.min(7));
    assert_eq!(few.total_sessions, day.total_sessions);
    assert_eq!(few.allowances, day.allowances);
    let bad = c
        .get_day(pb::GetDayRequest {
            local_date: String::new(),
            max_sessions: 501,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        bad.get_details_bad_request().unwrap().field_violations[0].field,
        "max_sessions"
    );
}

/// Merges streamed parts into one export (protobuf merge).
fn merge(parts: &[pb::UserDataExport]) -> pb::UserDataExport {
    let mut whole = pb::UserDataExport::default();
    for p in parts {
        whole.merge(p.encode_to_vec().as_slice()).unwrap();
    }
    whole
}

async fn export_parts(a: &mut AdminClient, user: &str) -> Vec<pb::UserDataExport> {
    let mut s = a
        .stream_export_user(pb::StreamExportUserRequest {
            user_id: user.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        let mut p = m.part.unwrap();
        p.export_time = None;
        out.push(p);
    }
    out
}

#[tokio::test]
async fn streamed_export_and_import_move_a_user_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let one = start_session(dir.path(), &url).await;
    let two = start_session(dir2.path(), &url).await;
    let mut c = client(one.addr, "mo").await;
    c.update_profile(pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            time_zone: "Asia/Tokyo".into(),
            ..Default::default()
        }),
        update_mask: None,
    })
    .await
    .unwrap();
    let notes = "long notes ".repeat(150);
    for k in 0..3 {
        let mut b = batch(&format!("m{k}"), 500, 10 + 500 * k);
        for r in &mut b.requests {
            r.session.as_mut().unwrap().notes.clone_from(&notes);
        }
        c.batch_log_sessions(b).await.unwrap();
    }

    // The user's own streamed export: the same data as the unary one.
    let mut parts = Vec::new();
    let mut s = c
        .stream_export_user_data(pb::StreamExportUserDataRequest {})
        .await
        .unwrap()
        .into_inner();
    while let Some(m) = s.next().await {
        parts.push(m.unwrap().part.unwrap());
    }
    assert!(parts.len() > 3, "{} parts", parts.len());
    assert!(parts.iter().all(|p| p.encoded_len() < 2 * 1024 * 1024));
    let mut streamed = merge(&parts);
    let mut unary = c
        .export_user_data(pb::ExportUserDataRequest {})
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    streamed.export_time = None;
    unary.export_time = None;
    assert_eq!(streamed.sessions.len(), 1500);
    assert_eq!(streamed, unary);

    // Moved with the streamed calls: byte-identical on the other shard.
    let mut a1 = admin(one.addr, Some(TOKEN)).await;
    let mut a2 = admin(two.addr, Some(TOKEN)).await;
    let sent = export_parts(&mut a1, "mo").await;
    let n = sent.len();
    let msgs =
        sent.clone()
            .into_iter()
            .enumerate()
            .map(move |(i, p)| pb::StreamImportUserRequest {
                part: Some(p),
                complete: i + 1 == n,
            });
    let done = a2
        .stream_import_user(tokio_stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.sessions_imported, 1500);
    let got = export_parts(&mut a2, "mo").await;
    assert_eq!(merge(&got).encode_to_vec(), merge(&sent).encode_to_vec());

    // An import that stops before its last part leaves nothing behind.
    let partial = sent.clone().into_iter().take(2).map(|p| {
        let mut p = p;
        p.user_id = if p.user_id.is_empty() {
            String::new()
        } else {
            "mo-copy".into()
        };
        pb::StreamImportUserRequest {
            part: Some(p),
            complete: false,
        }
    });
    let aborted = a2
        .stream_import_user(tokio_stream::iter(partial))
        .await
        .unwrap_err();
    assert_eq!(aborted.code(), Code::Aborted, "{aborted:?}");
    let gone = a2
        .stream_export_user(pb::StreamExportUserRequest {
            user_id: "mo-copy".into(),
        })
        .await;
    let gone = match gone {
        Err(s) => s,
        Ok(r) => r.into_inner().message().await.unwrap_err(),
    };
    assert_eq!(gone.code(), Code::NotFound);
    // A later part naming another user is refused, and undone too.
    let mixed = [
        pb::StreamImportUserRequest {
            part: Some(pb::UserDataExport {
                user_id: "x1".into(),
                ..sent[0].clone()
            }),
            complete: false,
        },
        pb::StreamImportUserRequest {
            part: Some(pb::UserDataExport {
                user_id: "x2".into(),
                ..Default::default()
            }),
            complete: true,
        },
    ];
    let refused = a2
        .stream_import_user(tokio_stream::iter(mixed))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    // Admin calls need the credential.
    let mut anon = admin(two.addr, None).await;
    assert_eq!(
        anon.backup(pb::BackupRequest {}).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

/// One acknowledged write of the load: when it was sent and acknowledged.
#[derive(Debug, Clone)]
struct Acked {
    request_id: String,
    sent: jiff::Timestamp,
    acked: jiff::Timestamp,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_exactly_the_writes_before_its_point() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let config = config(dir.path(), &url);
    let server = start_session_with(config.clone(), true).await;
    // Some data before the load.
    let mut c = client(server.addr, "base").await;
    c.batch_log_sessions(batch("pre", 300, 1000)).await.unwrap();

    // Four writers log one session at a time until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = client(server.addr, &format!("writer-{w}")).await;
        let stop = stop.clone();
        let count = count.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let rid = format!("w{w}-{i}");
                let sent = jiff::Timestamp::now();
                c.log_session(log(&rid, record(ago(60), ""))).await.unwrap();
                acked.push(Acked {
                    request_id: rid,
                    sent,
                    acked: jiff::Timestamp::now(),
                });
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                i += 1;
            }
            acked
        }));
    }
    // Once the load has made 40 writes, back up while it goes on.
    let acked_by = |n: usize| {
        let count = count.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while count.load(std::sync::atomic::Ordering::SeqCst) < n {
                assert!(tokio::time::Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    acked_by(40).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("shard.redb");
    let mut a = admin(server.addr, Some(TOKEN)).await;
    let stream = a.backup(pb::BackupRequest {}).await.unwrap().into_inner();
    let saved = knotwork_session::transfer::save_backup(stream, &file)
        .await
        .unwrap();
    // And 20 more writes after it.
    acked_by(count.load(std::sync::atomic::Ordering::SeqCst) + 20).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.unwrap());
    }
    assert!(saved.rows > 300, "{saved:?}");

    // Restoring into a running shard's folder is refused.
    let refused = knotwork_session::store::restore_file(&file, dir.path()).unwrap_err();
    assert!(refused.to_string().contains("stop the shard"), "{refused}");
    server.stop().await;

    // Restore into the stopped shard's folder and start it again.
    let restored = knotwork_session::store::restore_file(&file, dir.path()).unwrap();
    assert!(restored.previous.is_some());
    let server = start_session_with(config, true).await;
    let mut before = 0;
    let mut after = 0;
    let mut in_flight = 0;
    for w in 0..4 {
        let user = format!("writer-{w}");
        let mut a = admin(server.addr, Some(TOKEN)).await;
        let present: std::collections::BTreeSet<String> = match a
            .stream_export_user(pb::StreamExportUserRequest {
                user_id: user.clone(),
            })
            .await
        {
            Ok(r) => {
                let mut s = r.into_inner();
                let mut ids = std::collections::BTreeSet::new();
                while let Some(m) = s.message().await.transpose() {
                    match m {
                        Ok(m) => ids.extend(
                            m.part
                                .unwrap()
                                .request_ids
                                .into_iter()
                                .map(|r| r.request_id),
                        ),
                        Err(s) if s.code() == Code::NotFound => break,
                        Err(s) => panic!("{s:?}"),
                    }
                }
                ids
            }
            Err(s) => panic!("{s:?}"),
        };
        for write in all
            .iter()
            .filter(|x| x.request_id.starts_with(&format!("w{w}-")))
        {
            let has = present.contains(&write.request_id);
            if write.acked < saved.snapshot_time {
                assert!(has, "{write:?} was acknowledged before the backup point");
                before += 1;
            }
            if write.sent > saved.snapshot_open_time {
                assert!(!has, "{write:?} was sent after the backup point");
                after += 1;
            }
            if write.acked >= saved.snapshot_time && write.sent <= saved.snapshot_open_time {
                in_flight += 1;
            }
        }
        // Every restored write was one the load made (and acknowledged).
        for id in &present {
            assert!(all.iter().any(|x| &x.request_id == id), "{id}");
        }
    }
    assert!(before >= 40, "{before} writes before the point");
    assert!(after >= 16, "{after} writes after the point");
    // Only a write in flight at the point may go either way: acknowledged
    // after the point's window opened and sent before it closed. That is
    // one per writer when the window (the read transaction's opening) is
    // short, more when the thread taking it is held off a loaded core
    // meanwhile (CI once saw five), so the count is reported, not bounded.
    eprintln!(
        "backup under load: {} acknowledged writes, {before} before the point (all restored), \
         {after} after it (none restored), {in_flight} in flight (window {} us); {} rows",
        all.len(),
        saved
            .snapshot_open_time
            .duration_since(saved.snapshot_time)
            .as_micros(),
        saved.rows
    );
    // The rest of the shard is whole: the data written before the load.
    let mut c = client(server.addr, "base").await;
    let list = c
        .list_sessions(pb::ListSessionsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.sessions.len(), 300);
    // The quota counters came back with the rows.
    let mut c = c;
    c.log_session(log("after-restore", record(ago(5), "")))
        .await
        .unwrap();
}
