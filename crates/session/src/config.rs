//! Settings of the session service: flags, each also read from a
//! `KNOTWORK_*` environment variable by clap in the binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use knotwork_runtime::dev::INTERNAL_TOKEN as DEV_INTERNAL_TOKEN;
use knotwork_runtime::listen::LimitArgs;
use knotwork_runtime::prod::Mode;
use knotwork_runtime::telemetry::LogArgs;
use knotwork_runtime::tls::{BackendTlsArgs, TlsArgs};

/// How the session service runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "knotwork-session",
    version,
    about = "Knotwork's session service: screening, the self-treatment journal and progress."
)]
pub struct Config {
    /// Address to listen on for gRPC.
    #[arg(
        long,
        env = "KNOTWORK_SESSION_LISTEN",
        default_value = "127.0.0.1:50053"
    )]
    pub listen: SocketAddr,

    /// Admin address: Prometheus metrics (`GET /metrics`) and gRPC health
    /// for the kubelet's probes, always plain text (like etcd's metrics
    /// listener). Off when unset.
    #[arg(long, env = "KNOTWORK_SESSION_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Folder holding the session database (created when missing).
    #[arg(
        long,
        env = "KNOTWORK_SESSION_DATA_DIR",
        default_value = "./knotwork-data/session"
    )]
    pub data_dir: PathBuf,

    /// The catalog service the safety rules and thresholds come from.
    #[arg(
        long,
        env = "KNOTWORK_CATALOG_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub catalog_url: String,

    /// How often to ask the catalog whether its version changed, in seconds.
    #[arg(long, env = "KNOTWORK_SESSION_CATALOG_POLL_SECS", default_value_t = 30)]
    pub catalog_poll_secs: u64,

    /// The shared credential the gateway presents; calls without it are
    /// refused with UNAUTHENTICATED.
    #[arg(
        long,
        env = "KNOTWORK_INTERNAL_TOKEN",
        default_value = DEV_INTERNAL_TOKEN,
        hide_env_values = true
    )]
    pub internal_token: String,

    /// The internal credential being rotated in, accepted beside
    /// `internal_token` during a rotation (deploy/README.md, "Rotating the
    /// internal credential").
    #[arg(long, env = "KNOTWORK_INTERNAL_TOKEN_NEXT", hide_env_values = true)]
    pub internal_token_next: Option<String>,

    /// `prod` refuses the development internal credential and one shorter
    /// than 32 bytes at start.
    #[arg(long, env = "KNOTWORK_MODE", value_enum, default_value_t = Mode::Dev)]
    pub mode: Mode,

    /// Divides the wall-clock time of guided sessions (tests and demos use
    /// e.g. 100).
    #[arg(long, env = "KNOTWORK_GUIDE_SPEEDUP", default_value_t = 1)]
    pub guide_speedup: u32,

    /// Most writes committed together in one durable transaction (group
    /// commit). 1 means one commit per write.
    #[arg(long, env = "KNOTWORK_SESSION_COMMIT_BATCH_MAX", default_value_t = 512)]
    pub commit_batch_max: usize,

    /// Changed rows, in MiB, one group commit takes before the writes
    /// after it wait for the next: it bounds the memory of a batch when
    /// many large writes arrive at once (0: a batch ends at its first
    /// write that changes a row).
    #[arg(long, env = "KNOTWORK_SESSION_COMMIT_BATCH_MIB", default_value_t = 4)]
    pub commit_batch_mib: usize,

    /// The shard's replication (a Raft group, or none).
    #[command(flatten)]
    pub raft: RaftArgs,

    /// TLS of the listener (plain text when unset) and mTLS.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// TLS for calling the catalog (an `https://` --catalog-url).
    #[command(flatten)]
    pub backend_tls: BackendTlsArgs,

    /// Limits of the listener (streams per connection, timeouts).
    #[command(flatten)]
    pub limits: LimitArgs,

    /// After SIGTERM, how long in-flight calls and guided-session streams
    /// may run before the streams end with UNAVAILABLE and the process
    /// exits (below the pods' terminationGracePeriodSeconds, 45 s).
    #[arg(long, env = "KNOTWORK_SHUTDOWN_GRACE_SECONDS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// Memory for the database's page cache, in MiB. Resident memory grows
    /// by up to this much as the cache fills; reads past it come from the
    /// OS page cache.
    #[arg(long, env = "KNOTWORK_SESSION_CACHE_MIB", default_value_t = 8)]
    pub cache_mib: usize,

    /// Most sessions one user may store; a write past it is refused with
    /// RESOURCE_EXHAUSTED and `google.rpc.QuotaFailure` (imports by
    /// `knotwork reshard` are not limited).
    #[arg(
        long,
        env = "KNOTWORK_SESSION_QUOTA_SESSIONS",
        default_value_t = crate::domain::quota::DEFAULT_MAX_SESSIONS
    )]
    pub quota_sessions: u64,

    /// Most MiB of session and guided-session records one user may store
    /// (refused like `quota_sessions`).
    #[arg(
        long,
        env = "KNOTWORK_SESSION_QUOTA_MIB",
        default_value_t = crate::domain::quota::DEFAULT_MAX_MIB
    )]
    pub quota_mib: u64,

    /// This shard's identity in the shard map (`knotwork.session.v1.ShardMap`);
    /// the replicas of one shard group share it. Once the shard holds a map
    /// it refuses the users the map gives to other shards (WRONG_SHARD).
    #[arg(long, env = "KNOTWORK_SESSION_SHARD_ID", default_value = "")]
    pub shard_id: String,

    /// The shard list this shard starts from when it holds no shard map yet,
    /// `id=url` pairs in placement order, comma separated (the gateway's
    /// `--session-shards` URLs, each with its shard's id): stored as epoch 1.
    /// A stored map wins over it; `knotwork reshard --online` changes the map.
    /// Unset: no map until one is set, and every user is accepted.
    #[arg(long, env = "KNOTWORK_SESSION_INITIAL_SHARDS", value_delimiter = ',')]
    pub initial_shards: Vec<String>,

    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,

    /// In `knotwork up`: the catalog in the same process, dialled in memory
    /// instead of at `catalog_url` (not a flag).
    #[arg(skip)]
    pub catalog_memory: Option<knotwork_runtime::memory::LocalSlot>,
}

impl Config {
    /// The defaults of the flags, with `data_dir` as given (for `knotwork up`
    /// and tests).
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50053)),
            admin_listen: None,
            data_dir,
            catalog_url: "http://127.0.0.1:50052".to_owned(),
            catalog_poll_secs: 30,
            internal_token_next: None,
            internal_token: DEV_INTERNAL_TOKEN.to_owned(),
            mode: Mode::Dev,
            guide_speedup: 1,
            commit_batch_max: 512,
            commit_batch_mib: 4,
            raft: RaftArgs::default(),
            tls: TlsArgs::default(),
            backend_tls: BackendTlsArgs::default(),
            limits: LimitArgs::default(),
            shutdown_grace_secs: 25,
            cache_mib: 8,
            quota_sessions: crate::domain::quota::DEFAULT_MAX_SESSIONS,
            quota_mib: crate::domain::quota::DEFAULT_MAX_MIB,
            shard_id: String::new(),
            initial_shards: Vec::new(),
            log: LogArgs::default(),
            catalog_memory: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn local_matches_the_flag_defaults() {
        let parsed = Config::try_parse_from(["knotwork-session", "--data-dir", "x"]).unwrap();
        let local = Config::local("x".into());
        assert_eq!(format!("{parsed:?}"), format!("{local:?}"));
    }
}

/// How a shard's writes are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Replication {
    /// A Raft group (of one unless `--raft-members` names more).
    Raft,
    /// One copy, committed by the writer itself (the benchmark's baseline).
    None,
}

/// The shard's Raft group.
#[derive(Debug, Clone, clap::Args)]
pub struct RaftArgs {
    /// `raft` (the default: a group of one unless members are named) or
    /// `none` (one copy without a Raft log).
    #[arg(long, env = "KNOTWORK_SESSION_REPLICATION", value_enum, default_value_t = Replication::Raft)]
    pub replication: Replication,

    /// This replica's id in its group (1 for a group of one).
    #[arg(long, env = "KNOTWORK_SESSION_RAFT_NODE_ID", default_value_t = 1)]
    pub raft_node_id: u64,

    /// The group's members as `id=url` pairs separated by commas (each
    /// replica's session endpoint, e.g.
    /// `1=http://session-0:50053,2=http://session-1:50053,3=...`); empty
    /// for a group of one.
    #[arg(long, env = "KNOTWORK_SESSION_RAFT_MEMBERS", default_value = "")]
    pub raft_members: String,

    /// The leader's heartbeat in milliseconds; an election starts after
    /// 3-6 missed ones.
    #[arg(
        long,
        env = "KNOTWORK_SESSION_RAFT_HEARTBEAT_MS",
        default_value_t = 100
    )]
    pub raft_heartbeat_ms: u64,

    /// Log entries between snapshots (the log keeps half as many after one).
    #[arg(
        long,
        env = "KNOTWORK_SESSION_RAFT_SNAPSHOT_LOGS",
        default_value_t = 20_000
    )]
    pub raft_snapshot_logs: u64,

    /// How long applied writes may wait, in milliseconds, before the
    /// session file is flushed (the Raft log is durable at once; a start
    /// after a crash applies again what the last flush did not hold). Each
    /// flush holds up the writes behind it for some milliseconds, so a
    /// longer interval puts that wait on fewer of them, but makes each
    /// commit until the flush cost more CPU and a start after a crash
    /// longer (BENCHMARKS.md); 0 flushes every apply.
    #[arg(long, env = "KNOTWORK_SESSION_RAFT_FLUSH_MS", default_value_t = 1_000)]
    pub raft_flush_ms: u64,
}

impl Default for RaftArgs {
    fn default() -> Self {
        Self {
            replication: Replication::Raft,
            raft_node_id: 1,
            raft_members: String::new(),
            raft_heartbeat_ms: 100,
            raft_snapshot_logs: 20_000,
            raft_flush_ms: 1_000,
        }
    }
}

impl RaftArgs {
    /// The members, parsed (an empty map for a group of one).
    pub fn members(&self) -> Result<std::collections::BTreeMap<u64, String>, String> {
        let mut out = std::collections::BTreeMap::new();
        for pair in self
            .raft_members
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (id, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("raft member {pair:?} is not id=url"))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| format!("raft member {pair:?} has no numeric id"))?;
            out.insert(id, url.trim().to_owned());
        }
        if !out.is_empty() && !out.contains_key(&self.raft_node_id) {
            return Err(format!(
                "raft members do not include this node ({})",
                self.raft_node_id
            ));
        }
        Ok(out)
    }
}
