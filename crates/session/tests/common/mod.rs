//! Test support: a fake catalog service serving a fixture snapshot, a session
//! service on an ephemeral port, and authenticated clients.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use knotwork_proto::catalog::v1 as cpb;
use knotwork_proto::catalog::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

pub const TOKEN: &str = "test-internal-token";

pub const CONDITIONS: [&str; 7] = [
    "aneurysm",
    "atherosclerosis",
    "cancer",
    "congestive_heart_failure",
    "coronary_artery_disease",
    "peritonitis",
    "polycystic_kidney_disease",
];

fn point(
    id: &str,
    regions: &[&str],
    tools: &[&str],
    excluded_tools: &[&str],
    excluded_conditions: &[&str],
) -> cpb::TriggerPoint {
    cpb::TriggerPoint {
        name: format!("triggerPoints/{id}"),
        display_name: id.replace('_', " "),
        bilateral: true,
        referrals: regions
            .iter()
            .map(|r| cpb::Referral {
                region: format!("regions/{r}"),
                kind: cpb::ReferralKind::Primary as i32,
            })
            .collect(),
        techniques: tools
            .iter()
            .map(|t| cpb::Technique {
                tool: format!("tools/{t}"),
                instructions: format!("Use the {t} gently."),
            })
            .collect(),
        excluded_tools: excluded_tools
            .iter()
            .map(|t| cpb::ToolExclusion {
                tool: format!("tools/{t}"),
                reason: "Never on this point.".into(),
            })
            .collect(),
        excluded_conditions: excluded_conditions
            .iter()
            .map(|c| cpb::ConditionExclusion {
                contraindication: format!("contraindications/{c}"),
                reason: "The aorta lies beneath.".into(),
            })
            .collect(),
        ..Default::default()
    }
}

/// The fixture catalog: the seed's guidance, the seven screening conditions
/// plus two locations, four trigger points and five tools.
pub fn snapshot(version: &str, max_safe_pressure: i32) -> cpb::CatalogSnapshot {
    let mut contraindications: Vec<cpb::Contraindication> = CONDITIONS
        .iter()
        .map(|c| cpb::Contraindication {
            name: format!("contraindications/{c}"),
            display_name: c.replace('_', " "),
            kind: cpb::ContraindicationKind::Condition as i32,
            screening_question: format!("Do you have {c}?"),
            ..Default::default()
        })
        .collect();
    for l in ["pulse", "lymph_node"] {
        contraindications.push(cpb::Contraindication {
            name: format!("contraindications/{l}"),
            kind: cpb::ContraindicationKind::Location as i32,
            ..Default::default()
        });
    }
    cpb::CatalogSnapshot {
        catalog_version: version.into(),
        edition: "test".into(),
        guidance: Some(cpb::TechniqueGuidance {
            target_pressure: 5,
            max_safe_pressure,
            min_duration_seconds: 30,
            max_duration_seconds: 300,
            max_sessions_per_point_per_day: 6,
            recommended_sessions_per_day_min: 1,
            expected_improvement_days: 7,
            trend_window_days: 7,
            consistent_days_min: 5,
            min_tenderness_change: 1,
            ..Default::default()
        }),
        contraindications,
        trigger_points: vec![
            point(
                "ql_superficial",
                &["low_back", "buttock"],
                &["lacrosse_ball", "fingers"],
                &["massage_gun"],
                &[],
            ),
            point(
                "gluteus_medius_1",
                &["low_back", "buttock"],
                &["lacrosse_ball"],
                &[],
                &[],
            ),
            point(
                "iliopsoas_1",
                &["low_back", "front_thigh"],
                &["fingers"],
                &[],
                &["aneurysm"],
            ),
            point(
                "upper_trapezius_1",
                &["neck", "temple"],
                &["fingers"],
                &[],
                &[],
            ),
        ],
        tools: [
            "fingers",
            "lacrosse_ball",
            "massage_gun",
            "foam_roller",
            "tennis_ball",
        ]
        .iter()
        .map(|t| cpb::Tool {
            name: format!("tools/{t}"),
            display_name: t.replace('_', " "),
            ..Default::default()
        })
        .collect(),
        ..Default::default()
    }
}

/// A CatalogService that serves a swappable snapshot and can pretend to be
/// down.
#[derive(Clone)]
pub struct FakeCatalog {
    pub snapshot: Arc<Mutex<cpb::CatalogSnapshot>>,
    pub available: Arc<AtomicBool>,
    pub snapshot_calls: Arc<AtomicUsize>,
    pub not_modified_calls: Arc<AtomicUsize>,
}

impl FakeCatalog {
    pub fn set(&self, s: cpb::CatalogSnapshot) {
        *self.snapshot.lock().unwrap() = s;
    }

    fn check(&self) -> Result<(), Status> {
        if self.available.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Status::unavailable("catalog is down (test)"))
        }
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake catalog"))
}

#[tonic::async_trait]
impl CatalogService for FakeCatalog {
    async fn get_catalog_version(
        &self,
        _: Request<cpb::GetCatalogVersionRequest>,
    ) -> Result<Response<cpb::GetCatalogVersionResponse>, Status> {
        self.check()?;
        let s = self.snapshot.lock().unwrap();
        Ok(Response::new(cpb::GetCatalogVersionResponse {
            catalog_version: s.catalog_version.clone(),
            edition: s.edition.clone(),
        }))
    }

    async fn get_catalog_snapshot(
        &self,
        req: Request<cpb::GetCatalogSnapshotRequest>,
    ) -> Result<Response<cpb::GetCatalogSnapshotResponse>, Status> {
        self.check()?;
        self.snapshot_calls.fetch_add(1, Ordering::SeqCst);
        let s = self.snapshot.lock().unwrap().clone();
        if req.get_ref().if_none_match == s.catalog_version {
            self.not_modified_calls.fetch_add(1, Ordering::SeqCst);
            return Ok(Response::new(cpb::GetCatalogSnapshotResponse {
                catalog_version: s.catalog_version,
                not_modified: true,
                snapshot: None,
            }));
        }
        Ok(Response::new(cpb::GetCatalogSnapshotResponse {
            catalog_version: s.catalog_version.clone(),
            not_modified: false,
            snapshot: Some(s),
        }))
    }

    async fn find_by_pain(
        &self,
        _: Request<cpb::FindByPainRequest>,
    ) -> Result<Response<cpb::FindByPainResponse>, Status> {
        unimplemented()
    }
    async fn search(
        &self,
        _: Request<cpb::SearchRequest>,
    ) -> Result<Response<cpb::SearchResponse>, Status> {
        unimplemented()
    }
    async fn get_region(
        &self,
        _: Request<cpb::GetRegionRequest>,
    ) -> Result<Response<cpb::GetRegionResponse>, Status> {
        unimplemented()
    }
    async fn list_regions(
        &self,
        _: Request<cpb::ListRegionsRequest>,
    ) -> Result<Response<cpb::ListRegionsResponse>, Status> {
        unimplemented()
    }
    async fn get_muscle(
        &self,
        _: Request<cpb::GetMuscleRequest>,
    ) -> Result<Response<cpb::GetMuscleResponse>, Status> {
        unimplemented()
    }
    async fn list_muscles(
        &self,
        _: Request<cpb::ListMusclesRequest>,
    ) -> Result<Response<cpb::ListMusclesResponse>, Status> {
        unimplemented()
    }
    async fn get_trigger_point(
        &self,
        _: Request<cpb::GetTriggerPointRequest>,
    ) -> Result<Response<cpb::GetTriggerPointResponse>, Status> {
        unimplemented()
    }
    async fn batch_get_trigger_points(
        &self,
        _: Request<cpb::BatchGetTriggerPointsRequest>,
    ) -> Result<Response<cpb::BatchGetTriggerPointsResponse>, Status> {
        unimplemented()
    }
    async fn list_trigger_points(
        &self,
        _: Request<cpb::ListTriggerPointsRequest>,
    ) -> Result<Response<cpb::ListTriggerPointsResponse>, Status> {
        unimplemented()
    }
    async fn get_tool(
        &self,
        _: Request<cpb::GetToolRequest>,
    ) -> Result<Response<cpb::GetToolResponse>, Status> {
        unimplemented()
    }
    async fn list_tools(
        &self,
        _: Request<cpb::ListToolsRequest>,
    ) -> Result<Response<cpb::ListToolsResponse>, Status> {
        unimplemented()
    }
    async fn list_recommended_tools(
        &self,
        _: Request<cpb::ListRecommendedToolsRequest>,
    ) -> Result<Response<cpb::ListRecommendedToolsResponse>, Status> {
        unimplemented()
    }
    async fn list_symptoms(
        &self,
        _: Request<cpb::ListSymptomsRequest>,
    ) -> Result<Response<cpb::ListSymptomsResponse>, Status> {
        unimplemented()
    }
    async fn get_technique_guidance(
        &self,
        _: Request<cpb::GetTechniqueGuidanceRequest>,
    ) -> Result<Response<cpb::GetTechniqueGuidanceResponse>, Status> {
        unimplemented()
    }
    async fn list_contraindications(
        &self,
        _: Request<cpb::ListContraindicationsRequest>,
    ) -> Result<Response<cpb::ListContraindicationsResponse>, Status> {
        unimplemented()
    }
    async fn list_red_flags(
        &self,
        _: Request<cpb::ListRedFlagsRequest>,
    ) -> Result<Response<cpb::ListRedFlagsResponse>, Status> {
        unimplemented()
    }
    async fn list_sources(
        &self,
        _: Request<cpb::ListSourcesRequest>,
    ) -> Result<Response<cpb::ListSourcesResponse>, Status> {
        unimplemented()
    }

    async fn get_body_map(
        &self,
        _: Request<cpb::GetBodyMapRequest>,
    ) -> Result<Response<cpb::GetBodyMapResponse>, Status> {
        unimplemented()
    }

    async fn get_trigger_point_picture(
        &self,
        _: Request<cpb::GetTriggerPointPictureRequest>,
    ) -> Result<Response<cpb::GetTriggerPointPictureResponse>, Status> {
        unimplemented()
    }
    async fn list_guides(
        &self,
        _: Request<cpb::ListGuidesRequest>,
    ) -> Result<Response<cpb::ListGuidesResponse>, Status> {
        unimplemented()
    }
    async fn get_guide(
        &self,
        _: Request<cpb::GetGuideRequest>,
    ) -> Result<Response<cpb::GetGuideResponse>, Status> {
        unimplemented()
    }
}

/// Starts the fake catalog on an ephemeral loopback port.
pub async fn start_catalog(available: bool) -> (String, FakeCatalog) {
    let fake = FakeCatalog {
        snapshot: Arc::new(Mutex::new(snapshot("v1", 7))),
        available: Arc::new(AtomicBool::new(available)),
        snapshot_calls: Arc::default(),
        not_modified_calls: Arc::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = CatalogServiceServer::new(fake.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (format!("http://{addr}"), fake)
}

/// A session service running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), knotwork_session::Error>>>,
}

impl TestServer {
    /// Stops the server and waits until it released the data folder.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            d.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn config(dir: &Path, catalog_url: &str) -> knotwork_session::Config {
    let mut c = knotwork_session::Config::local(dir.to_path_buf());
    c.catalog_url = catalog_url.to_owned();
    c.internal_token = TOKEN.to_owned();
    c.guide_speedup = 1000;
    c.catalog_poll_secs = 1;
    c
}

pub async fn start_session_with(config: knotwork_session::Config, wait: bool) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(knotwork_session::run(config, listener, async {
        let _ = rx.await;
    }));
    if wait {
        wait_serving(addr).await;
    }
    TestServer {
        addr,
        stop: Some(tx),
        done: Some(done),
    }
}

pub async fn start_session(dir: &Path, catalog_url: &str) -> TestServer {
    start_session_with(config(dir, catalog_url), true).await
}

pub async fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn health(addr: SocketAddr) -> i32 {
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel(addr).await);
    match h
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(r) => r.into_inner().status,
        Err(_) => -1,
    }
}

pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;

/// Polls health until SERVING, for at most 10 seconds.
pub async fn wait_serving(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if health(addr).await == SERVING {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never became SERVING"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Adds the gateway's metadata to every call.
#[derive(Clone)]
pub struct Gateway {
    pub user: Option<String>,
    pub token: Option<String>,
}

impl Interceptor for Gateway {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(u) = &self.user {
            req.metadata_mut()
                .insert("x-knotwork-user-id", u.parse().unwrap());
        }
        if let Some(t) = &self.token {
            req.metadata_mut()
                .insert("x-knotwork-internal-token", t.parse().unwrap());
        }
        Ok(req)
    }
}

pub type Client = SessionServiceClient<InterceptedService<Channel, Gateway>>;
pub type AdminClient = SessionAdminServiceClient<InterceptedService<Channel, Gateway>>;

pub async fn client(addr: SocketAddr, user: &str) -> Client {
    client_with(addr, Some(user), Some(TOKEN)).await
}

pub async fn client_with(addr: SocketAddr, user: Option<&str>, token: Option<&str>) -> Client {
    SessionServiceClient::with_interceptor(
        channel(addr).await,
        Gateway {
            user: user.map(str::to_owned),
            token: token.map(str::to_owned),
        },
    )
}

pub async fn admin(addr: SocketAddr, token: Option<&str>) -> AdminClient {
    SessionAdminServiceClient::with_interceptor(
        channel(addr).await,
        Gateway {
            user: None,
            token: token.map(str::to_owned),
        },
    )
}
