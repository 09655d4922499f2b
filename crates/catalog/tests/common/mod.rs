//! Boots the catalog service on 127.0.0.1:0 with a temporary data folder.
// Test support: a failed setup step is a failed test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use knotwork_catalog::{Config, Error, run};
use knotwork_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The small test catalog.
pub const FIXTURE: &str = include_str!("../fixtures/small.toml");

/// A running service.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub channel: Channel,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), Error>>>,
}

impl TestServer {
    /// Starts with the embedded catalog.
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), |_| {}).await
    }

    /// Starts serving `toml` from a file in the data folder's parent.
    pub async fn with_file(toml: &str) -> (Self, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("catalog.toml");
        std::fs::write(&file, toml).unwrap();
        let f = file.clone();
        let s = Self::start_in(dir, move |c| c.catalog_file = Some(f)).await;
        (s, file)
    }

    /// Starts in `dir` with a tweaked config.
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::local(dir.path().join("data"));
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, listener, async {
            let _ = rx.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let server = Self {
            addr,
            channel,
            dir,
            stop: Some(tx),
            task: Some(task),
        };
        server.wait_serving().await;
        server
    }

    /// Polls health until SERVING, with a bounded deadline.
    async fn wait_serving(&self) {
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = HealthClient::new(self.channel.clone());
        loop {
            let r = client
                .check(HealthCheckRequest {
                    service: "knotwork.catalog.v1.CatalogService".into(),
                })
                .await;
            if let Ok(r) = r
                && r.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
            assert!(Instant::now() < deadline, "service never became SERVING");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn client(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel.clone())
    }

    pub fn admin(&self) -> CatalogAdminServiceClient<Channel> {
        CatalogAdminServiceClient::new(self.channel.clone())
    }

    /// Stops gracefully and returns the data folder for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("shutdown hung")
                .unwrap()
                .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A request carrying the development internal credential.
pub fn internal<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        knotwork_runtime::dev::INTERNAL_TOKEN.parse().unwrap(),
    );
    r
}
