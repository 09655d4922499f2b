//! `knotwork.session.v1.SessionService`, forwarded to the caller's shard.
//!
//! The unary calls go as encoded bytes ([`SessionBytes`]): the gateway
//! needs only their headers (the token names the user, and the user the
//! shard), so, as for the catalog, the request's message bytes go to the
//! shard unchanged and its answer comes back unchanged, with no decoding
//! and encoding on the way. The two server streams (GuideSession, with its
//! per-user stream cap and drain deadline, and StreamExportUserData) and any
//! method not in [`UNARY`] go to the typed forwarder ([`SessionForward`]).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use knotwork_proto::names::SESSION_SERVICE;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::session_service_server::{SessionService, SessionServiceServer};
use knotwork_proto::session::v1::*;
use knotwork_proto::{BoxError, BoxFuture};
use knotwork_runtime::drain::Drain;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use super::{Shared, raw};
use crate::upstream::classify;

/// Declares the unary methods forwarded as bytes: (method name, path).
macro_rules! unary {
    ($($name:literal),* $(,)?) => {
        /// Every unary method of `knotwork.session.v1.SessionService`
        /// (checked against the descriptor in the tests), with its path.
        pub const UNARY: &[(&str, &str)] = &[
            $(($name, concat!("/knotwork.session.v1.SessionService/", $name)),)*
        ];
    };
}

unary![
    "GetProfile",
    "UpdateProfile",
    "GetScreening",
    "SubmitScreening",
    "StartGuidedSession",
    "LogSession",
    "BatchLogSessions",
    "GetSession",
    "ListSessions",
    "ListProgress",
    "GetDay",
    "ExportUserData",
    "DeleteUserData",
    "RecordCheckIn",
    "ListCheckIns",
    "ListRegionProgress",
    "ExportFhirBundle",
    "UpdateSession",
    "DeleteSession",
    "ListHolds",
    "ReleaseHold",
    "GetDailyPlan",
    "ListReminders",
    "ExportCalendar",
    "GetOverview",
];

/// The session service at the edge: unary calls forwarded as bytes, the
/// rest by the typed forwarder. A tower service mounted under the session
/// service's name.
#[derive(Debug, Clone)]
pub struct SessionBytes {
    shared: Arc<Shared>,
    typed: SessionServiceServer<SessionForward>,
}

impl SessionBytes {
    /// Forwards unary calls as bytes and everything else through `typed`
    /// (its size limits are the caller's to set; the bytes path applies
    /// the shared ones).
    pub fn new(shared: Arc<Shared>, typed: SessionServiceServer<SessionForward>) -> Self {
        Self { shared, typed }
    }
}

impl NamedService for SessionBytes {
    const NAME: &'static str = SESSION_SERVICE;
}

impl<B> tower::Service<http::Request<B>> for SessionBytes
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(&(method, path)) = UNARY.iter().find(|(_, p)| *p == req.uri().path()) else {
            return tower::Service::call(&mut self.typed, req);
        };
        let forward = Unary {
            shared: self.shared.clone(),
            method,
            path,
        };
        raw::serve(self.shared.max_message, forward, req)
    }
}

/// One unary method forwarded as bytes: the caller's token, user limit and
/// deadline ([`Shared::private`]), then the call to the caller's shard with
/// the gateway's own metadata ([`Shared::call_session`]), exactly as the
/// typed forwarder does it.
struct Unary {
    shared: Arc<Shared>,
    method: &'static str,
    path: &'static str,
}

impl tonic::server::UnaryService<Bytes> for Unary {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let shared = self.shared.clone();
        let (method, path) = (self.method, self.path);
        Box::pin(async move {
            let ctx = shared.private(&request, shared.max_timeout).await?;
            let max = shared.max_message;
            shared
                .call_session(&ctx, request.into_inner(), move |channel, r| {
                    raw::call(channel, r, max, SESSION_SERVICE, method, path)
                })
                .await
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes path takes exactly the contract's unary methods, so a
    /// method added to the proto is listed here (a server stream must not
    /// be: it would be answered as unary).
    #[test]
    fn forwards_every_unary_method_of_the_contract_as_bytes() {
        let methods = knotwork_proto::contract_methods(SESSION_SERVICE);
        let mut unary: Vec<&str> = methods
            .iter()
            .filter(|m| !m.server_streaming() && !m.client_streaming())
            .map(|m| m.name())
            .collect();
        let mut here: Vec<&str> = UNARY.iter().map(|(m, _)| *m).collect();
        unary.sort();
        here.sort();
        assert!(here.len() > 20);
        assert_eq!(here, unary);
        assert!(methods.iter().any(|m| m.server_streaming()));
        for (method, path) in UNARY {
            assert_eq!(*path, format!("/{SESSION_SERVICE}/{method}"));
        }
    }
}
