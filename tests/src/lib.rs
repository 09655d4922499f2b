//! The end-to-end test harness: [`TestStack`] boots catalog, session shards
//! and gateway in-process on ephemeral loopback ports (through the same `run`
//! seams the binaries use), each with its own temporary data folder, and
//! shuts them down when dropped. Tests then talk to the gateway only, over
//! real gRPC, the way an app does.

pub mod procs;

use std::time::Duration;

use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The development JWT secret the stack's gateway accepts.
pub const JWT_SECRET: &str = "e2e-test-secret";
/// The internal credential shared by the stack's services.
pub const INTERNAL_TOKEN: &str = "e2e-internal-token";
/// The credential being rotated in: the stack's backends accept it beside
/// [`INTERNAL_TOKEN`] (the middle of a rotation), its gateway sends the
/// current one.
pub const INTERNAL_TOKEN_NEXT: &str = "e2e-internal-token-next";

/// A running Knotwork: one catalog, `n` session shards, one gateway.
pub struct TestStack {
    /// The gateway's URL.
    pub gateway_url: String,
    /// The catalog's URL (for tests that must bypass the gateway).
    pub catalog_url: String,
    /// The session shards' URLs, in shard order.
    pub session_urls: Vec<String>,
    /// The admin ports (metrics and health) of every service.
    pub admin: AdminPorts,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Where each service of a [`TestStack`] serves its admin port
/// (`GET /metrics` and gRPC health, plain text).
#[derive(Debug, Clone)]
pub struct AdminPorts {
    /// The catalog's.
    pub catalog: std::net::SocketAddr,
    /// Each session shard's, in shard order.
    pub sessions: Vec<std::net::SocketAddr>,
    /// The gateway's.
    pub gateway: std::net::SocketAddr,
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral loopback port")
}

fn url(l: &TcpListener) -> String {
    format!("http://{}", l.local_addr().expect("local addr"))
}

impl TestStack {
    /// Boots one catalog, one session shard and the gateway, and waits until
    /// the gateway reports all of them serving.
    pub async fn start() -> Self {
        Self::start_with_shards(1).await
    }

    /// Boots one catalog, `shards` session shards and the gateway.
    pub async fn start_with_shards(shards: usize) -> Self {
        Self::start_with(shards, |_| {}).await
    }

    /// Boots one catalog, `shards` session shards and a gateway whose
    /// configuration `tweak` adjusts last (e.g. a JWKS file, rate limits).
    pub async fn start_with(
        shards: usize,
        tweak: impl FnOnce(&mut knotwork_gateway::Config),
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks = Vec::new();
        let mut dirs = Vec::new();

        let catalog_dir = tempfile::tempdir().expect("tempdir");
        let catalog_listener = listener().await;
        let catalog_url = url(&catalog_listener);
        let mut catalog = knotwork_catalog::Config::local(catalog_dir.path().to_path_buf());
        catalog.internal_token = INTERNAL_TOKEN.to_owned();
        catalog.internal_token_next = Some(INTERNAL_TOKEN_NEXT.to_owned());
        let rx = stop_rx.clone();
        let catalog_admin = listener().await;
        let mut admin = AdminPorts {
            catalog: catalog_admin.local_addr().expect("local addr"),
            sessions: Vec::new(),
            gateway: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        tasks.push(tokio::spawn(async move {
            knotwork_catalog::run_with_admin(
                catalog,
                catalog_listener,
                Some(catalog_admin),
                stopped(rx),
            )
            .await
            .expect("catalog runs");
        }));
        dirs.push(catalog_dir);

        let mut session_urls = Vec::new();
        for _ in 0..shards {
            let dir = tempfile::tempdir().expect("tempdir");
            let l = listener().await;
            session_urls.push(url(&l));
            let mut session = knotwork_session::Config::local(dir.path().to_path_buf());
            session.catalog_url = catalog_url.clone();
            session.internal_token = INTERNAL_TOKEN.to_owned();
            session.internal_token_next = Some(INTERNAL_TOKEN_NEXT.to_owned());
            let rx = stop_rx.clone();
            let session_admin = listener().await;
            admin
                .sessions
                .push(session_admin.local_addr().expect("local addr"));
            tasks.push(tokio::spawn(async move {
                knotwork_session::run_with_admin(session, l, Some(session_admin), stopped(rx))
                    .await
                    .expect("session runs");
            }));
            dirs.push(dir);
        }

        let gateway_listener = listener().await;
        let gateway_url = url(&gateway_listener);
        let mut gateway =
            knotwork_gateway::Config::local(vec![catalog_url.clone()], session_urls.clone());
        gateway.jwt_secret = JWT_SECRET.to_owned();
        gateway.internal_token = INTERNAL_TOKEN.to_owned();
        tweak(&mut gateway);
        let rx = stop_rx.clone();
        let gateway_admin = listener().await;
        admin.gateway = gateway_admin.local_addr().expect("local addr");
        tasks.push(tokio::spawn(async move {
            knotwork_gateway::run(gateway, gateway_listener, Some(gateway_admin), stopped(rx))
                .await
                .expect("gateway runs");
        }));

        let stack = TestStack {
            gateway_url,
            catalog_url,
            session_urls,
            admin,
            stop,
            tasks,
            _dirs: dirs,
        };
        stack.wait_serving(Duration::from_secs(30)).await;
        stack
    }

    /// Polls the gateway's health until the gateway, the catalog and the
    /// session service all report SERVING, or panics after `limit`.
    pub async fn wait_serving(&self, limit: Duration) {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut all = true;
            match Endpoint::from_shared(self.gateway_url.clone())
                .expect("url")
                .connect()
                .await
            {
                Ok(ch) => {
                    let mut client = HealthClient::new(ch);
                    for service in [
                        "",
                        "knotwork.catalog.v1.CatalogService",
                        "knotwork.session.v1.SessionService",
                    ] {
                        let ok = client
                            .check(HealthCheckRequest {
                                service: service.to_owned(),
                            })
                            .await
                            .map(|r| r.into_inner().status() == ServingStatus::Serving)
                            .unwrap_or(false);
                        all &= ok;
                    }
                }
                Err(_) => all = false,
            }
            if all {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stack not serving within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A channel to the gateway.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(self.gateway_url.clone())
            .expect("url")
            .timeout(Duration::from_secs(20))
            .connect()
            .await
            .expect("connect to the gateway")
    }

    /// A catalog client through the gateway.
    pub async fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel().await)
    }

    /// A session client through the gateway.
    pub async fn session(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel().await)
    }

    /// A valid development token for `user`.
    pub fn token(&self, user: &str) -> String {
        knotwork_gateway::auth::mint_dev_token(
            JWT_SECRET,
            knotwork_runtime::dev::JWT_ISSUER,
            knotwork_runtime::dev::JWT_AUDIENCE,
            user,
            Duration::from_secs(600),
        )
        .expect("mint token")
    }

    /// Wraps `message` in a request carrying `user`'s bearer token.
    pub fn as_user<T>(&self, user: &str, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token(user))
                .parse()
                .expect("header value"),
        );
        req
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
