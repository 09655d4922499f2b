//! GetOverview: the parts of a home screen in one call, each answered by
//! its own handler in this process (concurrently), so every part is
//! exactly what its method answers and the rules stay in one place. The
//! gain is the round trips: the gateway's GetToday and GetReliefPlan made
//! five and six calls to the shard, now one. The parts share one read of
//! the caller's journal, grouped per point once ([`SharedJournal`]): the
//! plan and the progress both need all of it, and it is the read that
//! grows with the user's history.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use knotwork_proto::session::v1 as pb;
use knotwork_proto::session::v1::session_service_server::SessionService;
use tokio::sync::OnceCell;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::domain::progress::Grouped;

/// The caller's journal, read once for all the parts of one GetOverview
/// (carried in each part's request extensions). It remembers whose journal
/// it holds, and a handler asking for another user's reads the store.
#[derive(Clone, Default)]
pub(crate) struct SharedJournal(Arc<OnceCell<(String, Arc<Grouped>)>>);

impl SharedJournal {
    /// The held journal of `user`, read by `read` if no part has yet.
    pub(crate) async fn get_or_read<F, E>(
        &self,
        user: &str,
        read: impl FnOnce() -> F,
    ) -> Result<Arc<Grouped>, E>
    where
        F: Future<Output = Result<Arc<Grouped>, E>>,
    {
        let mut read = Some(read);
        let (held_by, journal) = self
            .0
            .get_or_try_init(|| {
                let read = read.take();
                async move {
                    let journal = read.expect("read once")().await?;
                    Ok::<_, E>((user.to_owned(), journal))
                }
            })
            .await?;
        match read {
            Some(read) if held_by != user => read().await,
            _ => Ok(journal.clone()),
        }
    }
}

/// How many points the overview's progress part returns
/// (`GetOverviewRequest.progress_limit`, 0: all), carried in its request
/// extensions; the part counts every point in `total`.
#[derive(Clone, Default)]
pub(crate) struct ProgressLimit {
    /// The most points to return beyond those set aside (0: no limit).
    pub(crate) most: usize,
    /// Set to the number of points with progress.
    pub(crate) total: Arc<AtomicUsize>,
}

/// A request for one part, with the caller's metadata (the user and the
/// internal credential, checked again by the part's handler) and the
/// shared journal.
fn part<T>(metadata: &MetadataMap, journal: &SharedJournal, message: T) -> Request<T> {
    let mut req = Request::new(message);
    *req.metadata_mut() = metadata.clone();
    req.extensions_mut().insert(journal.clone());
    req
}

/// Answers GetOverview from `svc`'s own handlers. The first failing part
/// fails the call, the plan's first (it checks the date), then in the
/// order of the response's fields.
pub(crate) async fn overview<S: SessionService>(
    svc: &S,
    req: Request<pb::GetOverviewRequest>,
) -> Result<Response<pb::GetOverviewResponse>, Status> {
    let md = req.metadata().clone();
    let r = req.into_inner();
    let date = r.local_date;
    let journal = SharedJournal::default();
    let limit = ProgressLimit {
        most: usize::try_from(r.progress_limit).unwrap_or(0),
        total: Arc::default(),
    };
    let (plan, day, progress, screening, holds, profile, region_progress) = tokio::join!(
        async {
            if r.include_plan {
                svc.get_daily_plan(part(
                    &md,
                    &journal,
                    pb::GetDailyPlanRequest {
                        local_date: date.clone(),
                    },
                ))
                .await
                .map(|r| Some(r.into_inner()))
            } else {
                Ok(None)
            }
        },
        svc.get_day(part(
            &md,
            &journal,
            pb::GetDayRequest {
                local_date: date.clone(),
                max_sessions: 0,
            },
        )),
        svc.list_progress({
            let mut req = part(
                &md,
                &journal,
                pb::ListProgressRequest {
                    trigger_point: String::new(),
                    days: 0,
                },
            );
            req.extensions_mut().insert(limit.clone());
            req
        }),
        svc.get_screening(part(&md, &journal, pb::GetScreeningRequest {})),
        svc.list_holds(part(
            &md,
            &journal,
            pb::ListHoldsRequest {
                include_released: false,
            },
        )),
        async {
            if r.include_profile {
                svc.get_profile(part(&md, &journal, pb::GetProfileRequest {}))
                    .await
                    .map(|r| Some(r.into_inner()))
            } else {
                Ok(None)
            }
        },
        async {
            if r.include_region_progress {
                svc.list_region_progress(part(
                    &md,
                    &journal,
                    pb::ListRegionProgressRequest { days: 0 },
                ))
                .await
                .map(|r| Some(r.into_inner()))
            } else {
                Ok(None)
            }
        },
    );
    let plan = plan?;
    let progress = progress?.into_inner();
    let total = limit
        .total
        .load(Ordering::SeqCst)
        .max(progress.progress.len());
    Ok(Response::new(pb::GetOverviewResponse {
        progress_total: i32::try_from(total).unwrap_or(i32::MAX),
        day: Some(day?.into_inner()),
        progress: Some(progress),
        screening: Some(screening?.into_inner()),
        holds: Some(holds?.into_inner()),
        plan,
        profile: profile?,
        region_progress: region_progress?,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::progress::{JournalEntry, by_point};

    fn entry(point: &str) -> JournalEntry {
        JournalEntry::bare(point, jiff::civil::date(2026, 12, 3))
    }

    #[tokio::test]
    async fn the_parts_of_one_overview_read_the_journal_once_and_only_their_users() {
        let shared = SharedJournal::default();
        let reads = AtomicUsize::new(0);
        let read = |point: &'static str| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, ()>(Arc::new(by_point([entry(point)])))
            }
        };
        let (a, b) = tokio::join!(
            shared.get_or_read("u1", read("a")),
            shared.get_or_read("u1", read("b")),
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(a.unwrap(), b.unwrap());
        // Another user's journal is never the held one.
        let other = shared.get_or_read("u2", read("c")).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert!(other.by_point.contains_key("c"));
    }
}
