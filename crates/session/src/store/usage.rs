//! The per-user quota, on the writer's side.
//!
//! The `usage` table (key: user; value: sessions stored and bytes stored,
//! two big-endian u64) is a counter the writer keeps up to date as it
//! inserts and removes journal rows, so checking the quota is one point
//! read, never a scan. "Bytes" are the stored sizes of the user's session
//! and guided-session records (their JSON), the rows that grow without
//! bound; profile, screening, check-ins (one per region per day) and holds
//! are bounded by other rules.
//!
//! A database written before the table existed gets it filled by one scan
//! when the store opens ([`backfill`]).

use redb::{ReadableTable, WriteTransaction};

use super::keys::{GUIDED, SESSIONS, USAGE};
use super::tables::{Rows, Tables, WTable, get};
use crate::domain::quota::Usage;
use crate::error::Error;

fn encode(u: Usage) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&u.sessions.to_be_bytes());
    out[8..].copy_from_slice(&u.bytes.to_be_bytes());
    out
}

fn decode(v: &[u8]) -> Usage {
    let n = |b: Option<&[u8]>| {
        b.and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes)
    };
    Usage {
        sessions: n(v.get(..8)),
        bytes: n(v.get(8..16)),
    }
}

impl<T: Rows> Tables<T> {
    /// What `user` stores now (zero for a user without rows).
    pub(super) fn usage(&self, user: &str) -> Result<Usage, Error> {
        Ok(get(&self.usage, user.as_bytes())?
            .map(|v| decode(&v))
            .unwrap_or_default())
    }
}

impl Tables<WTable<'_>> {
    /// Adds (or, negative, removes) sessions and bytes to `user`'s counters.
    pub(super) fn count(&mut self, user: &str, sessions: i64, bytes: i64) -> Result<(), Error> {
        let u = self.usage(user)?.add(sessions, bytes);
        if u == Usage::default() {
            self.usage.remove(user.as_bytes())?;
        } else {
            self.usage.insert(user.as_bytes(), encode(u).as_slice())?;
        }
        Ok(())
    }

    /// Refuses a write that would take `user` past the quota (adding
    /// `sessions` records of `bytes` bytes).
    pub(super) fn within_quota(&self, user: &str, sessions: u64, bytes: u64) -> Result<(), Error> {
        self.quota
            .admit(self.usage(user)?, sessions, bytes)
            .map_err(Error::QuotaExceeded)
    }
}

/// Fills the usage table from the journal when the database predates it.
/// Returns the number of users counted.
pub(super) fn backfill(txn: &WriteTransaction) -> Result<usize, Error> {
    let mut totals: std::collections::BTreeMap<String, Usage> = Default::default();
    for (def, is_session) in [(SESSIONS, true), (GUIDED, false)] {
        let table = txn.open_table(def)?;
        for row in table.iter()? {
            let (k, v) = row?;
            let k = k.value();
            let user = k.iter().position(|&b| b == 0).map_or(k, |i| &k[..i]);
            let e = totals
                .entry(String::from_utf8_lossy(user).into_owned())
                .or_default();
            *e = e.add(i64::from(is_session), v.value().len() as i64);
        }
    }
    let mut usage = txn.open_table(USAGE)?;
    for (user, u) in &totals {
        usage.insert(user.as_bytes(), encode(*u).as_slice())?;
    }
    Ok(totals.len())
}

/// Whether the database already has the usage table.
pub(super) fn exists(db: &redb::Database) -> Result<bool, Error> {
    use redb::{ReadableDatabase, TableHandle};
    let txn = db.begin_read()?;
    Ok(txn.list_tables()?.any(|t| t.name() == USAGE.name()))
}
