//! The writer thread: group commit and recovery after I/O errors.
//!
//! One thread owns every write transaction. Callers queue a [`Job`] (a
//! typed write and its reply channel); the writer takes everything queued
//! (up to `max_batch` writes, and up to `max_batch_bytes` of changed rows:
//! the writes after that go first in the next batch), applies it in one
//! transaction, commits with [`Durability::Immediate`] and only then
//! answers every caller of the batch. A call is therefore acknowledged
//! only after its data is on disk, and many concurrent writers share one
//! disk flush. Because one thread
//! applies all writes in order, request-id deduplication and the per-day
//! counts are exact even for concurrent calls and for duplicates within one
//! batch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use redb::{Database, Durability};
use tokio::sync::oneshot;

use super::evaluated::{Evaluated, Gate};
use super::recovery::{RECOVERING, Recovery, current};
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
    batches_cut: knotwork_runtime::metrics::IntCounter,
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
            batches_cut: metrics.counter(
                "commit_batches_cut_total",
                "Batches that reached KNOTWORK_SESSION_COMMIT_BATCH_MIB of changed rows, \
                 the writes after them left for the next batch.",
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

    /// Counts a batch that reached its byte bound.
    fn cut(&self) {
        if let Some(m) = self.metrics.get() {
            m.batches_cut.inc();
        }
    }

    /// (commits, operations) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.ops.load(Ordering::Relaxed),
        )
    }
}

/// How a batch is cut: the rows (keys and values) it may change before
/// the writes after them wait for the next batch, and where they wait.
/// The bound keeps the memory a batch holds (its rows, their Raft entry
/// and its encoding, the transaction's pages) bounded however many large
/// writes arrive at once.
struct Cut<'a> {
    bytes: usize,
    deferred: &'a mut VecDeque<Queued>,
}

/// Applies `jobs` in order until the rows they changed reach `cut.bytes`;
/// the jobs after that are moved, in order, to the front of
/// `cut.deferred` for the next batch. The first job is always applied.
fn apply_jobs(
    tables: &mut Tables<WTable<'_>>,
    jobs: &mut Vec<Queued>,
    cut: Cut<'_>,
) -> Result<(), Error> {
    let deferred = cut.deferred;
    for i in 0..jobs.len() {
        jobs[i].apply(tables)?;
        if tables.recorded_bytes() >= cut.bytes && i + 1 < jobs.len() {
            for job in jobs.split_off(i + 1).into_iter().rev() {
                deferred.push_front(job);
            }
            break;
        }
    }
    Ok(())
}

/// Runs `jobs` (cut as `cut` says) in `txn` under `quota`; returns the
/// rows they changed. The one way a batch is run, whether it is then
/// committed (one copy) or aborted and proposed (a Raft group).
fn run_jobs(
    txn: &redb::WriteTransaction,
    jobs: &mut Vec<Queued>,
    cut: Cut<'_>,
    quota: crate::domain::quota::Quota,
) -> Result<Vec<Change>, Error> {
    let mut tables = Tables::open_write(txn, true)?;
    tables.quota = quota;
    apply_jobs(&mut tables, jobs, cut)?;
    Ok(tables.take_changes())
}

/// Applies one batch in one transaction and commits it durably; returns
/// the rows it changed, for the users' versions.
fn commit_batch(
    db: &Database,
    jobs: &mut Vec<Queued>,
    cut: Cut<'_>,
    quota: crate::domain::quota::Quota,
) -> Result<Vec<Change>, Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let changes = run_jobs(&txn, jobs, cut, quota)?;
    txn.commit()?;
    Ok(changes)
}

/// What the writer needs besides its queue.
pub(super) struct Writer {
    pub(super) recovery: Arc<Recovery>,
    pub(super) max_batch: usize,
    pub(super) max_batch_bytes: usize,
    pub(super) quota: crate::domain::quota::Quota,
    pub(super) stats: Arc<Stats>,
    /// Set when the store is a replica of a Raft group.
    pub(super) replica: Option<Proposer>,
}

/// The writer's side of a replicated store: evaluates a batch, proposes
/// its row changes and waits until the group applied them.
pub(super) struct Proposer {
    pub(super) raft: Raft,
    pub(super) handle: tokio::runtime::Handle,
    pub(super) me: NodeId,
    /// The term in which this leader's state machine was last known to
    /// hold every committed entry (0: not known).
    pub(super) confirmed_term: u64,
}

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

impl Proposer {
    fn not_leader(&self) -> Failure {
        not_leader(&self.raft.metrics().borrow())
    }

    /// Evaluates `jobs` on the applied state, proposes the row changes and
    /// waits until they are applied here (after a majority stored them).
    fn propose(
        &mut self,
        gate: &Gate,
        db: &Arc<Database>,
        jobs: &mut Vec<Queued>,
        cut: Cut<'_>,
        quota: crate::domain::quota::Quota,
    ) -> Result<(), Failure> {
        let (term, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_term, m.current_leader)
        };
        if leader != Some(self.me) {
            return Err(self.not_leader());
        }
        if term != self.confirmed_term {
            // A new term: apply what earlier leaders committed first.
            self.handle
                .block_on(self.raft.ensure_linearizable())
                .map_err(|e| raft_failure(&e))?;
            self.confirmed_term = term;
        }
        let (based_on, changes) = gate
            .keep(db, |txn| evaluate(txn, jobs, cut, quota))
            .map_err(|e| Failure::Storage(e.to_string()))?;
        let batch = Batch {
            based_on,
            changes,
            shard_map: None,
        };
        let reply = self.handle.block_on(async {
            tokio::time::timeout(WRITE_TIMEOUT, self.raft.client_write(batch)).await
        });
        // Applied by now, or never from this transaction.
        gate.discard();
        let reply = reply
            .map_err(|_| Failure::Unavailable("the shard group did not commit in time".into()))?
            .map_err(|e| raft_failure(&e))?;
        if reply.data.applied {
            Ok(())
        } else {
            self.confirmed_term = 0;
            Err(Failure::Unavailable(
                "the shard's leader changed during the write; retry".into(),
            ))
        }
    }
}

/// Runs `jobs` in `txn` (kept for the batch's apply: `evaluated.rs`),
/// recording their row changes as one batch (cut as `cut` says) on the
/// last batch applied.
fn evaluate(
    txn: &redb::WriteTransaction,
    jobs: &mut Vec<Queued>,
    cut: Cut<'_>,
    quota: crate::domain::quota::Quota,
) -> Result<Evaluated, Error> {
    let based_on = replica::last_batch(txn)?;
    let changes = run_jobs(txn, jobs, cut, quota)?;
    Ok((based_on, changes))
}

impl Writer {
    /// Runs until every sender of the queue is gone.
    pub(super) fn run(mut self, rx: mpsc::Receiver<Queued>) {
        // Writes a full batch left for the next one, first in line.
        let mut deferred = VecDeque::new();
        loop {
            // While unhealthy, wake up now and then to probe, so the store
            // recovers (and reports it) even when no write arrives.
            let healthy = *self.recovery.healthy.borrow();
            let first = if let Some(job) = deferred.pop_front() {
                job
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
            let waiting = deferred.len().min(self.max_batch - 1);
            jobs.extend(deferred.drain(..waiting));
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
            let outcome = match &mut self.replica {
                None => {
                    let journals = &self.recovery.journals;
                    let cut = Cut {
                        bytes: self.max_batch_bytes,
                        deferred: &mut deferred,
                    };
                    match commit_batch(&db, &mut jobs, cut, self.quota) {
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
                    }
                }
                // The Raft side reopens storage itself; refuse meanwhile.
                Some(_) if !healthy => Err(Failure::Unavailable(
                    "storage is recovering after a write error".into(),
                )),
                Some(p) => {
                    let cut = Cut {
                        bytes: self.max_batch_bytes,
                        deferred: &mut deferred,
                    };
                    p.propose(&self.recovery.kept, &db, &mut jobs, cut, self.quota)
                }
            };
            // Those a full batch left wait again.
            if !deferred.is_empty() {
                self.stats.cut();
                self.stats
                    .queued
                    .fetch_add(deferred.len() as i64, Ordering::Relaxed);
            }
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
                    self.recover(db, &rx);
                }
                Err(other) => {
                    tracing::debug!(failure = ?other, batch = n, "write batch not committed");
                    for job in jobs {
                        job.finish(Err(other.clone()));
                    }
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A job writing `bytes` into `users` under its number, noting the
    /// order jobs ran in.
    fn job(i: usize, bytes: usize, ran: &Arc<Mutex<Vec<usize>>>) -> Queued {
        let ran = ran.clone();
        let (reply, _rx) = oneshot::channel::<Result<(), Error>>();
        Box::new(Typed::new(
            move |t: &mut Tables<WTable<'_>>| {
                ran.lock().unwrap().push(i);
                t.users
                    .insert(format!("u{i:03}").as_bytes(), &vec![7; bytes])?;
                Ok(Ok(()))
            },
            reply,
        ))
    }

    /// A batch takes writes until their rows reach its bound; the rest
    /// wait, in order, at the front of the next batch's line, and a single
    /// write larger than the bound still goes alone.
    #[test]
    fn a_batch_stops_at_its_bytes_and_the_rest_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::prepare(dir.path(), super::super::StoreOptions::default()).unwrap();
        let ran = Arc::new(Mutex::new(Vec::new()));
        const BOUND: usize = 1 << 20;
        fn cut(deferred: &mut VecDeque<Queued>) -> Cut<'_> {
            Cut {
                bytes: BOUND,
                deferred,
            }
        }
        let quarter = BOUND / 4;
        let mut jobs: Vec<Queued> = (0..10).map(|i| job(i, quarter, &ran)).collect();
        let mut deferred: VecDeque<Queued> = VecDeque::from([job(99, 1, &ran)]);
        let txn = db.begin_write().unwrap();
        let mut tables = Tables::open_write(&txn, true).unwrap();
        apply_jobs(&mut tables, &mut jobs, cut(&mut deferred)).unwrap();
        // Four quarters (and their keys) reach the bound.
        assert_eq!(jobs.len(), 4);
        assert!(tables.recorded_bytes() >= BOUND);
        assert_eq!(deferred.len(), 7, "six left, then the one already waiting");
        assert_eq!(tables.take_changes().len(), 4);
        drop(tables);
        // The next batch runs them in their order, then the older one.
        let mut next: Vec<Queued> = deferred.drain(..).collect();
        let mut tables = Tables::open_write(&txn, true).unwrap();
        apply_jobs(&mut tables, &mut next, cut(&mut deferred)).unwrap();
        assert_eq!(next.len(), 4);
        drop(tables);
        let mut rest: Vec<Queued> = deferred.drain(..).collect();
        let mut tables = Tables::open_write(&txn, true).unwrap();
        apply_jobs(&mut tables, &mut rest, cut(&mut deferred)).unwrap();
        assert!(deferred.is_empty());
        assert_eq!(*ran.lock().unwrap(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
        drop(tables);
        // One write over the bound goes alone, and is applied.
        let mut big = vec![job(100, BOUND * 2, &ran), job(101, 1, &ran)];
        let mut tables = Tables::open_write(&txn, true).unwrap();
        apply_jobs(&mut tables, &mut big, cut(&mut deferred)).unwrap();
        assert_eq!((big.len(), deferred.len()), (1, 1));
        assert_eq!(ran.lock().unwrap().last(), Some(&100));
    }
}
