//! The system as ops deploys it: each service a separate OS process of its
//! real binary, configured only through the `KNOTWORK_*` environment names
//! the manifests in `deploy/` use (one gateway, two catalog replicas, three
//! session shards, each with its own data folder). A scenario runs through
//! the gateway, one session shard is killed (SIGKILL) and restarted, one
//! catalog replica is stopped and restarted, and nothing acknowledged is lost.
//!
//! The binaries come from the same target folder as this test (`cargo test
//! --workspace` builds them, as the service crates have integration tests),
//! or from `KNOTWORK_BIN_DIR` (e.g. release builds).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test panics to fail.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SECRET: &str = "process-test-secret";
const INTERNAL: &str = "process-test-internal";

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("KNOTWORK_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().to_path_buf()
        });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo test --workspace` (it builds every service binary) or set KNOTWORK_BIN_DIR",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One service process and how to start it again.
struct Proc {
    name: &'static str,
    binary: PathBuf,
    env: BTreeMap<&'static str, String>,
    addr: String,
    child: Option<Child>,
}

impl Proc {
    fn new(
        name: &'static str,
        binary: &str,
        env: BTreeMap<&'static str, String>,
        addr: String,
    ) -> Self {
        let mut p = Proc {
            name,
            binary: bin(binary),
            env,
            addr,
            child: None,
        };
        p.start();
        p
    }

    fn start(&mut self) {
        let mut cmd = Command::new(&self.binary);
        // Only the manifests' environment: nothing inherited that could
        // configure the service by accident.
        cmd.env_clear().env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", self.name)),
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while c.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "{} ignored SIGTERM", self.name);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serving(url: &str, service: &str) -> bool {
    let Ok(ch) = Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
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

async fn wait_serving(url: &str, service: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !serving(url, service).await {
        assert!(
            Instant::now() < deadline,
            "{url} ({service:?}) not serving in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn token(user: &str) -> String {
    knotwork_gateway::auth::mint_dev_token(
        SECRET,
        "knotwork-dev",
        "knotwork",
        user,
        Duration::from_secs(600),
    )
    .unwrap()
}

fn as_user<T>(user: &str, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(user)).parse().unwrap(),
    );
    req
}

fn record(point: &str, tool: &str, minute: u64) -> ses::SessionRecord {
    let when = std::time::SystemTime::now() - Duration::from_secs(3600 - minute * 10);
    ses::SessionRecord {
        trigger_point: point.to_owned(),
        tool: tool.to_owned(),
        side: cat::Side::Right as i32,
        pressure: 5,
        duration_seconds: 200,
        tenderness_before: Some(5),
        tenderness_after: Some(3),
        perform_time: Some(prost_types::Timestamp::from(when)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_wired_like_the_manifests_recover_from_restarts() {
    let root = tempfile::tempdir().unwrap();
    let common = |extra: &[(&'static str, String)]| {
        let mut env = BTreeMap::from([
            ("KNOTWORK_INTERNAL_TOKEN", INTERNAL.to_owned()),
            ("KNOTWORK_LOG_FORMAT", "json".to_owned()),
        ]);
        env.extend(extra.iter().cloned());
        env
    };

    let mut catalogs: Vec<Proc> = (0..2)
        .map(|i| {
            let addr = format!("127.0.0.1:{}", free_port());
            let env = common(&[
                ("KNOTWORK_CATALOG_LISTEN", addr.clone()),
                (
                    "KNOTWORK_CATALOG_DATA_DIR",
                    root.path()
                        .join(format!("catalog-{i}"))
                        .display()
                        .to_string(),
                ),
            ]);
            Proc::new("catalog", "knotwork-catalog", env, addr)
        })
        .collect();
    for c in &catalogs {
        wait_serving(&c.url(), "").await;
    }
    let catalog_urls: Vec<String> = catalogs.iter().map(Proc::url).collect();

    let mut shards: Vec<Proc> = (0..3)
        .map(|i| {
            let addr = format!("127.0.0.1:{}", free_port());
            let env = common(&[
                ("KNOTWORK_SESSION_LISTEN", addr.clone()),
                (
                    "KNOTWORK_SESSION_DATA_DIR",
                    root.path()
                        .join(format!("session-{i}"))
                        .display()
                        .to_string(),
                ),
                ("KNOTWORK_CATALOG_URL", catalog_urls[i % 2].clone()),
            ]);
            Proc::new("session", "knotwork-session", env, addr)
        })
        .collect();
    let shard_urls: Vec<String> = shards.iter().map(Proc::url).collect();

    let gateway_addr = format!("127.0.0.1:{}", free_port());
    let _gateway = Proc::new(
        "gateway",
        "knotwork-gateway",
        common(&[
            ("KNOTWORK_GATEWAY_LISTEN", gateway_addr.clone()),
            (
                "KNOTWORK_GATEWAY_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
            ("KNOTWORK_CATALOG_URLS", catalog_urls.join(",")),
            ("KNOTWORK_SESSION_SHARDS", shard_urls.join(",")),
            ("KNOTWORK_JWT_SECRET", SECRET.to_owned()),
        ]),
        gateway_addr.clone(),
    );
    let gateway = format!("http://{gateway_addr}");
    for service in [
        "",
        "knotwork.catalog.v1.CatalogService",
        "knotwork.session.v1.SessionService",
    ] {
        wait_serving(&gateway, service).await;
    }
    let channel = Endpoint::from_shared(gateway.clone())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();

    // A real point and tool from the catalog, through the gateway.
    let mut catalog =
        knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient::new(
            channel.clone(),
        );
    let tp = catalog
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: "triggerPoints/quadratus_lumborum_superficial".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap();
    let tool = tp.techniques[0].tool.clone();

    // Twelve users, two sessions each: spread over the three shards.
    let mut session = SessionServiceClient::new(channel.clone());
    let users: Vec<String> = (0..12).map(|i| format!("proc-user-{i}")).collect();
    let mut acknowledged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, user) in users.iter().enumerate() {
        for j in 0..2 {
            let resp = session
                .log_session(as_user(
                    user,
                    ses::LogSessionRequest {
                        request_id: format!("{user}-{j}"),
                        session: Some(record(&tp.name, &tool, (i * 2 + j) as u64)),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            acknowledged
                .entry(user.clone())
                .or_default()
                .push(resp.session.unwrap().name);
        }
    }

    // Kill shard 1 without warning and bring it back on the same data.
    shards[1].kill();
    shards[1].start();
    wait_serving(&shards[1].url(), "").await;
    // Stop one catalog replica cleanly and start it again.
    catalogs[0].terminate();
    // While it is down the other replica answers catalog reads.
    for _ in 0..4 {
        catalog
            .get_trigger_point(cat::GetTriggerPointRequest {
                name: tp.name.clone(),
            })
            .await
            .expect("catalog reads survive one replica down");
    }
    catalogs[0].start();
    wait_serving(&catalogs[0].url(), "").await;
    wait_serving(&gateway, "knotwork.session.v1.SessionService").await;

    // Every acknowledged session is there, exactly once, for its owner.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (user, names) in &acknowledged {
        let listed = loop {
            match session
                .list_sessions(as_user(user, ses::ListSessionsRequest::default()))
                .await
            {
                Ok(r) => break r.into_inner().sessions,
                Err(s) if Instant::now() < deadline && s.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(s) => panic!("{user}: {s:?}"),
            }
        };
        let mut got: Vec<String> = listed.into_iter().map(|s| s.name).collect();
        got.sort();
        let mut want = names.clone();
        want.sort();
        assert_eq!(got, want, "{user}'s sessions after restarts");
    }

    // And the system takes new writes again on every shard.
    for user in &users {
        session
            .log_session(as_user(
                user,
                ses::LogSessionRequest {
                    request_id: format!("{user}-after"),
                    session: Some(record(&tp.name, &tool, 300)),
                },
            ))
            .await
            .unwrap_or_else(|s| panic!("{user} after restart: {s:?}"));
    }
    drop(shards);
    drop(catalogs);
}
