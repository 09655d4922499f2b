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

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use redb::{Database, Durability};
use tokio::sync::oneshot;

use super::keys::{PROBE_KEY, USERS};
use super::tables::{Applied, Tables, WTable};
use crate::error::Error;

/// The open database. The writer swaps in a fresh handle after an I/O
/// failure (redb refuses every transaction after one until it is reopened);
/// `None` while it is being reopened.
pub(super) type DbCell = Arc<std::sync::RwLock<Option<Arc<Database>>>>;

/// The database now, or a storage error while it is being reopened.
pub(super) fn current(cell: &DbCell) -> Result<Arc<Database>, Error> {
    cell.read()
        .ok()
        .and_then(|g| g.clone())
        .ok_or_else(|| Error::Storage("storage is recovering from an I/O error".into()))
}

/// Opens (or creates) the database file with a page cache of `cache_bytes`.
pub(super) fn open_db(path: &std::path::Path, cache_bytes: usize) -> Result<Database, Error> {
    Ok(redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)?)
}

/// One queued write, type-erased so one queue carries every kind: it
/// applies itself inside the batch's transaction, then hears whether the
/// batch committed and answers its caller.
pub(super) trait Job: Send {
    /// Applies the write; an error fails the whole batch.
    fn apply(&mut self, tables: &mut Tables<WTable<'_>>) -> Result<(), Error>;
    /// Answers the caller: the write's result once the batch committed, the
    /// storage error otherwise.
    fn finish(self: Box<Self>, committed: Result<(), String>);
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

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let result = match committed {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(Error::Storage("write was not applied".into()))),
            Err(e) => Err(Error::Storage(e)),
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

/// Applies one batch in one transaction and commits it durably.
fn commit_batch(
    db: &Database,
    jobs: &mut [Queued],
    quota: crate::domain::quota::Quota,
) -> Result<(), Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut tables = Tables::open_write(&txn)?;
        tables.quota = quota;
        for job in jobs.iter_mut() {
            job.apply(&mut tables)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// What the writer needs besides its queue.
pub(super) struct Writer {
    pub(super) cell: DbCell,
    pub(super) path: PathBuf,
    pub(super) cache_bytes: usize,
    pub(super) max_batch: usize,
    pub(super) quota: crate::domain::quota::Quota,
    pub(super) stats: Arc<Stats>,
    pub(super) healthy: tokio::sync::watch::Sender<bool>,
}

impl Writer {
    /// Runs until every sender of the queue is gone.
    pub(super) fn run(self, rx: mpsc::Receiver<Queued>) {
        let mut db = match current(&self.cell) {
            Ok(db) => db,
            Err(_) => return,
        };
        loop {
            // While unhealthy, wake up now and then to probe, so the store
            // recovers (and reports it) even when no write arrives.
            let first = if *self.healthy.borrow() {
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                match rx.recv_timeout(std::time::Duration::from_secs(2)) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        db = self.recover(db, &rx);
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
            let n = jobs.len();
            let started = std::time::Instant::now();
            match commit_batch(&db, &mut jobs, self.quota) {
                Ok(()) => {
                    self.stats.committed(n, started.elapsed());
                    for job in jobs {
                        job.finish(Ok(()));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = n, "write batch failed");
                    for job in jobs {
                        job.finish(Err(e.to_string()));
                    }
                    if self.healthy.send_replace(false) {
                        tracing::error!(
                            "storage unhealthy: refusing writes until a commit succeeds"
                        );
                    }
                    db = self.recover(db, &rx);
                }
            }
        }
    }

    /// Reopens the database (after waiting for readers to let go of the old
    /// handle) and probes it with a real commit. Healthy again only when the
    /// probe commits; writes that arrive meanwhile are refused at once.
    fn recover(&self, old: Arc<Database>, rx: &mpsc::Receiver<Queued>) -> Arc<Database> {
        let refuse_queued = || {
            while let Ok(job) = rx.try_recv() {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                job.finish(Err("storage is recovering from an I/O error".into()));
            }
        };
        if let Ok(mut g) = self.cell.write() {
            *g = None;
        }
        let mut old = old;
        loop {
            match Arc::try_unwrap(old) {
                Ok(db) => {
                    drop(db);
                    break;
                }
                Err(still_shared) => {
                    old = still_shared;
                    refuse_queued();
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
        loop {
            match open_db(&self.path, self.cache_bytes) {
                Ok(db) => {
                    let db = Arc::new(db);
                    if let Ok(mut g) = self.cell.write() {
                        *g = Some(db.clone());
                    }
                    match probe(&db) {
                        Ok(()) => {
                            self.healthy.send_replace(true);
                            tracing::info!("storage healthy again");
                        }
                        Err(e) => tracing::warn!(error = %e, "storage still failing"),
                    }
                    return db;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reopen storage; retrying");
                    refuse_queued();
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
        }
    }
}

/// A durable commit that writes (and removes again) one small record.
fn probe(db: &Database) -> Result<(), Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut users = txn.open_table(USERS)?;
        users.insert(PROBE_KEY.as_bytes(), [0u8; 4096].as_slice())?;
        users.remove(PROBE_KEY.as_bytes())?;
    }
    txn.commit()?;
    Ok(())
}
