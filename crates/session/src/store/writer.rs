//! The writer thread: group commit and recovery after I/O errors.
//!
//! One thread owns every write transaction. Callers queue a [`Job`] (a
//! typed write and its reply channel); the writer takes everything queued
//! (up to `max_batch` writes), applies it in one transaction, commits with
//! [`Durability::Immediate`] and only then answers every caller of the
//! batch. A call is therefore acknowledged only after its data is on disk,
//! and many concurrent writers share one disk flush. Because one thread
//! applies all writes in order, request-id deduplication and the per-day
//! counts are exact even for concurrent calls and for duplicates within one
//! batch.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use redb::{Database, Durability};
use tokio::sync::oneshot;

use super::recovery::{RECOVERING, Recovery, current};
use openraft::LogId;

use super::replica::{self, Batch, NodeId, Raft};
use super::tables::{Applied, Change, Tables, WTable};
use crate::error::Error;

/// Why a batch was not committed, for every writer in it.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// Storage failed (the writer recovers).
    Storage(String),
    /// This replica is not the leader.
    NotLeader {
        leader_id: Option<NodeId>,
        leader_address: Option<String>,
    },
    /// The group could not commit it now (no majority, a leader change).
    Unavailable(String),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Storage(s) => Error::Storage(s),
            Failure::NotLeader {
                leader_id,
                leader_address,
            } => Error::NotLeader {
                leader_id,
                leader_address,
            },
            Failure::Unavailable(s) => Error::Unavailable(s),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::NotLeader {
                leader_id,
                leader_address,
            } => Failure::NotLeader {
                leader_id,
                leader_address,
            },
            Error::Unavailable(s) => Failure::Unavailable(s),
            other => Failure::Storage(other.to_string()),
        }
    }
}

/// One queued write, type-erased so one queue carries every kind: it
/// applies itself inside the batch's transaction, then hears whether the
/// batch committed and answers its caller.
pub(super) trait Job: Send {
    /// Applies the write; an error fails the whole batch.
    fn apply(&mut self, tables: &mut Tables<WTable<'_>>) -> Result<(), Error>;
    /// Answers the caller: the write's result once the batch committed, the
    /// storage error otherwise.
    fn finish(self: Box<Self>, committed: Result<(), Failure>);
}

/// A write returning `R`, and where its caller waits for it.
pub(super) struct Typed<R, F> {
    write: Option<F>,
    result: Option<Result<R, Error>>,
    reply: oneshot::Sender<Result<R, Error>>,
}

impl<R, F> Typed<R, F> {
    pub(super) fn new(write: F, reply: oneshot::Sender<Result<R, Error>>) -> Self {
        Self {
            write: Some(write),
            result: None,
            reply,
        }
    }
}

impl<R, F> Job for Typed<R, F>
where
    R: Send,
    F: FnOnce(&mut Tables<WTable<'_>>) -> Applied<R> + Send,
{
    fn apply(&mut self, tables: &mut Tables<WTable<'_>>) -> Result<(), Error> {
        if let Some(write) = self.write.take() {
            self.result = Some(write(tables)?);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, committed: Result<(), Failure>) {
        let result = match committed {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(Error::Storage("write was not applied".into()))),
            Err(e) => Err(e.into()),
        };
        let _ = self.reply.send(result);
    }
}

/// A boxed [`Job`].
pub(super) type Queued = Box<dyn Job>;

/// Commit counters, for the benchmark and for logs, and the writer's
/// metrics once [`Stats::instrument`] was called.
#[derive(Debug, Default)]
pub struct Stats {
    commits: AtomicU64,
    ops: AtomicU64,
    /// Writes queued for the writer and not yet taken into a batch.
    pub(super) queued: AtomicI64,
    metrics: std::sync::OnceLock<WriterMetrics>,
}

/// The writer's histograms.
#[derive(Debug)]
struct WriterMetrics {
    commit_seconds: knotwork_runtime::metrics::Histogram,
    batch_size: knotwork_runtime::metrics::Histogram,
}

impl Stats {
    /// Registers the commit latency and batch size histograms
    /// (`knotwork_session_commit_duration_seconds`,
    /// `knotwork_session_commit_batch_size`) and the queue depth gauge
    /// (`knotwork_session_writer_queue_depth`, read at each scrape).
    pub fn instrument(self: &Arc<Self>, metrics: &knotwork_runtime::metrics::Metrics) {
        let _ = self.metrics.set(WriterMetrics {
            commit_seconds: metrics.histogram(
                "commit_duration_seconds",
                "Time to apply and durably commit one write batch.",
                knotwork_runtime::metrics::LATENCY_BUCKETS,
            ),
            batch_size: metrics.histogram(
                "commit_batch_size",
                "Writes committed together in one transaction (group commit).",
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            ),
        });
        let depth = metrics.gauge(
            "writer_queue_depth",
            "Writes waiting for the writer thread.",
        );
        let this = Arc::downgrade(self);
        metrics.on_scrape(move || {
            if let Some(this) = this.upgrade() {
                depth.set(this.queued.load(Ordering::Relaxed).max(0));
            }
        });
    }

    fn committed(&self, batch: usize, elapsed: std::time::Duration) {
        if let Some(m) = self.metrics.get() {
            m.commit_seconds.observe(elapsed.as_secs_f64());
            m.batch_size.observe(batch as f64);
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.ops.fetch_add(batch as u64, Ordering::Relaxed);
    }

    /// (commits, operations) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.ops.load(Ordering::Relaxed),
        )
    }
}

/// Applies one batch in one transaction and commits it durably; returns
/// the rows it changed, for the users' versions.
fn commit_batch(
    db: &Database,
    jobs: &mut [Queued],
    quota: crate::domain::quota::Quota,
) -> Result<Vec<Change>, Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let changes = {
        let mut tables = Tables::open_write(&txn, true)?;
        tables.quota = quota;
        for job in jobs.iter_mut() {
            job.apply(&mut tables)?;
        }
        tables.take_changes()
    };
    txn.commit()?;
    Ok(changes)
}

/// What the writer needs besides its queue.
pub(super) struct Writer {
    pub(super) recovery: Arc<Recovery>,
    pub(super) max_batch: usize,
    pub(super) quota: crate::domain::quota::Quota,
    pub(super) stats: Arc<Stats>,
    /// Set when the store is a replica of a Raft group.
    pub(super) replica: Option<Proposer>,
}

/// The writer's side of a replicated store: evaluates a batch, proposes
/// its row changes and waits until the group applied them.
///
/// **Pipelined.** While one batch is in the group (being stored, then
/// applied), the next is evaluated on top of it: in a transaction over
/// the applied state with the batch in flight's rows written first, then
/// aborted. Its `based_on` is the log id the leader gave the batch in
/// flight, which the log store reports as it is handed the entry
/// ([`replica::LogStore::appended`]), before it is stored. If the batch in
/// flight is not applied (a leader change), the next names a batch that
/// never became the last one and is skipped too, so nothing is ever
/// applied on a state it was not evaluated against. At most one batch is
/// in flight while the next is evaluated, and everything before it is
/// applied, so the state evaluated on is exactly the one the next batch
/// will be applied to.
pub(super) struct Proposer {
    pub(super) raft: Raft,
    pub(super) handle: tokio::runtime::Handle,
    pub(super) me: NodeId,
    /// The term in which this leader's state machine was last known to
    /// hold every committed entry (0: not known).
    pub(super) confirmed_term: u64,
    /// Where the log store reports the log id of each tagged batch.
    pub(super) appended: tokio::sync::watch::Receiver<replica::Appended>,
    /// The last tag given.
    pub(super) tag: u64,
    /// The batch proposed and not yet answered.
    pub(super) in_flight: Option<InFlight>,
}

/// A batch in the group, not yet answered.
pub(super) struct InFlight {
    jobs: Vec<Queued>,
    started: std::time::Instant,
    /// The log id the leader gave it.
    log_id: LogId<NodeId>,
    /// Its rows, which the next batch is evaluated on top of.
    changes: Vec<Change>,
    reply: Reply,
}

/// Where a proposed batch's answer comes: whether the group applied it.
type Reply = tokio::task::JoinHandle<Result<bool, Failure>>;

/// A batch's writes, when it started, and whether it committed.
type Settled = (Vec<Queued>, std::time::Instant, Result<(), Failure>);

/// How long a replicated write waits for its group (no majority, or
/// storage stuck) before it is refused as UNAVAILABLE; its outcome is then
/// unknown, and a retry with the same request id answers it exactly.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The refusal of a replica that does not lead, naming the leader it
/// knows (its id, and its address from the membership).
pub(super) fn not_leader(m: &openraft::RaftMetrics<NodeId, openraft::BasicNode>) -> Failure {
    Failure::NotLeader {
        leader_id: m.current_leader,
        leader_address: m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned())
            .map(|n| n.addr),
    }
}

/// The failure of a Raft call: the leader when openraft names one.
pub(super) fn raft_failure<E>(e: &openraft::error::RaftError<NodeId, E>) -> Failure
where
    E: std::fmt::Display
        + std::fmt::Debug
        + openraft::TryAsRef<openraft::error::ForwardToLeader<NodeId, openraft::BasicNode>>,
{
    match e.forward_to_leader::<openraft::BasicNode>() {
        Some(f) => Failure::NotLeader {
            leader_id: f.leader_id,
            leader_address: f.leader_node.as_ref().map(|n| n.addr.clone()),
        },
        None => Failure::Unavailable(format!("the shard group cannot commit now: {e}")),
    }
}

/// The answer to a batch whose group skipped it.
fn skipped() -> Failure {
    Failure::Unavailable("the shard's leader changed during the write; retry".into())
}

impl Proposer {
    fn not_leader(&self) -> Failure {
        not_leader(&self.raft.metrics().borrow())
    }

    /// Waits for the batch in flight's answer.
    fn settle(&mut self) -> Option<Settled> {
        let f = self.in_flight.take()?;
        Some(self.wait(f))
    }

    /// Waits for `f`'s answer.
    fn wait(&mut self, f: InFlight) -> Settled {
        let outcome = match self.handle.block_on(f.reply) {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(skipped()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(Failure::Unavailable(format!(
                "the write's task failed: {e}"
            ))),
        };
        if outcome.is_err() {
            self.confirmed_term = 0;
        }
        (f.jobs, f.started, outcome)
    }

    /// Proposes `batch` under a new tag and waits until the leader gave it
    /// a log id (not until it is stored): its log id, its rows and where
    /// its answer comes (whether it was applied).
    fn submit(&mut self, mut batch: Batch) -> Result<(LogId<NodeId>, Vec<Change>, Reply), Failure> {
        self.tag += 1;
        let tag = self.tag;
        batch.tag = replica::Tag(tag);
        let changes = batch.changes.clone();
        let raft = self.raft.clone();
        let mut reply = self.handle.spawn(async move {
            let r = tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(batch))
                .await
                .map_err(|_| Failure::Unavailable("the shard group did not commit in time".into()))?
                .map_err(|e| raft_failure(&e))?;
            Ok(r.data.applied)
        });
        let appended = &mut self.appended;
        let log_id = self.handle.block_on(async {
            tokio::select! {
                biased;
                a = appended.wait_for(|a| a.tag >= tag) => Ok(a.ok().and_then(|a| (a.tag == tag).then_some(a.log_id)).flatten()),
                r = &mut reply => Err(r),
            }
        });
        match log_id {
            Ok(Some(log_id)) => Ok((log_id, changes, reply)),
            // The log store is gone, or reported another batch: wait for
            // this one's answer, unpipelined.
            Ok(None) => Err(match self.handle.block_on(reply) {
                Ok(Ok(_)) => Failure::Unavailable("the write's log id is unknown; retry".into()),
                Ok(Err(e)) => e,
                Err(e) => Failure::Unavailable(format!("the write's task failed: {e}")),
            }),
            Err(Ok(Ok(true))) => Err(Failure::Unavailable(
                "the write's log id is unknown; retry".into(),
            )),
            Err(Ok(Ok(false))) => Err(skipped()),
            Err(Ok(Err(e))) => Err(e),
            Err(Err(e)) => Err(Failure::Unavailable(format!(
                "the write's task failed: {e}"
            ))),
        }
    }

    /// Evaluates `jobs` on the applied state and the batch in flight,
    /// proposes their row changes, then waits for the batch that was in
    /// flight. Returns the batches answered, in order: the one that was in
    /// flight, and `jobs` if they failed at once.
    fn propose(
        &mut self,
        db: &Database,
        mut jobs: Vec<Queued>,
        quota: crate::domain::quota::Quota,
        started: std::time::Instant,
    ) -> Vec<Settled> {
        let mut settled = Vec::new();
        let (term, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_term, m.current_leader)
        };
        if leader != Some(self.me) {
            settled.extend(self.settle());
            settled.push((jobs, started, Err(self.not_leader())));
            return settled;
        }
        if term != self.confirmed_term {
            // A new term: apply what earlier leaders committed first.
            settled.extend(self.settle());
            if let Err(e) = self.handle.block_on(self.raft.ensure_linearizable()) {
                settled.push((jobs, started, Err(raft_failure(&e))));
                return settled;
            }
            self.confirmed_term = term;
        }
        let base = self.in_flight.as_ref().map(|f| (f.log_id, &f.changes[..]));
        let batch = match evaluate(db, &mut jobs, quota, base) {
            Ok(b) => b,
            Err(e) => {
                settled.extend(self.settle());
                settled.push((jobs, started, Err(Failure::Storage(e.to_string()))));
                return settled;
            }
        };
        match self.submit(batch) {
            Ok((log_id, changes, reply)) => {
                let before = self.in_flight.replace(InFlight {
                    jobs,
                    started,
                    log_id,
                    changes,
                    reply,
                });
                settled.extend(before.map(|f| self.wait(f)));
            }
            Err(failure) => {
                settled.extend(self.settle());
                settled.push((jobs, started, Err(failure)));
            }
        }
        settled
    }
}
/// Runs `jobs` in a transaction that is then aborted, keeping their row
/// changes as one batch. With `base` (the batch in flight: its log id and
/// rows), its rows are written first and the batch is based on it.
fn evaluate(
    db: &Database,
    jobs: &mut [Queued],
    quota: crate::domain::quota::Quota,
    base: Option<(LogId<NodeId>, &[Change])>,
) -> Result<Batch, Error> {
    let txn = db.begin_write()?;
    let based_on = match base {
        // Written again if it was applied meanwhile: rows by key, the same.
        Some((log_id, rows)) => {
            replica::apply_changes(&txn, rows)?;
            Some(log_id)
        }
        None => replica::last_batch(&txn)?,
    };
    let changes = {
        let mut tables = Tables::open_write(&txn, true)?;
        tables.quota = quota;
        for job in jobs.iter_mut() {
            job.apply(&mut tables)?;
        }
        tables.take_changes()
    };
    txn.abort()?;
    Ok(Batch {
        based_on,
        changes,
        shard_map: None,
        tag: replica::Tag::NONE,
    })
}

impl Writer {
    /// Runs until every sender of the queue is gone.
    pub(super) fn run(mut self, rx: mpsc::Receiver<Queued>) {
        loop {
            // While unhealthy, wake up now and then to probe, so the store
            // recovers (and reports it) even when no write arrives.
            let healthy = *self.recovery.healthy.borrow();
            let in_flight = self.replica.as_ref().is_some_and(|p| p.in_flight.is_some());
            let first = if in_flight {
                // The next batch starts from what is queued now; with
                // nothing queued, or while unhealthy, the batch in flight
                // is answered first.
                if !healthy {
                    self.settle(&rx);
                    continue;
                }
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(mpsc::TryRecvError::Empty) => {
                        self.settle(&rx);
                        continue;
                    }
                    Err(mpsc::TryRecvError::Disconnected) => {
                        self.settle(&rx);
                        return;
                    }
                }
            } else if healthy {
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                match rx.recv_timeout(std::time::Duration::from_secs(2)) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Ok(db) = current(&self.recovery.cell) {
                            self.recover(db, &rx);
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            let mut jobs = vec![first];
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.stats
                .queued
                .fetch_sub(jobs.len() as i64, Ordering::Relaxed);
            let started = std::time::Instant::now();
            // The handle is taken per batch and let go of after it, so a
            // reopen elsewhere never waits for the writer.
            let db = match current(&self.recovery.cell) {
                Ok(db) => db,
                Err(e) => {
                    let refused = Failure::from(e);
                    for job in jobs {
                        job.finish(Err(refused.clone()));
                    }
                    continue;
                }
            };
            let settled = match &mut self.replica {
                None => {
                    let journals = &self.recovery.journals;
                    let outcome = match commit_batch(&db, &mut jobs, self.quota) {
                        // Raised after the commit, for the rows it changed:
                        // only their users' kept journals change.
                        Ok(changes) => {
                            journals.committed(&changes.iter().collect::<Vec<_>>());
                            Ok(())
                        }
                        Err(e) => {
                            journals.versions().changed_all();
                            Err(Failure::Storage(e.to_string()))
                        }
                    };
                    vec![(jobs, started, outcome)]
                }
                // The Raft side reopens storage itself; refuse meanwhile.
                Some(_) if !healthy => vec![(
                    jobs,
                    started,
                    Err(Failure::Unavailable(
                        "storage is recovering after a write error".into(),
                    )),
                )],
                Some(p) => p.propose(&db, jobs, self.quota, started),
            };
            for s in settled {
                self.answer(s, Some(&db), &rx);
            }
        }
    }

    /// Answers the replica's batch in flight.
    fn settle(&mut self, rx: &mpsc::Receiver<Queued>) {
        if let Some(s) = self.replica.as_mut().and_then(Proposer::settle) {
            self.answer(s, None, rx);
        }
    }

    /// Answers a batch's writers; after a storage failure, reopens `db`.
    fn answer(
        &self,
        (jobs, started, outcome): Settled,
        db: Option<&Arc<Database>>,
        rx: &mpsc::Receiver<Queued>,
    ) {
        let n = jobs.len();
        match outcome {
            Ok(()) => {
                self.stats.committed(n, started.elapsed());
                for job in jobs {
                    job.finish(Ok(()));
                }
            }
            Err(Failure::Storage(e)) => {
                tracing::error!(error = %e, batch = n, "write batch failed");
                // The caller may retry (with its request id, exactly
                // once) as soon as storage recovers: UNAVAILABLE, not
                // INTERNAL. The detail stays in the log.
                for job in jobs {
                    job.finish(Err(Failure::Unavailable(
                        "storage failed while writing; retry shortly".into(),
                    )));
                }
                self.recovery.failed();
                if let Some(db) = db {
                    self.recover(db.clone(), rx);
                }
            }
            Err(other) => {
                tracing::debug!(failure = ?other, batch = n, "write batch not committed");
                for job in jobs {
                    job.finish(Err(other.clone()));
                }
            }
        }
    }

    /// Reopens the database; writes that arrive meanwhile are refused at
    /// once.
    fn recover(&self, db: Arc<Database>, rx: &mpsc::Receiver<Queued>) {
        self.recovery.reopen(db, || {
            while let Ok(job) = rx.try_recv() {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                job.finish(Err(Failure::Unavailable(RECOVERING.into())));
            }
        });
    }
}
