//! The journal: LogSession and BatchLogSessions (one validation path), reading,
//! correcting and deleting sessions, and the ListSessions page token.

use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Res, Session};
use super::{page_size, trigger_point_filter};
use crate::convert;
use crate::domain::page::PageToken;
use crate::domain::{FieldViolation, SessionDraft, guide, names, validate};
use crate::error::Error;
use crate::store::{LogItem, SessionUpdate};

/// LogSession.
pub(super) async fn log_session(
    svc: &Session,
    req: Request<pb::LogSessionRequest>,
) -> Res<pb::LogSessionResponse> {
    let user = svc.user(&req)?;
    let point = req
        .get_ref()
        .session
        .as_ref()
        .map(|s| s.trigger_point.as_str());
    let catalog = svc.catalog_for(point).await?;
    let r = req.into_inner();
    let mut item = log_item(r, &catalog, Timestamp::now(), "").map_err(Error::InvalidArgument)?;
    svc.real_guided_duration(&user, &mut item.draft).await?;
    let mut out = svc
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

/// BatchLogSessions.
pub(super) async fn batch_log_sessions(
    svc: &Session,
    req: Request<pb::BatchLogSessionsRequest>,
) -> Res<pb::BatchLogSessionsResponse> {
    let user = svc.user(&req)?;
    let points = req.get_ref().requests.iter();
    let catalog = svc
        .catalog_for(points.filter_map(|r| r.session.as_ref().map(|s| s.trigger_point.as_str())))
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
        let stored = svc.store.log_sessions(&user, items, catalog, now).await?;
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

/// GetSession.
pub(super) async fn get_session(
    svc: &Session,
    req: Request<pb::GetSessionRequest>,
) -> Res<pb::GetSessionResponse> {
    let user = svc.user(&req)?;
    let name = &req.get_ref().name;
    let id = validate::parse_name(name, names::SESSION)
        .ok_or_else(|| Error::field("name", "must be `sessions/{session}`"))?;
    let r = svc
        .store
        .session(&user, id)
        .await?
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    Ok(Response::new(pb::GetSessionResponse {
        session: Some(convert::session(&r)),
    }))
}

/// ListSessions.
pub(super) async fn list_sessions(
    svc: &Session,
    req: Request<pb::ListSessionsRequest>,
) -> Res<pb::ListSessionsResponse> {
    let user = svc.user(&req)?;
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
    let (sessions, more) = svc
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

/// UpdateSession.
pub(super) async fn update_session(
    svc: &Session,
    req: Request<pb::UpdateSessionRequest>,
) -> Res<pb::UpdateSessionResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let r = req.into_inner();
    let new = r
        .session
        .ok_or_else(|| Error::field("session", "required"))?;
    let id = validate::parse_name(&new.name, names::SESSION)
        .ok_or_else(|| Error::field("session.name", "must be `sessions/{session}`"))?
        .to_owned();
    let old = svc
        .store
        .session(&user, &id)
        .await?
        .ok_or_else(|| Error::NotFound(new.name.clone()))?;
    let mask = r.update_mask.map(|m| m.paths).unwrap_or_default();
    let raw = merge_session(&convert::session(&old), &new, &mask)?;
    let draft = validate::session(&raw, &catalog, Timestamp::now(), "session.")
        .map_err(Error::InvalidArgument)?;
    let update = SessionUpdate { id, draft };
    let record = svc
        .store
        .update_session(&user, update, catalog, Timestamp::now())
        .await?;
    Ok(Response::new(pb::UpdateSessionResponse {
        session: Some(convert::session(&record)),
    }))
}

/// DeleteSession.
pub(super) async fn delete_session(
    svc: &Session,
    req: Request<pb::DeleteSessionRequest>,
) -> Res<pb::DeleteSessionResponse> {
    let user = svc.user(&req)?;
    let id = validate::parse_name(&req.get_ref().name, names::SESSION)
        .ok_or_else(|| Error::field("name", "must be `sessions/{session}`"))?;
    let deleted = svc.store.delete_session(&user, id).await?;
    Ok(Response::new(pb::DeleteSessionResponse { deleted }))
}
impl Session {
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

#[cfg(test)]
mod tests {
    use super::*;

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
