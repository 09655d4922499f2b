//! Versions of each user's rows, so a cache of what is read from them
//! (the grouped journal, [`Journals`]) knows when it is stale.
//!
//! Every commit that changes a user's rows raises that user's version
//! **after** it commits; a reader takes the version **before** its read
//! transaction begins. So a cached read tagged with version `v` holds at
//! least everything committed before `v` was current, and any later
//! change raises the version past `v`: a cached entry is used only while
//! its version is still the current one. Entries a late reader tags with
//! an old version are just never used.
//!
//! The versions live in a fixed array of counters, a user's chosen by a
//! hash of the user id: users sharing a counter invalidate each other's
//! entries (a wasted read, never a stale one), and memory stays fixed. A
//! change that names no single user (a cleared range, a snapshot
//! installed, a reopened file) raises every version at once.
//!
//! Where they are raised: a replica's apply (`replica.rs`) and the single
//! copy's writer (`writer.rs`), both per key of each committed change
//! ([`UserVersions::changed`]); a replica's snapshot install and the reopen
//! after a storage error (`recovery.rs`).

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::tables::Change;
use crate::domain::progress::Grouped;

/// Counters: enough that 64 concurrent users rarely share one.
const SLOTS: usize = 4096;

/// One user's version: every user's (raised by changes naming no user)
/// and the user's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Version(u64, u64);

/// See the module docs.
pub(super) struct UserVersions {
    all: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl Default for UserVersions {
    fn default() -> Self {
        Self {
            all: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl UserVersions {
    /// The version of `user`'s rows now. Take it before the read
    /// transaction whose result it tags begins.
    pub(super) fn of(&self, user: &str) -> Version {
        Version(
            self.all.load(Ordering::SeqCst),
            self.slots[slot(user.as_bytes())].load(Ordering::SeqCst),
        )
    }

    /// After a commit that changed the row `key` of a session table (the
    /// user id, then a 0 byte or nothing).
    pub(super) fn changed_key(&self, key: &[u8]) {
        let user = key.split(|b| *b == 0).next().unwrap_or(key);
        self.slots[slot(user)].fetch_add(1, Ordering::SeqCst);
    }

    /// After a commit that made the change `c`.
    pub(super) fn changed(&self, c: &Change) {
        match c {
            Change::Put { key, .. } | Change::Remove { key, .. } => self.changed_key(key),
            Change::Clear { .. } => self.changed_all(),
        }
    }

    /// After a commit that may have changed anyone's rows.
    pub(super) fn changed_all(&self) {
        self.all.fetch_add(1, Ordering::SeqCst);
    }
}

/// The counter of a user id. A fixed hasher: the same user, the same
/// counter, for the life of the process.
fn slot(user: &[u8]) -> usize {
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(user);
    (h % SLOTS as u64) as usize
}

/// The grouped journals read lately, each tagged with the version of its
/// user's rows it was read at. Bounded by an estimate of their bytes.
pub(super) struct Journals {
    versions: Arc<UserVersions>,
    entries: quick_cache::sync::Cache<String, (Version, Arc<Grouped>), ByBytes>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The bytes a cached journal holds, roughly: its sessions, its points'
/// ids and its per-day counts, and the progress computed from it (counted
/// up front: it is computed after the journal is kept).
#[derive(Clone, Copy)]
struct ByBytes;

impl quick_cache::Weighter<String, (Version, Arc<Grouped>)> for ByBytes {
    fn weight(&self, user: &String, value: &(Version, Arc<Grouped>)) -> u64 {
        let g = &value.1;
        let sessions: usize = g.by_point.values().map(Vec::len).sum();
        let days: usize = g.worked.values().map(|d| d.len()).sum();
        let ids: usize = g.by_point.keys().map(|k| 2 * (k.len() + 48)).sum();
        // A point's progress: the record, its id, its advice (about 160
        // bytes) and a week of days (the default 28 days hold at most 28).
        let progress = g.by_point.len()
            * (std::mem::size_of::<crate::domain::progress::PointProgress>()
                + 48
                + 160
                + 7 * std::mem::size_of::<crate::domain::DayStats>());
        (128 + user.len()
            + ids
            + sessions * std::mem::size_of::<crate::domain::progress::SessionPoint>()
            + days * 32
            + progress) as u64
    }
}

impl Journals {
    /// A cache of at most about `bytes` over `versions`.
    pub(super) fn new(versions: Arc<UserVersions>, bytes: u64) -> Self {
        // Estimated entries: one per 16 KiB (150 sessions on 20 points).
        let items = usize::try_from(bytes / 16384).unwrap_or(1 << 12).max(16);
        Self {
            versions,
            entries: quick_cache::sync::Cache::with_weighter(items, bytes.max(1), ByBytes),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The version to tag a read of `user`'s journal with: take it before
    /// the read begins.
    pub(super) fn version(&self, user: &str) -> Version {
        self.versions.of(user)
    }

    /// The kept journal of `user`, if it was read at the current version.
    pub(super) fn get(&self, user: &str) -> Option<Arc<Grouped>> {
        let kept = self
            .entries
            .get(user)
            .filter(|(at, _)| *at == self.versions.of(user))
            .map(|(_, journal)| journal);
        let counter = if kept.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        kept
    }

    /// (hits, misses) so far, and the bytes kept now.
    pub(super) fn counts(&self) -> (u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.entries.weight(),
        )
    }

    /// The kept journal of `user` whatever version it was read at: what an
    /// unchanged point's progress can be taken over from.
    pub(super) fn earlier(&self, user: &str) -> Option<Arc<Grouped>> {
        self.entries.peek(user).map(|(_, journal)| journal)
    }

    /// Keeps `journal`, read at version `at`.
    pub(super) fn put(&self, user: &str, at: Version, journal: Arc<Grouped>) {
        self.entries.insert(user.to_owned(), (at, journal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::progress::{JournalEntry, by_point};

    fn journal(point: &str) -> Arc<Grouped> {
        Arc::new(by_point([JournalEntry::bare(
            point,
            jiff::civil::date(2026, 12, 4),
        )]))
    }

    #[test]
    fn a_kept_journal_is_used_until_its_users_rows_change() {
        let versions = Arc::new(UserVersions::default());
        let cache = Journals::new(versions.clone(), 1 << 20);
        let at = cache.version("ana");
        cache.put("ana", at, journal("a"));
        assert_eq!(cache.get("ana"), Some(journal("a")));
        assert_eq!(cache.get("bo"), None);
        let (hits, misses, bytes) = cache.counts();
        assert_eq!((hits, misses), (1, 1));
        assert!(bytes > 0);

        // A change to another user's rows leaves it (unless they share a
        // counter, which these two do not).
        assert_ne!(slot(b"ana"), slot(b"bo"));
        versions.changed_key(b"bo\0sessions-key");
        assert_eq!(cache.get("ana"), Some(journal("a")));

        // Any row of the user, in any table: the key up to its 0 byte.
        versions.changed_key(b"ana\0\x01\x02");
        assert_eq!(cache.get("ana"), None);
        let at = cache.version("ana");
        cache.put("ana", at, journal("b"));
        assert_eq!(cache.get("ana"), Some(journal("b")));
        versions.changed_key(b"ana");
        assert_eq!(cache.get("ana"), None);

        // A change naming no user drops every entry.
        let at = cache.version("ana");
        cache.put("ana", at, journal("c"));
        versions.changed_all();
        assert_eq!(cache.get("ana"), None);
    }

    #[test]
    fn a_read_tagged_before_a_change_is_never_used_after_it() {
        let versions = Arc::new(UserVersions::default());
        let cache = Journals::new(versions.clone(), 1 << 20);
        // A reader takes the version, a writer commits and raises it, and
        // the reader (which may have read the old rows) keeps its result.
        let at = cache.version("ana");
        versions.changed_key(b"ana\0k");
        cache.put("ana", at, journal("old"));
        assert_eq!(cache.get("ana"), None);
    }

    #[test]
    fn the_bound_holds() {
        let versions = Arc::new(UserVersions::default());
        let cache = Journals::new(versions, 64 * 1024);
        for i in 0..1000 {
            let user = format!("user-{i}");
            let at = cache.version(&user);
            cache.put(&user, at, journal("a"));
        }
        assert!(cache.entries.weight() <= 64 * 1024);
        assert!(cache.entries.len() < 1000);
    }
}
