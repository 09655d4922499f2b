//! Real service processes for the fault tests: each service is a child
//! process of its binary, configured only through `KNOTWORK_*` variables, so
//! a test can SIGKILL, SIGSTOP, SIGCONT or SIGTERM it and start it again on
//! the same port and data folder.
//!
//! Binaries come from `KNOTWORK_BIN_DIR` when set, else from the target
//! folder of the running test (`cargo build -p knotwork-catalog -p
//! knotwork-session -p knotwork-gateway --bins` builds them). Each process
//! appends its stdout and stderr to a log file the test chooses, so a failure
//! can be read afterwards and the secrets test can scan them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::metadata::{INTERNAL_TOKEN, USER_ID};
use knotwork_proto::session::v1 as ses;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The HS256 secret of process gateways.
pub const SECRET: &str = "fault-test-jwt-secret-5f1c";
/// The internal credential of process stacks.
pub const INTERNAL: &str = "fault-test-internal-9a7e";
/// A trigger point of the embedded catalog.
pub const POINT: &str = "triggerPoints/quadratus_lumborum_superficial";

/// The folder holding the service binaries.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("KNOTWORK_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("current exe");
            exe.parent()
                .and_then(Path::parent)
                .expect("target folder")
                .to_path_buf()
        })
}

/// The path of one service binary; panics with the build command when absent.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build -p knotwork-catalog -p knotwork-session -p knotwork-gateway --bins` or set KNOTWORK_BIN_DIR",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago, and that no earlier call in
/// this test binary returned.
///
/// The port is released for the child to bind, so until the child has bound
/// it the kernel may hand it out again: without the record of ports given
/// out, two services started back to back could be told the same port, the
/// second then fail to bind, and its URL reach the first (a session's URL
/// answering as the catalog).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("ephemeral port")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// A loopback `host:port` that was free a moment ago.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// A process this test binary started and has not stopped, by the address
/// it listens on: [`wait_serving`] checks it is still alive, so a child
/// that exited (a setting it refused, a port it could not bind) fails the
/// wait with its own log, not later with whatever answers in its place.
#[derive(Clone)]
struct Started {
    name: String,
    pid: u32,
    log: PathBuf,
}

static STARTED: std::sync::Mutex<BTreeMap<String, Started>> =
    std::sync::Mutex::new(BTreeMap::new());

fn started() -> std::sync::MutexGuard<'static, BTreeMap<String, Started>> {
    STARTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be
/// reaped: a child that exited stays one until its `Proc` waits for it).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.trim_start().chars().next()
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Why waiting on `url` is hopeless: the process started to serve it has
/// exited. Its name, pid and the end of its log.
fn exited_before_serving(url: &str) -> Option<String> {
    let addr = url.split_once("://").map_or(url, |(_, a)| a);
    let proc = started().get(addr)?.clone();
    if alive(proc.pid) {
        return None;
    }
    let log = std::fs::read_to_string(&proc.log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    Some(format!(
        "{} (pid {}) exited instead of serving {url}; the end of {}:\n{}",
        proc.name,
        proc.pid,
        proc.log.display(),
        tail.join("\n")
    ))
}

/// One service process and how to start it again.
pub struct Proc {
    /// A label for messages.
    pub name: String,
    binary: PathBuf,
    /// The environment it starts with (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// `host:port` it listens on.
    pub addr: String,
    /// Where stdout and stderr are appended.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Starts `binary` with `env` (plus `RUST_LOG=warn` unless given).
    pub fn spawn(
        name: &str,
        binary: &str,
        env: BTreeMap<String, String>,
        addr: String,
        log: PathBuf,
    ) -> Self {
        let mut p = Proc {
            name: name.to_owned(),
            binary: bin(binary),
            env,
            addr,
            log,
            child: None,
        };
        p.start();
        p
    }

    /// Starts the process (again) with the same settings.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear().env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        started().insert(
            self.addr.clone(),
            Started {
                name: self.name.clone(),
                pid: child.id(),
                log: self.log.clone(),
            },
        );
        self.child = Some(child);
    }

    /// Takes the child to stop it: its address is no longer watched.
    fn stopping(&mut self) -> Option<Child> {
        let child = self.child.take()?;
        let mut started = started();
        if started.get(&self.addr).is_some_and(|s| s.pid == child.id()) {
            started.remove(&self.addr);
        }
        Some(child)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`, ...).
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().expect("running").to_string();
        let ok = Command::new("kill")
            .args([format!("-{sig}"), pid])
            .status()
            .expect("kill(1)")
            .success();
        assert!(ok, "kill -{sig} {}", self.name);
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.stopping() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `limit` for the exit; returns how long it
    /// took and the exit status, or `None` (after a SIGKILL) when it did not
    /// exit in time.
    pub fn terminate(&mut self, limit: Duration) -> Option<(Duration, ExitStatus)> {
        let started = Instant::now();
        self.signal("TERM");
        let mut c = self.stopping()?;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return Some((started.elapsed(), status));
            }
            if started.elapsed() > limit {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `limit` for the process to exit by itself (after a
    /// signal sent earlier); `None`, after a SIGKILL, when it did not.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        let mut c = self.stopping()?;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            if started.elapsed() > limit {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still alive.
    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            // A stopped process cannot die of SIGKILL until continued on
            // some systems' accounting; continue it first.
            let _ = Command::new("kill")
                .args(["-CONT".to_owned(), c.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// The environment shared by every process of a stack.
pub fn base_env(extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("KNOTWORK_INTERNAL_TOKEN".to_owned(), INTERNAL.to_owned()),
        ("KNOTWORK_LOG_FORMAT".to_owned(), "json".to_owned()),
    ]);
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    env
}

/// Starts a catalog process on a fresh port with its data under `dir`.
pub fn catalog(dir: &Path, extra: &[(&str, String)]) -> Proc {
    let addr = free_addr();
    let mut env = base_env(extra);
    env.insert("KNOTWORK_CATALOG_LISTEN".into(), addr.clone());
    env.entry("KNOTWORK_CATALOG_DATA_DIR".into())
        .or_insert_with(|| dir.join("catalog").display().to_string());
    Proc::spawn(
        "catalog",
        "knotwork-catalog",
        env,
        addr,
        dir.join("catalog.log"),
    )
}

/// Starts a session process on a fresh port with its data under `dir`.
pub fn session(dir: &Path, catalog_url: &str, extra: &[(&str, String)]) -> Proc {
    let addr = free_addr();
    let mut env = base_env(extra);
    env.insert("KNOTWORK_SESSION_LISTEN".into(), addr.clone());
    env.insert("KNOTWORK_CATALOG_URL".into(), catalog_url.to_owned());
    env.entry("KNOTWORK_SESSION_DATA_DIR".into())
        .or_insert_with(|| dir.join("session").display().to_string());
    Proc::spawn(
        "session",
        "knotwork-session",
        env,
        addr,
        dir.join("session.log"),
    )
}

/// Starts a gateway process in front of one catalog and the given shards.
pub fn gateway(dir: &Path, catalog_url: &str, shards: &[String], extra: &[(&str, String)]) -> Proc {
    let addr = free_addr();
    let mut env = base_env(extra);
    env.insert("KNOTWORK_GATEWAY_LISTEN".into(), addr.clone());
    env.insert("KNOTWORK_GATEWAY_ADMIN_LISTEN".into(), free_addr());
    env.insert("KNOTWORK_CATALOG_URLS".into(), catalog_url.to_owned());
    env.insert("KNOTWORK_SESSION_SHARDS".into(), shards.join(","));
    env.insert("KNOTWORK_JWT_SECRET".into(), SECRET.to_owned());
    Proc::spawn(
        "gateway",
        "knotwork-gateway",
        env,
        addr,
        dir.join("gateway.log"),
    )
}

/// Whether `url` reports `service` SERVING right now.
pub async fn serving(url: &str, service: &str) -> bool {
    let Ok(ch) = Endpoint::from_shared(url.to_owned())
        .expect("url")
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(1))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|r| r.into_inner().status() == ServingStatus::Serving)
        .unwrap_or(false)
}

/// Polls until `url` reports `service` SERVING; panics after `limit`, or
/// as soon as the process started on `url`'s address ([`Proc`]) has
/// exited, with the end of its log.
pub async fn wait_serving(url: &str, service: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let answered = serving(url, service).await;
        if let Some(why) = exited_before_serving(url) {
            panic!("{why}");
        }
        if answered {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{url} ({service:?}) not serving within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A lazily connected channel with a per-call timeout.
pub fn channel(url: &str, timeout: Duration) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .expect("url")
        .connect_timeout(Duration::from_millis(500))
        .timeout(timeout)
        .connect_lazy()
}

/// A request carrying the internal credential and `user`, as the gateway
/// sends it to a backend.
pub fn internal<T>(user: &str, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let md = req.metadata_mut();
    md.insert(USER_ID, user.parse().expect("user id"));
    md.insert(INTERNAL_TOKEN, INTERNAL.parse().expect("token"));
    req
}

/// A bearer token for `user` that process gateways accept.
pub fn token(user: &str) -> String {
    knotwork_gateway::mint_dev_token(
        SECRET,
        knotwork_runtime::dev::JWT_ISSUER,
        knotwork_runtime::dev::JWT_AUDIENCE,
        user,
        Duration::from_secs(600),
    )
    .expect("mint token")
}

/// A request carrying `user`'s bearer token for a process gateway.
pub fn as_user<T>(user: &str, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(user)).parse().expect("header"),
    );
    req
}

/// Every session of `user`, read through all pages of ListSessions (500 a
/// page); `request` makes each call's request ([`as_user`] through a
/// gateway, [`internal`] straight to a shard).
pub async fn all_sessions(
    client: &mut ses::session_service_client::SessionServiceClient<Channel>,
    user: &str,
    request: fn(&str, ses::ListSessionsRequest) -> tonic::Request<ses::ListSessionsRequest>,
) -> Vec<ses::SessionRecord> {
    let mut sessions = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_sessions(request(
                user,
                ses::ListSessionsRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .expect("list sessions")
            .into_inner();
        sessions.extend(page.sessions);
        if page.next_page_token.is_empty() {
            return sessions;
        }
        token = page.next_page_token;
    }
}

/// A valid session on [`POINT`] with `tool`, done `minutes_ago`, whose notes
/// carry `marker` (tests find records by it).
/// `minutes_ago` counts from one base time per test process, so a retry
/// after a crash sends exactly the request it sent first (another body under
/// the same request id is REQUEST_ID_REUSED).
pub fn record(tool: &str, minutes_ago: u64, marker: &str) -> ses::SessionRecord {
    static BASE: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(std::time::SystemTime::now);
    let when = base - Duration::from_secs(60 * minutes_ago + 1);
    ses::SessionRecord {
        trigger_point: POINT.to_owned(),
        tool: tool.to_owned(),
        side: cat::Side::Right as i32,
        pressure: 5,
        duration_seconds: 200,
        tenderness_before: Some(6),
        tenderness_after: Some(4),
        notes: marker.to_owned(),
        perform_time: Some(prost_types::Timestamp::from(when)),
        ..Default::default()
    }
}

/// The first tool of [`POINT`]'s techniques, asked of a catalog (or gateway).
pub async fn point_tool(url: &str) -> String {
    let mut c = cat::catalog_service_client::CatalogServiceClient::new(channel(
        url,
        Duration::from_secs(10),
    ));
    c.get_trigger_point(cat::GetTriggerPointRequest {
        name: POINT.to_owned(),
    })
    .await
    .expect("get trigger point")
    .into_inner()
    .trigger_point
    .expect("trigger point")
    .techniques[0]
        .tool
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_never_gives_a_port_twice() {
        // Bound and released one after another, the kernel's picks repeat
        // within a few hundred (about 140 repeats in 2,000 on this machine over the
        // ephemeral range); the record of ports given out must stop them.
        let ports: Vec<u16> = (0..2_000).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
