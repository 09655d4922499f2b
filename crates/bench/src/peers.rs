//! Peer baselines: a standard proxy in front of the same catalog, so the
//! gateway's hop is compared with what a well-known proxy costs on the
//! same machine in the same run. nginx (Debian's package) with
//! `grpc_pass`, two workers, started from a generated configuration in a
//! temporary folder and stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running nginx.
pub struct Nginx {
    /// `http://127.0.0.1:port`.
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, which the master passes on to its workers before it
        // exits; a SIGKILL would leave the workers running, orphaned.
        let stopped = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Where nginx is installed, if it is.
pub fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Nginx {
    /// Starts nginx on a free port proxying gRPC (h2c) to `backend`
    /// (`127.0.0.1:port`), with keepalive connections to it.
    pub async fn start(binary: &std::path::Path, backend: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::procs::free_port()?;
        let root = dir.path().display().to_string();
        let conf = format!(
            "daemon off;
master_process on;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # nginx closes a client connection after 1000 requests by default
    # (and h2load does not reconnect), and an upstream one likewise.
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream catalog {{
        server {backend};
        keepalive 32;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} http2;
        http2_max_concurrent_streams 256;
        location / {{
            grpc_pass grpc://catalog;
        }}
    }}
}}
"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf)?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut nginx = Nginx {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(nginx);
            }
            if let Some(status) = nginx.child.try_wait()? {
                bail!("nginx exited at start ({status})");
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("nginx did not listen within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
