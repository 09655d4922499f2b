//! Write-behind of a replica's session file.
//!
//! A replica applies without a flush and flushes the session file every
//! `ReplicaOptions::flush_every` (1 s by default). Until then the applied
//! pages sit dirty in the OS page cache, so the flush's `fsync` had all of
//! them to write: 30-47 ms for a second's worth, during which the next
//! batches waited behind it, which set the writes' p99 (BENCHMARKS.md, "The
//! flush written behind"). This thread syncs the file's data every
//! [`EVERY`] while applies move on, so the flush finds little left to
//! write, however long its interval.
//!
//! It changes nothing about durability: what counts as on disk is still
//! what the log and the flush made durable. A sync that fails is only
//! logged; the flush that follows meets the same error and recovers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::recovery::Recovery;

/// How often the applied pages are written behind.
pub(super) const EVERY: Duration = Duration::from_millis(100);

/// Starts the thread that syncs `recovery`'s file every `every` while
/// `applied` moved since the last sync; it ends with the recovery (the
/// store that holds it). It never holds the recovery itself, only its
/// file's path: the database closes when the store lets go of it, even
/// during a sync, so the same file can be opened again at once.
pub(super) fn start(recovery: &Arc<Recovery>, applied: Arc<AtomicU64>, every: Duration) {
    start_with(
        Arc::downgrade(recovery),
        recovery.path.clone(),
        applied,
        every,
        sync_data,
    );
}

/// Syncs the file's data through a handle of its own: `fsync` writes the
/// file's dirty pages whichever handle dirtied them. Opened per sync, so a
/// file replaced under the same path (a snapshot restored) is the one
/// synced.
fn sync_data(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_data()
}

fn start_with(
    recovery: Weak<Recovery>,
    path: PathBuf,
    applied: Arc<AtomicU64>,
    every: Duration,
    sync: impl Fn(&Path) -> std::io::Result<()> + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name("session-write-behind".into())
        .spawn(move || {
            let mut synced = applied.load(Ordering::SeqCst);
            loop {
                std::thread::sleep(every);
                if recovery.strong_count() == 0 {
                    return;
                }
                let now = applied.load(Ordering::SeqCst);
                if now == synced {
                    continue;
                }
                synced = now;
                if let Err(e) = sync(&path) {
                    tracing::debug!(error = %e, "writing the applied pages behind failed");
                }
            }
        });
    if let Err(e) = spawned {
        // Only the flush's duration depends on it.
        tracing::warn!(error = %e, "could not start the write-behind thread");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A new store's recovery in `dir`, and its file's path.
    fn store_in(dir: &Path) -> (Arc<Recovery>, PathBuf) {
        let db = super::super::prepare(dir, super::super::StoreOptions::default()).unwrap();
        let path = dir.join(super::super::DB_FILE);
        let cell = Arc::new(std::sync::RwLock::new(Some(Arc::new(db))));
        (Recovery::new(cell, path.clone(), 1 << 20), path)
    }

    /// Syncs only after applies moved, and stops once the store let go of
    /// its recovery.
    #[test]
    fn syncs_after_applies_and_ends_with_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (recovery, path) = store_in(dir.path());
        let applied = Arc::new(AtomicU64::new(0));
        let synced = Arc::new(Mutex::new(Vec::new()));
        let seen = synced.clone();
        let every = Duration::from_millis(20);
        start_with(
            Arc::downgrade(&recovery),
            path.clone(),
            applied.clone(),
            every,
            move |p: &Path| {
                seen.lock().unwrap().push(p.to_owned());
                sync_data(p)
            },
        );
        std::thread::sleep(every * 5);
        assert!(synced.lock().unwrap().is_empty(), "nothing applied yet");
        applied.store(3, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while synced.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(every);
        }
        std::thread::sleep(every * 5);
        assert_eq!(*synced.lock().unwrap(), [path], "one sync per move");
        drop(recovery);
        std::thread::sleep(every * 5);
        applied.store(4, Ordering::SeqCst);
        std::thread::sleep(every * 5);
        assert_eq!(
            synced.lock().unwrap().len(),
            1,
            "no sync once the store is gone"
        );
    }

    /// The thread holds no reference to the store while it syncs: a store
    /// dropped during a sync is gone at once (its database closed, the
    /// file free to open again), not when the sync ends.
    #[test]
    fn a_sync_never_keeps_the_store_open() {
        let dir = tempfile::tempdir().unwrap();
        let (recovery, path) = store_in(dir.path());
        let weak = Arc::downgrade(&recovery);
        let applied = Arc::new(AtomicU64::new(0));
        let (in_sync, syncing) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        start_with(
            weak.clone(),
            path.clone(),
            applied.clone(),
            Duration::from_millis(10),
            move |_: &Path| {
                let _ = in_sync.send(());
                let _ = released.lock().unwrap().recv();
                Ok(())
            },
        );
        // Move the applies until a sync starts (the thread reads where they
        // stand when it starts).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut n = 0;
        while syncing.recv_timeout(Duration::from_millis(30)).is_err() {
            assert!(std::time::Instant::now() < deadline, "no sync started");
            n += 1;
            applied.store(n, Ordering::SeqCst);
        }
        drop(recovery);
        assert!(
            weak.upgrade().is_none(),
            "the store outlived its last owner"
        );
        let reopened = redb::Database::create(&path);
        assert!(reopened.is_ok(), "the file is free: {:?}", reopened.err());
        release.send(()).unwrap();
    }
}
