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
//! ([`Journals::committed`]); a replica's snapshot install and the reopen
//! after a storage error (`recovery.rs`).
//!
//! **Patched, not read again.** A write that changes a user's sessions
//! made the next read scan and decode the whole journal again, and in the
//! app mix nearly every read of a user follows a write of theirs: with
//! 150 to 300 sessions a user, that scan and the dropped journal were the
//! part of the shard's CPU that grew with the history. So the commit
//! itself brings a kept journal up to date ([`Journals::committed`]): when
//! the user's kept journal was current before the commit, it is taken out
//! of the cache, its sessions' puts and removes are applied to it in place
//! (each journal keeps its rows' keys for that, [`Kept`]; only when no read
//! holds it), and it goes back at the version the commit raised. Patching
//! is exact, not a guess: a put or a remove by key is the same whether or
//! not the journal already held it (a reader may have read the commit's
//! rows while it was still tagged with the version before), and the
//! patched journal is kept only if this commit's own raises are all that
//! moved the user's version. Anything else (a cleared range, a journal a
//! read is using, a version raised by another path) leaves the next read
//! to scan, as before.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::journal;
use super::keys::{SESSIONS, table_id};
use super::tables::Change;
use crate::domain::progress::Grouped;
use crate::error::Error;

/// The most bytes of grouped journals a store keeps between calls, with
/// their rows' keys and the progress computed from them (an estimate):
/// about 300 users with 300 sessions on 150 points each, or 2,000 users
/// with 150 sessions on 20 points. At 4 MiB (journals alone) the app
/// mix's 200 users with 150 sessions did not all fit and a third of the
/// hits were lost; at 32 MiB, once the keys were kept too, a quarter of
/// the mix's commits found no journal to patch.
pub(super) const JOURNALS_BYTES: u64 = 64 * 1024 * 1024;

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
        self.slots[slot(user_of(key))].fetch_add(1, Ordering::SeqCst);
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

/// The user id a row key of a session table begins with (up to its first
/// 0 byte).
fn user_of(key: &[u8]) -> &[u8] {
    key.split(|b| *b == 0).next().unwrap_or(key)
}

/// The counter of a user id. A fixed hasher: the same user, the same
/// counter, for the life of the process.
fn slot(user: &[u8]) -> usize {
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(user);
    (h % SLOTS as u64) as usize
}

/// A point's id (shared by its rows in [`Keys::point_of`]) and its rows'
/// keys in order.
type PointKeys = (Arc<str>, Vec<Arc<[u8]>>);

/// The keys (past the user's prefix) of a kept journal's rows: where a
/// put or a remove lands.
#[derive(Clone, Default)]
pub(super) struct Keys {
    /// Each point's, in the order of [`Grouped::by_point`]'s lists.
    by_point: BTreeMap<String, PointKeys>,
    /// The point of each row.
    point_of: HashMap<Arc<[u8]>, Arc<str>>,
}

impl Keys {
    /// Takes out the row `key`: its point and its place among the point's.
    fn take(&mut self, key: &[u8]) -> Option<(Arc<str>, usize)> {
        let point = self.point_of.remove(key)?;
        let (_, list) = self.by_point.get_mut(&*point)?;
        let i = list.binary_search_by(|k| (**k).cmp(key)).ok()?;
        list.remove(i);
        if list.is_empty() {
            self.by_point.remove(&*point);
        }
        Some((point, i))
    }

    /// Puts in the row `key` (not held) on `point`: its place among the
    /// point's (after all of them, for a journal read in key order).
    pub(super) fn put(&mut self, point: &str, key: &[u8]) -> usize {
        let key: Arc<[u8]> = Arc::from(key);
        let (p, list) = match self.by_point.get_mut(point) {
            Some(entry) => entry,
            None => self
                .by_point
                .entry(point.to_owned())
                .or_insert_with(|| (Arc::from(point), Vec::new())),
        };
        let i = list
            .binary_search_by(|k| (**k).cmp(&key))
            .unwrap_or_else(|i| i);
        list.insert(i, key.clone());
        self.point_of.insert(key, p.clone());
        i
    }

    /// The rows.
    fn len(&self) -> usize {
        self.point_of.len()
    }
}

/// A kept journal: grouped, with its rows' keys so a commit can patch it.
#[derive(Clone)]
pub(super) struct Kept {
    grouped: Arc<Grouped>,
    keys: Arc<Keys>,
    /// Its sessions, and the bytes of their keys (roughly), kept counted.
    rows: usize,
    key_bytes: usize,
    /// Its points' share of the estimate ([`Shape`]), kept counted: a
    /// patch recounts only the points it touched.
    shape: Shape,
    /// Its bytes, roughly ([`Kept::estimate`]): the cache weighs an entry
    /// at every insert and removal, so it is counted once per change.
    weight: u64,
}

/// The bytes a row's key takes, roughly: its allocation, its place in its
/// point's list and in [`Keys::point_of`].
fn key_bytes(key: &[u8]) -> usize {
    key.len() + 80
}

/// What a grouped journal's points add to its estimate: the points, the
/// bytes of their ids and their worked days. Summed over every point when
/// a journal is kept, then moved by each point a patch touches (the point
/// before the change taken off, after it added), so a patch costs the
/// points it changes, not the journal's length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Shape {
    points: usize,
    id_bytes: usize,
    days: usize,
}

/// The bytes a point's id takes, roughly: in `by_point` and in `worked`.
fn id_bytes(point: &str) -> usize {
    2 * (point.len() + 48)
}

impl Shape {
    /// The whole journal's.
    fn of(g: &Grouped) -> Self {
        Self {
            points: g.by_point.len(),
            id_bytes: g.by_point.keys().map(|k| id_bytes(k)).sum(),
            days: g.worked.values().map(|d| d.len()).sum(),
        }
    }

    /// `point`'s alone.
    fn of_point(g: &Grouped, point: &str) -> Self {
        let worked = g.by_point.contains_key(point);
        Self {
            points: usize::from(worked),
            id_bytes: if worked { id_bytes(point) } else { 0 },
            days: g.worked.get(point).map_or(0, |d| d.len()),
        }
    }

    /// `self` with `before` (a point's share) replaced by `after`.
    fn moved(self, before: Self, after: Self) -> Self {
        Self {
            points: self.points - before.points + after.points,
            id_bytes: self.id_bytes - before.id_bytes + after.id_bytes,
            days: self.days - before.days + after.days,
        }
    }
}

impl Kept {
    /// A journal read whole, with the keys of its rows.
    pub(super) fn new(grouped: Grouped, keys: Keys) -> Self {
        let rows = keys.len();
        let key_bytes = keys.point_of.keys().map(|k| key_bytes(k)).sum();
        let shape = Shape::of(&grouped);
        let mut kept = Self {
            grouped: Arc::new(grouped),
            keys: Arc::new(keys),
            rows,
            key_bytes,
            shape,
            weight: 0,
        };
        kept.weight = kept.estimate();
        kept
    }

    /// The bytes it holds, roughly: its sessions and their keys, its
    /// points' ids and its per-day counts, and the progress computed from
    /// it (counted up front: it is computed after the journal is kept).
    fn estimate(&self) -> u64 {
        let Shape {
            points,
            id_bytes,
            days,
        } = self.shape;
        // A point's progress: the record, its id, its advice (about 160
        // bytes) and a week of days (the default 28 days hold at most 28).
        let progress = points
            * (std::mem::size_of::<crate::domain::progress::PointProgress>()
                + 48
                + 160
                + 7 * std::mem::size_of::<crate::domain::DayStats>());
        (id_bytes
            + self.rows * std::mem::size_of::<crate::domain::progress::SessionPoint>()
            + days * 32
            + self.key_bytes
            + progress) as u64
    }

    /// Whether nothing else holds it (no read is using it): only then is
    /// it patched.
    fn unique(&mut self) -> bool {
        Arc::get_mut(&mut self.grouped).is_some() && Arc::get_mut(&mut self.keys).is_some()
    }

    /// The grouped journal.
    pub(super) fn grouped(&self) -> &Arc<Grouped> {
        &self.grouped
    }

    /// Applies `changes`, the puts and removes of its user's `sessions`
    /// rows in commit order (`prefix`: the length of the user's key
    /// prefix), in place, when it is [`Kept::unique`]. The progress of
    /// every point they left alone stays. On an error the journal is left
    /// half done: drop it.
    fn patch(&mut self, prefix: usize, changes: &[&Change]) -> Result<(), Error> {
        let busy = || Error::Storage("a kept journal in use is not patched".into());
        let grouped = Arc::get_mut(&mut self.grouped).ok_or_else(busy)?;
        let keys = Arc::get_mut(&mut self.keys).ok_or_else(busy)?;
        let out_of_step = || Error::Storage("a kept journal's keys and sessions differ".into());
        for c in changes {
            let (key, value) = match c {
                Change::Put { key, value, .. } => (key, Some(value)),
                Change::Remove { key, .. } => (key, None),
                Change::Clear { .. } => {
                    return Err(Error::Storage("a cleared range is not patched".into()));
                }
            };
            let at = key
                .get(prefix..)
                .ok_or_else(|| Error::Storage("a session key shorter than its user".into()))?;
            // The row's earlier place, on whichever point it was.
            if let Some((point, i)) = keys.take(at) {
                self.rows -= 1;
                self.key_bytes -= key_bytes(at);
                let before = Shape::of_point(grouped, &point);
                grouped.remove_at(&point, i).ok_or_else(out_of_step)?;
                self.shape = self.shape.moved(before, Shape::of_point(grouped, &point));
            }
            if let Some(value) = value {
                let row = journal::row_of(value)?;
                let (point, session) = journal::decode_parts(&row)?;
                let i = keys.put(point, at);
                self.rows += 1;
                self.key_bytes += key_bytes(at);
                let before = Shape::of_point(grouped, point);
                if !grouped.insert_at(point, i, session) {
                    return Err(out_of_step());
                }
                self.shape = self.shape.moved(before, Shape::of_point(grouped, point));
            }
        }
        self.weight = self.estimate();
        Ok(())
    }
}

/// The grouped journals read lately, each tagged with the version of its
/// user's rows it was read at. Bounded by an estimate of their bytes.
pub(super) struct Journals {
    versions: Arc<UserVersions>,
    entries: quick_cache::sync::Cache<String, (Version, Kept), ByBytes>,
    hits: AtomicU64,
    misses: AtomicU64,
    patched: AtomicU64,
}

/// The bytes a cached journal holds, roughly: its sessions, its points'
/// ids and its per-day counts, and the progress computed from it (counted
/// up front: it is computed after the journal is kept).
#[derive(Clone, Copy)]
struct ByBytes;

impl quick_cache::Weighter<String, (Version, Kept)> for ByBytes {
    fn weight(&self, user: &String, value: &(Version, Kept)) -> u64 {
        (128 + user.len()) as u64 + value.1.weight
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
            patched: AtomicU64::new(0),
        }
    }

    /// The versions the kept journals are checked against.
    pub(super) fn versions(&self) -> &Arc<UserVersions> {
        &self.versions
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
            .map(|(_, journal)| journal.grouped);
        let counter = if kept.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        kept
    }

    /// (hits, misses, journals patched by a commit) so far, and the bytes
    /// kept now.
    pub(super) fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.patched.load(Ordering::Relaxed),
            self.entries.weight(),
        )
    }

    /// The kept journal of `user` whatever version it was read at: what an
    /// unchanged point's progress can be taken over from.
    pub(super) fn earlier(&self, user: &str) -> Option<Arc<Grouped>> {
        self.entries.peek(user).map(|(_, journal)| journal.grouped)
    }

    /// Keeps `journal`, read at version `at`, unless what is kept is
    /// current and `at` is not (a commit patched it meanwhile).
    pub(super) fn put(&self, user: &str, at: Version, journal: Kept) {
        let now = self.versions.of(user);
        if at != now && self.entries.peek(user).is_some_and(|(have, _)| have == now) {
            return;
        }
        self.entries.insert(user.to_owned(), (at, journal));
    }

    /// After a commit that made `changes`: raises the versions of the
    /// users whose rows they changed, and brings up to date the kept
    /// journal of each user whose sessions they changed, where it was
    /// current (see the module docs).
    pub(super) fn committed(&self, changes: &[&Change]) {
        let sessions = table_id(SESSIONS);
        let mut by_user: BTreeMap<&[u8], Vec<&Change>> = BTreeMap::new();
        let mut cleared = false;
        for c in changes {
            match c {
                Change::Put { table, key, .. } | Change::Remove { table, key }
                    if *table == sessions =>
                {
                    by_user.entry(user_of(key)).or_default().push(c);
                }
                Change::Clear { table, .. } if *table == sessions => cleared = true,
                _ => {}
            }
        }
        let mut patched = Vec::new();
        if !cleared {
            for (user, rows) in &by_user {
                let Ok(user) = std::str::from_utf8(user) else {
                    continue;
                };
                // A journal kept at an older version stays for the next
                // read to replace.
                if self
                    .entries
                    .peek(user)
                    .is_none_or(|(at, _)| at != self.versions.of(user))
                {
                    continue;
                }
                // Out of the cache while it is patched (so nothing else
                // holds it): a read meanwhile reads the rows, and the
                // patched one replaces its result.
                let Some((_, (at, mut kept))) = self.entries.remove(user) else {
                    continue;
                };
                if !kept.unique() {
                    // A read is using it: back as it was (stale once this
                    // commit raises the version), for a read to replace.
                    self.entries.insert(user.to_owned(), (at, kept));
                    continue;
                }
                match kept.patch(user.len() + 1, rows) {
                    Ok(()) => patched.push((user, at, kept)),
                    Err(e) => tracing::debug!(error = %e, "kept journal not patched"),
                }
            }
        }
        for c in changes {
            self.versions.changed(c);
        }
        for (user, at, next) in patched {
            // This commit's raises of the user's counter, and nothing else.
            let mine = slot(user.as_bytes());
            let raised = changes
                .iter()
                .filter(|c| match c {
                    Change::Put { key, .. } | Change::Remove { key, .. } => {
                        slot(user_of(key)) == mine
                    }
                    Change::Clear { .. } => false,
                })
                .count() as u64;
            let now = self.versions.of(user);
            if now.0 == at.0 && now.1 == at.1 + raised {
                self.entries.insert(user.to_owned(), (now, next));
                self.patched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::progress::{JournalEntry, by_point};

    fn grouped(point: &str) -> Arc<Grouped> {
        Arc::new(by_point([JournalEntry::bare(
            point,
            jiff::civil::date(2026, 12, 4),
        )]))
    }

    fn journal(point: &str) -> Kept {
        let mut keys = Keys::default();
        keys.put(point, b"k");
        Kept::new((*grouped(point)).clone(), keys)
    }

    #[test]
    fn a_kept_journal_is_used_until_its_users_rows_change() {
        let versions = Arc::new(UserVersions::default());
        let cache = Journals::new(versions.clone(), 1 << 20);
        let at = cache.version("ana");
        cache.put("ana", at, journal("a"));
        assert_eq!(cache.get("ana"), Some(grouped("a")));
        assert_eq!(cache.get("bo"), None);
        let (hits, misses, _, bytes) = cache.counts();
        assert_eq!((hits, misses), (1, 1));
        assert!(bytes > 0);

        // A change to another user's rows leaves it (unless they share a
        // counter, which these two do not).
        assert_ne!(slot(b"ana"), slot(b"bo"));
        versions.changed_key(b"bo\0sessions-key");
        assert_eq!(cache.get("ana"), Some(grouped("a")));

        // Any row of the user, in any table: the key up to its 0 byte.
        versions.changed_key(b"ana\0\x01\x02");
        assert_eq!(cache.get("ana"), None);
        let at = cache.version("ana");
        cache.put("ana", at, journal("b"));
        assert_eq!(cache.get("ana"), Some(grouped("b")));
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

    /// A patch moves the estimate exactly where counting the patched
    /// journal again puts it: a new point, another day of a point, a row
    /// moved to another point and a point's last row removed.
    #[test]
    fn a_patch_keeps_the_estimate_of_the_whole_journal() {
        let mut keys = Keys::default();
        keys.put("a", b"2");
        let mut kept = Kept::new(read(&[("2", "a", 1)]), keys);
        let remove = |at: &str| Change::Remove {
            table: table_id(SESSIONS),
            key: format!("ana\0{at}").into_bytes(),
        };
        let steps = [
            put_row("ana", "3", "bb", 2),
            put_row("ana", "4", "a", 3),
            put_row("ana", "5", "a", 3),
            put_row("ana", "3", "a", 4),
            remove("2"),
            remove("4"),
            remove("5"),
            remove("3"),
        ];
        for step in &steps {
            kept.patch(4, &[step]).unwrap();
            let counted = Kept::new((*kept.grouped).clone(), (*kept.keys).clone());
            assert_eq!(kept.shape, counted.shape, "after {step:?}");
            assert_eq!(kept.weight, counted.weight, "after {step:?}");
        }
        assert_eq!(kept.shape, Shape::default());
    }

    /// A `sessions` put of `user`'s row `at` (past the user's prefix): a
    /// session on `point`, on `day` of March 2026.
    fn put_row(user: &str, at: &str, point: &str, day: u8) -> Change {
        let value = format!(
            r#"{{"draft":{{"trigger_point":"{point}","duration_seconds":60,"tenderness_before":null,"tenderness_after":null,"twitch_response":false,"perform_time":"2026-03-{day:02}T10:00:00Z"}},"local_date":"2026-03-{day:02}"}}"#
        );
        Change::Put {
            table: table_id(SESSIONS),
            key: [user.as_bytes(), b"\0", at.as_bytes()].concat(),
            value: value.into_bytes(),
        }
    }

    /// What a journal of `rows` (row, point, day) reads as.
    fn read(rows: &[(&str, &str, u8)]) -> Grouped {
        let mut sorted = rows.to_vec();
        sorted.sort();
        by_point(sorted.iter().map(|(_, point, day)| {
            let date = jiff::civil::date(2026, 3, *day as i8);
            let mut e = JournalEntry::bare(point, date);
            e.draft.perform_time = date.at(10, 0, 0, 0).in_tz("UTC").unwrap().timestamp();
            e
        }))
    }

    #[test]
    fn a_commit_patches_a_current_journal_and_never_a_stale_one() {
        let versions = Arc::new(UserVersions::default());
        let cache = Journals::new(versions.clone(), 1 << 20);
        let at = cache.version("ana");
        let mut keys = Keys::default();
        keys.put("a", b"2");
        cache.put("ana", at, Kept::new(read(&[("2", "a", 1)]), keys));

        // Puts before and after the kept row, a move to another point, in
        // one commit with another user's row: patched, and current.
        cache.committed(&[
            &put_row("ana", "3", "a", 2),
            &put_row("bo", "1", "a", 1),
            &put_row("ana", "1", "b", 1),
            &put_row("ana", "2", "b", 3),
        ]);
        let expected = read(&[("1", "b", 1), ("2", "b", 3), ("3", "a", 2)]);
        assert_eq!(cache.get("ana").as_deref(), Some(&expected));
        assert_eq!(cache.counts().2, 1);

        // A remove, and a put it already holds (a reader may have kept the
        // commit's rows under the version before): the same journal.
        let remove = Change::Remove {
            table: table_id(SESSIONS),
            key: b"ana\x002".to_vec(),
        };
        cache.committed(&[&remove, &put_row("ana", "3", "a", 2)]);
        let expected = read(&[("1", "b", 1), ("3", "a", 2)]);
        assert_eq!(cache.get("ana").as_deref(), Some(&expected));

        // A change that was not patched in (another path raised the
        // version): the kept journal is stale, and the next commit must
        // not bring it forward as if it were current.
        versions.changed_key(b"ana\0elsewhere");
        cache.committed(&[&put_row("ana", "4", "a", 4)]);
        assert_eq!(cache.get("ana"), None);
        assert_eq!(cache.counts().2, 2);

        // A cleared range of sessions is left to the next read.
        let at = cache.version("ana");
        cache.put("ana", at, Kept::new(read(&[]), Keys::default()));
        cache.committed(&[&Change::Clear {
            table: table_id(SESSIONS),
            lo: b"ana\0".to_vec(),
            hi: b"ana\x01".to_vec(),
        }]);
        assert_eq!(cache.get("ana"), None);

        // A read tagged before a patch does not replace the patched one.
        let at = cache.version("ana");
        cache.put("ana", at, Kept::new(read(&[]), Keys::default()));
        let before = cache.version("ana");
        cache.committed(&[&put_row("ana", "5", "a", 5)]);
        cache.put("ana", before, Kept::new(read(&[]), Keys::default()));
        assert_eq!(cache.get("ana").as_deref(), Some(&read(&[("5", "a", 5)])));
    }
}
