//! The drain deadline: after the shutdown signal, in-flight calls get
//! `grace` to finish; then open server streams (a guided session can run
//! for an hour) end with UNAVAILABLE, whose message tells the app to resume
//! on a new call, and the server stops waiting for them.
//!
//! A service makes one [`Drain`] from its shutdown future, gives
//! [`Drain::draining`] to tonic as its shutdown signal, wraps each server
//! stream in [`Drain::bound`], and races its serve future against
//! [`Drain::hard_stop`] so that nothing (a stuck peer, a stream not wrapped)
//! holds the process past the deadline plus a short margin.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::watch;
use tonic::Status;

/// How long after the drain deadline the server stops waiting for
/// connections to close (time for the streams' final UNAVAILABLE to leave).
pub(crate) const HARD_STOP_MARGIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    Draining,
    Expired,
}

/// Where a server is in its shutdown; cheap to clone.
#[derive(Debug, Clone)]
pub struct Drain {
    rx: watch::Receiver<Phase>,
}

impl Drain {
    /// Starts watching `shutdown`: when it resolves the server drains, and
    /// `grace` later the deadline passes. Needs a Tokio runtime.
    pub fn start(shutdown: impl Future<Output = ()> + Send + 'static, grace: Duration) -> Self {
        let (tx, rx) = watch::channel(Phase::Serving);
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => {}
                () = tx.closed() => return,
            }
            tx.send_replace(Phase::Draining);
            tracing::info!(
                grace_secs = grace.as_secs_f64(),
                "draining: in-flight calls may finish; open streams end with UNAVAILABLE after the grace"
            );
            tokio::select! {
                () = tokio::time::sleep(grace) => {}
                () = tx.closed() => return,
            }
            tx.send_replace(Phase::Expired);
            tracing::info!("drain deadline passed: ending open streams");
            tx.closed().await;
        });
        Self { rx }
    }

    /// A drain that never starts (tests, benchmarks, embedded use).
    pub fn never() -> Self {
        let (_tx, rx) = watch::channel(Phase::Serving);
        Self { rx }
    }

    async fn reached(mut rx: watch::Receiver<Phase>, phase: Phase) {
        if rx.wait_for(|p| *p >= phase).await.is_err() {
            // The watcher is gone without reaching `phase`: it never will.
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when the shutdown signal arrived: tonic's shutdown signal.
    pub fn draining(&self) -> impl Future<Output = ()> + Send + 'static {
        Self::reached(self.rx.clone(), Phase::Draining)
    }

    /// Resolves when the drain deadline has passed.
    pub fn expired(&self) -> impl Future<Output = ()> + Send + 'static {
        Self::reached(self.rx.clone(), Phase::Expired)
    }

    /// Resolves [`HARD_STOP_MARGIN`] after the deadline: race the serve
    /// future against it.
    pub fn hard_stop(&self) -> impl Future<Output = ()> + Send + 'static {
        let expired = self.expired();
        async move {
            expired.await;
            tokio::time::sleep(HARD_STOP_MARGIN).await;
        }
    }

    /// The status an open stream ends with at the deadline.
    pub fn status() -> Status {
        Status::unavailable(
            "the server is shutting down; call again to resume (another instance will serve it)",
        )
    }

    /// `stream`, ended with [`Drain::status`] when the deadline passes.
    pub fn bound<T, S>(
        &self,
        stream: S,
    ) -> Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>
    where
        T: Send + 'static,
        S: Stream<Item = Result<T, Status>> + Send + 'static,
    {
        let state = (Some(Box::pin(stream)), Box::pin(self.expired()));
        Box::pin(futures::stream::unfold(
            state,
            |(s, mut expired)| async move {
                let mut s = s?;
                tokio::select! {
                    item = s.next() => item.map(|i| (i, (Some(s), expired))),
                    () = &mut expired => Some((Err(Drain::status()), (None, expired))),
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_millis(300);
    const TICK: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn streams_end_with_unavailable_at_the_deadline() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let drain = Drain::start(
            async move {
                let _ = rx.await;
            },
            GRACE,
        );
        // An endless stream: one item per tick.
        let ticks = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(TICK).await;
            Some((Ok::<_, Status>(n), n + 1))
        });
        let mut s = drain.bound(ticks);
        assert_eq!(s.next().await.map(|r| r.ok()), Some(Some(0)));
        let _ = tx.send(());
        let t0 = tokio::time::Instant::now();
        drain.draining().await;
        let mut items = 0;
        let end = loop {
            match s.next().await {
                Some(Ok(_)) => items += 1,
                Some(Err(e)) => break e,
                None => panic!("ended without a status"),
            }
        };
        let ended = t0.elapsed();
        assert_eq!(end.code(), tonic::Code::Unavailable);
        assert!(items >= 5, "streamed through the grace: {items}");
        assert!(ended >= GRACE && ended < GRACE * 3, "ended after {ended:?}");
        assert!(s.next().await.is_none(), "nothing after the status");
        drain.hard_stop().await;
        assert!(t0.elapsed() >= GRACE + HARD_STOP_MARGIN);
    }

    #[tokio::test]
    async fn never_never_drains() {
        let drain = Drain::never();
        let r = tokio::time::timeout(Duration::from_millis(200), drain.draining()).await;
        assert!(r.is_err());
    }
}
