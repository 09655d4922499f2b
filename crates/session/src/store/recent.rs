//! The last entries appended to a replica's Raft log, kept in memory so
//! that reading them back (the apply of each batch, right after its append;
//! a leader sending them to followers) costs a clone, not a read of the log
//! file and a decoding of its JSON.
//!
//! The kept entries are always the log's tail: an append adds at the end
//! (after dropping the kept ones when it does not follow them), a
//! truncation drops from the end and a purge from the front. A read is
//! answered here only when every entry it asks for is kept; otherwise from
//! the file, as before. Bounded in entries and in bytes.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

/// At most this many entries are kept.
const MAX_ENTRIES: usize = 64;

/// At most about this many bytes of rows are kept (a batch's rows are
/// bounded by `KNOTWORK_SESSION_COMMIT_BATCH_MIB`).
const MAX_BYTES: usize = 8 << 20;

/// The log's tail: entries `E` by index, with their size in bytes.
#[derive(Debug)]
pub(super) struct Recent<E> {
    entries: VecDeque<(u64, usize, E)>,
    bytes: usize,
}

impl<E> Default for Recent<E> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<E: Clone> Recent<E> {
    /// Keeps entries just appended, as `(index, bytes, entry)` in order.
    pub(super) fn appended(&mut self, new: impl IntoIterator<Item = (u64, usize, E)>) {
        for (index, bytes, entry) in new {
            if self
                .entries
                .back()
                .is_some_and(|(last, _, _)| *last + 1 != index)
            {
                self.clear();
            }
            self.bytes += bytes;
            self.entries.push_back((index, bytes, entry));
        }
        while self.entries.len() > MAX_ENTRIES || (self.bytes > MAX_BYTES && self.entries.len() > 1)
        {
            self.pop_front();
        }
    }

    /// Drops the entries from `index` on (before the log drops them).
    pub(super) fn truncated(&mut self, index: u64) {
        while self.entries.back().is_some_and(|(i, _, _)| *i >= index) {
            if let Some((_, bytes, _)) = self.entries.pop_back() {
                self.bytes -= bytes;
            }
        }
    }

    /// Drops the entries up to `index` (before the log drops them).
    pub(super) fn purged(&mut self, index: u64) {
        while self.entries.front().is_some_and(|(i, _, _)| *i <= index) {
            self.pop_front();
        }
    }

    /// The entries in `range` when every one of them is kept; `None` sends
    /// the read to the file (an entry not kept, or a range without an end:
    /// the file may hold an entry committed a moment before it is kept).
    pub(super) fn get(&self, range: &impl RangeBounds<u64>) -> Option<Vec<E>> {
        if range_is_empty(range) {
            return Some(Vec::new());
        }
        let (first, _, _) = self.entries.front()?;
        let (last, _, _) = self.entries.back()?;
        let lo = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.checked_add(1)?,
            Bound::Unbounded => return None,
        };
        let hi = match range.end_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.checked_sub(1)?,
            Bound::Unbounded => return None,
        };
        if lo < *first || hi > *last {
            return None;
        }
        let from = usize::try_from(lo - first).ok()?;
        let to = usize::try_from(hi - first).ok()?;
        Some(
            self.entries
                .range(from..=to)
                .map(|(_, _, e)| e.clone())
                .collect(),
        )
    }

    fn pop_front(&mut self) {
        if let Some((_, bytes, _)) = self.entries.pop_front() {
            self.bytes -= bytes;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// Whether `range` holds no index at all (such as `5..5`).
fn range_is_empty(range: &impl RangeBounds<u64>) -> bool {
    match (range.start_bound(), range.end_bound()) {
        (Bound::Included(a), Bound::Excluded(b)) => a >= b,
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Excluded(a), Bound::Included(b)) | (Bound::Excluded(a), Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(r: &Recent<u64>) -> Vec<u64> {
        r.entries.iter().map(|(i, _, _)| *i).collect()
    }

    /// Reads are answered only when every entry asked for is kept; appends,
    /// truncations and purges keep the tail exact, within the bounds.
    #[test]
    fn the_tail_is_kept_exactly() {
        let mut r = Recent::default();
        assert_eq!(r.get(&(0..3)), None, "nothing kept: the file answers");
        r.appended((5..10).map(|i| (i, 10, i * 100)));
        assert_eq!(r.get(&(5..10)), Some(vec![500, 600, 700, 800, 900]));
        assert_eq!(r.get(&(7..=8)), Some(vec![700, 800]));
        assert_eq!(r.get(&(8..)), None, "no end: the file answers");
        assert_eq!(r.get(&(8..20)), None, "past the tail: the file answers");
        assert_eq!(r.get(&(7..7)), Some(vec![]));
        assert_eq!(r.get(&(4..7)), None, "4 is only in the file");
        assert_eq!(r.get(&(..7)), None);

        r.truncated(8);
        assert_eq!(kept(&r), [5, 6, 7]);
        assert_eq!(r.get(&(6..8)), Some(vec![600, 700]));
        assert_eq!(r.get(&(6..9)), None);
        r.appended([(8, 10, 8000)]);
        assert_eq!(r.get(&(7..9)), Some(vec![700, 8000]), "the new entry 8");

        r.purged(6);
        assert_eq!(kept(&r), [7, 8]);
        assert_eq!(r.get(&(6..9)), None);

        // An append that does not follow the tail drops the rest.
        r.appended([(20, 10, 2000)]);
        assert_eq!(kept(&r), [20]);
        assert_eq!(r.get(&(8..9)), None);

        // Bounded in entries and in bytes.
        r.appended((21..21 + MAX_ENTRIES as u64).map(|i| (i, 1, i)));
        assert_eq!(r.entries.len(), MAX_ENTRIES);
        assert_eq!(r.entries.front().map(|e| e.0), Some(21));
        r.appended([(85, MAX_BYTES, 0), (86, 1, 0)]);
        assert_eq!(kept(&r), [86]);
        assert_eq!(r.bytes, 1);
        r.appended([(87, MAX_BYTES * 2, 0)]);
        r.appended([(88, MAX_BYTES * 2, 0)]);
        assert_eq!(kept(&r), [88], "a single large entry is still kept");
        r.truncated(0);
        assert_eq!((r.entries.len(), r.bytes), (0, 0));
    }
}
