//! The gRPC handlers: authenticate, convert, call the domain and the store,
//! convert back. No rules live here. This file holds `Session` and the
//! `SessionService` method list; each method is answered by the module of
//! its area (`profile`, `guided`, `journal`, `progress`, `holds`,
//! `checkins`, `data`, `plans`), and `admin` holds `SessionAdminService`.

mod admin;
mod checkins;
mod data;
mod guided;
mod holds;
mod journal;
mod plans;
mod profile;
mod progress;

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use knotwork_proto::session::v1 as pb;
use knotwork_proto::session::v1::session_service_server::SessionService;
use knotwork_runtime::drain::Drain;
use knotwork_runtime::internal::InternalAuth;
use tonic::{Request, Response, Status};

use crate::catalog::CatalogFeed;
use crate::domain::progress::Grouped;
use crate::domain::{names, time, validate};
use crate::error::Error;
use crate::overview::SharedJournal;
use crate::store::Store;

type Res<T> = Result<Response<T>, Status>;

/// The stream of a GuideSession call.
type GuideStream = Pin<Box<dyn Stream<Item = Result<pb::GuideSessionResponse, Status>> + Send>>;

/// Implements `SessionService` and `SessionAdminService`.
#[derive(Debug, Clone)]
pub struct Session {
    store: Arc<Store>,
    catalog: CatalogFeed,
    auth: InternalAuth,
    guide_speedup: u32,
    drain: Drain,
    ownership: Arc<crate::shards::Ownership>,
}

impl Session {
    /// Handlers over `store`, with rules from `catalog`, admitting only
    /// callers that present the internal credential.
    pub fn new(
        store: Arc<Store>,
        catalog: CatalogFeed,
        auth: InternalAuth,
        guide_speedup: u32,
    ) -> Self {
        Self {
            store,
            catalog,
            auth,
            guide_speedup: guide_speedup.max(1),
            drain: Drain::never(),
            ownership: Arc::new(crate::shards::Ownership::unfenced()),
        }
    }

    /// The shard identity and map GetShardMap and SetShardMap read and
    /// change (the default has none: every user is accepted). The check
    /// itself is `crate::shards::OwnershipLayer`, in front of the handlers.
    pub fn with_ownership(mut self, ownership: Arc<crate::shards::Ownership>) -> Self {
        self.ownership = ownership;
        self
    }

    /// Ends guided-session streams with UNAVAILABLE when `drain`'s
    /// deadline passes (the default never does).
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.drain = drain;
        self
    }

    /// The catalog view for a call naming the trigger points `points`
    /// (`triggerPoints/{id}`): when the view lacks one of them the catalog
    /// may have added it since the last poll, so the view is refreshed
    /// first (rate-limited, see `CatalogFeed::refresh_now`). A name that is
    /// still unknown is then refused by validation as before.
    async fn catalog_for<'a>(
        &self,
        points: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<crate::domain::CatalogView>, Error> {
        let view = self.catalog.get()?;
        let unknown = points.into_iter().any(|p| {
            validate::parse_name(p, crate::domain::names::TRIGGER_POINT)
                .is_some_and(|id| view.point(id).is_none())
        });
        if unknown {
            return self.catalog.refresh_now().await;
        }
        Ok(view)
    }

    fn user<T>(&self, req: &Request<T>) -> Result<String, Status> {
        self.auth.user_id(req.metadata())
    }

    fn admin<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.auth.verify(req.metadata())
    }

    async fn zone(&self, user: &str) -> Result<(jiff::tz::TimeZone, String), Error> {
        let p = self.store.profile(user).await?.unwrap_or_default();
        Ok((time::zone_or_utc(&p.time_zone), p.time_zone))
    }

    /// The whole journal of `user`, grouped per point: the one the parts
    /// of a GetOverview share when `shared` (from [`shared_journal`]) is
    /// set, else a read.
    async fn journal(
        &self,
        shared: Option<&SharedJournal>,
        user: &str,
    ) -> Result<Arc<Grouped>, Error> {
        match shared {
            Some(s) => {
                s.get_or_read(user, || self.store.journal_grouped(user))
                    .await
            }
            None => self.store.journal_grouped(user).await,
        }
    }
}

/// The journal shared by the parts of a GetOverview, when `req` is one.
fn shared_journal<T>(req: &Request<T>) -> Option<SharedJournal> {
    req.extensions().get::<SharedJournal>().cloned()
}

/// The call's `x-request-id` (or a fresh one), for log lines.
fn rid<T>(req: &Request<T>) -> String {
    knotwork_runtime::internal::request_id(req.metadata())
}

fn page_size(v: i32, default: usize, max: usize) -> Result<usize, Error> {
    match usize::try_from(v) {
        Ok(0) => Ok(default),
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::field("page_size", format!("must be 0 to {max}"))),
    }
}

fn trigger_point_filter(name: &str) -> Result<Option<String>, Error> {
    if name.is_empty() {
        return Ok(None);
    }
    validate::parse_name(name, names::TRIGGER_POINT)
        .map(|id| Some(id.to_owned()))
        .ok_or_else(|| Error::field("trigger_point", "must be `triggerPoints/{trigger_point}`"))
}

#[tonic::async_trait]
impl SessionService for Session {
    type GuideSessionStream = GuideStream;
    type StreamExportUserDataStream = crate::transfer::Boxed<pb::StreamExportUserDataResponse>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_profile(
        &self,
        req: Request<pb::GetProfileRequest>,
    ) -> Res<pb::GetProfileResponse> {
        profile::get_profile(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn update_profile(
        &self,
        req: Request<pb::UpdateProfileRequest>,
    ) -> Res<pb::UpdateProfileResponse> {
        profile::update_profile(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_screening(
        &self,
        req: Request<pb::GetScreeningRequest>,
    ) -> Res<pb::GetScreeningResponse> {
        profile::get_screening(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn submit_screening(
        &self,
        req: Request<pb::SubmitScreeningRequest>,
    ) -> Res<pb::SubmitScreeningResponse> {
        profile::submit_screening(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn start_guided_session(
        &self,
        req: Request<pb::StartGuidedSessionRequest>,
    ) -> Res<pb::StartGuidedSessionResponse> {
        guided::start_guided_session(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn guide_session(
        &self,
        req: Request<pb::GuideSessionRequest>,
    ) -> Res<Self::GuideSessionStream> {
        guided::guide_session(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn log_session(
        &self,
        req: Request<pb::LogSessionRequest>,
    ) -> Res<pb::LogSessionResponse> {
        journal::log_session(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req), items))]
    async fn batch_log_sessions(
        &self,
        req: Request<pb::BatchLogSessionsRequest>,
    ) -> Res<pb::BatchLogSessionsResponse> {
        journal::batch_log_sessions(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_session(
        &self,
        req: Request<pb::GetSessionRequest>,
    ) -> Res<pb::GetSessionResponse> {
        journal::get_session(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_sessions(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Res<pb::ListSessionsResponse> {
        journal::list_sessions(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_progress(
        &self,
        req: Request<pb::ListProgressRequest>,
    ) -> Res<pb::ListProgressResponse> {
        progress::list_progress(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_day(&self, req: Request<pb::GetDayRequest>) -> Res<pb::GetDayResponse> {
        progress::get_day(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn export_user_data(
        &self,
        req: Request<pb::ExportUserDataRequest>,
    ) -> Res<pb::ExportUserDataResponse> {
        data::export_user_data(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn stream_export_user_data(
        &self,
        req: Request<pb::StreamExportUserDataRequest>,
    ) -> Res<Self::StreamExportUserDataStream> {
        data::stream_export_user_data(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn delete_user_data(
        &self,
        req: Request<pb::DeleteUserDataRequest>,
    ) -> Res<pb::DeleteUserDataResponse> {
        data::delete_user_data(self, req).await
    }

    #[tracing::instrument(skip_all)]
    async fn record_check_in(
        &self,
        req: Request<pb::RecordCheckInRequest>,
    ) -> Res<pb::RecordCheckInResponse> {
        checkins::record_check_in(self, req).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_check_ins(
        &self,
        req: Request<pb::ListCheckInsRequest>,
    ) -> Res<pb::ListCheckInsResponse> {
        checkins::list_check_ins(self, req).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_region_progress(
        &self,
        req: Request<pb::ListRegionProgressRequest>,
    ) -> Res<pb::ListRegionProgressResponse> {
        checkins::list_region_progress(self, req).await
    }

    #[tracing::instrument(skip_all)]
    async fn export_fhir_bundle(
        &self,
        req: Request<pb::ExportFhirBundleRequest>,
    ) -> Res<pb::ExportFhirBundleResponse> {
        data::export_fhir_bundle(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn update_session(
        &self,
        req: Request<pb::UpdateSessionRequest>,
    ) -> Res<pb::UpdateSessionResponse> {
        journal::update_session(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn delete_session(
        &self,
        req: Request<pb::DeleteSessionRequest>,
    ) -> Res<pb::DeleteSessionResponse> {
        journal::delete_session(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_holds(&self, req: Request<pb::ListHoldsRequest>) -> Res<pb::ListHoldsResponse> {
        holds::list_holds(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn release_hold(
        &self,
        req: Request<pb::ReleaseHoldRequest>,
    ) -> Res<pb::ReleaseHoldResponse> {
        holds::release_hold(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_daily_plan(
        &self,
        req: Request<pb::GetDailyPlanRequest>,
    ) -> Res<pb::GetDailyPlanResponse> {
        plans::get_daily_plan(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_reminders(
        &self,
        req: Request<pb::ListRemindersRequest>,
    ) -> Res<pb::ListRemindersResponse> {
        plans::list_reminders(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn export_calendar(
        &self,
        req: Request<pb::ExportCalendarRequest>,
    ) -> Res<pb::ExportCalendarResponse> {
        plans::export_calendar(self, req).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_overview(
        &self,
        req: Request<pb::GetOverviewRequest>,
    ) -> Res<pb::GetOverviewResponse> {
        // Refused once here rather than by every part.
        self.user(&req)?;
        crate::overview::overview(self, req).await
    }
}
