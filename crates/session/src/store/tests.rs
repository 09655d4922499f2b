//! The store's tests: writes and reads through the async API.

use super::keys::{META, SCHEMA_VERSION_KEY};
use super::*;
use crate::domain::catalog::fixture;
use crate::domain::{PainQuality, Side};

fn draft(point: &str, at: &str, tenderness: Option<u8>) -> SessionDraft {
    SessionDraft {
        trigger_point: point.into(),
        tool: "lacrosse_ball".into(),
        side: Side::Left,
        pressure: 5,
        duration_seconds: 90,
        tenderness_before: tenderness,
        tenderness_after: None,
        pain_quality: PainQuality::Dull,
        worse_with_activity: false,
        worse_with_massage: false,
        twitch_response: false,
        notes: String::new(),
        perform_time: at.parse().unwrap(),
        guided_session: None,
    }
}

fn item(rid: &str, d: SessionDraft) -> LogItem {
    LogItem {
        request_id: rid.into(),
        draft: d,
        field_prefix: "session.".into(),
    }
}

/// The single copy, or a Raft group of one when `replicated`.
async fn single_or_group(dir: &std::path::Path, replicated: bool) -> Store {
    if replicated {
        group_of_one(dir).await
    } else {
        Store::open(dir, StoreOptions::default()).unwrap()
    }
}

/// A store that is a Raft group of one (`knotwork up`'s default).
async fn group_of_one(dir: &std::path::Path) -> Store {
    Store::open_replicated(
        dir,
        StoreOptions::default(),
        ReplicaOptions::single(),
        crate::raft::NoNetwork,
    )
    .await
    .unwrap()
}

fn now() -> Timestamp {
    "2026-03-10T12:00:00Z".parse().unwrap()
}

fn pain(region: &str, score: u8) -> CheckInDraft {
    CheckInDraft {
        region: region.into(),
        score,
    }
}

/// One per region per local day (the person's zone), replaced the same
/// day, kept apart the next; survives export, delete and import.
#[tokio::test]
async fn check_ins_per_local_day_and_region_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let patch = ProfilePatch {
        time_zone: Some("America/New_York".into()),
        ..Default::default()
    };
    store.update_profile("u", patch, now()).await.unwrap();
    // 02:00 UTC on the 11th is still the 10th in New York.
    let late: Timestamp = "2026-03-11T02:00:00Z".parse().unwrap();
    let next: Timestamp = "2026-03-11T14:00:00Z".parse().unwrap();
    let (a, r) = store
        .record_check_in("u", "a", pain("low_back", 6), now())
        .await
        .unwrap();
    assert_eq!(
        (a.local_date.to_string().as_str(), r),
        ("2026-03-10", (false, false))
    );
    let (b, r) = store
        .record_check_in("u", "b", pain("low_back", 5), late)
        .await
        .unwrap();
    assert_eq!((b.local_date, r), (a.local_date, (false, true)));
    let (c, _) = store
        .record_check_in("u", "c", pain("low_back", 3), next)
        .await
        .unwrap();
    assert_eq!(c.local_date.to_string(), "2026-03-11");
    let (again, r) = store
        .record_check_in("u", "a", pain("low_back", 9), next)
        .await
        .unwrap();
    assert_eq!((again.score, r), (5, (true, false)));
    let days = store
        .check_ins("u", a.local_date, c.local_date)
        .await
        .unwrap();
    let scores: Vec<u8> = days.iter().map(|c| c.score).collect();
    assert_eq!(scores, [5, 3]);
    assert!(
        store
            .check_ins("u", c.local_date, c.local_date)
            .await
            .unwrap()
            .len()
            == 1
    );
    assert!(
        store
            .check_ins("v", a.local_date, c.local_date)
            .await
            .unwrap()
            .is_empty()
    );

    let data = store.export("u").await.unwrap();
    assert_eq!(data.check_ins, days);
    store.delete_user("u").await.unwrap();
    assert!(
        store
            .check_ins("u", a.local_date, c.local_date)
            .await
            .unwrap()
            .is_empty()
    );
    store.import_user(data.clone()).await.unwrap();
    assert_eq!(store.export("u").await.unwrap().check_ins, data.check_ins);
    // The imported request ids stay idempotent.
    let (again, r) = store
        .record_check_in("u", "c", pain("low_back", 1), next)
        .await
        .unwrap();
    assert_eq!((again.score, r.0), (3, true));
}

#[tokio::test]
async fn duplicates_in_one_batch_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let cat = Arc::new(fixture::catalog());
    let d = draft("ql_superficial", "2026-03-10T10:00:00Z", Some(5));
    let out = store
        .log_sessions(
            "u",
            vec![item("r1", d.clone()), item("r1", d.clone()), item("r2", d)],
            cat,
            now(),
        )
        .await
        .unwrap();
    let (a, ra) = out[0].as_ref().unwrap();
    let (b, rb) = out[1].as_ref().unwrap();
    assert!(!ra && *rb);
    assert_eq!(a, b);
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 2);
}

#[tokio::test]
async fn deleting_a_user_leaves_no_key_and_spares_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let cat = Arc::new(fixture::catalog());
    for user in ["al", "alice"] {
        store
            .update_profile(
                user,
                ProfilePatch {
                    time_zone: Some("Europe/Berlin".into()),
                    ..Default::default()
                },
                now(),
            )
            .await
            .unwrap();
        store
            .log_sessions(
                user,
                vec![item(
                    "r",
                    draft("ql_superficial", "2026-03-10T10:00:00Z", Some(4)),
                )],
                cat.clone(),
                now(),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user("al").await.unwrap(), (1, 0));
    let keys = store.scan_all_keys().unwrap();
    assert!(
        !keys
            .iter()
            .any(|(_, k)| k == b"al" || k.starts_with(b"al\0"))
    );
    assert!(keys.iter().any(|(_, k)| k.starts_with(b"alice\0")));
    assert_eq!(store.all_sessions("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_page_cache_stays_within_its_bound() {
    // A database many times the cache, all written and read back: the
    // cache holds at most its bound, however large the file grows.
    let dir = tempfile::tempdir().unwrap();
    let bound = 256 * 1024;
    let store = Store::open(
        dir.path(),
        StoreOptions {
            max_batch: 64,
            cache_bytes: bound,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let cat = Arc::new(fixture::catalog());
    for b in 0..40 {
        let items = (0..50)
            .map(|i| {
                let at = format!("2026-03-{:02}T10:{:02}:00Z", 1 + b % 9, i);
                let mut d = draft("ql_superficial", &at, Some(5));
                d.notes = "x".repeat(400);
                item(&format!("r{b}-{i}"), d)
            })
            .collect();
        store
            .log_sessions(&format!("user-{b}"), items, cat.clone(), now())
            .await
            .unwrap();
    }
    let mut read = 0;
    for b in 0..40 {
        read += store
            .all_sessions(&format!("user-{b}"))
            .await
            .unwrap()
            .len();
    }
    assert_eq!(read, 2000);
    let file = std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len();
    assert!(file > 4 * bound as u64, "file {file} bytes");
    let used = current(&store.db).unwrap().cache_stats().used_bytes();
    assert!(used > 0 && used <= bound, "cache holds {used} bytes");
}

#[tokio::test]
async fn list_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            max_batch: 1,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let cat = Arc::new(fixture::catalog());
    for h in 0..5 {
        let at = format!("2026-03-0{}T10:00:00Z", h + 1);
        store
            .log_sessions(
                "u",
                vec![item(&format!("r{h}"), draft("ql_superficial", &at, None))],
                cat.clone(),
                now(),
            )
            .await
            .unwrap();
    }
    let (page, more) = store
        .list_sessions("u", None, None, None, None, 2)
        .await
        .unwrap();
    assert!(more);
    assert_eq!(page[0].local_date.to_string(), "2026-03-05");
    let last = &page[1];
    let cursor = (last.draft.perform_time.as_microsecond(), last.id.clone());
    let (page, _) = store
        .list_sessions("u", None, None, None, Some(cursor), 10)
        .await
        .unwrap();
    let dates: Vec<_> = page.iter().map(|r| r.local_date.to_string()).collect();
    assert_eq!(dates, ["2026-03-03", "2026-03-02", "2026-03-01"]);
    let start = "2026-03-02T00:00:00Z".parse().unwrap();
    let end = "2026-03-04T00:00:00Z".parse().unwrap();
    let (page, more) = store
        .list_sessions("u", Some(start), Some(end), None, None, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert!(!more);
}

/// The journal as progress reads it holds exactly the fields of every
/// stored session, in the same order as the whole records.
#[tokio::test]
async fn the_journal_projects_every_stored_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let cat = Arc::new(fixture::catalog());
    let mut twitch = draft("ql_superficial", "2026-03-02T23:30:00Z", Some(6));
    twitch.twitch_response = true;
    twitch.tenderness_after = Some(3);
    twitch.notes = "left side \"tight\", eased after".into();
    let items = vec![
        item("a", draft("ql_superficial", "2026-03-01T10:00:00Z", None)),
        item("b", twitch),
        item("c", draft("piriformis_1", "2026-03-03T08:15:00Z", Some(4))),
    ];
    store.log_sessions("u", items, cat, now()).await.unwrap();
    let whole = store.all_sessions("u").await.unwrap();
    let journal = store.journal("u").await.unwrap();
    assert_eq!(whole.len(), 3);
    let expected: Vec<JournalEntry> = whole.iter().map(JournalEntry::from).collect();
    assert_eq!(journal, expected);
    // Grouped straight from the rows, as progress reads it.
    let grouped = store.journal_grouped("u").await.unwrap();
    assert_eq!(*grouped, crate::domain::progress::by_point(expected));
    assert_eq!(grouped.by_point["ql_superficial"].len(), 2);
    assert!(journal.iter().any(|e| e.draft.twitch_response
        && e.draft.tenderness_before == Some(6)
        && e.draft.tenderness_after == Some(3)));
    assert!(store.journal("nobody").await.unwrap().is_empty());
}

/// A database written before the schema version was stored (the same
/// tables, no `meta` row) opens, reads back what it held and gets the
/// version; a database from a newer build is refused.
#[tokio::test]
async fn a_database_without_a_schema_version_opens_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(fixture::catalog());
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store
            .log_sessions(
                "u",
                vec![item(
                    "r",
                    draft("ql_superficial", "2026-03-10T10:00:00Z", Some(4)),
                )],
                cat.clone(),
                now(),
            )
            .await
            .unwrap();
    }
    // What the first version wrote: every table but `meta` and `journal`.
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(META).unwrap());
        assert!(txn.delete_table(keys::JOURNAL).unwrap());
        txn.commit().unwrap();
        assert_eq!(stored_version(&db).unwrap(), None);
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let sessions = store.all_sessions("u").await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].draft.tenderness_before, Some(4));
    assert_eq!(store.journal("u").await.unwrap().len(), 1);
    // Its request id still replays.
    let out = store
        .log_sessions(
            "u",
            vec![item(
                "r",
                draft("ql_superficial", "2026-03-10T10:00:00Z", Some(4)),
            )],
            cat,
            now(),
        )
        .await
        .unwrap();
    assert!(out[0].as_ref().unwrap().1);
    drop(store);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    assert_eq!(stored_version(&db).unwrap(), Some(SCHEMA_VERSION));

    // A newer build's database is refused, not misread.
    {
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(
                SCHEMA_VERSION_KEY,
                (SCHEMA_VERSION + 1).to_be_bytes().as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }
    drop(db);
    let refused = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(refused.to_string().contains("schema version"), "{refused}");
}

/// A group of one serves writes as soon as it is open, replays by request
/// id, and reopens with its data (the state machine in the session file,
/// the log in its own).
#[tokio::test]
async fn a_group_of_one_writes_at_once_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(fixture::catalog());
    let open = || group_of_one(dir.path());
    let mut store = open().await;
    let d = draft("ql_superficial", "2026-03-10T10:00:00Z", Some(5));
    let out = store
        .log_sessions("u", vec![item("r1", d.clone())], cat.clone(), now())
        .await
        .unwrap();
    assert!(!out[0].as_ref().unwrap().1);
    store.close().await;
    drop(store);
    let store = open().await;
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 1);
    let out = store
        .log_sessions("u", vec![item("r1", d)], cat, now())
        .await
        .unwrap();
    assert!(out[0].as_ref().unwrap().1, "a retry is a replay");
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 1);
}

/// A group of one written before the log had a file of its own (schema
/// version 2: its log, vote and committed id in the session file) opens
/// as the current version with every session,
/// replays a request id written then, and takes new writes; its log now
/// sits in `raft-log.redb` and nothing of it in the session file.
#[tokio::test]
async fn a_replica_of_the_one_file_layout_opens_and_writes() {
    use redb::ReadableTableMetadata;
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(fixture::catalog());
    let mut store = group_of_one(dir.path()).await;
    for (i, at) in ["2026-03-09T10:00:00Z", "2026-03-10T10:00:00Z"]
        .into_iter()
        .enumerate()
    {
        let d = draft("ql_superficial", at, Some(5));
        store
            .log_sessions("u", vec![item(&format!("r{i}"), d)], cat.clone(), now())
            .await
            .unwrap();
    }
    store.close().await;
    drop(store);
    // Back to the one-file layout: the log and its state into the session
    // file, the log file gone.
    {
        let log_path = dir.path().join(log_file::LOG_FILE);
        let log = Database::open(&log_path).unwrap();
        let session = Database::open(dir.path().join(DB_FILE)).unwrap();
        let from = log.begin_read().unwrap();
        let txn = session.begin_write().unwrap();
        {
            let mut to = txn.open_table(log_file::LOG).unwrap();
            for item in from.open_table(log_file::LOG).unwrap().iter().unwrap() {
                let (k, v) = item.unwrap();
                to.insert(k.value(), v.value()).unwrap();
            }
            let mut state = txn.open_table(keys::RAFT_STATE).unwrap();
            let kept = from.open_table(log_file::LOG_STATE).unwrap();
            for k in [log_file::VOTE, log_file::COMMITTED, log_file::PURGED] {
                if let Some(v) = kept.get(k).unwrap() {
                    state.insert(k, v.value()).unwrap();
                }
            }
            assert!(to.len().unwrap() > 0, "the log had entries");
            txn.open_table(META)
                .unwrap()
                .insert(SCHEMA_VERSION_KEY, 2u32.to_be_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
        drop((from, log, session));
        std::fs::remove_file(log_path).unwrap();
    }
    let store = group_of_one(dir.path()).await;
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 2);
    let d = draft("ql_superficial", "2026-03-10T10:00:00Z", Some(5));
    let out = store
        .log_sessions("u", vec![item("r1", d)], cat.clone(), now())
        .await
        .unwrap();
    assert!(
        out[0].as_ref().unwrap().1,
        "a request id of the old layout replays"
    );
    let d = draft("ql_superficial", "2026-03-10T11:00:00Z", Some(4));
    let out = store
        .log_sessions("u", vec![item("r2", d)], cat, now())
        .await
        .unwrap();
    assert!(!out[0].as_ref().unwrap().1);
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 3);
    let db = current(&store.db).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(txn.open_table(log_file::LOG).unwrap().len().unwrap(), 0);
    let state = txn.open_table(keys::RAFT_STATE).unwrap();
    assert!(state.get(log_file::VOTE).unwrap().is_none());
    assert_eq!(stored_version(&db).unwrap(), Some(SCHEMA_VERSION));
    assert!(dir.path().join(log_file::LOG_FILE).exists());
}

/// Raft runs on threads of its own: a write commits while every thread of
/// the runtime that opened the store is busy (here its only one, blocked
/// until the write returns), so a write's steps never wait for the threads
/// serving calls.
#[tokio::test(flavor = "current_thread")]
async fn a_group_of_one_commits_while_the_service_threads_are_busy() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(fixture::catalog());
    let store = group_of_one(dir.path()).await;
    let store = Arc::new(store);
    let (done, wait) = std::sync::mpsc::channel();
    let writer = store.clone();
    // Not joined: without threads of its own, the write would never end.
    std::thread::spawn(move || {
        let d = draft("ql_superficial", "2026-03-10T10:00:00Z", Some(5));
        let logged =
            futures::executor::block_on(writer.log_sessions("u", vec![item("r1", d)], cat, now()));
        let _ = done.send(logged.map(|l| l.len()));
    });
    // Blocks the test's runtime, its only thread, meanwhile.
    let logged = wait
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the write committed while the runtime's thread was blocked");
    assert_eq!(logged.unwrap(), 1);
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 1);
}

/// A read on a group of one does not queue behind writes: while a
/// committed entry waits to be applied (the session file blocked by a held
/// write transaction), a read still answers at once, from the applied
/// state; once storage moves again the write lands and reads see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_one_reads_while_its_apply_is_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(fixture::catalog());
    let store = group_of_one(dir.path()).await;
    let d = draft("ql_superficial", "2026-03-10T10:00:00Z", Some(5));
    store
        .log_sessions("u", vec![item("r1", d)], cat, now())
        .await
        .unwrap();
    // The first read of the term confirms it through the Raft core.
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 1);

    // Hold the session file's one write transaction: the log (a file of
    // its own) takes the entry, and its apply waits. A read confirmed
    // through the Raft core would wait for that apply too.
    let db = current(&store.db).unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let txn = db.begin_write().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        txn.abort().unwrap();
    });
    held_rx.recv().unwrap();
    // An entry for the core to append, handed over before the read starts,
    // so the read's own message to the core would queue behind the append.
    let raft = store.raft().unwrap().clone();
    let based_on = raft.metrics().borrow().last_applied;
    let write = raft
        .client_write_ff(replica::Batch {
            based_on,
            changes: Vec::new(),
            shard_map: None,
        })
        .await
        .unwrap();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(2), store.all_sessions("u")).await;
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let read = read.expect("a read waited for the blocked apply");
    assert_eq!(read.unwrap().len(), 1);
    write.await.unwrap().unwrap();
    assert_eq!(store.all_sessions("u").await.unwrap().len(), 1);
}

/// The journal table stays exactly what the sessions derive through every
/// write that changes them (log, correct, delete, import over, delete the
/// user), on a plain store and on a group of one, and across a reopen.
#[tokio::test]
async fn the_journal_table_follows_every_sessions_write() {
    let cat = Arc::new(fixture::catalog());
    for replicated in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let open = || single_or_group(dir.path(), replicated);
        let mut store = open().await;
        let exact = |store: &Store, step: &str| {
            let db = current(&store.db).unwrap();
            assert_eq!(
                journal::first_difference(&db).unwrap(),
                None,
                "replicated {replicated}, after {step}"
            );
        };
        let mut twitch = draft("ql_superficial", "2026-03-02T23:30:00.5Z", Some(6));
        twitch.twitch_response = true;
        twitch.tenderness_after = Some(3);
        let items = vec![
            item("a", draft("ql_superficial", "2026-03-01T10:00:00Z", None)),
            item("b", twitch),
            item("c", draft("piriformis_1", "2026-03-03T08:15:00Z", Some(4))),
        ];
        for user in ["u", "v"] {
            store
                .log_sessions(user, items.clone(), cat.clone(), now())
                .await
                .unwrap();
        }
        exact(&store, "logging");
        assert_eq!(store.journal("u").await.unwrap().len(), 3);

        // A correction that moves the session in time and to another point.
        let first = store.all_sessions("u").await.unwrap()[0].clone();
        let mut moved = first.draft.clone();
        moved.trigger_point = "piriformis_1".into();
        moved.perform_time = "2026-03-04T09:00:00Z".parse().unwrap();
        moved.tenderness_before = Some(2);
        store
            .update_session(
                "u",
                SessionUpdate {
                    id: first.id.clone(),
                    draft: moved,
                },
                cat.clone(),
                now(),
            )
            .await
            .unwrap();
        exact(&store, "a correction");
        let journal = store.journal("u").await.unwrap();
        let last = journal.last().unwrap();
        assert_eq!(
            (
                last.draft.trigger_point.as_str(),
                last.draft.tenderness_before
            ),
            ("piriformis_1", Some(2))
        );

        let second = store.all_sessions("u").await.unwrap()[0].clone();
        assert!(store.delete_session("u", &second.id).await.unwrap());
        exact(&store, "a deletion");
        assert_eq!(store.journal("u").await.unwrap().len(), 2);

        // Import over another user's data: the journal is what was imported.
        let mut data = store.export("v").await.unwrap();
        data.user_id = "u".into();
        assert_eq!(store.import_user(data).await.unwrap(), 3);
        exact(&store, "an import");
        let (u, v) = (
            store.journal("u").await.unwrap(),
            store.journal("v").await.unwrap(),
        );
        assert_eq!(u, v);

        store.delete_user("v").await.unwrap();
        exact(&store, "deleting a user");
        assert!(store.journal("v").await.unwrap().is_empty());

        store.close().await;
        drop(store);
        let store = open().await;
        exact(&store, "a reopen");
        assert_eq!(store.journal("u").await.unwrap(), u);
    }
}

/// A database of schema version 1 (no journal table) opens as the current
/// version with the journal filled from its sessions.
#[tokio::test]
async fn a_version_1_database_gets_its_journal_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(fixture::catalog());
    let expected = {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let items = vec![
            item(
                "a",
                draft("ql_superficial", "2026-03-01T10:00:00Z", Some(5)),
            ),
            item("b", draft("piriformis_1", "2026-03-03T08:15:00Z", None)),
        ];
        store.log_sessions("u", items, cat, now()).await.unwrap();
        store.journal("u").await.unwrap()
    };
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(keys::JOURNAL).unwrap());
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, 1u32.to_be_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.journal("u").await.unwrap(), expected);
    assert_eq!(
        journal::first_difference(&current(&store.db).unwrap()).unwrap(),
        None
    );
    drop(store);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    assert_eq!(stored_version(&db).unwrap(), Some(SCHEMA_VERSION));
}

/// The grouped journal kept between calls (`versions.rs`) is the same one
/// read again while nothing changed, and never outlives a change of the
/// user's sessions: logs, corrections, deletions, a user deleted and
/// imported again, on the single copy and on a group of one alike.
#[tokio::test]
async fn the_kept_journal_follows_every_change() {
    use crate::domain::progress::by_point;
    for replicated in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = single_or_group(dir.path(), replicated).await;
        let cat = Arc::new(fixture::catalog());
        // Always what the rows say, read past any cache.
        let check = async |step: &str| {
            let kept = store.journal_grouped("u").await.unwrap();
            let rows = by_point(store.journal("u").await.unwrap());
            assert_eq!(*kept, rows, "replicated {replicated}, after {step}");
            kept
        };
        let log = async |user: &str, rid: &str, point: &str, at: &str, before: Option<u8>| {
            let items = vec![item(rid, draft(point, at, before))];
            store
                .log_sessions(user, items, cat.clone(), now())
                .await
                .unwrap();
        };
        log("u", "a", "ql_superficial", "2026-03-01T10:00:00Z", None).await;
        let first = check("a log").await;
        assert!(Arc::ptr_eq(
            &first,
            &store.journal_grouped("u").await.unwrap()
        ));

        // Another user's write keeps u's journal, on both (the two ids
        // have counters of their own, raised per changed row).
        log("v", "v1", "piriformis_1", "2026-03-01T11:00:00Z", None).await;
        let after_v = check("another user's log").await;
        assert!(Arc::ptr_eq(&first, &after_v), "replicated {replicated}");

        log("u", "b", "piriformis_1", "2026-03-02T10:00:00Z", Some(4)).await;
        assert_eq!(check("a second log").await.by_point.len(), 2);

        let record = store.all_sessions("u").await.unwrap()[0].clone();
        let mut moved = record.draft.clone();
        moved.trigger_point = "piriformis_1".into();
        store
            .update_session(
                "u",
                SessionUpdate {
                    id: record.id.clone(),
                    draft: moved,
                },
                cat.clone(),
                now(),
            )
            .await
            .unwrap();
        let corrected = check("a correction").await;
        assert_eq!(corrected.by_point["piriformis_1"].len(), 2);
        assert!(!corrected.by_point.contains_key("ql_superficial"));

        assert!(store.delete_session("u", &record.id).await.unwrap());
        assert_eq!(check("a deletion").await.by_point["piriformis_1"].len(), 1);

        let data = store.export("u").await.unwrap();
        store.delete_user("u").await.unwrap();
        assert!(check("the user deleted").await.by_point.is_empty());
        store.import_user(data).await.unwrap();
        assert_eq!(check("the user imported").await.by_point.len(), 1);
    }
}

/// Commits patch a kept journal instead of a read scanning it again
/// (`versions.rs`); the patched journal is always what the rows say. Many
/// writes of one user in a seeded random order, some in one batch, at
/// repeated and back-dated times, moved between points and times, deleted,
/// with a reader running alongside; on the single copy and on a group of
/// one alike.
#[tokio::test]
async fn patched_journals_match_the_rows() {
    use crate::domain::progress::by_point;
    const POINTS: [&str; 4] = ["ql_superficial", "ql_deep", "piriformis_1", "iliopsoas_1"];
    for replicated in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = single_or_group(dir.path(), replicated).await;
        let cat = Arc::new(fixture::catalog());
        // xorshift64: a seeded order, the same on every run.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        // Times on a few days, often the same instant twice.
        let at = |slot: u64| format!("2026-03-0{}T{:02}:00:00Z", 1 + slot / 12, 8 + slot % 12);
        let done = std::sync::atomic::AtomicBool::new(false);
        let writes = async {
            for step in 0..160 {
                let sessions = store.all_sessions("u").await.unwrap();
                let ids: Vec<String> = sessions.iter().map(|r| r.id.clone()).collect();
                let point = POINTS[next(4) as usize];
                match next(12) {
                    0..=4 => {
                        let d = draft(point, &at(next(60)), Some(next(9) as u8 + 1));
                        let items = vec![item(&format!("r{step}"), d)];
                        let _ = store.log_sessions("u", items, cat.clone(), now()).await;
                    }
                    5 => {
                        let items = (0..3)
                            .map(|i| {
                                let p = POINTS[next(4) as usize];
                                item(&format!("r{step}-{i}"), draft(p, &at(next(60)), None))
                            })
                            .collect();
                        let _ = store.log_sessions("u", items, cat.clone(), now()).await;
                    }
                    6 | 7 if !ids.is_empty() => {
                        let id = ids[next(ids.len() as u64) as usize].clone();
                        let update = SessionUpdate {
                            id,
                            draft: draft(point, &at(next(60)), Some(3)),
                        };
                        let _ = store.update_session("u", update, cat.clone(), now()).await;
                    }
                    8 if !ids.is_empty() => {
                        let id = &ids[next(ids.len() as u64) as usize];
                        store.delete_session("u", id).await.unwrap();
                    }
                    9 => {
                        // Every session of a point: it goes, and may come
                        // back later.
                        for r in sessions.iter().filter(|r| r.draft.trigger_point == point) {
                            store.delete_session("u", &r.id).await.unwrap();
                        }
                    }
                    _ => {
                        // Another user's write in between.
                        let items = vec![item(&format!("v{step}"), draft(point, &at(1), None))];
                        let _ = store.log_sessions("v", items, cat.clone(), now()).await;
                    }
                }
                if next(3) == 0 {
                    let kept = store.journal_grouped("u").await.unwrap();
                    let rows = by_point(store.journal("u").await.unwrap());
                    assert_eq!(*kept, rows, "replicated {replicated}, step {step}");
                    // The progress kept across patches (only the changed
                    // points computed again) is what the rows give.
                    let today = jiff::civil::date(2026, 3, 6);
                    assert_eq!(
                        kept.progress(today, 28, &cat),
                        rows.progress(today, 28, &cat),
                        "replicated {replicated}, step {step}"
                    );
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        // Reads racing the commits: a read that began before a commit and
        // is kept after it must never be taken for current.
        let reads = async {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                store.journal_grouped("u").await.unwrap();
                tokio::task::yield_now().await;
            }
        };
        tokio::join!(writes, reads);
        let kept = store.journal_grouped("u").await.unwrap();
        let rows = by_point(store.journal("u").await.unwrap());
        assert_eq!(*kept, rows, "replicated {replicated}, at the end");
        assert!(rows.by_point.len() > 1, "replicated {replicated}");
        let (_, _, patched, _) = store.recovery.journals.counts();
        assert!(patched >= 40, "replicated {replicated}: {patched} patched");
    }
}

/// Concurrent writers on a group of one, in batches evaluated before the
/// group stores them: every write sees every write before it. The day's
/// count behind each session's warnings is exact (the 7th and later of
/// one point on one day exceed the limit, whichever batch they rode in),
/// and a request id sent twice at once is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_see_every_write_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(group_of_one(dir.path()).await);
    let cat = Arc::new(fixture::catalog());
    const WRITES: usize = 48;
    let mut tasks = Vec::new();
    for round in 0..3 {
        for i in 0..WRITES / 3 {
            let (store, cat) = (store.clone(), cat.clone());
            // Every fifth write repeats the request id of the one before.
            let n = round * (WRITES / 3) + i;
            let m = if n % 5 == 4 { n - 1 } else { n };
            let rid = format!("r{m}");
            tasks.push(tokio::spawn(async move {
                let at = format!("2026-03-10T{:02}:{:02}:00Z", 8 + m / 60, m % 60);
                let d = draft("ql_superficial", &at, Some(5));
                let out = store
                    .log_sessions("u", vec![item(&rid, d)], cat, now())
                    .await
                    .unwrap();
                let (record, replayed) = out.into_iter().next().unwrap().unwrap();
                (rid, record, replayed)
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut by_rid: std::collections::HashMap<String, Vec<(SessionRecord, bool)>> =
        std::collections::HashMap::new();
    for t in tasks {
        let (rid, record, replayed) = t.await.unwrap();
        by_rid.entry(rid).or_default().push((record, replayed));
    }
    let distinct = by_rid.len();
    assert_eq!(distinct, WRITES - WRITES / 5);
    for (rid, outs) in &by_rid {
        assert_eq!(
            outs.iter().filter(|(_, replayed)| !replayed).count(),
            1,
            "{rid} stored once"
        );
        assert!(outs.windows(2).all(|w| w[0].0.id == w[1].0.id), "{rid}");
    }
    let stored = store.all_sessions("u").await.unwrap();
    assert_eq!(stored.len(), distinct);
    let exceeded = stored
        .iter()
        .filter(|s| {
            s.warnings
                .iter()
                .any(|w| w.code == crate::domain::WarningCode::DailyLimitExceeded)
        })
        .count();
    assert_eq!(exceeded, distinct - 6, "the 7th and later exceed the limit");
    let (commits, ops) = store.stats().get();
    assert!(commits > 1 && ops == WRITES as u64, "{commits} {ops}");
}

/// Many large writes at once (offline apps sending their backlog) are
/// split over batches of bounded bytes: every one is stored, once, on the
/// single copy and on a group of one, each in a batch of its own when one
/// call is over the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_writes_at_once_are_all_stored_over_bounded_batches() {
    for replicated in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        // A small bound: nearly every batch is cut.
        let options = StoreOptions {
            max_batch_bytes: 64 << 10,
            ..StoreOptions::default()
        };
        let store = Arc::new(if replicated {
            Store::open_replicated(
                dir.path(),
                options,
                ReplicaOptions::single(),
                crate::raft::NoNetwork,
            )
            .await
            .unwrap()
        } else {
            Store::open(dir.path(), options).unwrap()
        });
        let cat = Arc::new(fixture::catalog());
        const CALLS: usize = 24;
        const ITEMS: usize = 100;
        let tasks: Vec<_> = (0..CALLS)
            .map(|c| {
                let (store, cat) = (store.clone(), cat.clone());
                tokio::spawn(async move {
                    let items = (0..ITEMS)
                        .map(|i| {
                            let at = format!("2026-03-01T{:02}:{:02}:00Z", 8 + i / 60, i % 60);
                            let mut d = draft("ql_superficial", &at, None);
                            d.notes = "n".repeat(crate::domain::validate::MAX_NOTES_CHARS);
                            item(&format!("c{c}-{i}"), d)
                        })
                        .collect();
                    store
                        .log_sessions(&format!("u{c}"), items, cat, now())
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            let out = t.await.unwrap();
            assert_eq!(out.len(), ITEMS);
            assert!(out.iter().all(|r| matches!(r, Ok((_, false)))));
        }
        for c in 0..CALLS {
            assert_eq!(
                store.all_sessions(&format!("u{c}")).await.unwrap().len(),
                ITEMS
            );
        }
        // Some 5 MB of sessions, 64 KiB a batch: one call's a batch.
        let (commits, ops) = store.stats().get();
        assert!(
            commits == CALLS as u64 && ops == CALLS as u64,
            "{commits} {ops}"
        );
    }
}

/// A group of one commits its batches from the transactions that evaluated
/// them (`evaluated.rs`); its session file then holds exactly the rows a
/// replica gets by applying its log from the entries' rows: every data
/// table, the journal and the last batch, after concurrent writes of every
/// kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_holds_exactly_what_its_log_applies() {
    use redb::{ReadableDatabase, ReadableTable};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(group_of_one(dir.path()).await);
    let cat = Arc::new(fixture::catalog());
    let mut tasks = Vec::new();
    for u in 0..6 {
        let (store, cat) = (store.clone(), cat.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("u{u}");
            let patch = ProfilePatch {
                time_zone: Some("America/New_York".into()),
                ..Default::default()
            };
            store.update_profile(&user, patch, now()).await.unwrap();
            for i in 0..4 {
                let at = format!("2026-03-1{i}T10:00:00Z");
                let d = draft("ql_superficial", &at, Some(4 + i as u8));
                store
                    .log_sessions(&user, vec![item(&format!("r{i}"), d)], cat.clone(), now())
                    .await
                    .unwrap();
            }
            store
                .record_check_in(&user, "c", pain("low_back", 6), now())
                .await
                .unwrap();
            let first = store.all_sessions(&user).await.unwrap()[0].clone();
            assert!(store.delete_session(&user, &first.id).await.unwrap());
            if u % 3 == 2 {
                store.delete_user(&user).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let kept = store.recovery.kept.committed();
    assert!(kept > 0, "no batch was committed from its evaluation");
    let mut store = Arc::into_inner(store).unwrap();
    store.close().await;
    drop(store);

    let leader = recovery::open_db(&dir.path().join(DB_FILE), 1 << 20).unwrap();
    let log = recovery::open_db(&dir.path().join(log_file::LOG_FILE), 1 << 20).unwrap();
    let entries: Vec<openraft::Entry<replica::TypeConfig>> = {
        let txn = log.begin_read().unwrap();
        let t = txn.open_table(log_file::LOG).unwrap();
        t.iter()
            .unwrap()
            .map(|r| serde_json::from_slice(r.unwrap().1.value()).unwrap())
            .collect()
    };
    assert!(
        entries.first().is_some_and(|e| e.log_id.index <= 1),
        "the whole log"
    );
    let other = tempfile::tempdir().unwrap();
    let replica = prepare(other.path(), StoreOptions::default()).unwrap();
    let txn = replica.begin_write().unwrap();
    replica::create_tables(&txn).unwrap();
    let (replies, _) = replica::apply_entries(&txn, &entries, None).unwrap();
    assert!(replies.iter().all(|r| r.applied));
    txn.commit().unwrap();

    let rows = |db: &redb::Database, def: keys::Def| -> Vec<(Vec<u8>, Vec<u8>)> {
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(def).unwrap();
        t.iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect()
    };
    let mut compared = 0;
    for def in keys::DATA_TABLES.iter().chain([&keys::JOURNAL]) {
        let (a, b) = (rows(&leader, *def), rows(&replica, *def));
        compared += a.len();
        assert_eq!(a, b, "table {def}");
    }
    assert!(compared > 50, "{compared} rows");
    let last = |db: &redb::Database| {
        let txn = db.begin_write().unwrap();
        let last = replica::last_batch(&txn).unwrap();
        txn.abort().unwrap();
        last
    };
    assert_eq!(last(&leader), last(&replica));
    assert!(last(&leader).is_some());
}
