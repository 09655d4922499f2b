//! The tables of one transaction and the write logic: each write reads
//! what the rules need, applies them and stores the result, all inside the
//! writer's transaction, so a batch is applied in order and exactly.
//!
//! A write answers [`Applied`]: the outer error means storage failed (the
//! whole batch is lost), the inner one that this write was refused and
//! wrote nothing. The reads live in `reads.rs`, holds and corrections in
//! `holds.rs`, the quota counters in `usage.rs`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::journal;
use super::keys::{
    CHECK_INS, Def, GUIDED, HOLDS, JOURNAL, POINT_DAY, PROFILES, REQUEST_IDS, SCREENINGS,
    SESSION_IDS, SESSIONS, USAGE, USERS, check_in_key, key, point_day_key, point_day_value,
    request_id_bytes, request_id_value, session_event, session_key, table_id, time_bytes, user_hi,
    user_lo,
};
use super::{LogItem, Logged, Replay};
use crate::domain::checkin::{self, CheckIn, CheckInDraft};
use crate::domain::idempotency::{self, Fingerprint};
use crate::domain::progress::JournalEntry;
use crate::domain::rules;
use crate::domain::{
    Answer, CatalogView, GuidedRequest, GuidedSession, Origin, Profile, ProfilePatch, Screening,
    SessionRecord, UserData, names, time,
};
use crate::error::Error;

/// A table of a read transaction, opened the first time it is read. A
/// bounded read uses one to three of the eleven tables, and opening a table
/// costs several times what a key lookup does (about 5 us to open them all
/// against under 1 us for a profile's lookup, measured in release).
pub(super) struct RTable<'t> {
    txn: &'t ReadTransaction,
    def: Def,
    table: std::cell::OnceCell<ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl<'t> RTable<'t> {
    fn new(txn: &'t ReadTransaction, def: Def) -> Self {
        Self {
            txn,
            def,
            table: std::cell::OnceCell::new(),
        }
    }
}

/// A table the write logic reads from: read-only in readers, writable in
/// the writer.
pub(super) trait Rows {
    /// The redb table underneath.
    type Inner: ReadableTable<&'static [u8], &'static [u8]>;
    /// The redb table underneath, for reads.
    fn rows(&self) -> Result<&Self::Inner, Error>;
}

impl Rows for RTable<'_> {
    type Inner = ReadOnlyTable<&'static [u8], &'static [u8]>;
    fn rows(&self) -> Result<&Self::Inner, Error> {
        if let Some(t) = self.table.get() {
            return Ok(t);
        }
        let t = self.txn.open_table(self.def)?;
        Ok(self.table.get_or_init(|| t))
    }
}

/// One row change of a write batch, as replicated: applying a batch's
/// changes in order to a replica's tables gives exactly the rows the
/// leader's write logic produced (`replica.rs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Change {
    /// Sets `key` to `value` in table `table` (an index of `DATA_TABLES`).
    Put {
        /// The table.
        table: u8,
        /// The key.
        #[serde(with = "super::keys::b64")]
        key: Vec<u8>,
        /// The value.
        #[serde(with = "super::keys::b64")]
        value: Vec<u8>,
    },
    /// Removes `key`.
    Remove {
        /// The table.
        table: u8,
        /// The key.
        #[serde(with = "super::keys::b64")]
        key: Vec<u8>,
    },
    /// Removes every key in `lo..hi`.
    Clear {
        /// The table.
        table: u8,
        /// The first key.
        #[serde(with = "super::keys::b64")]
        lo: Vec<u8>,
        /// The end (exclusive).
        #[serde(with = "super::keys::b64")]
        hi: Vec<u8>,
    },
}

impl Change {
    /// The bytes of its keys and values: what a batch's size counts (the
    /// writer's cut, the log's tail kept in memory).
    pub(super) fn bytes(&self) -> usize {
        match self {
            Change::Put { key, value, .. } => key.len() + value.len(),
            Change::Remove { key, .. } => key.len(),
            Change::Clear { lo, hi, .. } => lo.len() + hi.len(),
        }
    }
}

/// A table opened for writing. When recording (a replicated store), every
/// change is also kept as a [`Change`] so the batch can be proposed.
pub(super) struct WTable<'t> {
    table: Table<'t, &'static [u8], &'static [u8]>,
    id: u8,
    changes: Option<Vec<Change>>,
    /// The bytes of the keys and values recorded in `changes`.
    recorded: usize,
}

impl<'t> Rows for WTable<'t> {
    type Inner = Table<'t, &'static [u8], &'static [u8]>;
    fn rows(&self) -> Result<&Self::Inner, Error> {
        Ok(&self.table)
    }
}

impl<'t> WTable<'t> {
    fn open(txn: &'t WriteTransaction, def: Def, record: bool) -> Result<Self, Error> {
        Ok(Self {
            table: txn.open_table(def)?,
            id: table_id(def),
            changes: record.then(Vec::new),
            recorded: 0,
        })
    }

    /// Keeps `change` (made by `make`) when recording, counting its bytes.
    fn record(&mut self, make: impl FnOnce(u8) -> Change) {
        if let Some(c) = &mut self.changes {
            let change = make(self.id);
            self.recorded += change.bytes();
            c.push(change);
        }
    }

    /// Sets `k` to `v`.
    pub(super) fn insert(&mut self, k: &[u8], v: &[u8]) -> Result<(), Error> {
        self.table.insert(k, v)?;
        self.record(|table| Change::Put {
            table,
            key: k.to_vec(),
            value: v.to_vec(),
        });
        Ok(())
    }

    /// Removes `k`; returns the size of the value it held.
    pub(super) fn remove(&mut self, k: &[u8]) -> Result<Option<usize>, Error> {
        let removed = self.table.remove(k)?.map(|v| v.value().len());
        self.record(|table| Change::Remove {
            table,
            key: k.to_vec(),
        });
        Ok(removed)
    }

    /// Removes every key in `lo..hi`.
    pub(super) fn clear(&mut self, lo: &[u8], hi: &[u8]) -> Result<(), Error> {
        self.table.retain_in::<&[u8], _>(lo..hi, |_, _| false)?;
        self.record(|table| Change::Clear {
            table,
            lo: lo.to_vec(),
            hi: hi.to_vec(),
        });
        Ok(())
    }
}

/// Outer error: storage failed and the whole batch is lost. Inner error:
/// this write was refused and wrote nothing.
pub(super) type Applied<R> = Result<Result<R, Error>, Error>;

/// The value at `k`, copied out.
pub(super) fn get<T: Rows>(t: &T, k: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    Ok(t.rows()?.get(k)?.map(|v| v.value().to_vec()))
}

/// Visits `lo..hi` in key order (or reversed); `f` returns false to stop.
pub(super) fn scan<T: Rows>(
    t: &T,
    lo: &[u8],
    hi: &[u8],
    rev: bool,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, Error>,
) -> Result<(), Error> {
    let range = t.rows()?.range::<&[u8]>(lo..hi)?;
    if rev {
        for item in range.rev() {
            let (k, v) = item?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
    } else {
        for item in range {
            let (k, v) = item?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
    }
    Ok(())
}

/// Decodes a stored JSON record.
pub(super) fn json<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, Error> {
    Ok(serde_json::from_slice(v)?)
}

/// The tables opened in one transaction: writable in the writer, read-only
/// in readers.
pub(super) struct Tables<T> {
    pub(super) users: T,
    pub(super) profiles: T,
    pub(super) screenings: T,
    pub(super) sessions: T,
    pub(super) session_ids: T,
    pub(super) guided: T,
    pub(super) point_day: T,
    pub(super) request_ids: T,
    pub(super) check_ins: T,
    pub(super) holds: T,
    pub(super) usage: T,
    /// Derived from `sessions` (`journal.rs`): written beside it, never
    /// recorded as a change.
    pub(super) journal: T,
    /// The quota user writes are checked against (unlimited for readers).
    pub(super) quota: crate::domain::quota::Quota,
}

impl<'t> Tables<WTable<'t>> {
    /// Opens every table for writing; `record` keeps the changes (see
    /// [`Tables::take_changes`]).
    pub(super) fn open_write(txn: &'t WriteTransaction, record: bool) -> Result<Self, Error> {
        let open = |def: Def| WTable::open(txn, def, record);
        Ok(Self {
            users: open(USERS)?,
            profiles: open(PROFILES)?,
            screenings: open(SCREENINGS)?,
            sessions: open(SESSIONS)?,
            session_ids: open(SESSION_IDS)?,
            guided: open(GUIDED)?,
            point_day: open(POINT_DAY)?,
            request_ids: open(REQUEST_IDS)?,
            check_ins: open(CHECK_INS)?,
            holds: open(HOLDS)?,
            usage: open(USAGE)?,
            journal: WTable::open(txn, JOURNAL, false)?,
            quota: crate::domain::quota::Quota::UNLIMITED,
        })
    }

    /// The tables whose changes are recorded (every one but the journal,
    /// which follows `sessions`).
    fn recorded(&mut self) -> [&mut WTable<'t>; 11] {
        [
            &mut self.users,
            &mut self.profiles,
            &mut self.screenings,
            &mut self.sessions,
            &mut self.session_ids,
            &mut self.guided,
            &mut self.point_day,
            &mut self.request_ids,
            &mut self.check_ins,
            &mut self.holds,
            &mut self.usage,
        ]
    }

    /// The recorded changes, table by table (tables are independent, so
    /// the order between them does not matter; within one it is kept).
    pub(super) fn take_changes(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        for t in self.recorded() {
            out.extend(t.changes.take().unwrap_or_default());
        }
        out
    }

    /// The bytes of the keys and values recorded so far.
    pub(super) fn recorded_bytes(&mut self) -> usize {
        self.recorded().iter().map(|t| t.recorded).sum()
    }
}

impl<'t> Tables<RTable<'t>> {
    /// The tables of `txn`, each opened when first read.
    pub(super) fn open_read(txn: &'t ReadTransaction) -> Result<Self, Error> {
        let open = |def: Def| RTable::new(txn, def);
        Ok(Self {
            users: open(USERS),
            profiles: open(PROFILES),
            screenings: open(SCREENINGS),
            sessions: open(SESSIONS),
            session_ids: open(SESSION_IDS),
            guided: open(GUIDED),
            point_day: open(POINT_DAY),
            request_ids: open(REQUEST_IDS),
            check_ins: open(CHECK_INS),
            holds: open(HOLDS),
            usage: open(USAGE),
            journal: open(JOURNAL),
            quota: crate::domain::quota::Quota::UNLIMITED,
        })
    }
}

impl Tables<WTable<'_>> {
    /// Marks `user` as having data. The row holds nothing, so once it is
    /// there a write leaves it alone: written again, it would cost every
    /// LogSession one more row change to commit, replicate and apply.
    pub(super) fn touch_user(&mut self, user: &str) -> Result<(), Error> {
        if get(&self.users, user.as_bytes())?.is_none() {
            self.users.insert(user.as_bytes(), &[][..])?;
        }
        Ok(())
    }

    pub(super) fn put_json<S: serde::Serialize>(
        table: &mut WTable<'_>,
        k: &[u8],
        v: &S,
    ) -> Result<(), Error> {
        let bytes = serde_json::to_vec(v)?;
        table.insert(k, bytes.as_slice())?;
        Ok(())
    }

    pub(super) fn insert_session(&mut self, user: &str, r: &SessionRecord) -> Result<(), Error> {
        let bytes = serde_json::to_vec(r)?;
        self.insert_encoded_session(user, r, &bytes)
    }

    /// [`Tables::insert_session`] of `r` already encoded as `bytes`.
    fn insert_encoded_session(
        &mut self,
        user: &str,
        r: &SessionRecord,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let k = session_key(user, r.draft.perform_time, &r.id);
        self.sessions.insert(k.as_slice(), bytes)?;
        let entry = journal::encode(&JournalEntry::from(r));
        self.journal.insert(k.as_slice(), entry.as_slice())?;
        self.count(user, 1, bytes.len() as i64)?;
        self.session_ids.insert(
            key(user, &[r.id.as_bytes()]).as_slice(),
            &time_bytes(r.draft.perform_time)[..],
        )?;
        let pk = point_day_key(user, &r.draft.trigger_point, r.local_date, b's', &r.id);
        let pv = point_day_value(&session_event(r), r.draft.tenderness());
        self.point_day.insert(pk.as_slice(), pv.as_slice())?;
        Ok(())
    }

    /// Starts the guide clock of a guided session at its first attach and
    /// stores it (the first writer wins); returns the clock start, `None`
    /// for an unknown session.
    pub(super) fn attach_guide(
        &mut self,
        user: &str,
        id: &str,
        now: Timestamp,
    ) -> Applied<Option<Timestamp>> {
        let Some(mut g) = self.guided(user, id)? else {
            return Ok(Ok(None));
        };
        if let Some(t) = g.clock_start {
            return Ok(Ok(Some(t)));
        }
        let start = crate::domain::guide::clock_start(&g, now);
        g.clock_start = Some(start);
        Self::put_json(&mut self.guided, &key(user, &[g.id.as_bytes()]), &g)?;
        Ok(Ok(Some(start)))
    }

    pub(super) fn insert_guided(&mut self, user: &str, g: &GuidedSession) -> Result<(), Error> {
        let bytes = serde_json::to_vec(g)?;
        self.guided
            .insert(key(user, &[g.id.as_bytes()]).as_slice(), bytes.as_slice())?;
        self.count(user, 0, bytes.len() as i64)?;
        let pk = point_day_key(user, &g.trigger_point, g.local_date, b'g', &g.id);
        let pv = point_day_value(&format!("g:{}", g.id), None);
        self.point_day.insert(pk.as_slice(), pv.as_slice())?;
        Ok(())
    }

    pub(super) fn insert_request_id(
        &mut self,
        user: &str,
        rid: &str,
        resource: &str,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<(), Error> {
        let value = request_id_bytes(resource, fingerprint);
        self.request_ids
            .insert(key(user, &[rid.as_bytes()]).as_slice(), value.as_slice())?;
        Ok(())
    }

    pub(super) fn update_profile(
        &mut self,
        user: &str,
        patch: ProfilePatch,
        now: Timestamp,
    ) -> Applied<Profile> {
        let mut p = self.profile(user)?.unwrap_or_default();
        if let Some(tz) = patch.time_zone {
            p.time_zone = tz;
        }
        if let Some(tools) = patch.tools {
            p.tools = tools;
        }
        if let Some(wake) = patch.wake {
            p.wake = wake;
        }
        if let Some(sleep) = patch.sleep {
            p.sleep = sleep;
        }
        p.create_time.get_or_insert(now);
        p.update_time = Some(now);
        Self::put_json(&mut self.profiles, user.as_bytes(), &p)?;
        self.touch_user(user)?;
        Ok(Ok(p))
    }

    pub(super) fn submit_screening(
        &mut self,
        user: &str,
        answers: BTreeMap<String, Answer>,
        now: Timestamp,
    ) -> Applied<Screening> {
        let mut s = self.screening(user)?.unwrap_or_default();
        s.answers.extend(answers);
        s.update_time = Some(now);
        Self::put_json(&mut self.screenings, user.as_bytes(), &s)?;
        self.touch_user(user)?;
        Ok(Ok(s))
    }

    pub(super) fn start_guided(
        &mut self,
        user: &str,
        request_id: &str,
        req: GuidedRequest,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Applied<(GuidedSession, bool)> {
        let rid_key = key(user, &[request_id.as_bytes()]);
        let fingerprint = idempotency::of_guided(&req);
        if let Some(value) = get(&self.request_ids, &rid_key)? {
            let (res, stored) = request_id_value(&value);
            let found = match res.strip_prefix(names::GUIDED_SESSION) {
                Some(id) => self.guided(user, id)?,
                None => None,
            };
            return Ok(match found {
                Some(g) if idempotency::is_retry(stored.as_ref(), &fingerprint) => Ok((g, true)),
                _ => Err(Error::RequestIdReused("request_id".to_owned())),
            });
        }
        let screening = self.screening(user)?.unwrap_or_default();
        let tz = self.zone(user)?;
        let date = time::local_date(now, &tz);
        let before = self.events(user, &req.trigger_point, date)?.len();
        let before = u32::try_from(before).unwrap_or(u32::MAX);
        if let Some(refusal) = self.guided_hold_refusal(user, &req, catalog, &tz)? {
            return Ok(Err(Error::Refused(refusal)));
        }
        let admission = match rules::admit_guided(&req, &screening, catalog, now, &tz, before) {
            Ok(a) => a,
            Err(refusal) => return Ok(Err(Error::Refused(refusal))),
        };
        let mut warnings =
            self.guided_warnings(user, &req.trigger_point, admission.sessions_today, catalog)?;
        warnings.extend(admission.hold_warning.clone());
        let g = GuidedSession {
            id: uuid::Uuid::now_v7().to_string(),
            trigger_point: req.trigger_point,
            tool: req.tool,
            side: req.side,
            duration_seconds: admission.duration_seconds,
            target_pressure: admission.target_pressure,
            start_time: now,
            local_date: admission.local_date,
            sessions_today: admission.sessions_today,
            warnings,
            instructions: admission.instructions,
            clock_start: None,
        };
        if let Err(e) = self.within_quota(user, 0, serde_json::to_vec(&g)?.len() as u64) {
            return Ok(Err(e));
        }
        self.insert_guided(user, &g)?;
        self.insert_request_id(
            user,
            request_id,
            &format!("{}{}", names::GUIDED_SESSION, g.id),
            Some(&fingerprint),
        )?;
        self.touch_user(user)?;
        Ok(Ok((g, false)))
    }

    pub(super) fn log_one(
        &mut self,
        user: &str,
        item: LogItem,
        catalog: &CatalogView,
        screening: &Screening,
        tz: &TimeZone,
        now: Timestamp,
    ) -> Result<Logged, Error> {
        let rid_key = key(user, &[item.request_id.as_bytes()]);
        let fingerprint = idempotency::of_session(&item.draft);
        if let Some(value) = get(&self.request_ids, &rid_key)? {
            let (res, stored) = request_id_value(&value);
            let found = match res.strip_prefix(names::SESSION) {
                Some(id) => self.session(user, id)?,
                None => None,
            };
            return Ok(match found {
                Some(r) if idempotency::is_retry(stored.as_ref(), &fingerprint) => Ok((r, true)),
                _ => Err(Error::RequestIdReused(
                    item.field_prefix.trim_end_matches("session.").to_owned() + "request_id",
                )),
            });
        }
        let draft = item.draft;
        let origin = match &draft.guided_session {
            Some(g) => {
                if self.guided(user, g)?.is_none() {
                    return Ok(Err(Error::field(
                        format!("{}guided_session", item.field_prefix),
                        "unknown guided session",
                    )));
                }
                Origin::Guided
            }
            None => Origin::Logged,
        };
        let id = uuid::Uuid::now_v7().to_string();
        let local_date = time::local_date(draft.perform_time, tz);
        let mut record = SessionRecord {
            id,
            draft,
            create_time: now,
            local_date,
            origin,
            warnings: Vec::new(),
        };
        self.set_session_warnings(user, &mut record, catalog, screening, tz)?;
        // Encoded once: its size for the quota, then the row.
        let bytes = serde_json::to_vec(&record)?;
        if let Err(e) = self.within_quota(user, 1, bytes.len() as u64) {
            return Ok(Err(e));
        }
        self.insert_encoded_session(user, &record, &bytes)?;
        self.holds_after_session(user, &record, catalog, now)?;
        self.insert_request_id(
            user,
            &item.request_id,
            &format!("{}{}", names::SESSION, record.id),
            Some(&fingerprint),
        )?;
        Ok(Ok((record, false)))
    }

    pub(super) fn log_sessions(
        &mut self,
        user: &str,
        items: Vec<LogItem>,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Applied<Vec<Logged>> {
        let screening = self.screening(user)?.unwrap_or_default();
        let tz = self.zone(user)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.log_one(user, item, catalog, &screening, &tz, now)?);
        }
        if out.iter().any(|r| matches!(r, Ok((_, false)))) {
            self.touch_user(user)?;
        }
        Ok(Ok(out))
    }

    pub(super) fn record_check_in(
        &mut self,
        user: &str,
        request_id: &str,
        draft: CheckInDraft,
        now: Timestamp,
    ) -> Applied<(CheckIn, Replay)> {
        let rid_key = key(user, &[request_id.as_bytes()]);
        if let Some(res) = get(&self.request_ids, &rid_key)? {
            let (res, _) = request_id_value(&res);
            let found = match res
                .strip_prefix(checkin::CHECK_IN)
                .and_then(|n| n.split_once('.'))
                .and_then(|(d, r)| Some((d.parse::<Date>().ok()?, r)))
            {
                Some((date, region)) => get(&self.check_ins, &check_in_key(user, date, region))?
                    .map(|v| json::<CheckIn>(&v))
                    .transpose()?,
                None => None,
            };
            return Ok(match found {
                Some(c) => Ok((c, (true, false))),
                None => Err(Error::field(
                    "request_id",
                    "already used for another kind of request",
                )),
            });
        }
        let date = time::local_date(now, &self.zone(user)?);
        let c = CheckIn {
            region: draft.region,
            score: draft.score,
            local_date: date,
            record_time: now,
        };
        let k = check_in_key(user, date, &c.region);
        let replaced = get(&self.check_ins, &k)?.is_some();
        Self::put_json(&mut self.check_ins, &k, &c)?;
        // No fingerprint: a retry returns the stored check-in whatever it
        // carries (replacing is what a new request id is for).
        self.insert_request_id(user, request_id, &c.name(), None)?;
        self.touch_user(user)?;
        Ok(Ok((c, (false, replaced))))
    }

    /// Removes every row of `user` in every table.
    pub(super) fn delete_user(&mut self, user: &str) -> Result<(u64, u64), Error> {
        let (lo, hi) = (user_lo(user), user_hi(user));
        let mut sessions = 0u64;
        scan(&self.session_ids, &lo, &hi, false, |_, _| {
            sessions += 1;
            Ok(true)
        })?;
        let mut guided = 0u64;
        scan(&self.guided, &lo, &hi, false, |_, _| {
            guided += 1;
            Ok(true)
        })?;
        for t in [
            &mut self.sessions,
            &mut self.journal,
            &mut self.session_ids,
            &mut self.guided,
            &mut self.point_day,
            &mut self.request_ids,
            &mut self.check_ins,
            &mut self.holds,
        ] {
            t.clear(&lo, &hi)?;
        }
        for t in [
            &mut self.users,
            &mut self.profiles,
            &mut self.screenings,
            &mut self.usage,
        ] {
            t.remove(user.as_bytes())?;
        }
        Ok((sessions, guided))
    }

    pub(super) fn import_user(&mut self, data: UserData, replace: bool) -> Applied<u64> {
        let user = data.user_id.as_str();
        if replace {
            self.delete_user(user)?;
        }
        if let Some(p) = &data.profile {
            Self::put_json(&mut self.profiles, user.as_bytes(), p)?;
        }
        if let Some(s) = &data.screening {
            Self::put_json(&mut self.screenings, user.as_bytes(), s)?;
        }
        for g in &data.guided_sessions {
            self.insert_guided(user, g)?;
        }
        for r in &data.sessions {
            self.insert_session(user, r)?;
        }
        for (rid, res) in &data.request_ids {
            // Exports carry no fingerprints: an imported id replays
            // whatever comes with it (see `domain::idempotency`).
            self.insert_request_id(user, rid, res, None)?;
        }
        for c in &data.check_ins {
            let k = check_in_key(user, c.local_date, &c.region);
            Self::put_json(&mut self.check_ins, &k, c)?;
        }
        for h in &data.holds {
            self.put_hold(user, h)?;
        }
        self.touch_user(user)?;
        Ok(Ok(data.sessions.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's row is written when the user first has data, and never
    /// again by later writes (it would be a row change that changes
    /// nothing).
    #[test]
    fn a_known_user_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::prepare(dir.path(), super::super::StoreOptions::default()).unwrap();
        let users = table_id(USERS);
        let touched = |t: &mut Tables<WTable<'_>>| {
            t.touch_user("ana").unwrap();
            t.touch_user("bo").unwrap();
            t.take_changes()
                .iter()
                .filter(|c| matches!(c, Change::Put { table, .. } if *table == users))
                .count()
        };
        let txn = db.begin_write().unwrap();
        let mut tables = Tables::open_write(&txn, true).unwrap();
        assert_eq!(touched(&mut tables), 2, "new users get their row");
        assert_eq!(touched(&mut tables), 0, "known users are left alone");
        drop(tables);
        txn.commit().unwrap();
        let txn = db.begin_write().unwrap();
        let mut tables = Tables::open_write(&txn, true).unwrap();
        assert_eq!(touched(&mut tables), 0, "nor after the commit");
        assert!(get(&tables.users, b"ana").unwrap().is_some());
    }
}
