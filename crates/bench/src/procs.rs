//! Service processes for the benchmark: launched from their real binaries,
//! configured through the same `KNOTWORK_*` environment as in production,
//! and observed through `/proc` (resident memory, CPU time).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A free loopback port (bound, read and released; the service binds it)
/// that no earlier call in this run returned: until a service has bound its
/// port the kernel may hand the port out again, and two services told the
/// same port would leave one URL answering as the other.
pub fn free_port() -> anyhow::Result<u16> {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if given.insert(port) {
            return Ok(port);
        }
    }
}

/// One running service process.
pub struct Service {
    /// Short label for reports.
    pub label: String,
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// Time from spawn to health SERVING.
    pub startup: Duration,
    child: Owned,
}

impl Service {
    /// Starts `binary` with `env` (and nothing else from our environment but
    /// PATH) and waits until its health reports SERVING.
    pub async fn start(
        label: &str,
        binary: &Path,
        env: &BTreeMap<String, String>,
        url: String,
    ) -> anyhow::Result<Self> {
        Self::start_with_args(label, binary, &[], env, url).await
    }

    /// [`Service::start`] with command-line arguments (`knotwork up`).
    pub async fn start_with_args(
        label: &str,
        binary: &Path,
        args: &[&str],
        env: &BTreeMap<String, String>,
        url: String,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let mut cmd = Command::new(binary);
        cmd.args(args).env_clear().env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut svc = Service {
            label: label.to_owned(),
            url,
            startup: Duration::ZERO,
            child: Owned(child),
        };
        svc.startup = wait_serving(&svc.url, "", started, Duration::from_secs(60)).await?;
        Ok(svc)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Current and peak resident memory in bytes.
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    /// User plus system CPU time used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.pid().to_string())
    }
}

/// A child process killed when dropped, on every way out of the run (an
/// error included): a [`Service`]'s, and the echo server.
pub struct Owned(pub Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Polls `grpc.health.v1` until `service` is SERVING; returns the time since
/// `since`.
pub async fn wait_serving(
    url: &str,
    service: &str,
    since: Instant,
    limit: Duration,
) -> anyhow::Result<Duration> {
    loop {
        if let Ok(ch) = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(Duration::from_millis(200))
            .connect()
            .await
        {
            let ok = HealthClient::new(ch)
                .check(HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await
                .map(|r| r.into_inner().status() == ServingStatus::Serving)
                .unwrap_or(false);
            if ok {
                return Ok(since.elapsed());
            }
        }
        if since.elapsed() > limit {
            bail!("{url} not serving {service:?} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Finds a service binary: `--bin-dir`, else beside this executable.
pub fn binary(dir: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("executable has no folder")?
            .to_path_buf(),
    };
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p knotwork-catalog -p knotwork-session -p knotwork-gateway) or pass --bin-dir",
            path.display()
        );
    }
    Ok(path)
}

/// User plus system CPU time used so far by process `pid` (`self` for this
/// one), from `/proc`.
pub fn cpu_time_of(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_never_gives_a_port_twice() {
        let ports: Vec<u16> = (0..2_000).map(|_| free_port().unwrap()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
