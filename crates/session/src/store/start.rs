//! Opening the store as a replica of a Raft group: the group's settings,
//! openraft's configuration, and who starts a new group.

use std::path::Path;
use std::sync::Arc;

use super::recovery::DbCell;
use super::recovery::Recovery;
use super::replica::{self, TypeConfig};
use super::schema::prepare;
use super::writer::Proposer;
use super::{DB_FILE, Store, StoreOptions, log_file};
use crate::error::Error;

/// A replica's place in its Raft group.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    /// This replica's id in the group.
    pub node_id: replica::NodeId,
    /// Every member: id -> the address other replicas and gateways reach
    /// it at (its session endpoint).
    pub members: replica::Members,
    /// The leader's heartbeat; elections time out after 3-6 of them.
    pub heartbeat_ms: u64,
    /// Entries between snapshots (the log keeps half as many after one).
    pub snapshot_logs: u64,
    /// How long applied rows may stay unflushed in the session file
    /// (`replica::DEFAULT_FLUSH_EVERY`); zero flushes every apply.
    pub flush_every: std::time::Duration,
}

impl ReplicaOptions {
    /// A group of one: no network, the embedded default.
    pub fn single() -> Self {
        let mut members = replica::Members::new();
        members.insert(1, openraft::BasicNode::default());
        Self {
            node_id: 1,
            members,
            heartbeat_ms: 100,
            snapshot_logs: 20_000,
            flush_every: replica::DEFAULT_FLUSH_EVERY,
        }
    }
}

/// Starts a group that was never started: one member, the one with the
/// lowest id, proposes the configured membership. A group of one does it
/// at once. In a larger group it first waits a few election timeouts for a
/// leader to contact it: a member that comes back with a wiped data folder
/// joins the group that exists (the leader sends it a snapshot) instead of
/// starting a second history, so a restart never initializes again. The
/// others wait to be contacted. Runs in the background, because the group
/// forms only once every member serves its Raft port.
fn initialize(raft: &replica::Raft, replica: &ReplicaOptions) {
    if replica.members.keys().next() != Some(&replica.node_id) {
        return;
    }
    let (raft, members) = (raft.clone(), replica.members.clone());
    let wait = std::time::Duration::from_millis(replica.heartbeat_ms * 6 * 4);
    let alone = members.len() == 1;
    let start = async move {
        if !alone {
            let contacted = raft
                .wait(Some(wait))
                .metrics(
                    |m| m.vote.leader_id().term > 0 || m.current_leader.is_some(),
                    "contacted by a leader",
                )
                .await;
            if contacted.is_ok() {
                tracing::info!("joined the existing raft group");
                return;
            }
        }
        match raft.initialize(members).await {
            Ok(()) => tracing::info!("raft group initialized"),
            Err(e) => tracing::info!(error = %e, "raft group already initialized"),
        }
    };
    tokio::spawn(start);
}

/// The runtime a replica's Raft tasks run on: one worker thread of its own
/// (`session-raft`), and its own blocking threads for the log appends and
/// applies.
///
/// On the service's runtime, every step of a write (the proposal reaching
/// the core, the log flushed, the entry applied, the reply) waited in the
/// workers' queue behind the calls being served (a read computing progress
/// holds a worker for a millisecond or more), and no write progressed while
/// those workers were busy. Here the core is woken by the OS scheduler as
/// soon as it has work. On this machine's benchmarks the throughput did not
/// change measurably (BENCHMARKS.md, "Raft on threads of its own").
pub(super) struct RaftRuntime(Option<tokio::runtime::Runtime>);

impl RaftRuntime {
    fn start() -> Result<Self, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("session-raft")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
            .map_err(|e| Error::Startup(format!("starting the raft runtime: {e}")))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("runtime present until dropped")
            .handle()
    }

    /// Stops the runtime, waiting (off the async threads) up to a few
    /// seconds for its tasks and blocking work, so the database file is
    /// closed when this returns.
    pub(super) async fn stop(mut self) {
        if let Some(rt) = self.0.take() {
            let _ = tokio::task::spawn_blocking(move || {
                rt.shutdown_timeout(std::time::Duration::from_secs(5));
            })
            .await;
        }
    }
}

impl Drop for RaftRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which async code must not do.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Store {
    /// Opens (or creates) the database in `dir` as one replica of a Raft
    /// group (see `replica.rs`): writes are acknowledged once a majority
    /// stored them and this replica applied them; reads and writes on a
    /// replica that is not the leader answer [`Error::NotLeader`]. A group
    /// of one (`members` holding only `replica.node_id`) needs no network.
    pub async fn open_replicated<N>(
        dir: &Path,
        options: StoreOptions,
        replica: ReplicaOptions,
        network: N,
    ) -> Result<Self, Error>
    where
        N: openraft::RaftNetworkFactory<TypeConfig>,
    {
        let log_cache = options.cache_bytes / 4;
        let (db, log) = {
            let dir = dir.to_owned();
            tokio::task::spawn_blocking(move || {
                let db = prepare(&dir, options)?;
                let log = log_file::open(&dir, &db, log_cache)?;
                Ok::<_, Error>((db, log))
            })
            .await
            .map_err(|e| Error::Startup(format!("opening storage: {e}")))??
        };
        let cell: DbCell = Arc::new(std::sync::RwLock::new(Some(Arc::new(db))));
        let recovery = Recovery::new(cell, dir.join(DB_FILE), options.cache_bytes);
        let log = log_file::recovery(log, dir, log_cache, &recovery);
        let config = openraft::Config {
            cluster_name: "knotwork-session".into(),
            heartbeat_interval: replica.heartbeat_ms,
            election_timeout_min: replica.heartbeat_ms * 3,
            election_timeout_max: replica.heartbeat_ms * 6,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(replica.snapshot_logs),
            max_in_snapshot_log_to_keep: replica.snapshot_logs / 2,
            max_payload_entries: 64,
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| Error::Startup(format!("raft settings: {e}")))?,
        );
        let maps = super::map_state::MapSink::default();
        let state_machine = replica::StateMachine::new(
            recovery.clone(),
            log.clone(),
            dir,
            maps.clone(),
            replica.flush_every,
        );
        let flushes = state_machine.flushes();
        let runtime = RaftRuntime::start()?;
        // Built on its own runtime, so openraft spawns its core, its state
        // machine worker and its replication streams there.
        let raft = runtime
            .handle()
            .spawn(replica::Raft::new(
                replica.node_id,
                config,
                network,
                replica::LogStore::new(log),
                state_machine,
            ))
            .await
            .map_err(|e| Error::Startup(format!("starting raft: {e}")))?
            .map_err(|e| Error::Startup(format!("starting raft: {e}")))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Startup(format!("starting raft: {e}")))?;
        if !initialized {
            initialize(&raft, &replica);
        }
        if replica.members.len() == 1 {
            // A group of one elects itself at once; serve only after it
            // did, so the first writes do not meet a group without leader.
            raft.wait(Some(std::time::Duration::from_secs(10)))
                .current_leader(replica.node_id, "group of one elects itself")
                .await
                .map_err(|e| Error::Startup(format!("raft group of one: {e}")))?;
        }
        let proposer = Proposer {
            raft: raft.clone(),
            handle: runtime.handle().clone(),
            me: replica.node_id,
            confirmed_term: 0,
        };
        let mut store = Self::start_with(recovery, options, Some(proposer))?;
        store.raft = Some(raft);
        store.flushes = Some(flushes);
        store.raft_runtime = Some(runtime);
        store.maps = maps;
        Ok(store)
    }
}
