//! The `journal` table: every stored session as progress and plans read it
//! ([`JournalEntry`]), in a compact binary row under the same key as its
//! `sessions` row.
//!
//! ListProgress, the plan and GetOverview read a user's whole history on
//! every call. Read from `sessions`, that is a JSON decode of every record
//! and many more pages than the fields need (a profile put the scan at a
//! quarter of the shard's CPU with long journals). A journal row holds only
//! what [`JournalEntry`] holds, in about 45 bytes.
//!
//! **Derived, not replicated.** The table is a function of `sessions`, kept
//! in the same transaction as every change to it:
//! - the write logic ([`super::tables`]) writes both rows (`insert_session`,
//!   `remove_session_rows`, `delete_user`);
//! - a replica applying a Raft entry mirrors each `sessions` change here
//!   ([`put`], and the removes beside it in `replica.rs`), so entries carry
//!   no journal rows, and replicas of different builds exchange the same
//!   entries;
//! - a snapshot carries `sessions` only, and installing one rebuilds this
//!   table ([`rebuild`]), as does opening a database of schema version 1.

use jiff::Timestamp;
use jiff::civil::Date;
use redb::{ReadableTable, WriteTransaction};

use super::keys::{JOURNAL, SESSIONS};
use crate::domain::progress::{JournalDraft, JournalEntry, SessionPoint};
use crate::error::Error;

/// The row layout's version, the first byte of every row.
const FORMAT: u8 = 1;
/// Flag bits: a tenderness reading before, after; a twitch response.
const BEFORE: u8 = 1;
const AFTER: u8 = 2;
const TWITCH: u8 = 4;
/// The bytes before the trigger point id.
const HEAD: usize = 24;

/// The row of `e`: format, flags, tenderness before and after, duration
/// (u32), perform time (i64 seconds, i32 nanoseconds), local date (i16
/// year, month, day), then the trigger point id; little-endian.
pub(super) fn encode(e: &JournalEntry) -> Vec<u8> {
    let d = &e.draft;
    let mut flags = 0;
    if d.tenderness_before.is_some() {
        flags |= BEFORE;
    }
    if d.tenderness_after.is_some() {
        flags |= AFTER;
    }
    if d.twitch_response {
        flags |= TWITCH;
    }
    let mut out = Vec::with_capacity(HEAD + d.trigger_point.len());
    out.extend_from_slice(&[
        FORMAT,
        flags,
        d.tenderness_before.unwrap_or(0),
        d.tenderness_after.unwrap_or(0),
    ]);
    out.extend_from_slice(&d.duration_seconds.to_le_bytes());
    out.extend_from_slice(&d.perform_time.as_second().to_le_bytes());
    out.extend_from_slice(&d.perform_time.subsec_nanosecond().to_le_bytes());
    out.extend_from_slice(&e.local_date.year().to_le_bytes());
    out.extend_from_slice(&[e.local_date.month() as u8, e.local_date.day() as u8]);
    out.extend_from_slice(d.trigger_point.as_bytes());
    out
}

/// Reads a row written by [`encode`].
pub(super) fn decode(v: &[u8]) -> Result<JournalEntry, Error> {
    let (point, s) = decode_parts(v)?;
    Ok(JournalEntry {
        draft: JournalDraft {
            trigger_point: point.to_owned(),
            duration_seconds: s.duration_seconds,
            tenderness_before: s.tenderness_before,
            tenderness_after: s.tenderness_after,
            twitch_response: s.twitch_response,
            perform_time: s.perform_time,
        },
        local_date: s.local_date,
    })
}

/// Reads a row written by [`encode`] as its trigger point id (borrowed
/// from the row) and the session as progress reads it.
pub(super) fn decode_parts(v: &[u8]) -> Result<(&str, SessionPoint), Error> {
    let bad = |what: &str| Error::Storage(format!("a journal row is malformed: {what}"));
    if v.len() < HEAD {
        return Err(bad("too short"));
    }
    if v[0] != FORMAT {
        return Err(bad("unknown format"));
    }
    let flags = v[1];
    let at = |i: usize| -> [u8; 4] { [v[i], v[i + 1], v[i + 2], v[i + 3]] };
    let mut secs = [0u8; 8];
    secs.copy_from_slice(&v[8..16]);
    let perform_time = Timestamp::new(i64::from_le_bytes(secs), i32::from_le_bytes(at(16)))
        .map_err(|_| bad("perform time out of range"))?;
    let local_date = Date::new(i16::from_le_bytes([v[20], v[21]]), v[22] as i8, v[23] as i8)
        .map_err(|_| bad("local date out of range"))?;
    let point = std::str::from_utf8(&v[HEAD..]).map_err(|_| bad("trigger point is not UTF-8"))?;
    Ok((
        point,
        SessionPoint {
            local_date,
            perform_time,
            tenderness_before: (flags & BEFORE != 0).then_some(v[2]),
            tenderness_after: (flags & AFTER != 0).then_some(v[3]),
            duration_seconds: u32::from_le_bytes(at(4)),
            twitch_response: flags & TWITCH != 0,
        },
    ))
}

/// The journal row of a stored `sessions` value (a JSON record).
pub(super) fn row_of(session: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(encode(&serde_json::from_slice::<JournalEntry>(session)?))
}

/// Sets the journal row of the `sessions` row `key` to what its value
/// `session` (a JSON record) derives: a replica applying a put, with
/// `journal` open for its whole batch.
pub(super) fn put(
    journal: &mut redb::Table<'_, &[u8], &[u8]>,
    key: &[u8],
    session: &[u8],
) -> Result<(), Error> {
    journal.insert(key, row_of(session)?.as_slice())?;
    Ok(())
}

/// Replaces the whole table with the rows of every stored session;
/// returns how many it wrote.
pub(super) fn rebuild(txn: &WriteTransaction) -> Result<u64, Error> {
    let sessions = txn.open_table(SESSIONS)?;
    let mut journal = txn.open_table(JOURNAL)?;
    journal.retain(|_, _| false)?;
    let mut n = 0;
    for row in sessions.iter()? {
        let (k, v) = row?;
        journal.insert(k.value(), row_of(v.value())?.as_slice())?;
        n += 1;
    }
    Ok(n)
}

/// Whether the table is exactly what `sessions` derives, for tests:
/// the first key that differs, if one does.
#[cfg(test)]
pub(super) fn first_difference(db: &redb::Database) -> Result<Option<Vec<u8>>, Error> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let sessions = txn.open_table(SESSIONS)?;
    let journal = txn.open_table(JOURNAL)?;
    let mut a = sessions.iter()?;
    let mut b = journal.iter()?;
    loop {
        match (a.next().transpose()?, b.next().transpose()?) {
            (None, None) => return Ok(None),
            (Some((k, v)), Some((jk, jv))) => {
                if k.value() != jk.value() || row_of(v.value())? != jv.value() {
                    return Ok(Some(k.value().to_vec()));
                }
            }
            (Some((k, _)), None) | (None, Some((k, _))) => return Ok(Some(k.value().to_vec())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(point: &str, before: Option<u8>, after: Option<u8>, twitch: bool) -> JournalEntry {
        JournalEntry {
            draft: JournalDraft {
                trigger_point: point.into(),
                duration_seconds: 240,
                tenderness_before: before,
                tenderness_after: after,
                twitch_response: twitch,
                perform_time: "2026-03-10T10:00:00.123456789Z".parse().unwrap(),
            },
            local_date: "2026-03-10".parse().unwrap(),
        }
    }

    #[test]
    fn a_row_reads_back_as_written() {
        for e in [
            entry("ql_superficial", Some(6), Some(3), true),
            entry("psoas", None, Some(0), false),
            entry("upper_trapezius_1", Some(10), None, false),
            entry("", None, None, true),
            entry("müscle", Some(255), Some(255), false),
        ] {
            let row = encode(&e);
            assert_eq!(row.len(), HEAD + e.draft.trigger_point.len());
            assert_eq!(decode(&row).unwrap(), e);
        }
    }

    #[test]
    fn extremes_of_time_and_date_read_back() {
        let mut e = entry("p", Some(1), None, false);
        e.draft.perform_time = Timestamp::MIN;
        e.local_date = Date::MIN;
        assert_eq!(decode(&encode(&e)).unwrap(), e);
        e.draft.perform_time = Timestamp::MAX;
        e.local_date = Date::MAX;
        assert_eq!(decode(&encode(&e)).unwrap(), e);
    }

    #[test]
    fn a_malformed_row_is_a_storage_error() {
        let row = encode(&entry("p", None, None, false));
        for bad in [
            &row[..HEAD - 1],
            &[&[FORMAT + 1][..], &row[1..]].concat()[..],
            &[&row[..HEAD], &[0xff, 0xfe][..]].concat()[..],
        ] {
            let e = decode(bad).unwrap_err();
            assert!(e.to_string().contains("journal row"), "{e}");
        }
        let mut month = row.clone();
        month[22] = 13;
        assert!(decode(&month).is_err());
    }
}
