//! Guided sessions: starting one and the GuideSession cue stream.

use std::time::Duration;

use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{GuideStream, Res, Session};
use crate::convert;
use crate::domain::guide::{self, Cue};
use crate::domain::{names, validate};
use crate::error::Error;

/// StartGuidedSession.
pub(super) async fn start_guided_session(
    svc: &Session,
    req: Request<pb::StartGuidedSessionRequest>,
) -> Res<pb::StartGuidedSessionResponse> {
    let user = svc.user(&req)?;
    let catalog = svc
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
    let (g, _replayed) = svc
        .store
        .start_guided(&user, &r.request_id, guided, catalog, Timestamp::now())
        .await?;
    Ok(Response::new(pb::StartGuidedSessionResponse {
        guided_session: Some(convert::guided(&g)),
    }))
}

/// GuideSession.
pub(super) async fn guide_session(
    svc: &Session,
    req: Request<pb::GuideSessionRequest>,
) -> Res<GuideStream> {
    let user = svc.user(&req)?;
    let id = validate::parse_name(&req.get_ref().name, names::GUIDED_SESSION)
        .ok_or_else(|| Error::field("name", "must be `guidedSessions/{guided_session}`"))?;
    let g = svc
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
        None => svc
            .store
            .attach_guide(&user, id, now)
            .await?
            .unwrap_or(g.start_time),
    };
    let elapsed = guide::elapsed_at(since, now, svc.guide_speedup);
    let (stream, _task) = guide_stream(guide::resume(&g, elapsed), svc.guide_speedup, elapsed);
    // Dropped at the deadline, the receiver stops the task.
    Ok(Response::new(svc.drain.bound(stream)))
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
}
