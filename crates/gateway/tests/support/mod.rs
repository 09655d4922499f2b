//! Fake backends and helpers shared by the integration tests and the
//! benchmark. The fakes implement the generated servers; the session fake
//! checks the internal credential like the real one and reports what
//! reached it, so spoofing tests can assert on it.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use knotwork_gateway::Config;
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use knotwork_proto::metadata::{INTERNAL_TOKEN, REQUEST_ID, USER_ID};
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_admin_service_server::{
    SessionAdminService, SessionAdminServiceServer,
};
use knotwork_proto::session::v1::session_service_server::{SessionService, SessionServiceServer};
use knotwork_runtime::internal::InternalAuth;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use tonic_types::StatusExt;

pub const INTERNAL: &str = knotwork_runtime::dev::INTERNAL_TOKEN;
pub const SECRET: &str = knotwork_runtime::dev::JWT_SECRET;

type R<T> = Result<Response<T>, Status>;

fn unimpl<T>() -> R<T> {
    Err(Status::unimplemented("fake"))
}

// ---------------------------------------------------------------- catalog

/// A fake catalog replica.
#[derive(Clone, Default)]
pub struct FakeCatalog {
    pub name: String,
    pub calls: Arc<AtomicUsize>,
    /// Internal headers that reached this replica (must stay 0).
    pub leaked: Arc<AtomicUsize>,
    pub matches: Arc<Mutex<Vec<cat::MuscleMatch>>>,
}

impl FakeCatalog {
    fn seen<T>(&self, req: &Request<T>) {
        let md = req.metadata();
        // Forwarded calls carry a request id; the gateway's own version
        // polls (its catalog cache) do not, and are not counted.
        if md.get(REQUEST_ID).is_some() {
            self.calls.fetch_add(1, Ordering::SeqCst);
        }
        if md.get(USER_ID).is_some() || md.get(INTERNAL_TOKEN).is_some() {
            self.leaked.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tonic::async_trait]
impl CatalogService for FakeCatalog {
    async fn get_catalog_version(
        &self,
        req: Request<cat::GetCatalogVersionRequest>,
    ) -> R<cat::GetCatalogVersionResponse> {
        self.seen(&req);
        let rid = req
            .metadata()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(Response::new(cat::GetCatalogVersionResponse {
            catalog_version: self.name.clone(),
            edition: rid,
        }))
    }
    async fn get_catalog_snapshot(
        &self,
        _: Request<cat::GetCatalogSnapshotRequest>,
    ) -> R<cat::GetCatalogSnapshotResponse> {
        unimpl()
    }
    async fn find_by_pain(
        &self,
        req: Request<cat::FindByPainRequest>,
    ) -> R<cat::FindByPainResponse> {
        self.seen(&req);
        let page = req.get_ref().page_size.max(1) as usize;
        let mut matches = self.matches.lock().unwrap().clone();
        matches.truncate(page);
        Ok(Response::new(cat::FindByPainResponse {
            matches,
            catalog_version: self.name.clone(),
            red_flags: vec![cat::RedFlag {
                name: "redFlags/sharp".into(),
                ..Default::default()
            }],
            ..Default::default()
        }))
    }
    async fn search(&self, req: Request<cat::SearchRequest>) -> R<cat::SearchResponse> {
        self.seen(&req);
        let q = req.get_ref().query.clone();
        if let Some(ms) = q.strip_prefix("sleep:") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        if q == "missing" {
            return Err(Status::with_error_details(
                tonic::Code::NotFound,
                "no such thing",
                tonic_types::ErrorDetails::with_error_info("NOT_THERE", "knotwork.dev", []),
            ));
        }
        Ok(Response::new(cat::SearchResponse {
            catalog_version: self.name.clone(),
            ..Default::default()
        }))
    }
    async fn get_region(&self, _: Request<cat::GetRegionRequest>) -> R<cat::GetRegionResponse> {
        unimpl()
    }
    async fn list_regions(
        &self,
        _: Request<cat::ListRegionsRequest>,
    ) -> R<cat::ListRegionsResponse> {
        unimpl()
    }
    async fn get_muscle(&self, _: Request<cat::GetMuscleRequest>) -> R<cat::GetMuscleResponse> {
        unimpl()
    }
    async fn list_muscles(
        &self,
        _: Request<cat::ListMusclesRequest>,
    ) -> R<cat::ListMusclesResponse> {
        unimpl()
    }
    async fn get_trigger_point(
        &self,
        _: Request<cat::GetTriggerPointRequest>,
    ) -> R<cat::GetTriggerPointResponse> {
        unimpl()
    }
    async fn batch_get_trigger_points(
        &self,
        _: Request<cat::BatchGetTriggerPointsRequest>,
    ) -> R<cat::BatchGetTriggerPointsResponse> {
        unimpl()
    }
    async fn list_trigger_points(
        &self,
        _: Request<cat::ListTriggerPointsRequest>,
    ) -> R<cat::ListTriggerPointsResponse> {
        unimpl()
    }
    async fn get_tool(&self, _: Request<cat::GetToolRequest>) -> R<cat::GetToolResponse> {
        unimpl()
    }
    async fn list_tools(&self, _: Request<cat::ListToolsRequest>) -> R<cat::ListToolsResponse> {
        unimpl()
    }
    async fn list_recommended_tools(
        &self,
        _: Request<cat::ListRecommendedToolsRequest>,
    ) -> R<cat::ListRecommendedToolsResponse> {
        unimpl()
    }
    async fn list_symptoms(
        &self,
        _: Request<cat::ListSymptomsRequest>,
    ) -> R<cat::ListSymptomsResponse> {
        unimpl()
    }
    async fn get_technique_guidance(
        &self,
        req: Request<cat::GetTechniqueGuidanceRequest>,
    ) -> R<cat::GetTechniqueGuidanceResponse> {
        self.seen(&req);
        Ok(Response::new(cat::GetTechniqueGuidanceResponse {
            guidance: Some(cat::TechniqueGuidance {
                target_pressure: 5,
                max_sessions_per_point_per_day: 6,
                ..Default::default()
            }),
            catalog_version: self.name.clone(),
            guides: Vec::new(),
        }))
    }
    async fn list_contraindications(
        &self,
        _: Request<cat::ListContraindicationsRequest>,
    ) -> R<cat::ListContraindicationsResponse> {
        // The relief plan reads the screening conditions: none here.
        Ok(Response::new(cat::ListContraindicationsResponse::default()))
    }
    async fn list_red_flags(
        &self,
        _: Request<cat::ListRedFlagsRequest>,
    ) -> R<cat::ListRedFlagsResponse> {
        unimpl()
    }
    async fn list_sources(
        &self,
        _: Request<cat::ListSourcesRequest>,
    ) -> R<cat::ListSourcesResponse> {
        unimpl()
    }
    async fn get_body_map(&self, _: Request<cat::GetBodyMapRequest>) -> R<cat::GetBodyMapResponse> {
        unimpl()
    }
    async fn get_trigger_point_picture(
        &self,
        _: Request<cat::GetTriggerPointPictureRequest>,
    ) -> R<cat::GetTriggerPointPictureResponse> {
        unimpl()
    }
    async fn list_guides(&self, _: Request<cat::ListGuidesRequest>) -> R<cat::ListGuidesResponse> {
        unimpl()
    }
    async fn get_guide(&self, _: Request<cat::GetGuideRequest>) -> R<cat::GetGuideResponse> {
        unimpl()
    }
}

// ---------------------------------------------------------------- session

/// One user's data on a fake shard.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct UserData {
    pub profile: ses::Profile,
    pub screening: ses::Screening,
    pub sessions: Vec<ses::SessionRecord>,
    pub progress: Vec<ses::PointProgress>,
    pub allowances: Vec<ses::PointAllowance>,
}

/// A fake session shard.
#[derive(Clone)]
pub struct FakeSession {
    pub name: String,
    pub auth: InternalAuth,
    pub calls: Arc<AtomicUsize>,
    pub users: Arc<Mutex<HashMap<String, UserData>>>,
    pub cue_interval: Duration,
}

impl FakeSession {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            auth: InternalAuth::new(INTERNAL),
            calls: Arc::new(AtomicUsize::new(0)),
            users: Arc::default(),
            cue_interval: Duration::from_millis(5),
        }
    }

    /// Checks the credential like the real service and returns the user.
    fn user<T>(&self, req: &Request<T>) -> Result<String, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.auth.user_id(req.metadata())
    }

    pub fn with_user<T>(&self, user: &str, f: impl FnOnce(&mut UserData) -> T) -> T {
        f(self
            .users
            .lock()
            .unwrap()
            .entry(user.to_owned())
            .or_default())
    }

    pub fn has_user(&self, user: &str) -> bool {
        self.users
            .lock()
            .unwrap()
            .get(user)
            .is_some_and(|d| !d.sessions.is_empty())
    }

    fn export(&self, user: &str) -> ses::UserDataExport {
        let d = self
            .users
            .lock()
            .unwrap()
            .get(user)
            .cloned()
            .unwrap_or_default();
        ses::UserDataExport {
            user_id: user.to_owned(),
            profile: Some(d.profile),
            screening: Some(d.screening),
            sessions: d.sessions,
            ..Default::default()
        }
    }
}

pub type GuideStream =
    Pin<Box<dyn Stream<Item = Result<ses::GuideSessionResponse, Status>> + Send>>;

/// A boxed response stream of the fakes.
pub type Parts<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// An export cut into parts of at most two sessions, as the real shard
/// cuts bigger ones: the first part holds everything but the sessions.
fn export_parts(e: ses::UserDataExport) -> Vec<ses::UserDataExport> {
    let mut first = e.clone();
    first.sessions.clear();
    let mut out = vec![first];
    for chunk in e.sessions.chunks(2) {
        out.push(ses::UserDataExport {
            sessions: chunk.to_vec(),
            ..Default::default()
        });
    }
    out
}

#[tonic::async_trait]
impl SessionService for FakeSession {
    type GuideSessionStream = GuideStream;
    type StreamExportUserDataStream = Parts<ses::StreamExportUserDataResponse>;

    async fn stream_export_user_data(
        &self,
        req: Request<ses::StreamExportUserDataRequest>,
    ) -> R<Self::StreamExportUserDataStream> {
        let user = self.user(&req)?;
        let parts = export_parts(self.export(&user))
            .into_iter()
            .map(|p| Ok(ses::StreamExportUserDataResponse { part: Some(p) }));
        Ok(Response::new(Box::pin(futures::stream::iter(parts))))
    }

    async fn get_profile(
        &self,
        req: Request<ses::GetProfileRequest>,
    ) -> R<ses::GetProfileResponse> {
        let user = self.user(&req)?;
        Ok(Response::new(ses::GetProfileResponse {
            profile: Some(self.with_user(&user, |d| d.profile.clone())),
        }))
    }
    async fn update_profile(
        &self,
        req: Request<ses::UpdateProfileRequest>,
    ) -> R<ses::UpdateProfileResponse> {
        let user = self.user(&req)?;
        let p = req.into_inner().profile.unwrap_or_default();
        self.with_user(&user, |d| d.profile = p.clone());
        Ok(Response::new(ses::UpdateProfileResponse {
            profile: Some(p),
        }))
    }
    async fn get_screening(
        &self,
        req: Request<ses::GetScreeningRequest>,
    ) -> R<ses::GetScreeningResponse> {
        let user = self.user(&req)?;
        Ok(Response::new(ses::GetScreeningResponse {
            screening: Some(self.with_user(&user, |d| d.screening.clone())),
        }))
    }
    async fn submit_screening(
        &self,
        _: Request<ses::SubmitScreeningRequest>,
    ) -> R<ses::SubmitScreeningResponse> {
        unimpl()
    }
    async fn start_guided_session(
        &self,
        _: Request<ses::StartGuidedSessionRequest>,
    ) -> R<ses::StartGuidedSessionResponse> {
        unimpl()
    }
    async fn guide_session(
        &self,
        req: Request<ses::GuideSessionRequest>,
    ) -> R<Self::GuideSessionStream> {
        self.user(&req)?;
        let interval = self.cue_interval;
        let cues = [
            ses::GuideCue::Start,
            ses::GuideCue::PressAndHold,
            ses::GuideCue::Halfway,
            ses::GuideCue::Stop,
        ];
        let stream = async_stream(cues.to_vec(), interval);
        Ok(Response::new(stream))
    }
    async fn log_session(
        &self,
        req: Request<ses::LogSessionRequest>,
    ) -> R<ses::LogSessionResponse> {
        let user = self.user(&req)?;
        let mut s = req.into_inner().session.unwrap_or_default();
        let n = self.with_user(&user, |d| {
            s.name = format!("sessions/{}", d.sessions.len() + 1);
            d.sessions.push(s.clone());
            d.sessions.len()
        });
        s.name = format!("sessions/{n}");
        Ok(Response::new(ses::LogSessionResponse {
            session: Some(s),
            replayed: false,
        }))
    }
    async fn batch_log_sessions(
        &self,
        _: Request<ses::BatchLogSessionsRequest>,
    ) -> R<ses::BatchLogSessionsResponse> {
        unimpl()
    }
    /// `sessions/huge-N` answers NOT_FOUND with an N-byte message: a
    /// backend whose error reply is not bounded.
    async fn get_session(
        &self,
        req: Request<ses::GetSessionRequest>,
    ) -> R<ses::GetSessionResponse> {
        self.user(&req)?;
        match req.get_ref().name.strip_prefix("sessions/huge-") {
            Some(n) => Err(Status::not_found("a".repeat(n.parse().unwrap_or(0)))),
            None => unimpl(),
        }
    }
    async fn list_sessions(
        &self,
        req: Request<ses::ListSessionsRequest>,
    ) -> R<ses::ListSessionsResponse> {
        let user = self.user(&req)?;
        let sessions = self.with_user(&user, |d| d.sessions.clone());
        Ok(Response::new(ses::ListSessionsResponse {
            sessions,
            next_page_token: String::new(),
        }))
    }
    async fn list_progress(
        &self,
        req: Request<ses::ListProgressRequest>,
    ) -> R<ses::ListProgressResponse> {
        let user = self.user(&req)?;
        Ok(Response::new(ses::ListProgressResponse {
            progress: self.with_user(&user, |d| d.progress.clone()),
            adherence: None,
        }))
    }
    async fn get_day(&self, req: Request<ses::GetDayRequest>) -> R<ses::GetDayResponse> {
        let user = self.user(&req)?;
        let (sessions, allowances) =
            self.with_user(&user, |d| (d.sessions.clone(), d.allowances.clone()));
        Ok(Response::new(ses::GetDayResponse {
            local_date: "2026-11-27".into(),
            time_zone: "UTC".into(),
            total_sessions: sessions.len() as i32,
            sessions,
            allowances,
            ..Default::default()
        }))
    }
    /// Reports what reached the shard: every user id value (comma-joined),
    /// the shard name, and the request id.
    async fn export_user_data(
        &self,
        req: Request<ses::ExportUserDataRequest>,
    ) -> R<ses::ExportUserDataResponse> {
        let user = self.user(&req)?;
        let md = req.metadata();
        let ids: Vec<&str> = md
            .get_all(USER_ID)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let tokens = md.get_all(INTERNAL_TOKEN).iter().count();
        let rid = md
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut export = self.export(&user);
        export.user_id = ids.join(",");
        export.request_ids = vec![ses::RequestIdEntry {
            request_id: rid,
            resource: format!("{}:{tokens}", self.name),
        }];
        Ok(Response::new(ses::ExportUserDataResponse {
            export: Some(export),
        }))
    }
    async fn delete_user_data(
        &self,
        _: Request<ses::DeleteUserDataRequest>,
    ) -> R<ses::DeleteUserDataResponse> {
        unimpl()
    }
    async fn record_check_in(
        &self,
        _: Request<ses::RecordCheckInRequest>,
    ) -> R<ses::RecordCheckInResponse> {
        unimpl()
    }
    async fn list_check_ins(
        &self,
        _: Request<ses::ListCheckInsRequest>,
    ) -> R<ses::ListCheckInsResponse> {
        unimpl()
    }
    async fn list_region_progress(
        &self,
        _: Request<ses::ListRegionProgressRequest>,
    ) -> R<ses::ListRegionProgressResponse> {
        Ok(Response::new(ses::ListRegionProgressResponse::default()))
    }
    async fn export_fhir_bundle(
        &self,
        _: Request<ses::ExportFhirBundleRequest>,
    ) -> R<ses::ExportFhirBundleResponse> {
        unimpl()
    }
    async fn update_session(
        &self,
        _: Request<ses::UpdateSessionRequest>,
    ) -> R<ses::UpdateSessionResponse> {
        unimpl()
    }
    async fn delete_session(
        &self,
        _: Request<ses::DeleteSessionRequest>,
    ) -> R<ses::DeleteSessionResponse> {
        unimpl()
    }
    /// No holds: the views tests exercise the ranking, holds are covered
    /// end to end in `tests/tests/holds.rs`.
    async fn list_holds(&self, req: Request<ses::ListHoldsRequest>) -> R<ses::ListHoldsResponse> {
        self.user(&req)?;
        Ok(Response::new(ses::ListHoldsResponse::default()))
    }
    async fn release_hold(
        &self,
        _: Request<ses::ReleaseHoldRequest>,
    ) -> R<ses::ReleaseHoldResponse> {
        unimpl()
    }
    async fn get_daily_plan(
        &self,
        _: Request<ses::GetDailyPlanRequest>,
    ) -> R<ses::GetDailyPlanResponse> {
        Ok(Response::new(ses::GetDailyPlanResponse::default()))
    }
    async fn list_reminders(
        &self,
        _: Request<ses::ListRemindersRequest>,
    ) -> R<ses::ListRemindersResponse> {
        unimpl()
    }
    async fn export_calendar(
        &self,
        _: Request<ses::ExportCalendarRequest>,
    ) -> R<ses::ExportCalendarResponse> {
        unimpl()
    }
    /// Composed from the fake's own parts, as the real shard composes its
    /// handlers.
    async fn get_overview(
        &self,
        req: Request<ses::GetOverviewRequest>,
    ) -> R<ses::GetOverviewResponse> {
        let md = req.metadata().clone();
        let r = req.into_inner();
        let day = self
            .get_day(part(
                &md,
                ses::GetDayRequest {
                    local_date: r.local_date.clone(),
                    max_sessions: 0,
                },
            ))
            .await?
            .into_inner();
        let progress = self
            .list_progress(part(&md, ses::ListProgressRequest::default()))
            .await?
            .into_inner();
        let screening = self
            .get_screening(part(&md, ses::GetScreeningRequest {}))
            .await?
            .into_inner();
        let holds = self
            .list_holds(part(&md, ses::ListHoldsRequest::default()))
            .await?
            .into_inner();
        let plan = if r.include_plan {
            Some(
                self.get_daily_plan(part(
                    &md,
                    ses::GetDailyPlanRequest {
                        local_date: r.local_date.clone(),
                    },
                ))
                .await?
                .into_inner(),
            )
        } else {
            None
        };
        let profile = if r.include_profile {
            Some(
                self.get_profile(part(&md, ses::GetProfileRequest {}))
                    .await?
                    .into_inner(),
            )
        } else {
            None
        };
        let region_progress = if r.include_region_progress {
            Some(
                self.list_region_progress(part(&md, ses::ListRegionProgressRequest { days: 0 }))
                    .await?
                    .into_inner(),
            )
        } else {
            None
        };
        Ok(Response::new(ses::GetOverviewResponse {
            day: Some(day),
            progress: Some(progress),
            screening: Some(screening),
            holds: Some(holds),
            plan,
            profile,
            region_progress,
            // As a shard of an earlier build answers: every point, whatever
            // `progress_limit` asks, and no total (the gateway counts them).
            progress_total: 0,
        }))
    }
}

/// A request carrying `md` (the caller's user and credential).
fn part<T>(md: &tonic::metadata::MetadataMap, message: T) -> Request<T> {
    let mut req = Request::new(message);
    *req.metadata_mut() = md.clone();
    req
}

fn async_stream(cues: Vec<ses::GuideCue>, interval: Duration) -> GuideStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for (i, cue) in cues.into_iter().enumerate() {
            tokio::time::sleep(interval).await;
            let msg = ses::GuideSessionResponse {
                cue: cue as i32,
                elapsed_seconds: i as i32,
                message: format!("cue {i}"),
                ..Default::default()
            };
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl SessionAdminService for FakeSession {
    /// The fakes hold no shard map: the gateway routes by its list.
    async fn get_shard_map(
        &self,
        req: Request<ses::GetShardMapRequest>,
    ) -> R<ses::GetShardMapResponse> {
        self.auth.verify(req.metadata())?;
        Ok(Response::new(ses::GetShardMapResponse {
            shard_id: self.name.clone(),
            map: None,
        }))
    }
    async fn set_shard_map(
        &self,
        _req: Request<ses::SetShardMapRequest>,
    ) -> R<ses::SetShardMapResponse> {
        Err(Status::unimplemented("the fake session holds no shard map"))
    }
    async fn list_users(&self, req: Request<ses::ListUsersRequest>) -> R<ses::ListUsersResponse> {
        self.auth.verify(req.metadata())?;
        let mut user_ids: Vec<String> = self.users.lock().unwrap().keys().cloned().collect();
        user_ids.sort();
        Ok(Response::new(ses::ListUsersResponse {
            user_ids,
            next_page_token: String::new(),
        }))
    }
    async fn export_user(
        &self,
        req: Request<ses::ExportUserRequest>,
    ) -> R<ses::ExportUserResponse> {
        self.auth.verify(req.metadata())?;
        Ok(Response::new(ses::ExportUserResponse {
            export: Some(self.export(&req.get_ref().user_id)),
        }))
    }
    async fn import_user(
        &self,
        req: Request<ses::ImportUserRequest>,
    ) -> R<ses::ImportUserResponse> {
        self.auth.verify(req.metadata())?;
        let e = req.into_inner().export.unwrap_or_default();
        let n = e.sessions.len() as i64;
        self.users.lock().unwrap().insert(
            e.user_id.clone(),
            UserData {
                profile: e.profile.unwrap_or_default(),
                screening: e.screening.unwrap_or_default(),
                sessions: e.sessions,
                ..Default::default()
            },
        );
        Ok(Response::new(ses::ImportUserResponse {
            sessions_imported: n,
        }))
    }
    type StreamExportUserStream = Parts<ses::StreamExportUserResponse>;

    async fn stream_export_user(
        &self,
        req: Request<ses::StreamExportUserRequest>,
    ) -> R<Self::StreamExportUserStream> {
        self.auth.verify(req.metadata())?;
        let parts = export_parts(self.export(&req.get_ref().user_id))
            .into_iter()
            .map(|p| Ok(ses::StreamExportUserResponse { part: Some(p) }));
        Ok(Response::new(Box::pin(futures::stream::iter(parts))))
    }

    async fn stream_import_user(
        &self,
        req: Request<tonic::Streaming<ses::StreamImportUserRequest>>,
    ) -> R<ses::StreamImportUserResponse> {
        use prost::Message as _;
        self.auth.verify(req.metadata())?;
        let mut stream = req.into_inner();
        let mut whole = ses::UserDataExport::default();
        let mut parts = 0;
        loop {
            let Some(msg) = stream.message().await? else {
                return Err(Status::aborted("no part marked complete"));
            };
            parts += 1;
            if let Some(p) = msg.part {
                whole.merge(p.encode_to_vec().as_slice()).unwrap();
            }
            if msg.complete {
                break;
            }
        }
        let n = whole.sessions.len() as i64;
        self.users.lock().unwrap().insert(
            whole.user_id.clone(),
            UserData {
                profile: whole.profile.unwrap_or_default(),
                screening: whole.screening.unwrap_or_default(),
                sessions: whole.sessions,
                ..Default::default()
            },
        );
        Ok(Response::new(ses::StreamImportUserResponse {
            sessions_imported: n,
            parts,
        }))
    }

    type BackupStream = Parts<ses::BackupResponse>;

    async fn backup(&self, _: Request<ses::BackupRequest>) -> R<Self::BackupStream> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_user(
        &self,
        req: Request<ses::DeleteUserRequest>,
    ) -> R<ses::DeleteUserResponse> {
        self.auth.verify(req.metadata())?;
        let removed = self.users.lock().unwrap().remove(&req.get_ref().user_id);
        Ok(Response::new(ses::DeleteUserResponse {
            sessions_deleted: removed.map_or(0, |d| d.sessions.len() as i64),
        }))
    }
}

// ---------------------------------------------------------------- servers

/// A running fake backend (also serves grpc.health.v1 as SERVING), on its
/// own runtime so that killing it drops every connection, like a crash.
pub struct Running {
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Kills the server abruptly (listener and connections dropped).
    pub fn kill(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn health()
-> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
    let (reporter, server) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    server
}

pub async fn bind(addr: Option<SocketAddr>) -> TcpListener {
    TcpListener::from_std(bind_std(addr).await).unwrap()
}

/// Binds, retrying for a while when a just-released port is not free yet.
pub async fn bind_std(addr: Option<SocketAddr>) -> std::net::TcpListener {
    let addr = addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
    let start = Instant::now();
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => {
                l.set_nonblocking(true).unwrap();
                return l;
            }
            Err(_) if start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    }
}

/// Runs `serve` on a fresh one-thread runtime with a listener on `addr`.
async fn spawn_on_own_runtime<F, Fut>(addr: Option<SocketAddr>, serve: F) -> Running
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let std_listener = bind_std(addr).await;
    let addr = std_listener.local_addr().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.spawn(async move {
        let listener = TcpListener::from_std(std_listener).unwrap();
        serve(listener).await;
    });
    Running { addr, rt: Some(rt) }
}

pub async fn spawn_catalog(fake: FakeCatalog, addr: Option<SocketAddr>) -> Running {
    spawn_on_own_runtime(addr, move |listener| async move {
        let health = health().await;
        let _ = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(CatalogServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    })
    .await
}

pub async fn spawn_session(fake: FakeSession, addr: Option<SocketAddr>) -> Running {
    spawn_on_own_runtime(addr, move |listener| async move {
        let health = health().await;
        let _ = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(SessionServiceServer::new(fake.clone()))
            .add_service(SessionAdminServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    })
    .await
}

/// A running gateway; stops on drop.
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), knotwork_gateway::Error>>>,
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }
}

/// Test defaults: fast health polling, generous limits.
pub fn config(catalog: &[String], shards: &[String]) -> Config {
    let mut c = Config::local(catalog.to_vec(), shards.to_vec());
    c.health_interval_ms = 50;
    c.backend_connect_timeout_ms = 500;
    c.user_rate = 10_000;
    c.user_burst = 10_000;
    c.addr_rate = 100_000;
    c.addr_burst = 100_000;
    c
}

pub async fn spawn_gateway(config: Config) -> Gateway {
    let listener = bind(None).await;
    let admin = bind(None).await;
    let (addr, admin_addr) = (listener.local_addr().unwrap(), admin.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = tokio::spawn(knotwork_gateway::run(
        config,
        listener,
        Some(admin),
        async move {
            let _ = rx.await;
        },
    ));
    Gateway {
        addr,
        admin: admin_addr,
        stop: Some(tx),
        handle: Some(handle),
    }
}

/// A catalog replica, a session shard and a gateway in front of them.
pub struct Stack {
    pub catalog: FakeCatalog,
    pub session: FakeSession,
    pub catalog_srv: Running,
    pub session_srv: Running,
    pub gateway: Gateway,
}

pub async fn stack_with(edit: impl FnOnce(&mut Config)) -> Stack {
    let catalog = FakeCatalog {
        name: "c0".into(),
        ..Default::default()
    };
    let session = FakeSession::new("s0");
    let catalog_srv = spawn_catalog(catalog.clone(), None).await;
    let session_srv = spawn_session(session.clone(), None).await;
    let mut cfg = config(&[catalog_srv.url()], &[session_srv.url()]);
    edit(&mut cfg);
    let gateway = spawn_gateway(cfg).await;
    Stack {
        catalog,
        session,
        catalog_srv,
        session_srv,
        gateway,
    }
}

pub async fn stack() -> Stack {
    stack_with(|_| {}).await
}

pub fn token(user: &str) -> String {
    knotwork_gateway::mint_dev_token(
        SECRET,
        knotwork_runtime::dev::JWT_ISSUER,
        knotwork_runtime::dev::JWT_AUDIENCE,
        user,
        Duration::from_secs(3600),
    )
    .unwrap()
}

pub fn authed<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// Polls `f` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

pub async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

// ---------------------------------------------------------------- HTTP/1.1

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request with exactly the given header lines (so
/// tests control case and duplicates) and reads the whole response.
pub async fn http1(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..nl])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = rest[nl + 2 + size + 2..].to_vec();
        }
        rest = out;
    }
    RawResponse {
        status,
        headers,
        body: rest,
    }
}

/// A grpc-web data frame for `msg`.
pub fn frame(msg: &impl prost::Message) -> Vec<u8> {
    let bytes = msg.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// Decodes a grpc-web response body by its content type: text responses
/// are base64 in padded chunks (one per frame).
pub fn decode_web(resp: &RawResponse) -> (Vec<Vec<u8>>, String) {
    use base64::Engine;
    let text = resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/grpc-web-text"));
    if !text {
        return unframe(&resp.body);
    }
    let mut raw = Vec::new();
    let mut chunk = Vec::new();
    for (i, b) in resp.body.iter().enumerate() {
        chunk.push(*b);
        let next_is_pad = resp.body.get(i + 1) == Some(&b'=');
        if (*b == b'=' && !next_is_pad) || (chunk.len() % 4 == 0 && i + 1 == resp.body.len()) {
            raw.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(&chunk)
                    .unwrap(),
            );
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        raw.extend(
            base64::engine::general_purpose::STANDARD
                .decode(&chunk)
                .unwrap(),
        );
    }
    unframe(&raw)
}

/// Splits a grpc-web body into data messages and the trailer block.
pub fn unframe(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let (mut data, mut trailers) = (Vec::new(), String::new());
    while body.len() >= 5 {
        let flag = body[0];
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = &body[5..5 + len];
        if flag & 0x80 != 0 {
            trailers.push_str(&String::from_utf8_lossy(payload));
        } else {
            data.push(payload.to_vec());
        }
        body = &body[5 + len..];
    }
    (data, trailers)
}
