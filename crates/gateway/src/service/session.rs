//! `knotwork.session.v1.SessionService`, forwarded to the caller's shard.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::session_service_server::SessionService;
use knotwork_proto::session::v1::*;
use knotwork_runtime::drain::Drain;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::upstream::classify;

/// Forwards every session call to the shard holding the caller's data.
#[derive(Debug, Clone)]
pub struct SessionForward {
    shared: Arc<Shared>,
    drain: Drain,
}

impl SessionForward {
    /// A forwarder over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            drain: Drain::never(),
        }
    }

    /// Ends forwarded guided sessions with UNAVAILABLE when `drain`'s
    /// deadline passes (the default never does).
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.drain = drain;
        self
    }
}

/// A forwarded guided session.
pub type GuideStream = Pin<Box<dyn Stream<Item = Result<GuideSessionResponse, Status>> + Send>>;

/// A forwarded streamed export.
pub type ExportStream =
    Pin<Box<dyn Stream<Item = Result<StreamExportUserDataResponse, Status>> + Send>>;

/// One forwarding body per unary method: token, limits, deadline, then the
/// call to the caller's shard with the gateway's own metadata.
/// The rest of the impl (the stream type and the streaming method) is
/// passed through, because `async_trait` must see every method at once.
macro_rules! forward_session {
    (methods { $($method:ident($req:ty) -> $resp:ty;)* } $($rest:tt)*) => {
        #[tonic::async_trait]
        impl SessionService for SessionForward {
        $(
            async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                let shared = &self.shared;
                let ctx = shared.private(&request, shared.max_timeout).await?;
                let max = shared.max_message;
                shared.call_session(&ctx, request.into_inner(), move |channel, r| async move {
                    SessionServiceClient::new(channel)
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(max)
                        .$method(r)
                        .await
                })
                .await
            }
        )*
        $($rest)*
        }
    };
}

forward_session! {
    methods {
        get_profile(GetProfileRequest) -> GetProfileResponse;
        update_profile(UpdateProfileRequest) -> UpdateProfileResponse;
        get_screening(GetScreeningRequest) -> GetScreeningResponse;
        submit_screening(SubmitScreeningRequest) -> SubmitScreeningResponse;
        start_guided_session(StartGuidedSessionRequest) -> StartGuidedSessionResponse;
        log_session(LogSessionRequest) -> LogSessionResponse;
        batch_log_sessions(BatchLogSessionsRequest) -> BatchLogSessionsResponse;
        get_session(GetSessionRequest) -> GetSessionResponse;
        list_sessions(ListSessionsRequest) -> ListSessionsResponse;
        list_progress(ListProgressRequest) -> ListProgressResponse;
        get_day(GetDayRequest) -> GetDayResponse;
        export_user_data(ExportUserDataRequest) -> ExportUserDataResponse;
        delete_user_data(DeleteUserDataRequest) -> DeleteUserDataResponse;
        record_check_in(RecordCheckInRequest) -> RecordCheckInResponse;
        list_check_ins(ListCheckInsRequest) -> ListCheckInsResponse;
        list_region_progress(ListRegionProgressRequest) -> ListRegionProgressResponse;
        export_fhir_bundle(ExportFhirBundleRequest) -> ExportFhirBundleResponse;
        update_session(UpdateSessionRequest) -> UpdateSessionResponse;
        delete_session(DeleteSessionRequest) -> DeleteSessionResponse;
        list_holds(ListHoldsRequest) -> ListHoldsResponse;
        release_hold(ReleaseHoldRequest) -> ReleaseHoldResponse;
        get_daily_plan(GetDailyPlanRequest) -> GetDailyPlanResponse;
        list_reminders(ListRemindersRequest) -> ListRemindersResponse;
        export_calendar(ExportCalendarRequest) -> ExportCalendarResponse;
        get_overview(GetOverviewRequest) -> GetOverviewResponse;
    }

    type GuideSessionStream = GuideStream;

    type StreamExportUserDataStream = ExportStream;

    /// The streamed export: like the guided session, a server stream with
    /// the stream deadline; each part is passed on as it comes, so no
    /// message holds more than one part.
    async fn stream_export_user_data(
        &self,
        request: Request<StreamExportUserDataRequest>,
    ) -> Result<Response<Self::StreamExportUserDataStream>, Status> {
        let shared = &self.shared;
        let ctx = shared.private(&request, shared.max_stream_timeout).await?;
        let max = shared.max_message;
        let resp = shared
            .call_session(&ctx, request.into_inner(), move |channel, r| async move {
                SessionServiceClient::new(channel)
                    .max_decoding_message_size(max)
                    .stream_export_user_data(r)
                    .await
            })
            .await?;
        let url = "session".to_owned();
        let stream = resp
            .into_inner()
            .map(move |item| item.map_err(|s| classify(s, &url)));
        Ok(Response::new(self.drain.bound(stream)))
    }

    /// The guided session is a server stream: the backend call gets the
    /// longer stream deadline, and the messages are passed on as they come.
    async fn guide_session(
        &self,
        request: Request<GuideSessionRequest>,
    ) -> Result<Response<Self::GuideSessionStream>, Status> {
        let shared = &self.shared;
        let ctx = shared.private(&request, shared.max_stream_timeout).await?;
        // Held while the client holds the stream, like the metric below.
        let slot = shared
            .guide_streams
            .try_take(shared.user(&ctx).to_owned())
            .ok_or(crate::Error::TooManyGuideStreams {
                max: shared.guide_streams.max(),
            })?;
        let max = shared.max_message;
        let resp = shared
            .call_session(&ctx, request.into_inner(), move |channel, r| async move {
                SessionServiceClient::new(channel).max_decoding_message_size(max).guide_session(r).await
            })
            .await?;
        let url = "session".to_owned();
        // Counted as open while the client holds the stream.
        let open = shared.metrics.guide_stream();
        let stream = resp.into_inner().map(move |item| {
            let _open = (&open, &slot);
            item.map_err(|s| classify(s, &url))
        });
        Ok(Response::new(self.drain.bound(stream)))
    }
}
