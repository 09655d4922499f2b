//! The replica's storage against openraft's suite, stale batches, and
//! the shard map in entries and snapshots.

use super::*;

/// The flush interval of the state machines these tests build.
const TEST_FLUSH_EVERY: std::time::Duration = DEFAULT_FLUSH_EVERY;

/// Fresh stores over a new database, for openraft's storage suite.
struct Builder;

impl openraft::testing::StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir>
    for Builder
{
    async fn build(&self) -> StorageResult<(tempfile::TempDir, LogStore, StateMachine)> {
        let dir = tempfile::tempdir().map_err(io)?;
        let db =
            super::super::prepare(dir.path(), super::super::StoreOptions::default()).map_err(io)?;
        let log = super::super::log_file::open(dir.path(), &db, 1 << 20).map_err(io)?;
        let cell = Arc::new(std::sync::RwLock::new(Some(Arc::new(db))));
        let recovery = Recovery::new(cell, dir.path().join(super::super::DB_FILE), 1 << 20);
        let log = super::super::log_file::recovery(log, dir.path(), 1 << 20, &recovery);
        let sm = StateMachine::new(
            recovery,
            log.clone(),
            dir.path(),
            MapSink::default(),
            TEST_FLUSH_EVERY,
        );
        let log = LogStore::new(log);
        Ok((dir, log, sm))
    }
}

/// The log, vote and state machine pass openraft's own storage suite.
#[test]
fn storage_passes_the_openraft_suite() {
    openraft::testing::Suite::test_all(Builder).unwrap();
}

/// A batch evaluated against an older state is skipped on apply; one
/// based on the last applied batch is written.
#[tokio::test]
async fn a_stale_batch_is_skipped() {
    let (_dir, _log, mut sm) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 1), i);
    let put = |k: &str| Change::Put {
        table: 0,
        key: k.as_bytes().to_vec(),
        value: Vec::new(),
    };
    let entry = |i, based_on, k| Entry::<TypeConfig> {
        log_id: id(i),
        payload: EntryPayload::Normal(Batch {
            based_on,
            changes: vec![put(k)],
            shard_map: None,
        }),
    };
    let replies = sm
        .apply([
            entry(1, None, "a"),
            entry(2, Some(id(1)), "b"),
            entry(3, Some(id(1)), "stale"),
        ])
        .await
        .unwrap();
    let applied: Vec<bool> = replies.iter().map(|r| r.applied).collect();
    assert_eq!(applied, [true, true, false]);
    let db = current(&sm.db.cell).unwrap();
    let txn = db.begin_read().unwrap();
    let users = txn.open_table(DATA_TABLES[0]).unwrap();
    assert!(users.get(b"b".as_slice()).unwrap().is_some());
    assert!(users.get(b"stale".as_slice()).unwrap().is_none());
}

/// A map entry is held under the epoch rules, travels in snapshots,
/// and reaches the replica's hook when applied or installed.
#[tokio::test]
async fn a_shard_map_is_applied_and_travels_in_snapshots() {
    let (_a, _log, mut leader) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 1), i);
    let map = |epoch, b: &[u8]| Entry::<TypeConfig> {
        log_id: id(epoch),
        payload: EntryPayload::Normal(Batch {
            based_on: None,
            changes: Vec::new(),
            shard_map: Some(StoredMap {
                epoch,
                bytes: b.to_vec(),
            }),
        }),
    };
    let replies = leader
        .apply([map(2, b"two"), map(3, b"three"), map(3, b"other")])
        .await
        .unwrap();
    let applied: Vec<bool> = replies.iter().map(|r| r.applied).collect();
    assert_eq!(applied, [true, true, false]);
    let snapshot = leader.build_snapshot().await.unwrap();

    let (_b, _log, mut rebuilt) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = heard.clone();
    *rebuilt.maps.slot() = Some(Box::new(move |m: &StoredMap| {
        h.lock().unwrap().push(m.epoch);
    }));
    rebuilt
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    assert_eq!(*heard.lock().unwrap(), [3]);
    let db = current(&rebuilt.db.cell).unwrap();
    let txn = db.begin_read().unwrap();
    let held = map_state::get(&txn.open_table(RAFT_STATE).unwrap()).unwrap();
    assert_eq!(held.map(|m| m.bytes), Some(b"three".to_vec()));
}

/// A reopen after an I/O error takes the file back to its last durable
/// commit, losing applies made since; the reopen hook applies them again
/// from the log before the file is handed out.
#[tokio::test]
async fn a_reopen_restores_what_was_applied_from_the_log() {
    let (_dir, log, mut sm) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 1), i);
    let entry = |i: u64, based_on| Entry::<TypeConfig> {
        log_id: id(i),
        payload: EntryPayload::Normal(Batch {
            based_on,
            changes: vec![Change::Put {
                table: 0,
                key: format!("k{i}").into_bytes(),
                value: Vec::new(),
            }],
            shard_map: None,
        }),
    };
    let entries = [entry(1, None), entry(2, Some(id(1))), entry(3, Some(id(2)))];
    let db = current(&sm.db.cell).unwrap();
    {
        // In the log file: the session file holds none of the log.
        let txn = write_txn(&current(&log.db.cell).unwrap(), true).unwrap();
        let mut log = txn.open_table(LOG).unwrap();
        for e in &entries {
            log.insert(e.log_id.index, serde_json::to_vec(e).unwrap().as_slice())
                .unwrap();
        }
        drop(log);
        txn.commit().unwrap();
    }
    sm.apply(entries.clone()).await.unwrap();
    // What a reopen after an error does to the unflushed applies of 2 and 3.
    {
        let txn = write_txn(&db, true).unwrap();
        let mut users = txn.open_table(DATA_TABLES[0]).unwrap();
        users.remove(b"k2".as_slice()).unwrap();
        users.remove(b"k3".as_slice()).unwrap();
        drop(users);
        state_set(&txn, RAFT_STATE, APPLIED, &Some(id(1))).unwrap();
        state_set(&txn, RAFT_STATE, LAST_BATCH, &Some(id(1))).unwrap();
        txn.commit().unwrap();
    }
    let recovery = sm.db.clone();
    tokio::task::spawn_blocking(move || recovery.reopen(db, || {}))
        .await
        .unwrap();
    let db = current(&sm.db.cell).unwrap();
    let txn = db.begin_read().unwrap();
    let users = txn.open_table(DATA_TABLES[0]).unwrap();
    for k in ["k1", "k2", "k3"] {
        assert!(users.get(k.as_bytes()).unwrap().is_some(), "{k} lost");
    }
    let state = txn.open_table(RAFT_STATE).unwrap();
    let applied: Option<Option<LogId<NodeId>>> = state_get(&state, APPLIED).unwrap();
    assert_eq!(applied.flatten(), Some(id(3)));
    let last: Option<Option<LogId<NodeId>>> = state_get(&state, LAST_BATCH).unwrap();
    assert_eq!(last.flatten(), Some(id(3)));
    // The next batch, based on the last one, still applies.
    let replies = sm.apply([entry(4, Some(id(3)))]).await.unwrap();
    assert!(replies[0].applied);
}

/// Writes `n` batches without rows through `raft`, each on the last
/// entry applied; their log ids.
async fn write_empty_batches(raft: &Raft, n: usize) -> Vec<LogId<NodeId>> {
    let mut written = Vec::new();
    for _ in 0..n {
        let based_on = raft.metrics().borrow().last_applied;
        let reply = raft
            .client_write(Batch {
                based_on,
                changes: Vec::new(),
                shard_map: None,
            })
            .await
            .unwrap();
        written.push(reply.log_id);
    }
    written
}

/// The committed log id, kept in memory by `save_committed`, reaches the
/// log file with the log append that follows it: after two writes, the
/// file names the first one committed.
#[tokio::test]
async fn the_committed_log_id_is_stored_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = super::super::Store::open_replicated(
        dir.path(),
        super::super::StoreOptions::default(),
        super::super::ReplicaOptions::single(),
        crate::raft::NoNetwork,
    )
    .await
    .unwrap();
    let written = write_empty_batches(store.raft().unwrap(), 2).await;
    store.close().await;
    drop(store);
    let db = Database::open(dir.path().join(super::super::log_file::LOG_FILE)).unwrap();
    let stored: Option<LogId<NodeId>> = state_read::<Option<_>>(&db, LOG_STATE, COMMITTED)
        .unwrap()
        .flatten();
    assert!(
        stored.is_some_and(|c| c >= written[0]),
        "stored committed {stored:?}, written {written:?}"
    );
}

/// A store that closes cleanly leaves every apply in its session file
/// (redb writes what it holds when the file closes), so a clean stop has
/// none for the next start to make again, however long the flush interval:
/// no flush ran, and the file names the last entry applied.
#[tokio::test]
async fn a_clean_close_leaves_every_apply_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let replica = super::super::ReplicaOptions {
        flush_every: std::time::Duration::from_secs(3600),
        ..super::super::ReplicaOptions::single()
    };
    let mut store = super::super::Store::open_replicated(
        dir.path(),
        super::super::StoreOptions::default(),
        replica,
        crate::raft::NoNetwork,
    )
    .await
    .unwrap();
    let metrics = knotwork_runtime::metrics::Metrics::new("session");
    store.flushes.as_ref().unwrap().instrument(&metrics);
    let last = write_empty_batches(store.raft().unwrap(), 3).await.pop();
    store.close().await;
    drop(store);
    assert!(
        metrics
            .render()
            .contains("knotwork_session_flush_duration_seconds_count 0"),
        "no flush within the interval"
    );
    let db = Database::open(dir.path().join(super::super::DB_FILE)).unwrap();
    let applied: Option<LogId<NodeId>> = state_read::<Option<_>>(&db, RAFT_STATE, APPLIED)
        .unwrap()
        .flatten();
    assert_eq!(applied, last, "the file holds every apply");
}

/// The journal follows the sessions rows an entry changes (put, remove,
/// a user's range cleared) on every replica, and a replica that installs
/// a snapshot (which carries no journal) rebuilds it.
#[tokio::test]
async fn the_journal_follows_applied_sessions_and_snapshots() {
    use super::super::journal;
    use super::super::keys::{JOURNAL, SESSIONS, table_id};
    let (_a, _log, mut leader) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 1), i);
    let sessions = table_id(SESSIONS);
    let record = |point: &str, before: u8| {
        format!(
            r#"{{"id":"x","draft":{{"trigger_point":"{point}","duration_seconds":60,
            "tenderness_before":{before},"tenderness_after":null,"twitch_response":true,
            "perform_time":"2026-03-10T10:00:00Z"}},"local_date":"2026-03-10"}}"#
        )
        .into_bytes()
    };
    let put = |k: &[u8], point: &str, before: u8| Change::Put {
        table: sessions,
        key: k.to_vec(),
        value: record(point, before),
    };
    let entry = |i: u64, based_on, changes| Entry::<TypeConfig> {
        log_id: id(i),
        payload: EntryPayload::Normal(Batch {
            based_on,
            changes,
            shard_map: None,
        }),
    };
    leader
        .apply([
            entry(
                1,
                None,
                vec![
                    put(b"a\0k1", "psoas", 4),
                    put(b"a\0k2", "psoas", 5),
                    put(b"b\0k1", "ql", 6),
                    put(b"c\0k1", "ql", 7),
                ],
            ),
            entry(
                2,
                Some(id(1)),
                vec![
                    Change::Remove {
                        table: sessions,
                        key: b"a\0k1".to_vec(),
                    },
                    put(b"a\0k2", "piriformis", 3),
                    Change::Clear {
                        table: sessions,
                        lo: b"b\0".to_vec(),
                        hi: b"b\x01".to_vec(),
                    },
                ],
            ),
        ])
        .await
        .unwrap();
    let rows = |sm: &StateMachine| {
        let db = current(&sm.db.cell).unwrap();
        assert_eq!(journal::first_difference(&db).unwrap(), None);
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(JOURNAL).unwrap();
        t.iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                let e = journal::decode(v.value()).unwrap();
                (
                    k.value().to_vec(),
                    e.draft.trigger_point,
                    e.draft.tenderness_before,
                )
            })
            .collect::<Vec<_>>()
    };
    let expected = vec![
        (b"a\0k2".to_vec(), "piriformis".to_string(), Some(3)),
        (b"c\0k1".to_vec(), "ql".to_string(), Some(7)),
    ];
    assert_eq!(rows(&leader), expected);

    let snapshot = leader.build_snapshot().await.unwrap();
    let (_b, _log, mut rebuilt) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    // A row the snapshot does not hold, to be dropped by the install.
    rebuilt
        .apply([entry(1, None, vec![put(b"z\0k1", "ql", 1)])])
        .await
        .unwrap();
    rebuilt
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    assert_eq!(rows(&rebuilt), expected);
}

/// Once the metrics are registered, every flush of the session file is
/// timed: building a snapshot flushes, and so does an apply once
/// its interval has passed.
#[tokio::test]
async fn flushes_are_timed_once_instrumented() {
    let (_dir, _log, mut sm) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let count = |m: &knotwork_runtime::metrics::Metrics| {
        m.render()
            .lines()
            .find_map(|l| l.strip_prefix("knotwork_session_flush_duration_seconds_count "))
            .map(|n| n.parse::<u64>().unwrap())
    };
    // Not registered: a flush is not counted anywhere.
    sm.build_snapshot().await.unwrap();
    let metrics = knotwork_runtime::metrics::Metrics::new("session");
    sm.flushes().instrument(&metrics);
    assert_eq!(count(&metrics), Some(0));
    sm.build_snapshot().await.unwrap();
    assert_eq!(count(&metrics), Some(1));
    let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 1), i);
    let entry = |i, based_on| Entry::<TypeConfig> {
        log_id: id(i),
        payload: EntryPayload::Normal(Batch {
            based_on,
            changes: Vec::new(),
            shard_map: None,
        }),
    };
    sm.apply([entry(1, None)]).await.unwrap();
    assert_eq!(
        count(&metrics),
        Some(1),
        "an apply within the interval does not flush"
    );
    tokio::time::sleep(TEST_FLUSH_EVERY).await;
    sm.apply([entry(2, Some(id(1)))]).await.unwrap();
    assert_eq!(
        count(&metrics),
        Some(2),
        "the first apply after the interval flushes"
    );
}

/// The apply of a leader's batch commits the transaction that evaluated
/// it (`evaluated.rs`) when its entry is the batch as evaluated, on the
/// state it was evaluated on; any other entry is applied from its rows with
/// the kept transaction aborted, and a snapshot's flush never waits for a
/// kept batch.
#[tokio::test]
async fn a_kept_batch_is_committed_only_by_its_own_apply() {
    let (_dir, _log, mut sm) = openraft::testing::StoreBuilder::build(&Builder)
        .await
        .unwrap();
    let recovery = sm.db.clone();
    let db = current(&recovery.cell).unwrap();
    let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 1), i);
    let put = |k: &str| Change::Put {
        table: 0,
        key: k.as_bytes().to_vec(),
        value: Vec::new(),
    };
    let entry = |i, based_on, k: &str| Entry::<TypeConfig> {
        log_id: id(i),
        payload: EntryPayload::Normal(Batch {
            based_on,
            changes: vec![put(k)],
            shard_map: None,
        }),
    };
    // Evaluates `k` and, as a marker only the kept transaction holds (no
    // entry carries it), `marker`.
    let keep = |k: &'static str, marker: &'static str| {
        recovery
            .kept
            .keep(&db, |txn| {
                let mut users = txn.open_table(DATA_TABLES[0])?;
                for key in [k, marker] {
                    users.insert(key.as_bytes(), [].as_slice())?;
                }
                Ok((last_batch(txn)?, vec![put(k)]))
            })
            .unwrap()
    };
    let has = |k: &str| {
        let db = current(&recovery.cell).unwrap();
        let txn = db.begin_read().unwrap();
        let users = txn.open_table(DATA_TABLES[0]).unwrap();
        users.get(k.as_bytes()).unwrap().is_some()
    };
    let map = |i: u64| Entry::<TypeConfig> {
        log_id: id(i),
        payload: EntryPayload::Normal(Batch {
            based_on: None,
            changes: Vec::new(),
            shard_map: Some(StoredMap {
                epoch: i,
                bytes: b"map".to_vec(),
            }),
        }),
    };

    // Its own entry, after a map entry: the kept transaction commits.
    let (based_on, _) = keep("a", "marker-a");
    assert_eq!(based_on, None);
    let replies = sm.apply([map(1), entry(2, None, "a")]).await.unwrap();
    assert!(replies.iter().all(|r| r.applied));
    assert!(has("a") && has("marker-a"));
    assert_eq!(recovery.kept.committed(), 1);

    // Another entry on the same base: applied from its rows.
    let (based_on, _) = keep("b", "marker-b");
    assert_eq!(based_on, Some(id(2)));
    let replies = sm.apply([entry(3, Some(id(2)), "c")]).await.unwrap();
    assert!(replies[0].applied);
    assert!(has("c") && !has("b") && !has("marker-b"));
    assert_eq!(recovery.kept.committed(), 1);

    // The same changes on another base: skipped, the kept one aborted.
    keep("d", "marker-d");
    let replies = sm.apply([entry(4, Some(id(2)), "d")]).await.unwrap();
    assert!(!replies[0].applied);
    assert!(!has("d") && !has("marker-d"));

    // A snapshot taken while a batch is kept flushes without waiting for
    // it; the batch's entry then applies from its rows.
    keep("e", "marker-e");
    let built = tokio::time::timeout(std::time::Duration::from_secs(5), sm.build_snapshot()).await;
    if built.is_err() {
        // Let the blocked flush go, so the test fails instead of hanging.
        recovery.kept.discard();
        panic!("the flush waited for the kept batch");
    }
    let replies = sm.apply([entry(5, Some(id(3)), "e")]).await.unwrap();
    assert!(replies[0].applied);
    assert!(has("e") && !has("marker-e"));
    assert_eq!(recovery.kept.committed(), 1);
}
