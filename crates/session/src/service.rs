//! The gRPC handlers: authenticate, convert, call the domain and the store,
//! convert back. No rules live here.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use jiff::civil::Date;
use knotwork_proto::session::v1 as pb;
use knotwork_proto::session::v1::session_admin_service_server::SessionAdminService;
use knotwork_proto::session::v1::session_service_server::SessionService;
use knotwork_runtime::drain::Drain;
use knotwork_runtime::internal::InternalAuth;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::catalog::Catalog;
use crate::convert;
use crate::domain::guide::{self, Cue};
use crate::domain::page::PageToken;
use crate::domain::progress;
use crate::domain::validate::{self, Violations};
use crate::domain::{FieldViolation, holds, names, rules, time};
use crate::domain::{ProfilePatch, SessionDraft};
use crate::domain::{checkin, fhir, ical, plan};
use crate::error::Error;
use crate::store::{LogItem, SessionUpdate, Store};

type Res<T> = Result<Response<T>, Status>;

/// Implements `SessionService` and `SessionAdminService`.
#[derive(Debug, Clone)]
pub struct Session {
    store: Arc<Store>,
    catalog: Catalog,
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
        catalog: Catalog,
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
    /// first (rate-limited, see `Catalog::refresh_now`). A name that is
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

    /// Reads what the caller's plans are computed from.
    async fn plan_context(
        &self,
        user: &str,
        catalog: &crate::domain::CatalogView,
    ) -> Result<PlanContext, Error> {
        let profile = self.store.profile(user).await?.unwrap_or_default();
        let tz = time::zone_or_utc(&profile.time_zone);
        let now = Timestamp::now();
        let today = time::local_date(now, &tz);
        let sessions = self.store.all_sessions(user).await?;
        let (worked, by_point) = progress::by_point(&sessions);
        let status: BTreeMap<String, progress::Status> = by_point
            .iter()
            .map(|(p, list)| {
                let st = progress::point_progress(p, list, today, 1, catalog).status;
                (p.clone(), st)
            })
            .collect();
        let all_holds = self.store.holds(user).await?;
        Ok(PlanContext {
            excluded: set_aside(&status, &all_holds, catalog),
            worked,
            status,
            waking: profile.waking(),
            zone_name: profile.time_zone,
            tz,
            rules: plan_rules(catalog),
            now,
            today,
        })
    }

    /// ListUsers filtered by shard map bucket: scans up to [`BUCKET_SCAN`]
    /// users per call; the token is the last user looked at.
    async fn list_users_in(
        &self,
        buckets: &[u32],
        mut after: Option<String>,
        limit: usize,
    ) -> Result<pb::ListUsersResponse, Error> {
        use knotwork_runtime::shardmap::{BUCKETS, bucket_of};
        let mut wanted = [false; BUCKETS];
        for &b in buckets {
            let slot = usize::try_from(b)
                .ok()
                .and_then(|b| wanted.get_mut(b))
                .ok_or_else(|| Error::field("buckets", "each bucket is 0-255"))?;
            *slot = true;
        }
        let mut user_ids = Vec::new();
        let mut scanned = 0;
        loop {
            let (page, more) = self.store.list_users(after.clone(), 1000).await?;
            scanned += page.len();
            for user in page {
                let hit = wanted[bucket_of(&user)];
                after = Some(user.clone());
                if hit {
                    user_ids.push(user);
                    if user_ids.len() == limit {
                        break;
                    }
                }
            }
            let full = user_ids.len() == limit;
            let done = !more && !full;
            if done {
                after = None;
            }
            if done || full || scanned >= BUCKET_SCAN {
                return Ok(pb::ListUsersResponse {
                    user_ids,
                    next_page_token: after.unwrap_or_default(),
                });
            }
        }
    }

    /// A session that completes a guided one records the time that really
    /// passed when that is shorter than the reported duration (ended early).
    async fn real_guided_duration(
        &self,
        user: &str,
        draft: &mut SessionDraft,
    ) -> Result<(), Error> {
        let Some(id) = draft.guided_session.clone() else {
            return Ok(());
        };
        if let Some(g) = self.store.guided(user, &id).await? {
            let since = guide::clock_since(&g);
            let elapsed = guide::elapsed_at(since, Timestamp::now(), self.guide_speedup);
            draft.duration_seconds = guide::real_duration(&g, draft.duration_seconds, elapsed);
        }
        Ok(())
    }
}

/// The most users one filtered ListUsers call looks at.
const BUCKET_SCAN: usize = 100_000;

/// The fields UpdateSession may change.
const UPDATABLE: &[&str] = &[
    "trigger_point",
    "tool",
    "side",
    "pressure",
    "duration_seconds",
    "tenderness_before",
    "tenderness_after",
    "pain_quality",
    "worse_with_activity",
    "worse_with_massage",
    "twitch_response",
    "notes",
    "perform_time",
];

/// The stored session with the masked fields of `new` applied, unvalidated.
fn merge_session(
    old: &pb::SessionRecord,
    new: &pb::SessionRecord,
    mask: &[String],
) -> Result<validate::RawSession, Error> {
    if mask.is_empty() {
        return Err(Error::field(
            "update_mask",
            "required: name the fields to change",
        ));
    }
    let mut merged = old.clone();
    for path in mask {
        match path.as_str() {
            "trigger_point" => merged.trigger_point.clone_from(&new.trigger_point),
            "tool" => merged.tool.clone_from(&new.tool),
            "side" => merged.side = new.side,
            "pressure" => merged.pressure = new.pressure,
            "duration_seconds" => merged.duration_seconds = new.duration_seconds,
            "tenderness_before" => merged.tenderness_before = new.tenderness_before,
            "tenderness_after" => merged.tenderness_after = new.tenderness_after,
            "pain_quality" => merged.pain_quality = new.pain_quality,
            "worse_with_activity" => merged.worse_with_activity = new.worse_with_activity,
            "worse_with_massage" => merged.worse_with_massage = new.worse_with_massage,
            "twitch_response" => merged.twitch_response = new.twitch_response,
            "notes" => merged.notes.clone_from(&new.notes),
            "perform_time" => merged.perform_time = new.perform_time,
            other => {
                return Err(Error::field(
                    "update_mask",
                    format!(
                        "cannot update `{other}`; updatable: {}",
                        UPDATABLE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(convert::raw_session(&merged))
}

/// Streams `cues` in real time, divided by `speedup`, the first one now:
/// `from` is the session's elapsed time when the stream starts (0 on the
/// first attach; later on a reconnect, and then the first cue says
/// `resumed`). The task stops as soon as the receiver is dropped (the client
/// went away).
pub fn guide_stream(
    cues: Vec<Cue>,
    speedup: u32,
    from: u32,
) -> (
    ReceiverStream<Result<pb::GuideSessionResponse, Status>>,
    JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(4);
    let speedup = f64::from(speedup.max(1));
    let task = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (i, c) in cues.into_iter().enumerate() {
            let ahead = c.elapsed.saturating_sub(from);
            let at = start + Duration::from_secs_f64(f64::from(ahead) / speedup);
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = tx.closed() => return,
            }
            let mut msg = convert::cue(&c);
            msg.resumed = i == 0 && from > 0;
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
        }
    });
    (ReceiverStream::new(rx), task)
}

/// One LogSession request checked ([`validate::log_request`], field names
/// under `prefix`) and ready for the store: the path both LogSession and
/// each BatchLogSessions item take.
fn log_item(
    r: pb::LogSessionRequest,
    catalog: &crate::domain::CatalogView,
    now: Timestamp,
    prefix: &str,
) -> Result<LogItem, Vec<FieldViolation>> {
    let raw = r.session.as_ref().map(convert::raw_session);
    let draft = validate::log_request(&r.request_id, raw.as_ref(), catalog, now, prefix)?;
    Ok(LogItem {
        request_id: r.request_id,
        draft,
        field_prefix: format!("{prefix}session."),
    })
}

/// The call's `x-request-id` (or a fresh one), for log lines.
fn rid<T>(req: &Request<T>) -> String {
    knotwork_runtime::internal::request_id(req.metadata())
}

/// A batch item's refusal: the status the error table
/// (`From<Error> for Status`) gives, carried as an `ItemError`.
fn item_error(index: usize, e: Error) -> pb::BatchLogResult {
    pb::BatchLogResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        outcome: Some(pb::batch_log_result::Outcome::Error(convert::item_error(
            &Status::from(e),
        ))),
        replayed: false,
    }
}

/// Parses a ListSessions page token ([`PageToken`], empty for the first
/// page) into the position the store reads after.
fn parse_page_token(token: &str) -> Result<Option<(i64, String)>, Error> {
    let token = PageToken::parse(token).map_err(|v| Error::InvalidArgument(vec![v]))?;
    Ok(token.map(|t| (t.perform_micros, t.session_id)))
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
    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_profile(
        &self,
        req: Request<pb::GetProfileRequest>,
    ) -> Res<pb::GetProfileResponse> {
        let user = self.user(&req)?;
        let p = self.store.profile(&user).await?.unwrap_or_default();
        Ok(Response::new(pb::GetProfileResponse {
            profile: Some(convert::profile(&p)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn update_profile(
        &self,
        req: Request<pb::UpdateProfileRequest>,
    ) -> Res<pb::UpdateProfileResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let p = r.profile.unwrap_or_default();
        let mask = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let current = self.store.profile(&user).await?.unwrap_or_default();
        let waking = validate::waking_patch(
            &p.wake_time,
            &p.sleep_time,
            &mask,
            (current.wake, current.sleep),
        );
        let patch = match (
            validate::profile_patch(&p.time_zone, &p.tools, &mask, &catalog),
            waking,
        ) {
            (Ok(patch), Ok((wake, sleep))) => ProfilePatch {
                wake,
                sleep,
                ..patch
            },
            (a, b) => {
                let mut list = a.err().unwrap_or_default();
                list.extend(b.err().unwrap_or_default());
                return Err(Error::InvalidArgument(list).into());
            }
        };
        let saved = self
            .store
            .update_profile(&user, patch, Timestamp::now())
            .await?;
        Ok(Response::new(pb::UpdateProfileResponse {
            profile: Some(convert::profile(&saved)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_screening(
        &self,
        req: Request<pb::GetScreeningRequest>,
    ) -> Res<pb::GetScreeningResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let s = self.store.screening(&user).await?.unwrap_or_default();
        let a = rules::assess(&s, &catalog);
        Ok(Response::new(pb::GetScreeningResponse {
            screening: Some(convert::screening(&s, &a)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn submit_screening(
        &self,
        req: Request<pb::SubmitScreeningRequest>,
    ) -> Res<pb::SubmitScreeningResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let (tz, _) = self.zone(&user).await?;
        let today = time::local_date(Timestamp::now(), &tz);
        let raw = convert::raw_answers(&req.get_ref().answers);
        let answers = validate::answers(&raw, &catalog, today).map_err(Error::InvalidArgument)?;
        let s = self
            .store
            .submit_screening(&user, answers, Timestamp::now())
            .await?;
        let a = rules::assess(&s, &catalog);
        Ok(Response::new(pb::SubmitScreeningResponse {
            screening: Some(convert::screening(&s, &a)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn start_guided_session(
        &self,
        req: Request<pb::StartGuidedSessionRequest>,
    ) -> Res<pb::StartGuidedSessionResponse> {
        let user = self.user(&req)?;
        let catalog = self
            .catalog_for([req.get_ref().trigger_point.as_str()])
            .await?;
        let r = req.into_inner();
        let mut violations = Vec::new();
        if let Err(v) = validate::request_id(&r.request_id, "request_id") {
            violations.push(v);
        }
        let guided = validate::guided(
            &r.trigger_point,
            &r.tool,
            r.side,
            r.duration_seconds,
            &catalog,
        );
        let guided = match guided {
            Ok(g) if violations.is_empty() => g,
            Ok(_) => return Err(Error::InvalidArgument(violations).into()),
            Err(mut v) => {
                violations.append(&mut v);
                return Err(Error::InvalidArgument(violations).into());
            }
        };
        let (g, _replayed) = self
            .store
            .start_guided(&user, &r.request_id, guided, catalog, Timestamp::now())
            .await?;
        Ok(Response::new(pb::StartGuidedSessionResponse {
            guided_session: Some(convert::guided(&g)),
        }))
    }

    type GuideSessionStream =
        Pin<Box<dyn Stream<Item = Result<pb::GuideSessionResponse, Status>> + Send>>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn guide_session(
        &self,
        req: Request<pb::GuideSessionRequest>,
    ) -> Res<Self::GuideSessionStream> {
        let user = self.user(&req)?;
        let id = validate::parse_name(&req.get_ref().name, names::GUIDED_SESSION)
            .ok_or_else(|| Error::field("name", "must be `guidedSessions/{guided_session}`"))?;
        let g = self
            .store
            .guided(&user, id)
            .await?
            .ok_or_else(|| Error::NotFound(req.get_ref().name.clone()))?;
        // A reconnect continues at the real elapsed time, not at 0:00.
        let now = Timestamp::now();
        // The clock's start is stored at the first attach, so a reattach
        // after a restart of this service resumes at the elapsed time too.
        let since = match g.clock_start {
            Some(t) => t,
            None => self
                .store
                .attach_guide(&user, id, now)
                .await?
                .unwrap_or(g.start_time),
        };
        let elapsed = guide::elapsed_at(since, now, self.guide_speedup);
        let (stream, _task) = guide_stream(guide::resume(&g, elapsed), self.guide_speedup, elapsed);
        // Dropped at the deadline, the receiver stops the task.
        Ok(Response::new(self.drain.bound(stream)))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn log_session(
        &self,
        req: Request<pb::LogSessionRequest>,
    ) -> Res<pb::LogSessionResponse> {
        let user = self.user(&req)?;
        let point = req
            .get_ref()
            .session
            .as_ref()
            .map(|s| s.trigger_point.as_str());
        let catalog = self.catalog_for(point).await?;
        let r = req.into_inner();
        let mut item =
            log_item(r, &catalog, Timestamp::now(), "").map_err(Error::InvalidArgument)?;
        self.real_guided_duration(&user, &mut item.draft).await?;
        let mut out = self
            .store
            .log_sessions(&user, vec![item], catalog, Timestamp::now())
            .await?;
        let (record, replayed) = out
            .pop()
            .ok_or_else(|| Error::Storage("no result for the logged session".into()))??;
        Ok(Response::new(pb::LogSessionResponse {
            session: Some(convert::session(&record)),
            replayed,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req), items))]
    async fn batch_log_sessions(
        &self,
        req: Request<pb::BatchLogSessionsRequest>,
    ) -> Res<pb::BatchLogSessionsResponse> {
        let user = self.user(&req)?;
        let points = req.get_ref().requests.iter();
        let catalog = self
            .catalog_for(
                points.filter_map(|r| r.session.as_ref().map(|s| s.trigger_point.as_str())),
            )
            .await?;
        let requests = req.into_inner().requests;
        tracing::Span::current().record("items", requests.len());
        validate::batch_size(requests.len()).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let now = Timestamp::now();
        let mut results: Vec<Option<pb::BatchLogResult>> = vec![None; requests.len()];
        let mut items = Vec::new();
        let mut positions = Vec::new();
        for (i, r) in requests.into_iter().enumerate() {
            match log_item(r, &catalog, now, &format!("requests[{i}].")) {
                Ok(item) => {
                    items.push(item);
                    positions.push(i);
                }
                Err(violations) => {
                    results[i] = Some(item_error(i, Error::InvalidArgument(violations)));
                }
            }
        }
        if !items.is_empty() {
            let stored = self.store.log_sessions(&user, items, catalog, now).await?;
            for (pos, outcome) in positions.into_iter().zip(stored) {
                results[pos] = Some(match outcome {
                    Ok((record, replayed)) => pb::BatchLogResult {
                        index: i32::try_from(pos).unwrap_or(i32::MAX),
                        outcome: Some(pb::batch_log_result::Outcome::Session(convert::session(
                            &record,
                        ))),
                        replayed,
                    },
                    Err(e) => item_error(pos, e),
                });
            }
        }
        Ok(Response::new(pb::BatchLogSessionsResponse {
            results: results.into_iter().flatten().collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_session(
        &self,
        req: Request<pb::GetSessionRequest>,
    ) -> Res<pb::GetSessionResponse> {
        let user = self.user(&req)?;
        let name = &req.get_ref().name;
        let id = validate::parse_name(name, names::SESSION)
            .ok_or_else(|| Error::field("name", "must be `sessions/{session}`"))?;
        let r = self
            .store
            .session(&user, id)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        Ok(Response::new(pb::GetSessionResponse {
            session: Some(convert::session(&r)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_sessions(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Res<pb::ListSessionsResponse> {
        let user = self.user(&req)?;
        let r = req.into_inner();
        let limit = page_size(r.page_size, 50, 500)?;
        let before = parse_page_token(&r.page_token)?;
        let point = trigger_point_filter(&r.trigger_point)?;
        let start = r.start_time.as_ref().map(convert::timestamp);
        let end = r.end_time.as_ref().map(convert::timestamp);
        if matches!(start, Some(None)) {
            return Err(Error::field("start_time", "out of range").into());
        }
        if matches!(end, Some(None)) {
            return Err(Error::field("end_time", "out of range").into());
        }
        let (sessions, more) = self
            .store
            .list_sessions(&user, start.flatten(), end.flatten(), point, before, limit)
            .await?;
        let next_page_token = match sessions.last() {
            Some(last) if more => PageToken::after(last.draft.perform_time, &last.id).to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: sessions.iter().map(convert::session).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_progress(
        &self,
        req: Request<pb::ListProgressRequest>,
    ) -> Res<pb::ListProgressResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let days = match r.days {
            0 => 28,
            d @ 1..=365 => d.unsigned_abs(),
            _ => return Err(Error::field("days", "must be 0 to 365").into()),
        };
        let only = trigger_point_filter(&r.trigger_point)?;
        let (tz, _) = self.zone(&user).await?;
        let today = time::local_date(Timestamp::now(), &tz);
        // Every point is computed, even with a filter: the alternatives of
        // one point depend on the status of the others.
        let (worked, by_point) = progress::by_point(&self.store.all_sessions(&user).await?);
        let mut list: Vec<_> = by_point
            .iter()
            .map(|(p, s)| progress::point_progress(p, s, today, days, &catalog))
            .collect();
        let all_holds = self.store.holds(&user).await?;
        let status: BTreeMap<String, progress::Status> = list
            .iter()
            .map(|p| (p.trigger_point.clone(), p.status))
            .collect();
        let adherence = plan::adherence(
            &worked,
            &set_aside(&status, &all_holds, &catalog),
            today,
            plan_rules(&catalog),
        );
        progress::fill_alternatives(&mut list, &catalog, &holds::held_muscles(&all_holds));
        list.retain(|p| only.as_ref().is_none_or(|o| *o == p.trigger_point));
        list.sort_by_key(|p| std::cmp::Reverse(p.last_perform_time));
        Ok(Response::new(pb::ListProgressResponse {
            progress: list
                .iter()
                .map(|p| {
                    let hold = holds::active_for_point(&all_holds, &catalog, &p.trigger_point);
                    convert::progress_with_hold(p, hold, &tz)
                })
                .collect(),
            adherence: Some(convert::adherence(&adherence)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_day(&self, req: Request<pb::GetDayRequest>) -> Res<pb::GetDayResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let (tz, zone_name) = self.zone(&user).await?;
        let date = match req.get_ref().local_date.as_str() {
            "" => time::local_date(Timestamp::now(), &tz),
            d => d
                .parse::<Date>()
                .map_err(|_| Error::field("local_date", "must be YYYY-MM-DD"))?,
        };
        let (Some(start), Some(end)) = (
            time::start_of_day(date, &tz),
            time::start_of_next_day(date, &tz),
        ) else {
            return Err(Error::field("local_date", "out of range").into());
        };
        let max_sessions = match req.get_ref().max_sessions {
            0 => 100,
            n @ 1..=500 => n.unsigned_abs() as usize,
            _ => return Err(Error::field("max_sessions", "must be 0 to 500").into()),
        };
        let day = self
            .store
            .day_summary(&user, start.timestamp(), end.timestamp(), max_sessions)
            .await?;
        let guided_points = self.store.guided_points_on(&user, date).await?;
        let points: Vec<String> = day
            .points
            .iter()
            .cloned()
            .chain(guided_points)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let counts = self.store.day_counts(&user, points, date).await?;
        let max = catalog.guidance.max_sessions_per_point_per_day;
        let all_holds = self.store.holds(&user).await?;
        let allowances = counts
            .iter()
            .map(|(p, done)| {
                let on_hold = holds::active_for_point(&all_holds, &catalog, p).is_some();
                let a = rules::allowance(*done, max, on_hold);
                let next = a.next_tomorrow.then_some(&end);
                pb::PointAllowance {
                    trigger_point: format!("{}{p}", names::TRIGGER_POINT),
                    sessions_done: i32::try_from(*done).unwrap_or(i32::MAX),
                    sessions_remaining: i32::try_from(a.remaining).unwrap_or(i32::MAX),
                    next_allowed_time: next.map(|z| convert::to_timestamp(z.timestamp())),
                    next_allowed_local_time: next.map(rules::rfc3339_local).unwrap_or_default(),
                    on_hold,
                }
            })
            .collect();
        Ok(Response::new(pb::GetDayResponse {
            local_date: date.to_string(),
            time_zone: zone_name,
            sessions: day.sessions.iter().map(convert::session).collect(),
            allowances,
            total_sessions: i32::try_from(day.total_sessions).unwrap_or(i32::MAX),
            total_duration_seconds: i64::try_from(day.total_duration_seconds).unwrap_or(i64::MAX),
            sessions_truncated: day.total_sessions > day.sessions.len() as u64,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn export_user_data(
        &self,
        req: Request<pb::ExportUserDataRequest>,
    ) -> Res<pb::ExportUserDataResponse> {
        let user = self.user(&req)?;
        let data = self.store.export(&user).await?;
        let catalog = self.catalog.get().ok();
        Ok(Response::new(pb::ExportUserDataResponse {
            export: Some(convert::export(&data, catalog.as_deref(), Timestamp::now())),
        }))
    }

    type StreamExportUserDataStream = crate::transfer::Boxed<pb::StreamExportUserDataResponse>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn stream_export_user_data(
        &self,
        req: Request<pb::StreamExportUserDataRequest>,
    ) -> Res<Self::StreamExportUserDataStream> {
        let user = self.user(&req)?;
        let parts = crate::transfer::export(&self.store, self.catalog.clone(), &user, true);
        Ok(Response::new(Box::pin(parts.map(|p| {
            p.map(|part| pb::StreamExportUserDataResponse { part: Some(part) })
        }))))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn delete_user_data(
        &self,
        req: Request<pb::DeleteUserDataRequest>,
    ) -> Res<pb::DeleteUserDataResponse> {
        let user = self.user(&req)?;
        if !req.get_ref().confirm {
            return Err(Error::field("confirm", "must be true: deletion cannot be undone").into());
        }
        let (sessions, guided) = self.store.delete_user(&user).await?;
        tracing::info!(sessions, guided, "user data deleted");
        Ok(Response::new(pb::DeleteUserDataResponse {
            sessions_deleted: i64::try_from(sessions).unwrap_or(i64::MAX),
            guided_sessions_deleted: i64::try_from(guided).unwrap_or(i64::MAX),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn record_check_in(
        &self,
        req: Request<pb::RecordCheckInRequest>,
    ) -> Res<pb::RecordCheckInResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let mut v = Violations::default();
        if let Err(e) = validate::request_id(&r.request_id, "request_id") {
            v.add(&e.field, e.description);
        }
        let draft = match checkin::validate(&r.region, r.score, &catalog) {
            Ok(d) => Some(d),
            Err(list) => {
                for f in list {
                    v.add(&f.field, f.description);
                }
                None
            }
        };
        let Some(draft) = v.finish(draft).map_err(Error::InvalidArgument)? else {
            return Err(Error::field("region", "required").into());
        };
        let (c, (replayed, replaced)) = self
            .store
            .record_check_in(&user, &r.request_id, draft, Timestamp::now())
            .await?;
        Ok(Response::new(pb::RecordCheckInResponse {
            check_in: Some(convert::check_in(&c)),
            replayed,
            replaced,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_check_ins(
        &self,
        req: Request<pb::ListCheckInsRequest>,
    ) -> Res<pb::ListCheckInsResponse> {
        let user = self.user(&req)?;
        let r = req.into_inner();
        let mut v = Violations::default();
        let only = match r.region.as_str() {
            "" => None,
            name => match validate::parse_name(name, checkin::REGION) {
                Some(id) => Some(id.to_owned()),
                None => {
                    v.add("region", "must be a region name \"regions/{region}\"");
                    None
                }
            },
        };
        let start = checkin::date_field(&r.start_date, "start_date").unwrap_or_else(|e| {
            v.add(&e.field, e.description);
            None
        });
        let end = checkin::date_field(&r.end_date, "end_date").unwrap_or_else(|e| {
            v.add(&e.field, e.description);
            None
        });
        let (tz, _) = self.zone(&user).await?;
        let today = time::local_date(Timestamp::now(), &tz);
        let range = match v.finish(()) {
            Ok(()) => checkin::range(start, end, today)
                .map_err(|e| Error::field(e.field, e.description))?,
            Err(list) => return Err(Error::InvalidArgument(list).into()),
        };
        let check_ins = self
            .store
            .check_ins(&user, range.0, range.1)
            .await?
            .iter()
            .filter(|c| only.as_ref().is_none_or(|o| *o == c.region))
            .map(convert::check_in)
            .collect();
        Ok(Response::new(pb::ListCheckInsResponse { check_ins }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_region_progress(
        &self,
        req: Request<pb::ListRegionProgressRequest>,
    ) -> Res<pb::ListRegionProgressResponse> {
        let user = self.user(&req)?;
        let days = match req.get_ref().days {
            0 => checkin::DEFAULT_PROGRESS_DAYS,
            d if d > 0 && d.unsigned_abs() <= checkin::MAX_DAYS => d.unsigned_abs(),
            _ => return Err(Error::field("days", "must be 0 to 400").into()),
        };
        // Display names come from the catalog when it is reachable; the ids
        // are enough otherwise.
        let catalog = self.catalog.get().ok();
        let (tz, _) = self.zone(&user).await?;
        let today = time::local_date(Timestamp::now(), &tz);
        let from = time::days_before(today, days - 1);
        let check_ins = self.store.check_ins(&user, from, today).await?;
        let progress = checkin::progress(&check_ins);
        // The week rule needs the guidance and which points reach each
        // region, so it needs the catalog; without it the status is left
        // as INSUFFICIENT_DATA.
        let mut statuses = BTreeMap::new();
        if let Some(c) = catalog.as_deref() {
            let window = c.guidance.trend_window_days.max(1);
            let week_start = time::days_before(today, window - 1);
            let start = time::start_of_day(week_start, &tz)
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let end = Timestamp::now()
                .checked_add(jiff::SignedDuration::from_hours(24))
                .unwrap_or(Timestamp::MAX);
            let sessions = self.store.sessions_between(&user, start, end).await?;
            let mut days: BTreeMap<&str, BTreeSet<Date>> = BTreeMap::new();
            for s in &sessions {
                days.entry(s.draft.trigger_point.as_str())
                    .or_default()
                    .insert(s.local_date);
            }
            for p in &progress {
                let worked: BTreeMap<String, BTreeSet<Date>> = checkin::region_points(c, &p.region)
                    .filter_map(|id| Some((id.to_owned(), days.get(id)?.clone())))
                    .collect();
                let st = checkin::region_status(&p.daily, &worked, today, &c.guidance);
                statuses.insert(p.region.clone(), st);
            }
        }
        let regions = progress
            .iter()
            .map(|p| {
                let display = catalog
                    .as_ref()
                    .and_then(|c| c.regions.get(&p.region))
                    .map_or_else(|| p.region.replace('_', " "), |d| d.to_lowercase());
                convert::region_progress(p, &display, statuses.get(&p.region))
            })
            .collect();
        Ok(Response::new(pb::ListRegionProgressResponse { regions }))
    }

    #[tracing::instrument(skip_all)]
    async fn export_fhir_bundle(
        &self,
        req: Request<pb::ExportFhirBundleRequest>,
    ) -> Res<pb::ExportFhirBundleResponse> {
        let user = self.user(&req)?;
        let r = req.into_inner();
        let mut v = Violations::default();
        let start = checkin::date_field(&r.start_date, "start_date").unwrap_or_else(|e| {
            v.add(&e.field, e.description);
            None
        });
        let end = checkin::date_field(&r.end_date, "end_date").unwrap_or_else(|e| {
            v.add(&e.field, e.description);
            None
        });
        v.finish(()).map_err(Error::InvalidArgument)?;
        let now = Timestamp::now();
        let (tz, _) = self.zone(&user).await?;
        let range = checkin::range(start, end, time::local_date(now, &tz))
            .map_err(|e| Error::field(e.field, e.description))?;
        let check_ins = if r.omit_check_ins {
            Vec::new()
        } else {
            self.store.check_ins(&user, range.0, range.1).await?
        };
        let sessions: Vec<_> = if r.omit_sessions {
            Vec::new()
        } else {
            self.store
                .all_sessions(&user)
                .await?
                .into_iter()
                .filter(|s| (range.0..=range.1).contains(&s.local_date))
                .collect()
        };
        // Names make the report readable; ids stand in when the catalog is
        // not loaded.
        let catalog = self.catalog.get().ok();
        let regions = catalog
            .as_ref()
            .map(|c| c.regions.clone())
            .unwrap_or_default();
        let points = catalog
            .as_ref()
            .map(|c| {
                c.points
                    .iter()
                    .map(|(id, p)| (id.clone(), p.display_name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let bundle = fhir::bundle(&fhir::ReportInput {
            user: &user,
            range,
            check_ins: &check_ins,
            sessions: &sessions,
            regions: &regions,
            points: &points,
            now,
        });
        Ok(Response::new(pb::ExportFhirBundleResponse {
            bundle_json: bundle.to_string(),
            observations: i32::try_from(check_ins.len()).unwrap_or(i32::MAX),
            procedures: i32::try_from(sessions.len()).unwrap_or(i32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn update_session(
        &self,
        req: Request<pb::UpdateSessionRequest>,
    ) -> Res<pb::UpdateSessionResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let new = r
            .session
            .ok_or_else(|| Error::field("session", "required"))?;
        let id = validate::parse_name(&new.name, names::SESSION)
            .ok_or_else(|| Error::field("session.name", "must be `sessions/{session}`"))?
            .to_owned();
        let old = self
            .store
            .session(&user, &id)
            .await?
            .ok_or_else(|| Error::NotFound(new.name.clone()))?;
        let mask = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let raw = merge_session(&convert::session(&old), &new, &mask)?;
        let draft = validate::session(&raw, &catalog, Timestamp::now(), "session.")
            .map_err(Error::InvalidArgument)?;
        let update = SessionUpdate { id, draft };
        let record = self
            .store
            .update_session(&user, update, catalog, Timestamp::now())
            .await?;
        Ok(Response::new(pb::UpdateSessionResponse {
            session: Some(convert::session(&record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn delete_session(
        &self,
        req: Request<pb::DeleteSessionRequest>,
    ) -> Res<pb::DeleteSessionResponse> {
        let user = self.user(&req)?;
        let id = validate::parse_name(&req.get_ref().name, names::SESSION)
            .ok_or_else(|| Error::field("name", "must be `sessions/{session}`"))?;
        let deleted = self.store.delete_session(&user, id).await?;
        Ok(Response::new(pb::DeleteSessionResponse { deleted }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_holds(&self, req: Request<pb::ListHoldsRequest>) -> Res<pb::ListHoldsResponse> {
        let user = self.user(&req)?;
        let include_released = req.get_ref().include_released;
        let (tz, _) = self.zone(&user).await?;
        let mut all = self.store.holds(&user).await?;
        all.retain(|h| include_released || h.active());
        all.sort_by_key(|h| (std::cmp::Reverse(h.active()), std::cmp::Reverse(h.since)));
        Ok(Response::new(pb::ListHoldsResponse {
            holds: all.iter().map(|h| convert::hold(h, &tz)).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn release_hold(
        &self,
        req: Request<pb::ReleaseHoldRequest>,
    ) -> Res<pb::ReleaseHoldResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let point = validate::parse_name(&r.trigger_point, names::TRIGGER_POINT)
            .ok_or_else(|| {
                Error::field("trigger_point", "must be `triggerPoints/{trigger_point}`")
            })?
            .to_owned();
        let (tz, _) = self.zone(&user).await?;
        let mut on_muscle = self
            .store
            .release_hold(
                &user,
                &point,
                r.provider_checked,
                &r.checked_date,
                catalog,
                Timestamp::now(),
            )
            .await?;
        on_muscle.sort_by_key(|h| std::cmp::Reverse(h.since));
        tracing::info!(point = %point, holds = on_muscle.len(), "hold released");
        Ok(Response::new(pb::ReleaseHoldResponse {
            holds: on_muscle.iter().map(|h| convert::hold(h, &tz)).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_daily_plan(
        &self,
        req: Request<pb::GetDailyPlanRequest>,
    ) -> Res<pb::GetDailyPlanResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let ctx = self.plan_context(&user, &catalog).await?;
        let date = match checkin::date_field(&req.get_ref().local_date, "local_date") {
            Ok(Some(d)) => d,
            Ok(None) => ctx.today,
            Err(e) => return Err(Error::field(e.field, e.description).into()),
        };
        if !plan::in_range(date, ctx.today) {
            return Err(Error::field("local_date", "must be within 400 days of today").into());
        }
        let mut day = ctx
            .day(date)
            .ok_or_else(|| Error::field("local_date", "out of range"))?;
        if date <= ctx.today {
            // Guided sessions started count toward the limit too.
            let points = day.points.iter().map(|p| p.point.clone()).collect();
            let used = self.store.day_counts(&user, points, date).await?;
            day.limit_by(&used, ctx.rules.cap);
        }
        Ok(Response::new(pb::GetDailyPlanResponse {
            plan: Some(ctx.to_pb(&day)),
            adherence: Some(convert::adherence(&ctx.adherence())),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_reminders(
        &self,
        req: Request<pb::ListRemindersRequest>,
    ) -> Res<pb::ListRemindersResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let ctx = self.plan_context(&user, &catalog).await?;
        let page_size = match r.page_size {
            0 => 50,
            n @ 1..=200 => n.unsigned_abs() as usize,
            _ => return Err(Error::field("page_size", "must be 0 to 200").into()),
        };
        let window = match r.page_token.as_str() {
            "" => reminder_window(r.start_time.as_ref(), r.end_time.as_ref(), ctx.now)?,
            token => reminder_token(token, ctx.now)?,
        };
        let (start, end, offset) = window;
        let (first, last) = (
            time::local_date(start, &ctx.tz),
            time::local_date(end, &ctx.tz),
        );
        let mut all = Vec::new();
        let mut date = first;
        while date <= last {
            if let Some(day) = ctx.day(date) {
                for (k, slot) in day.slots.iter().enumerate() {
                    if slot.left.is_empty() || slot.time < start || slot.time >= end {
                        continue;
                    }
                    let names: Vec<String> = slot
                        .left
                        .iter()
                        .map(|p| point_display(&catalog, p))
                        .collect();
                    let (title, body) = plan::reminder_text(&names);
                    all.push(pb::Reminder {
                        name: format!("reminders/{date}.{}", k + 1),
                        time: Some(convert::to_timestamp(slot.time)),
                        local_time: rules::rfc3339_local(&slot.time.to_zoned(ctx.tz.clone())),
                        local_date: date.to_string(),
                        trigger_points: slot
                            .left
                            .iter()
                            .map(|p| format!("{}{p}", names::TRIGGER_POINT))
                            .collect(),
                        title,
                        body,
                    });
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        let more = all.len() > offset + page_size;
        let reminders: Vec<_> = all.into_iter().skip(offset).take(page_size).collect();
        let next_page_token = if more {
            format!(
                "{}.{}.{}",
                start.as_second(),
                end.as_second(),
                offset + page_size
            )
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListRemindersResponse {
            reminders,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn export_calendar(
        &self,
        req: Request<pb::ExportCalendarRequest>,
    ) -> Res<pb::ExportCalendarResponse> {
        let user = self.user(&req)?;
        let catalog = self.catalog.get()?;
        let r = req.into_inner();
        let ctx = self.plan_context(&user, &catalog).await?;
        let mut v = Violations::default();
        let start = match checkin::date_field(&r.start_date, "start_date") {
            Ok(Some(d)) if plan::in_range(d, ctx.today) => d,
            Ok(Some(_)) => {
                v.add("start_date", "must be within 400 days of today");
                ctx.today
            }
            Ok(None) => ctx.today,
            Err(e) => {
                v.add(&e.field, e.description);
                ctx.today
            }
        };
        let days = match r.days {
            0 => 7,
            n @ 1..=14 => n.unsigned_abs(),
            _ => {
                v.add("days", "must be 0 to 14");
                7
            }
        };
        v.finish(()).map_err(Error::InvalidArgument)?;
        let tag = ical::person_tag(&user);
        let minutes_per_point = 5;
        let mut events = Vec::new();
        let mut date = start;
        for _ in 0..days {
            if let Some(day) = ctx.day(date) {
                for (k, slot) in day.slots.iter().enumerate() {
                    let names: Vec<String> = slot
                        .points
                        .iter()
                        .map(|p| point_display(&catalog, p))
                        .collect();
                    let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
                    events.push(ical::Event {
                        uid: format!("{date}-{}-{tag}@knotwork.dev", k + 1),
                        start: slot.time,
                        minutes: count.saturating_mul(minutes_per_point).clamp(5, 60),
                        summary: format!(
                            "Trigger points: {count} point{}",
                            if count == 1 { "" } else { "s" }
                        ),
                        description: format!(
                            "Work {} at about {}/10 pressure, a few minutes each.",
                            names.join(", "),
                            catalog.guidance.target_pressure
                        ),
                    });
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        let body = ical::calendar("Knotwork plan", &events, ctx.now);
        Ok(Response::new(pb::ExportCalendarResponse {
            calendar: body.into_bytes(),
            content_type: ical::CONTENT_TYPE.to_owned(),
            events: i32::try_from(events.len()).unwrap_or(i32::MAX),
        }))
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

/// A point's display name, or its id when the catalog no longer has it.
fn point_display(catalog: &crate::domain::CatalogView, id: &str) -> String {
    catalog
        .point(id)
        .map_or_else(|| id.to_owned(), |p| p.display_name.clone())
}

/// The reminders' window `[start, end)` from the request, with offset 0.
fn reminder_window(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp, usize), Error> {
    let mut v = Violations::default();
    let start = match start.map(convert::timestamp) {
        None => now,
        Some(None) => {
            v.add("start_time", "out of range");
            now
        }
        Some(Some(t)) => t,
    };
    let day = jiff::SignedDuration::from_hours(24);
    let earliest = now.checked_sub(day).unwrap_or(now);
    let latest = now
        .checked_add(day * i32::try_from(plan::MAX_DAYS_AHEAD).unwrap_or(400))
        .unwrap_or(now);
    if start < earliest || start > latest {
        v.add(
            "start_time",
            "must be from a day before now to 400 days after",
        );
    }
    let span = day * i32::try_from(plan::MAX_SPAN_DAYS).unwrap_or(14);
    let end = match end.map(convert::timestamp) {
        None => start.checked_add(day * 7).unwrap_or(start),
        Some(None) => {
            v.add("end_time", "out of range");
            start
        }
        Some(Some(t)) => t,
    };
    if end <= start || end.duration_since(start) > span {
        v.add(
            "end_time",
            "must be after start_time, at most 14 days after it",
        );
    }
    v.finish((start, end, 0)).map_err(Error::InvalidArgument)
}

/// The window and offset a reminders page token carries.
fn reminder_token(token: &str, now: Timestamp) -> Result<(Timestamp, Timestamp, usize), Error> {
    let bad = || Error::field("page_token", "not a token from this call");
    let mut parts = token.splitn(3, '.');
    let mut num = || parts.next().and_then(|p| p.parse::<i64>().ok());
    let (Some(a), Some(b), Some(o)) = (num(), num(), num()) else {
        return Err(bad());
    };
    let (Ok(start), Ok(end), Ok(offset)) = (
        Timestamp::from_second(a),
        Timestamp::from_second(b),
        usize::try_from(o),
    ) else {
        return Err(bad());
    };
    let s = prost_types::Timestamp {
        seconds: start.as_second(),
        nanos: 0,
    };
    let e = prost_types::Timestamp {
        seconds: end.as_second(),
        nanos: 0,
    };
    // A token is only as good as the window it names.
    reminder_window(Some(&s), Some(&e), now).map_err(|_| bad())?;
    Ok((start, end, offset.min(10_000)))
}

/// What a plan is computed from, read once per call.
struct PlanContext {
    worked: plan::Worked,
    excluded: BTreeSet<String>,
    status: BTreeMap<String, progress::Status>,
    tz: jiff::tz::TimeZone,
    zone_name: String,
    waking: plan::Waking,
    rules: plan::Rules,
    now: Timestamp,
    today: Date,
}

impl PlanContext {
    /// The plan of local day `date`; `None` when the day cannot be placed
    /// in the zone (out of jiff's range).
    fn day(&self, date: Date) -> Option<plan::DayPlan> {
        let window = self.waking.window(date, &self.tz)?;
        Some(plan::day_plan(
            &self.worked,
            &self.excluded,
            date,
            self.today,
            self.now,
            window,
            self.rules,
        ))
    }

    fn adherence(&self) -> plan::Adherence {
        plan::adherence(&self.worked, &self.excluded, self.today, self.rules)
    }

    fn to_pb(&self, p: &plan::DayPlan) -> pb::DailyPlan {
        convert::daily_plan(p, &self.zone_name, &self.tz, self.waking, &self.status)
    }
}

/// The points set aside from a plan: a held muscle or worsening tenderness.
fn set_aside(
    status: &BTreeMap<String, progress::Status>,
    all_holds: &[holds::Hold],
    catalog: &crate::domain::CatalogView,
) -> BTreeSet<String> {
    status
        .iter()
        .filter(|(p, st)| {
            **st == progress::Status::Worsening
                || holds::active_for_point(all_holds, catalog, p).is_some()
        })
        .map(|(p, _)| p.clone())
        .collect()
}

fn plan_rules(catalog: &crate::domain::CatalogView) -> plan::Rules {
    let g = &catalog.guidance;
    plan::Rules::new(
        g.recommended_sessions_per_day_min,
        g.max_sessions_per_point_per_day,
    )
}

#[tonic::async_trait]
impl SessionAdminService for Session {
    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn list_users(&self, req: Request<pb::ListUsersRequest>) -> Res<pb::ListUsersResponse> {
        self.admin(&req)?;
        let r = req.into_inner();
        let limit = page_size(r.page_size, 100, 1000)?;
        let after = (!r.page_token.is_empty()).then_some(r.page_token);
        if !r.buckets.is_empty() {
            return Ok(Response::new(
                self.list_users_in(&r.buckets, after, limit).await?,
            ));
        }
        let (user_ids, more) = self.store.list_users(after, limit).await?;
        let next_page_token = match user_ids.last() {
            Some(last) if more => last.clone(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListUsersResponse {
            user_ids,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn export_user(
        &self,
        req: Request<pb::ExportUserRequest>,
    ) -> Res<pb::ExportUserResponse> {
        self.admin(&req)?;
        let user = convert::admin_user_id(&req.get_ref().user_id)?;
        let data = self.store.export(user).await?;
        if data.profile.is_none()
            && data.screening.is_none()
            && data.sessions.is_empty()
            && data.guided_sessions.is_empty()
            && data.request_ids.is_empty()
        {
            return Err(Error::NotFound(format!("user {user}")).into());
        }
        let catalog = self.catalog.get().ok();
        Ok(Response::new(pb::ExportUserResponse {
            export: Some(convert::export(&data, catalog.as_deref(), Timestamp::now())),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn import_user(
        &self,
        req: Request<pb::ImportUserRequest>,
    ) -> Res<pb::ImportUserResponse> {
        self.admin(&req)?;
        let export = req
            .get_ref()
            .export
            .as_ref()
            .ok_or_else(|| Error::field("export", "required"))?;
        let data = convert::import(export)?;
        let n = self.store.import_user(data).await?;
        Ok(Response::new(pb::ImportUserResponse {
            sessions_imported: i64::try_from(n).unwrap_or(i64::MAX),
        }))
    }

    type StreamExportUserStream = crate::transfer::Boxed<pb::StreamExportUserResponse>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn stream_export_user(
        &self,
        req: Request<pb::StreamExportUserRequest>,
    ) -> Res<Self::StreamExportUserStream> {
        self.admin(&req)?;
        let user = convert::admin_user_id(&req.get_ref().user_id)?;
        let parts = crate::transfer::export(&self.store, self.catalog.clone(), user, false);
        Ok(Response::new(Box::pin(parts.map(|p| {
            p.map(|part| pb::StreamExportUserResponse { part: Some(part) })
        }))))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn stream_import_user(
        &self,
        req: Request<tonic::Streaming<pb::StreamImportUserRequest>>,
    ) -> Res<pb::StreamImportUserResponse> {
        self.admin(&req)?;
        let (sessions, parts) =
            crate::transfer::import(self.store.clone(), req.into_inner()).await?;
        tracing::info!(sessions, parts, "user imported");
        Ok(Response::new(pb::StreamImportUserResponse {
            sessions_imported: i64::try_from(sessions).unwrap_or(i64::MAX),
            parts: i64::try_from(parts).unwrap_or(i64::MAX),
        }))
    }

    type BackupStream = crate::transfer::Boxed<pb::BackupResponse>;

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn backup(&self, req: Request<pb::BackupRequest>) -> Res<Self::BackupStream> {
        self.admin(&req)?;
        tracing::info!("backup started");
        Ok(Response::new(crate::transfer::backup(&self.store)))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn delete_user(
        &self,
        req: Request<pb::DeleteUserRequest>,
    ) -> Res<pb::DeleteUserResponse> {
        self.admin(&req)?;
        let user = convert::admin_user_id(&req.get_ref().user_id)?;
        let (sessions, _) = self.store.delete_user(user).await?;
        Ok(Response::new(pb::DeleteUserResponse {
            sessions_deleted: i64::try_from(sessions).unwrap_or(i64::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn get_shard_map(
        &self,
        req: Request<pb::GetShardMapRequest>,
    ) -> Res<pb::GetShardMapResponse> {
        self.admin(&req)?;
        Ok(Response::new(pb::GetShardMapResponse {
            shard_id: self.ownership.id().to_owned(),
            map: self.ownership.map().map(|m| (*m).clone()),
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %rid(&req)))]
    async fn set_shard_map(
        &self,
        req: Request<pb::SetShardMapRequest>,
    ) -> Res<pb::SetShardMapResponse> {
        self.admin(&req)?;
        let map = req
            .into_inner()
            .map
            .ok_or_else(|| Error::field("map", "required"))?;
        let held = self.ownership.set(map).await?;
        Ok(Response::new(pb::SetShardMapResponse {
            map: Some((*held).clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Side;
    use crate::domain::guide::CueKind;
    use tokio_stream::StreamExt;

    fn cue(at: u32) -> Cue {
        Cue {
            kind: CueKind::Tick,
            elapsed: at,
            remaining: 3600 - at,
            message: String::new(),
            side: Side::Left,
            target_pressure: 5,
        }
    }

    #[tokio::test]
    async fn guide_stream_ends_when_the_client_goes_away() {
        // One cue now, the next an hour away: the task would sleep an hour
        // unless dropping the stream stops it.
        let (mut stream, task) = guide_stream(vec![cue(0), cue(3600)], 1, 0);
        assert!(stream.next().await.is_some());
        drop(stream);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("task stops once the client is gone")
            .unwrap();
    }

    #[tokio::test]
    async fn guide_stream_is_sped_up() {
        let (stream, _) = guide_stream(vec![cue(0), cue(10), cue(20)], 1000, 0);
        let all: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn page_tokens() {
        assert_eq!(parse_page_token("").unwrap(), None);
        assert_eq!(
            parse_page_token("-5_abc").unwrap(),
            Some((-5, "abc".into()))
        );
        assert!(parse_page_token("x_abc").is_err());
        assert!(parse_page_token("12_").is_err());
    }
}
