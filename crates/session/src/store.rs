//! Durable storage in redb. The only module that knows redb.
//!
//! **Group commit.** One writer thread owns every write transaction. Callers
//! queue a [`Op`] with a reply channel; the writer takes everything queued (up
//! to `max_batch` operations), applies it in one transaction, commits with
//! [`Durability::Immediate`] and only then answers every caller of the batch.
//! A call is therefore acknowledged only after its data is on disk, and many
//! concurrent writers share one disk flush. Because one thread applies all
//! writes in order, request-id deduplication and the per-day counts are exact
//! even for concurrent calls and for duplicates within one batch.
//!
//! **Layout.** Every key starts with the user id and a 0 byte (user ids hold
//! no control characters), so a user's rows in any table are one contiguous
//! range and every read is a range scan:
//!
//! | table | key | value |
//! |---|---|---|
//! | `users` | user | empty |
//! | `profiles` | user | Profile (JSON) |
//! | `screenings` | user | Screening (JSON) |
//! | `sessions` | user, perform time (8 bytes, big-endian, sign-flipped), id | SessionRecord (JSON) |
//! | `session_ids` | user, id | perform time (8 bytes) |
//! | `guided_sessions` | user, id | GuidedSession (JSON; with the guide clock's start once attached) |
//! | `by_point_day` | user, point, local date, kind (`s`/`g`) + id | event id and tenderness |
//! | `request_ids` | user, request id | resource name, then 0 and the request's SHA-256 fingerprint |
//! | `check_ins` | user, local date, region | CheckIn (JSON) |
//! | `holds` | user, muscle, hold id | Hold (JSON) |
//! | `usage` | user | sessions and bytes stored (two u64, for the quota) |
//!
//! `sessions` is itself the by-user-by-time index; `by_point_day` counts
//! sessions per point per local day and holds the tenderness readings the
//! trend rules need, so logging a session never scans the whole journal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, Table, TableDefinition, WriteTransaction,
};
use tokio::sync::oneshot;

use crate::domain::checkin::{self, CheckIn, CheckInDraft};
use crate::domain::idempotency::{self, Fingerprint};
use crate::domain::rules::{self, SessionContext};
use crate::domain::{
    Answer, CatalogView, GuidedRequest, GuidedSession, Origin, Profile, ProfilePatch, Screening,
    SessionDraft, SessionRecord, UserData, names, time,
};
use crate::error::Error;

mod holds;
mod snapshot;
mod usage;

pub use holds::SessionUpdate;
pub use snapshot::{BackupPart, ExportPart, FORMAT_VERSION, restore_file, write_backup_file};

type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;
type WTable<'t> = Table<'t, &'static [u8], &'static [u8]>;
type RTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

const USERS: Def = TableDefinition::new("users");
const PROFILES: Def = TableDefinition::new("profiles");
const SCREENINGS: Def = TableDefinition::new("screenings");
const SESSIONS: Def = TableDefinition::new("sessions");
const SESSION_IDS: Def = TableDefinition::new("session_ids");
const GUIDED: Def = TableDefinition::new("guided_sessions");
const POINT_DAY: Def = TableDefinition::new("by_point_day");
const REQUEST_IDS: Def = TableDefinition::new("request_ids");
const CHECK_INS: Def = TableDefinition::new("check_ins");

/// Every table, for deletion and for tests that scan all of them.
const TABLES: [Def; 11] = [
    USERS,
    PROFILES,
    SCREENINGS,
    SESSIONS,
    SESSION_IDS,
    GUIDED,
    POINT_DAY,
    REQUEST_IDS,
    CHECK_INS,
    holds::HOLDS,
    usage::USAGE,
];

/// The database file inside the data folder.
pub const DB_FILE: &str = "session.redb";

/// Opens (or creates) the database file with a page cache of `cache_bytes`.
fn open_db(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
}

/// Storage options.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Most operations committed together. 1 means one commit per write.
    pub max_batch: usize,
    /// redb's page cache (read cache and write buffer together), in bytes.
    /// It is heap memory that fills up to this bound as pages are read or
    /// written; pages past it are read from the OS page cache instead.
    pub cache_bytes: usize,
    /// The per-user quota on writes from users (imports are not limited).
    pub quota: crate::domain::quota::Quota,
}

/// The default of [`StoreOptions::cache_bytes`].
pub const DEFAULT_CACHE_BYTES: usize = 8 * 1024 * 1024;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            cache_bytes: DEFAULT_CACHE_BYTES,
            quota: crate::domain::quota::Quota::default(),
        }
    }
}

/// One client write for [`Store::log_sessions`].
#[derive(Debug, Clone)]
pub struct LogItem {
    /// The client's request id.
    pub request_id: String,
    /// The validated session.
    pub draft: SessionDraft,
    /// Field path prefix for errors about this item (`session.` or
    /// `requests[3].session.`).
    pub field_prefix: String,
}

/// One day's sessions, bounded, with totals over all of them.
#[derive(Debug, Default)]
pub struct DaySummary {
    /// The first sessions of the day, oldest first.
    pub sessions: Vec<SessionRecord>,
    /// Sessions the day holds.
    pub total_sessions: u64,
    /// Their time on points, in seconds.
    pub total_duration_seconds: u64,
    /// The points worked that day (every session's, not only those kept).
    pub points: BTreeSet<String>,
}

/// The result of one logged item: the stored record and whether it was a
/// replay of an earlier request.
pub type Logged = Result<(SessionRecord, bool), Error>;

/// How a recorded check-in came about: (replayed, replaced).
pub type Replay = (bool, bool);

fn check_in_key(user: &str, date: Date, region: &str) -> Vec<u8> {
    key(user, &[date.to_string().as_bytes(), region.as_bytes()])
}

/// What the writer thread can do.
enum Op {
    UpdateProfile {
        user: String,
        patch: ProfilePatch,
        now: Timestamp,
    },
    SubmitScreening {
        user: String,
        answers: BTreeMap<String, Answer>,
        now: Timestamp,
    },
    StartGuided {
        user: String,
        request_id: String,
        req: GuidedRequest,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    },
    LogSessions {
        user: String,
        items: Vec<LogItem>,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    },
    RecordCheckIn {
        user: String,
        request_id: String,
        draft: CheckInDraft,
        now: Timestamp,
    },
    DeleteUser {
        user: String,
    },
    ImportUser {
        data: Box<UserData>,
        /// Delete what the shard holds for the user first (a whole import,
        /// or the first part of a streamed one).
        replace: bool,
    },
    ReleaseHold {
        user: String,
        point: String,
        provider_checked: bool,
        checked_date: String,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    },
    UpdateSession {
        user: String,
        update: Box<SessionUpdate>,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    },
    DeleteSession {
        user: String,
        id: String,
    },
    AttachGuide {
        user: String,
        id: String,
        now: Timestamp,
    },
}

enum Output {
    Profile(Profile),
    Screening(Screening),
    Guided(GuidedSession, bool),
    Logged(Vec<Logged>),
    CheckIn(CheckIn, Replay),
    Deleted(u64, u64),
    Imported(u64),
    Holds(Vec<crate::domain::holds::Hold>),
    Updated(SessionRecord),
    SessionDeleted(bool),
    Clock(Option<Timestamp>),
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Output, Error>>,
}

/// The open database. The writer swaps in a fresh handle after an I/O
/// failure (redb refuses every transaction after one until it is reopened);
/// `None` while it is being reopened.
type DbCell = Arc<std::sync::RwLock<Option<Arc<Database>>>>;

fn current(cell: &DbCell) -> Result<Arc<Database>, Error> {
    cell.read()
        .ok()
        .and_then(|g| g.clone())
        .ok_or_else(|| Error::Storage("storage is recovering from an I/O error".into()))
}

/// Commit counters, for the benchmark and for logs, and the writer's
/// metrics once [`Stats::instrument`] was called.
#[derive(Debug, Default)]
pub struct Stats {
    commits: AtomicU64,
    ops: AtomicU64,
    /// Writes queued for the writer and not yet taken into a batch.
    queued: AtomicI64,
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
    }

    /// (commits, operations) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.ops.load(Ordering::Relaxed),
        )
    }
}

/// The session journal on disk.
pub struct Store {
    db: DbCell,
    healthy: tokio::sync::watch::Receiver<bool>,
    tx: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

// ---- keys ----

fn user_lo(user: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(0);
    k
}

fn user_hi(user: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(1);
    k
}

fn key(user: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = user_lo(user);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

/// Order-preserving encoding of a timestamp (microseconds, sign flipped).
fn time_bytes(ts: Timestamp) -> [u8; 8] {
    ((ts.as_microsecond() as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_from_micros(m: i64) -> [u8; 8] {
    ((m as u64) ^ (1 << 63)).to_be_bytes()
}

fn session_key(user: &str, ts: Timestamp, id: &str) -> Vec<u8> {
    let mut k = user_lo(user);
    k.extend_from_slice(&time_bytes(ts));
    k.extend_from_slice(id.as_bytes());
    k
}

fn point_day_lo(user: &str, point: &str, date: Date) -> Vec<u8> {
    let mut k = key(user, &[point.as_bytes(), date.to_string().as_bytes()]);
    k.push(0);
    k
}

fn point_day_hi(user: &str, point: &str, date: Date) -> Vec<u8> {
    let mut k = key(user, &[point.as_bytes(), date.to_string().as_bytes()]);
    k.push(1);
    k
}

fn point_day_key(user: &str, point: &str, date: Date, kind: u8, id: &str) -> Vec<u8> {
    let mut k = point_day_lo(user, point, date);
    k.push(kind);
    k.extend_from_slice(id.as_bytes());
    k
}

fn point_day_value(event: &str, tenderness: Option<u8>) -> Vec<u8> {
    match tenderness {
        Some(t) => format!("{event}\t{t}").into_bytes(),
        None => format!("{event}\t").into_bytes(),
    }
}

fn session_event(r: &SessionRecord) -> String {
    match &r.draft.guided_session {
        Some(g) => format!("g:{g}"),
        None => format!("s:{}", r.id),
    }
}

// ---- generic table helpers ----

fn get<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    k: &[u8],
) -> Result<Option<Vec<u8>>, Error> {
    Ok(t.get(k)?.map(|v| v.value().to_vec()))
}

/// Visits `lo..hi` in key order (or reversed); `f` returns false to stop.
fn scan<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    lo: &[u8],
    hi: &[u8],
    rev: bool,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, Error>,
) -> Result<(), Error> {
    let range = t.range::<&[u8]>(lo..hi)?;
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

fn json<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, Error> {
    Ok(serde_json::from_slice(v)?)
}

/// The tables opened in one transaction: writable in the writer, read-only
/// in readers.
struct Tables<T> {
    users: T,
    profiles: T,
    screenings: T,
    sessions: T,
    session_ids: T,
    guided: T,
    point_day: T,
    request_ids: T,
    check_ins: T,
    holds: T,
    usage: T,
    /// The quota user writes are checked against (unlimited for readers).
    quota: crate::domain::quota::Quota,
}

impl<'t> Tables<WTable<'t>> {
    fn open_write(txn: &'t WriteTransaction) -> Result<Self, Error> {
        Ok(Self {
            users: txn.open_table(USERS)?,
            profiles: txn.open_table(PROFILES)?,
            screenings: txn.open_table(SCREENINGS)?,
            sessions: txn.open_table(SESSIONS)?,
            session_ids: txn.open_table(SESSION_IDS)?,
            guided: txn.open_table(GUIDED)?,
            point_day: txn.open_table(POINT_DAY)?,
            request_ids: txn.open_table(REQUEST_IDS)?,
            check_ins: txn.open_table(CHECK_INS)?,
            holds: txn.open_table(holds::HOLDS)?,
            usage: txn.open_table(usage::USAGE)?,
            quota: crate::domain::quota::Quota::UNLIMITED,
        })
    }
}

impl Tables<RTable> {
    fn open_read(txn: &ReadTransaction) -> Result<Self, Error> {
        Ok(Self {
            users: txn.open_table(USERS)?,
            profiles: txn.open_table(PROFILES)?,
            screenings: txn.open_table(SCREENINGS)?,
            sessions: txn.open_table(SESSIONS)?,
            session_ids: txn.open_table(SESSION_IDS)?,
            guided: txn.open_table(GUIDED)?,
            point_day: txn.open_table(POINT_DAY)?,
            request_ids: txn.open_table(REQUEST_IDS)?,
            check_ins: txn.open_table(CHECK_INS)?,
            holds: txn.open_table(holds::HOLDS)?,
            usage: txn.open_table(usage::USAGE)?,
            quota: crate::domain::quota::Quota::UNLIMITED,
        })
    }
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> Tables<T> {
    fn profile(&self, user: &str) -> Result<Option<Profile>, Error> {
        get(&self.profiles, user.as_bytes())?
            .map(|v| json(&v))
            .transpose()
    }

    fn screening(&self, user: &str) -> Result<Option<Screening>, Error> {
        get(&self.screenings, user.as_bytes())?
            .map(|v| json(&v))
            .transpose()
    }

    fn zone(&self, user: &str) -> Result<TimeZone, Error> {
        Ok(self
            .profile(user)?
            .map_or(TimeZone::UTC, |p| time::zone_or_utc(&p.time_zone)))
    }

    fn session(&self, user: &str, id: &str) -> Result<Option<SessionRecord>, Error> {
        let Some(t) = get(&self.session_ids, &key(user, &[id.as_bytes()]))? else {
            return Ok(None);
        };
        let mut k = user_lo(user);
        k.extend_from_slice(&t);
        k.extend_from_slice(id.as_bytes());
        get(&self.sessions, &k)?.map(|v| json(&v)).transpose()
    }

    fn guided(&self, user: &str, id: &str) -> Result<Option<GuidedSession>, Error> {
        get(&self.guided, &key(user, &[id.as_bytes()]))?
            .map(|v| json(&v))
            .transpose()
    }

    /// Distinct events (sessions, guided sessions) on a point that day.
    fn events(&self, user: &str, point: &str, date: Date) -> Result<BTreeSet<String>, Error> {
        let mut out = BTreeSet::new();
        scan(
            &self.point_day,
            &point_day_lo(user, point, date),
            &point_day_hi(user, point, date),
            false,
            |_, v| {
                let v = String::from_utf8_lossy(v);
                let event = v.split('\t').next().unwrap_or_default();
                out.insert(event.to_owned());
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Tenderness readings on a point from `from` to `to` (inclusive).
    fn readings(
        &self,
        user: &str,
        point: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, u8)>, Error> {
        let lo = point_day_lo(user, point, from);
        let hi = point_day_hi(user, point, to);
        let prefix_len = key(user, &[point.as_bytes()]).len() + 1;
        let mut out = Vec::new();
        scan(&self.point_day, &lo, &hi, false, |k, v| {
            let date = k
                .get(prefix_len..prefix_len + 10)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<Date>().ok());
            let t = String::from_utf8_lossy(v)
                .split('\t')
                .nth(1)
                .and_then(|t| t.parse::<u8>().ok());
            if let (Some(d), Some(t)) = (date, t) {
                out.push((d, t));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    fn sessions_range(
        &self,
        user: &str,
        lo: &[u8],
        hi: &[u8],
        rev: bool,
        mut f: impl FnMut(SessionRecord) -> bool,
    ) -> Result<(), Error> {
        let _ = user;
        scan(&self.sessions, lo, hi, rev, |_, v| Ok(f(json(v)?)))
    }

    /// Check-ins from `from` to `to` (inclusive), oldest day first.
    fn check_ins(&self, user: &str, from: Date, to: Date) -> Result<Vec<CheckIn>, Error> {
        let lo = key(user, &[from.to_string().as_bytes()]);
        let mut hi = key(user, &[to.to_string().as_bytes()]);
        hi.push(1);
        let mut out = Vec::new();
        scan(&self.check_ins, &lo, &hi, false, |_, v| {
            out.push(json::<CheckIn>(v)?);
            Ok(true)
        })?;
        Ok(out)
    }

    fn export(&self, user: &str) -> Result<UserData, Error> {
        let (lo, hi) = (user_lo(user), user_hi(user));
        let mut sessions = Vec::new();
        self.sessions_range(user, &lo, &hi, false, |r| {
            sessions.push(r);
            true
        })?;
        let mut guided_sessions = Vec::new();
        scan(&self.guided, &lo, &hi, false, |_, v| {
            guided_sessions.push(json::<GuidedSession>(v)?);
            Ok(true)
        })?;
        guided_sessions.sort_by_key(|g| g.start_time);
        let mut request_ids = Vec::new();
        scan(&self.request_ids, &lo, &hi, false, |k, v| {
            let rid = String::from_utf8_lossy(&k[lo.len()..]).into_owned();
            request_ids.push((rid, request_id_value(v).0));
            Ok(true)
        })?;
        let mut check_ins = Vec::new();
        scan(&self.check_ins, &lo, &hi, false, |_, v| {
            check_ins.push(json::<CheckIn>(v)?);
            Ok(true)
        })?;
        Ok(UserData {
            check_ins,
            user_id: user.to_owned(),
            profile: self.profile(user)?,
            screening: self.screening(user)?,
            sessions,
            guided_sessions,
            request_ids,
            holds: self.holds(user)?,
        })
    }
}

/// A `request_ids` value: the resource name, then (for ids stored since
/// request fingerprints) a 0 byte and the request's 32-byte fingerprint.
/// Resource names hold no 0 byte.
fn request_id_value(v: &[u8]) -> (String, Option<Fingerprint>) {
    match v.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&v[..i]).into_owned(),
            Fingerprint::try_from(&v[i + 1..]).ok(),
        ),
        None => (String::from_utf8_lossy(v).into_owned(), None),
    }
}

// ---- writes ----

/// Outer error: storage failed and the whole batch is lost. Inner error: this
/// operation was refused and wrote nothing.
type Applied = Result<Result<Output, Error>, Error>;

impl Tables<WTable<'_>> {
    fn touch_user(&mut self, user: &str) -> Result<(), Error> {
        self.users.insert(user.as_bytes(), &[][..])?;
        Ok(())
    }

    fn put_json<S: serde::Serialize>(table: &mut WTable<'_>, k: &[u8], v: &S) -> Result<(), Error> {
        let bytes = serde_json::to_vec(v)?;
        table.insert(k, bytes.as_slice())?;
        Ok(())
    }

    fn insert_session(&mut self, user: &str, r: &SessionRecord) -> Result<(), Error> {
        let k = session_key(user, r.draft.perform_time, &r.id);
        let bytes = serde_json::to_vec(r)?;
        self.sessions.insert(k.as_slice(), bytes.as_slice())?;
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
    fn attach_guide(&mut self, user: &str, id: &str, now: Timestamp) -> Applied {
        let Some(mut g) = self.guided(user, id)? else {
            return Ok(Ok(Output::Clock(None)));
        };
        if let Some(t) = g.clock_start {
            return Ok(Ok(Output::Clock(Some(t))));
        }
        let start = crate::domain::guide::clock_start(&g, now);
        g.clock_start = Some(start);
        Self::put_json(&mut self.guided, &key(user, &[g.id.as_bytes()]), &g)?;
        Ok(Ok(Output::Clock(Some(start))))
    }

    fn insert_guided(&mut self, user: &str, g: &GuidedSession) -> Result<(), Error> {
        let bytes = serde_json::to_vec(g)?;
        self.guided
            .insert(key(user, &[g.id.as_bytes()]).as_slice(), bytes.as_slice())?;
        self.count(user, 0, bytes.len() as i64)?;
        let pk = point_day_key(user, &g.trigger_point, g.local_date, b'g', &g.id);
        let pv = point_day_value(&format!("g:{}", g.id), None);
        self.point_day.insert(pk.as_slice(), pv.as_slice())?;
        Ok(())
    }

    fn insert_request_id(
        &mut self,
        user: &str,
        rid: &str,
        resource: &str,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<(), Error> {
        let mut value = resource.as_bytes().to_vec();
        if let Some(fp) = fingerprint {
            value.push(0);
            value.extend_from_slice(fp);
        }
        self.request_ids
            .insert(key(user, &[rid.as_bytes()]).as_slice(), value.as_slice())?;
        Ok(())
    }

    fn update_profile(&mut self, user: &str, patch: ProfilePatch, now: Timestamp) -> Applied {
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
        Ok(Ok(Output::Profile(p)))
    }

    fn submit_screening(
        &mut self,
        user: &str,
        answers: BTreeMap<String, Answer>,
        now: Timestamp,
    ) -> Applied {
        let mut s = self.screening(user)?.unwrap_or_default();
        s.answers.extend(answers);
        s.update_time = Some(now);
        Self::put_json(&mut self.screenings, user.as_bytes(), &s)?;
        self.touch_user(user)?;
        Ok(Ok(Output::Screening(s)))
    }

    fn start_guided(
        &mut self,
        user: &str,
        request_id: &str,
        req: GuidedRequest,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Applied {
        let rid_key = key(user, &[request_id.as_bytes()]);
        let fingerprint = idempotency::of_guided(&req);
        if let Some(value) = get(&self.request_ids, &rid_key)? {
            let (res, stored) = request_id_value(&value);
            let found = match res.strip_prefix(names::GUIDED_SESSION) {
                Some(id) => self.guided(user, id)?,
                None => None,
            };
            return Ok(match found {
                Some(g) if idempotency::is_retry(stored.as_ref(), &fingerprint) => {
                    Ok(Output::Guided(g, true))
                }
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
        Ok(Ok(Output::Guided(g, false)))
    }

    fn log_one(
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
        let point = record.draft.trigger_point.clone();
        let events = self.events(user, &point, local_date)?;
        let that_day = events.len() + usize::from(!events.contains(&session_event(&record)));
        let window = catalog.guidance.trend_window_days.max(1);
        let history = self.readings(
            user,
            &point,
            time::days_before(local_date, window - 1),
            local_date,
        )?;
        let ctx = SessionContext {
            catalog,
            screening,
            sessions_that_day: u32::try_from(that_day).unwrap_or(u32::MAX),
            history: &history,
            local_date,
        };
        record.warnings = rules::session_warnings(&record.draft, &ctx);
        self.add_hold_warnings(user, &mut record, catalog, tz)?;
        if let Err(e) = self.within_quota(user, 1, serde_json::to_vec(&record)?.len() as u64) {
            return Ok(Err(e));
        }
        self.insert_session(user, &record)?;
        self.holds_after_session(user, &record, catalog, now)?;
        self.insert_request_id(
            user,
            &item.request_id,
            &format!("{}{}", names::SESSION, record.id),
            Some(&fingerprint),
        )?;
        Ok(Ok((record, false)))
    }

    fn log_sessions(
        &mut self,
        user: &str,
        items: Vec<LogItem>,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Applied {
        let screening = self.screening(user)?.unwrap_or_default();
        let tz = self.zone(user)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.log_one(user, item, catalog, &screening, &tz, now)?);
        }
        if out.iter().any(|r| matches!(r, Ok((_, false)))) {
            self.touch_user(user)?;
        }
        Ok(Ok(Output::Logged(out)))
    }

    fn record_check_in(
        &mut self,
        user: &str,
        request_id: &str,
        draft: CheckInDraft,
        now: Timestamp,
    ) -> Applied {
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
                Some(c) => Ok(Output::CheckIn(c, (true, false))),
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
        Ok(Ok(Output::CheckIn(c, (false, replaced))))
    }

    /// Removes every row of `user` in every table.
    fn delete_user(&mut self, user: &str) -> Result<(u64, u64), Error> {
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
            &mut self.session_ids,
            &mut self.guided,
            &mut self.point_day,
            &mut self.request_ids,
            &mut self.check_ins,
            &mut self.holds,
        ] {
            t.retain_in::<&[u8], _>(lo.as_slice()..hi.as_slice(), |_, _| false)?;
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

    fn import_user(&mut self, data: UserData, replace: bool) -> Applied {
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
        Ok(Ok(Output::Imported(data.sessions.len() as u64)))
    }

    fn apply(&mut self, op: Op) -> Applied {
        match op {
            Op::UpdateProfile { user, patch, now } => self.update_profile(&user, patch, now),
            Op::SubmitScreening { user, answers, now } => {
                self.submit_screening(&user, answers, now)
            }
            Op::StartGuided {
                user,
                request_id,
                req,
                catalog,
                now,
            } => self.start_guided(&user, &request_id, req, &catalog, now),
            Op::LogSessions {
                user,
                items,
                catalog,
                now,
            } => self.log_sessions(&user, items, &catalog, now),
            Op::RecordCheckIn {
                user,
                request_id,
                draft,
                now,
            } => self.record_check_in(&user, &request_id, draft, now),
            Op::DeleteUser { user } => {
                let (s, g) = self.delete_user(&user)?;
                Ok(Ok(Output::Deleted(s, g)))
            }
            Op::ImportUser { data, replace } => self.import_user(*data, replace),
            Op::ReleaseHold {
                user,
                point,
                provider_checked,
                checked_date,
                catalog,
                now,
            } => self.release_holds(
                &user,
                &point,
                provider_checked,
                &checked_date,
                &catalog,
                now,
            ),
            Op::UpdateSession {
                user,
                update,
                catalog,
                now,
            } => self.update_session(&user, *update, &catalog, now),
            Op::DeleteSession { user, id } => self.delete_session(&user, &id),
            Op::AttachGuide { user, id, now } => self.attach_guide(&user, &id, now),
        }
    }
}

/// Applies one batch in one transaction and commits it durably.
fn commit_batch(
    db: &Database,
    ops: Vec<Op>,
    quota: crate::domain::quota::Quota,
) -> Result<Vec<Result<Output, Error>>, Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let mut results = Vec::with_capacity(ops.len());
    {
        let mut tables = Tables::open_write(&txn)?;
        tables.quota = quota;
        for op in ops {
            results.push(tables.apply(op)?);
        }
    }
    txn.commit()?;
    Ok(results)
}

/// What the writer needs besides its queue.
struct Writer {
    cell: DbCell,
    path: std::path::PathBuf,
    cache_bytes: usize,
    max_batch: usize,
    quota: crate::domain::quota::Quota,
    stats: Arc<Stats>,
    healthy: tokio::sync::watch::Sender<bool>,
}

/// A key no user id can have (user ids are printable), written and removed
/// again to check that commits work.
const PROBE_KEY: &str = "\u{0}probe";

impl Writer {
    fn run(self, rx: mpsc::Receiver<Job>) {
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
            let (ops, replies): (Vec<Op>, Vec<_>) =
                jobs.into_iter().map(|j| (j.op, j.reply)).unzip();
            let n = ops.len() as u64;
            let started = std::time::Instant::now();
            match commit_batch(&db, ops, self.quota) {
                Ok(results) => {
                    self.stats.committed(n as usize, started.elapsed());
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    self.stats.ops.fetch_add(n, Ordering::Relaxed);
                    for (reply, r) in replies.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = n, "write batch failed");
                    for reply in replies {
                        let _ = reply.send(Err(Error::Storage(e.to_string())));
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
    fn recover(&self, old: Arc<Database>, rx: &mpsc::Receiver<Job>) -> Arc<Database> {
        let refuse_queued = || {
            while let Ok(job) = rx.try_recv() {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                let _ = job.reply.send(Err(Error::Storage(
                    "storage is recovering from an I/O error".into(),
                )));
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

impl Store {
    /// Opens (or creates) the database in `dir` and starts the writer thread.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Storage(format!("creating {}: {e}", dir.display())))?;
        let db = open_db(&dir.join(DB_FILE), options.cache_bytes)?;
        let had_usage = usage::exists(&db)?;
        // Create every table up front so readers never meet a missing one.
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        for t in TABLES {
            txn.open_table(t)?;
        }
        if !had_usage {
            let users = usage::backfill(&txn)?;
            tracing::info!(users, "quota counters filled from the journal");
        }
        txn.commit()?;
        let cell: DbCell = Arc::new(std::sync::RwLock::new(Some(Arc::new(db))));
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let (healthy_tx, healthy) = tokio::sync::watch::channel(true);
        let writer = {
            let w = Writer {
                cell: cell.clone(),
                path: dir.join(DB_FILE),
                cache_bytes: options.cache_bytes,
                max_batch: options.max_batch.max(1),
                quota: options.quota,
                stats: stats.clone(),
                healthy: healthy_tx,
            };
            std::thread::Builder::new()
                .name("session-writer".into())
                .spawn(move || w.run(rx))
                .map_err(|e| Error::Storage(format!("starting writer: {e}")))?
        };
        Ok(Self {
            db: cell,
            healthy,
            tx: Some(tx),
            writer: Some(writer),
            stats,
            path: dir.join(DB_FILE),
        })
    }

    /// Whether writes are committing; changes when storage fails or
    /// recovers.
    pub fn health(&self) -> tokio::sync::watch::Receiver<bool> {
        self.healthy.clone()
    }

    /// Commit counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Registers the writer's metrics and the shard's size gauges
    /// (`knotwork_session_users`, `knotwork_session_sessions`: redb keeps
    /// each table's length in its header, so a scrape reads two numbers;
    /// `knotwork_session_storage_bytes`: the database file's size).
    pub fn instrument(self: &Arc<Self>, metrics: &knotwork_runtime::metrics::Metrics) {
        self.stats.instrument(metrics);
        let users = metrics.gauge("users", "Users with data on this shard.");
        let sessions = metrics.gauge("sessions", "Journal entries stored on this shard.");
        let bytes = metrics.gauge(
            "storage_bytes",
            "Size of the shard's database file on disk.",
        );
        let this = Arc::downgrade(self);
        metrics.on_scrape(move || {
            let Some(this) = this.upgrade() else { return };
            match this.counts() {
                Ok((u, s)) => {
                    users.set(i64::try_from(u).unwrap_or(i64::MAX));
                    sessions.set(i64::try_from(s).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::debug!(error = %e, "cannot count users for metrics"),
            }
            if let Ok(meta) = std::fs::metadata(&this.path) {
                bytes.set(i64::try_from(meta.len()).unwrap_or(i64::MAX));
            }
        });
    }

    /// (users, journal entries) stored: the tables' lengths, O(1) in redb.
    pub fn counts(&self) -> Result<(u64, u64), Error> {
        let db = current(&self.db)?;
        let txn = db.begin_read()?;
        let users = txn.open_table(USERS)?.len()?;
        let sessions = txn.open_table(SESSIONS)?.len()?;
        Ok((users, sessions))
    }

    async fn submit(&self, op: Op) -> Result<Output, Error> {
        let (reply, rx) = oneshot::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::Storage("store closed".into()))?;
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        tx.send(Job { op, reply }).map_err(|_| {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            Error::Storage("writer stopped".into())
        })?;
        rx.await
            .map_err(|_| Error::Storage("writer dropped the reply".into()))?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Tables<RTable>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let db = current(&self.db)?;
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read()?;
            let tables = Tables::open_read(&txn)?;
            f(&tables)
        })
        .await
        .map_err(|e| Error::Storage(format!("read task: {e}")))?
    }

    /// Updates a profile, creating it when needed.
    pub async fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
        now: Timestamp,
    ) -> Result<Profile, Error> {
        match self
            .submit(Op::UpdateProfile {
                user: user.to_owned(),
                patch,
                now,
            })
            .await?
        {
            Output::Profile(p) => Ok(p),
            _ => Err(mismatch()),
        }
    }

    /// Merges screening answers into the saved ones.
    pub async fn submit_screening(
        &self,
        user: &str,
        answers: BTreeMap<String, Answer>,
        now: Timestamp,
    ) -> Result<Screening, Error> {
        match self
            .submit(Op::SubmitScreening {
                user: user.to_owned(),
                answers,
                now,
            })
            .await?
        {
            Output::Screening(s) => Ok(s),
            _ => Err(mismatch()),
        }
    }

    /// Applies the admission rules and stores a guided session; returns it and
    /// whether it was a replay.
    pub async fn start_guided(
        &self,
        user: &str,
        request_id: &str,
        req: GuidedRequest,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<(GuidedSession, bool), Error> {
        match self
            .submit(Op::StartGuided {
                user: user.to_owned(),
                request_id: request_id.to_owned(),
                req,
                catalog,
                now,
            })
            .await?
        {
            Output::Guided(g, replayed) => Ok((g, replayed)),
            _ => Err(mismatch()),
        }
    }

    /// Stores sessions with their warnings, each idempotent by request id;
    /// one result per item.
    pub async fn log_sessions(
        &self,
        user: &str,
        items: Vec<LogItem>,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<Vec<Logged>, Error> {
        match self
            .submit(Op::LogSessions {
                user: user.to_owned(),
                items,
                catalog,
                now,
            })
            .await?
        {
            Output::Logged(v) => Ok(v),
            _ => Err(mismatch()),
        }
    }

    /// Records (or, the same local day and region, replaces) a pain
    /// check-in, idempotent by request id.
    pub async fn record_check_in(
        &self,
        user: &str,
        request_id: &str,
        draft: CheckInDraft,
        now: Timestamp,
    ) -> Result<(CheckIn, Replay), Error> {
        match self
            .submit(Op::RecordCheckIn {
                user: user.to_owned(),
                request_id: request_id.to_owned(),
                draft,
                now,
            })
            .await?
        {
            Output::CheckIn(c, r) => Ok((c, r)),
            _ => Err(mismatch()),
        }
    }

    /// Check-ins from `from` to `to` (inclusive local days), oldest first.
    pub async fn check_ins(&self, user: &str, from: Date, to: Date) -> Result<Vec<CheckIn>, Error> {
        let user = user.to_owned();
        self.read(move |t| t.check_ins(&user, from, to)).await
    }

    /// Deletes every row of a user; returns (sessions, guided sessions)
    /// deleted.
    pub async fn delete_user(&self, user: &str) -> Result<(u64, u64), Error> {
        match self
            .submit(Op::DeleteUser {
                user: user.to_owned(),
            })
            .await?
        {
            Output::Deleted(s, g) => Ok((s, g)),
            _ => Err(mismatch()),
        }
    }

    /// Replaces a user's data with `data`; returns the sessions imported.
    pub async fn import_user(&self, data: UserData) -> Result<u64, Error> {
        match self
            .submit(Op::ImportUser {
                data: Box::new(data),
                replace: true,
            })
            .await?
        {
            Output::Imported(n) => Ok(n),
            _ => Err(mismatch()),
        }
    }

    /// Every hold of a user, active and released.
    pub async fn holds(&self, user: &str) -> Result<Vec<crate::domain::holds::Hold>, Error> {
        let user = user.to_owned();
        self.read(move |t| t.holds(&user)).await
    }

    /// Releases the active holds on `point`'s muscle; returns the holds on
    /// that muscle afterwards.
    pub async fn release_hold(
        &self,
        user: &str,
        point: &str,
        provider_checked: bool,
        checked_date: &str,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<Vec<crate::domain::holds::Hold>, Error> {
        match self
            .submit(Op::ReleaseHold {
                user: user.to_owned(),
                point: point.to_owned(),
                provider_checked,
                checked_date: checked_date.to_owned(),
                catalog,
                now,
            })
            .await?
        {
            Output::Holds(h) => Ok(h),
            _ => Err(mismatch()),
        }
    }

    /// Rewrites one session and re-applies the rules to it.
    pub async fn update_session(
        &self,
        user: &str,
        update: SessionUpdate,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<SessionRecord, Error> {
        match self
            .submit(Op::UpdateSession {
                user: user.to_owned(),
                update: Box::new(update),
                catalog,
                now,
            })
            .await?
        {
            Output::Updated(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }

    /// The guide clock's start of a guided session: stored at its first
    /// attach, durably, so a reattach after a restart resumes at the real
    /// elapsed time. `None` for an unknown session.
    pub async fn attach_guide(
        &self,
        user: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, Error> {
        match self
            .submit(Op::AttachGuide {
                user: user.to_owned(),
                id: id.to_owned(),
                now,
            })
            .await?
        {
            Output::Clock(t) => Ok(t),
            _ => Err(mismatch()),
        }
    }

    /// Removes one session; `false` when it was already gone.
    pub async fn delete_session(&self, user: &str, id: &str) -> Result<bool, Error> {
        match self
            .submit(Op::DeleteSession {
                user: user.to_owned(),
                id: id.to_owned(),
            })
            .await?
        {
            Output::SessionDeleted(d) => Ok(d),
            _ => Err(mismatch()),
        }
    }

    /// The saved profile.
    pub async fn profile(&self, user: &str) -> Result<Option<Profile>, Error> {
        let user = user.to_owned();
        self.read(move |t| t.profile(&user)).await
    }

    /// The saved screening.
    pub async fn screening(&self, user: &str) -> Result<Option<Screening>, Error> {
        let user = user.to_owned();
        self.read(move |t| t.screening(&user)).await
    }

    /// One session.
    pub async fn session(&self, user: &str, id: &str) -> Result<Option<SessionRecord>, Error> {
        let (user, id) = (user.to_owned(), id.to_owned());
        self.read(move |t| t.session(&user, &id)).await
    }

    /// One guided session.
    pub async fn guided(&self, user: &str, id: &str) -> Result<Option<GuidedSession>, Error> {
        let (user, id) = (user.to_owned(), id.to_owned());
        self.read(move |t| t.guided(&user, &id)).await
    }

    /// Sessions performed in `[start, end)`, newest first, optionally on one
    /// point, strictly before the cursor `(perform time µs, id)`; at most
    /// `limit`, plus whether more follow.
    pub async fn list_sessions(
        &self,
        user: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        point: Option<String>,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<SessionRecord>, bool), Error> {
        let user = user.to_owned();
        self.read(move |t| {
            let mut lo = user_lo(&user);
            if let Some(s) = start {
                lo.extend_from_slice(&time_bytes(s));
            }
            let mut hi = match end {
                Some(e) => {
                    let mut k = user_lo(&user);
                    k.extend_from_slice(&time_bytes(e));
                    k
                }
                None => user_hi(&user),
            };
            if let Some((micros, id)) = before {
                let mut k = user_lo(&user);
                k.extend_from_slice(&time_from_micros(micros));
                k.extend_from_slice(id.as_bytes());
                if k < hi {
                    hi = k;
                }
            }
            let mut out = Vec::new();
            let mut more = false;
            if lo < hi {
                t.sessions_range(&user, &lo, &hi, true, |r| {
                    if point.as_ref().is_some_and(|p| *p != r.draft.trigger_point) {
                        return true;
                    }
                    if out.len() == limit {
                        more = true;
                        return false;
                    }
                    out.push(r);
                    true
                })?;
            }
            Ok((out, more))
        })
        .await
    }

    /// Sessions performed in `[start, end)`, oldest first.
    pub async fn sessions_between(
        &self,
        user: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SessionRecord>, Error> {
        let user = user.to_owned();
        self.read(move |t| {
            let mut lo = user_lo(&user);
            lo.extend_from_slice(&time_bytes(start));
            let mut hi = user_lo(&user);
            hi.extend_from_slice(&time_bytes(end));
            let mut out = Vec::new();
            if lo < hi {
                t.sessions_range(&user, &lo, &hi, false, |r| {
                    out.push(r);
                    true
                })?;
            }
            Ok(out)
        })
        .await
    }

    /// The sessions from `start` to `end`, oldest first, at most `max` of
    /// them, with the totals over all of them (see [`DaySummary`]). Memory
    /// stays bounded by `max` however many the day holds.
    pub async fn day_summary(
        &self,
        user: &str,
        start: Timestamp,
        end: Timestamp,
        max: usize,
    ) -> Result<DaySummary, Error> {
        let user = user.to_owned();
        self.read(move |t| {
            let mut lo = user_lo(&user);
            lo.extend_from_slice(&time_bytes(start));
            let mut hi = user_lo(&user);
            hi.extend_from_slice(&time_bytes(end));
            let mut out = DaySummary::default();
            if lo < hi {
                t.sessions_range(&user, &lo, &hi, false, |r| {
                    out.total_sessions += 1;
                    out.total_duration_seconds += u64::from(r.draft.duration_seconds);
                    out.points.insert(r.draft.trigger_point.clone());
                    if out.sessions.len() < max {
                        out.sessions.push(r);
                    }
                    true
                })?;
            }
            Ok(out)
        })
        .await
    }

    /// Sessions and guided sessions on each of `points` on local `date`.
    pub async fn day_counts(
        &self,
        user: &str,
        points: Vec<String>,
        date: Date,
    ) -> Result<BTreeMap<String, u32>, Error> {
        let user = user.to_owned();
        self.read(move |t| {
            let mut out = BTreeMap::new();
            for p in points {
                let n = t.events(&user, &p, date)?.len();
                out.insert(p, u32::try_from(n).unwrap_or(u32::MAX));
            }
            Ok(out)
        })
        .await
    }

    /// Trigger points of the guided sessions started on local `date`.
    pub async fn guided_points_on(&self, user: &str, date: Date) -> Result<Vec<String>, Error> {
        let user = user.to_owned();
        self.read(move |t| {
            let mut out = Vec::new();
            scan(
                &t.guided,
                &user_lo(&user),
                &user_hi(&user),
                false,
                |_, v| {
                    let g: GuidedSession = json(v)?;
                    if g.local_date == date {
                        out.push(g.trigger_point);
                    }
                    Ok(true)
                },
            )?;
            Ok(out)
        })
        .await
    }

    /// Every session of a user, oldest first.
    pub async fn all_sessions(&self, user: &str) -> Result<Vec<SessionRecord>, Error> {
        let user = user.to_owned();
        self.read(move |t| {
            let mut out = Vec::new();
            t.sessions_range(&user, &user_lo(&user), &user_hi(&user), false, |r| {
                out.push(r);
                true
            })?;
            Ok(out)
        })
        .await
    }

    /// Everything stored about a user.
    pub async fn export(&self, user: &str) -> Result<UserData, Error> {
        let user = user.to_owned();
        self.read(move |t| t.export(&user)).await
    }

    /// User ids after `after`, in order; at most `limit`, plus whether more
    /// follow.
    pub async fn list_users(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), Error> {
        self.read(move |t| {
            let mut out = Vec::new();
            let mut more = false;
            let range = match &after {
                Some(a) => {
                    let mut lo = a.as_bytes().to_vec();
                    lo.push(0);
                    t.users.range::<&[u8]>(lo.as_slice()..)?
                }
                None => t.users.range::<&[u8]>(..)?,
            };
            for item in range {
                let (k, _) = item?;
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(String::from_utf8_lossy(k.value()).into_owned());
            }
            Ok((out, more))
        })
        .await
    }

    /// Every (table, key) in the database, for tests that check deletion
    /// leaves nothing behind. Also lists tables this module does not know,
    /// so a new table cannot escape the check.
    pub fn scan_all_keys(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let txn = current(&self.db)?.begin_read()?;
        let mut out = Vec::new();
        for handle in txn.list_tables()? {
            let name = redb::TableHandle::name(&handle).to_owned();
            if !TABLES.iter().any(|t| redb::TableHandle::name(t) == name) {
                out.push((name.clone(), b"<unknown table>".to_vec()));
            }
        }
        for def in TABLES {
            let table = txn.open_table(def)?;
            for item in table.iter()? {
                let (k, _) = item?;
                out.push((redb::TableHandle::name(&def).to_owned(), k.value().to_vec()));
            }
        }
        Ok(out)
    }
}

fn mismatch() -> Error {
    Error::Storage("writer answered with the wrong kind of output".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::fixture;
    use crate::domain::{PainQuality, Side};

    fn draft(point: &str, at: &str, tenderness: Option<u8>) -> SessionDraft {
        SessionDraft {
            trigger_point: point.into(),
            tool: "lacrosse_ball".into(),
            side: Side::Left,
            pressure: 5,
            duration_seconds: 90,
            tenderness_before: tenderness,
            tenderness_after: None,
            pain_quality: PainQuality::Dull,
            worse_with_activity: false,
            worse_with_massage: false,
            twitch_response: false,
            notes: String::new(),
            perform_time: at.parse().unwrap(),
            guided_session: None,
        }
    }

    fn item(rid: &str, d: SessionDraft) -> LogItem {
        LogItem {
            request_id: rid.into(),
            draft: d,
            field_prefix: "session.".into(),
        }
    }

    fn now() -> Timestamp {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    fn pain(region: &str, score: u8) -> CheckInDraft {
        CheckInDraft {
            region: region.into(),
            score,
        }
    }

    /// One per region per local day (the person's zone), replaced the same
    /// day, kept apart the next; survives export, delete and import.
    #[tokio::test]
    async fn check_ins_per_local_day_and_region_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let patch = ProfilePatch {
            time_zone: Some("America/New_York".into()),
            ..Default::default()
        };
        store.update_profile("u", patch, now()).await.unwrap();
        // 02:00 UTC on the 11th is still the 10th in New York.
        let late: Timestamp = "2026-03-11T02:00:00Z".parse().unwrap();
        let next: Timestamp = "2026-03-11T14:00:00Z".parse().unwrap();
        let (a, r) = store
            .record_check_in("u", "a", pain("low_back", 6), now())
            .await
            .unwrap();
        assert_eq!(
            (a.local_date.to_string().as_str(), r),
            ("2026-03-10", (false, false))
        );
        let (b, r) = store
            .record_check_in("u", "b", pain("low_back", 5), late)
            .await
            .unwrap();
        assert_eq!((b.local_date, r), (a.local_date, (false, true)));
        let (c, _) = store
            .record_check_in("u", "c", pain("low_back", 3), next)
            .await
            .unwrap();
        assert_eq!(c.local_date.to_string(), "2026-03-11");
        let (again, r) = store
            .record_check_in("u", "a", pain("low_back", 9), next)
            .await
            .unwrap();
        assert_eq!((again.score, r), (5, (true, false)));
        let days = store
            .check_ins("u", a.local_date, c.local_date)
            .await
            .unwrap();
        let scores: Vec<u8> = days.iter().map(|c| c.score).collect();
        assert_eq!(scores, [5, 3]);
        assert!(
            store
                .check_ins("u", c.local_date, c.local_date)
                .await
                .unwrap()
                .len()
                == 1
        );
        assert!(
            store
                .check_ins("v", a.local_date, c.local_date)
                .await
                .unwrap()
                .is_empty()
        );

        let data = store.export("u").await.unwrap();
        assert_eq!(data.check_ins, days);
        store.delete_user("u").await.unwrap();
        assert!(
            store
                .check_ins("u", a.local_date, c.local_date)
                .await
                .unwrap()
                .is_empty()
        );
        store.import_user(data.clone()).await.unwrap();
        assert_eq!(store.export("u").await.unwrap().check_ins, data.check_ins);
        // The imported request ids stay idempotent.
        let (again, r) = store
            .record_check_in("u", "c", pain("low_back", 1), next)
            .await
            .unwrap();
        assert_eq!((again.score, r.0), (3, true));
    }

    #[tokio::test]
    async fn keys_sort_by_time_including_before_1970() {
        let a = time_bytes("1969-12-31T23:59:59Z".parse().unwrap());
        let b = time_bytes("1970-01-01T00:00:00Z".parse().unwrap());
        let c = time_bytes("2026-01-01T00:00:00Z".parse().unwrap());
        assert!(a < b && b < c);
    }

    #[tokio::test]
    async fn duplicates_in_one_batch_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let cat = Arc::new(fixture::catalog());
        let d = draft("ql_superficial", "2026-03-10T10:00:00Z", Some(5));
        let out = store
            .log_sessions(
                "u",
                vec![item("r1", d.clone()), item("r1", d.clone()), item("r2", d)],
                cat,
                now(),
            )
            .await
            .unwrap();
        let (a, ra) = out[0].as_ref().unwrap();
        let (b, rb) = out[1].as_ref().unwrap();
        assert!(!ra && *rb);
        assert_eq!(a, b);
        assert_eq!(store.all_sessions("u").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn deleting_a_user_leaves_no_key_and_spares_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let cat = Arc::new(fixture::catalog());
        for user in ["al", "alice"] {
            store
                .update_profile(
                    user,
                    ProfilePatch {
                        time_zone: Some("Europe/Berlin".into()),
                        ..Default::default()
                    },
                    now(),
                )
                .await
                .unwrap();
            store
                .log_sessions(
                    user,
                    vec![item(
                        "r",
                        draft("ql_superficial", "2026-03-10T10:00:00Z", Some(4)),
                    )],
                    cat.clone(),
                    now(),
                )
                .await
                .unwrap();
        }
        assert_eq!(store.delete_user("al").await.unwrap(), (1, 0));
        let keys = store.scan_all_keys().unwrap();
        assert!(
            !keys
                .iter()
                .any(|(_, k)| k == b"al" || k.starts_with(b"al\0"))
        );
        assert!(keys.iter().any(|(_, k)| k.starts_with(b"alice\0")));
        assert_eq!(store.all_sessions("alice").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_page_cache_stays_within_its_bound() {
        // A database many times the cache, all written and read back: the
        // cache holds at most its bound, however large the file grows.
        let dir = tempfile::tempdir().unwrap();
        let bound = 256 * 1024;
        let store = Store::open(
            dir.path(),
            StoreOptions {
                max_batch: 64,
                cache_bytes: bound,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let cat = Arc::new(fixture::catalog());
        for b in 0..40 {
            let items = (0..50)
                .map(|i| {
                    let at = format!("2026-03-{:02}T10:{:02}:00Z", 1 + b % 9, i);
                    let mut d = draft("ql_superficial", &at, Some(5));
                    d.notes = "x".repeat(400);
                    item(&format!("r{b}-{i}"), d)
                })
                .collect();
            store
                .log_sessions(&format!("user-{b}"), items, cat.clone(), now())
                .await
                .unwrap();
        }
        let mut read = 0;
        for b in 0..40 {
            read += store
                .all_sessions(&format!("user-{b}"))
                .await
                .unwrap()
                .len();
        }
        assert_eq!(read, 2000);
        let file = std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len();
        assert!(file > 4 * bound as u64, "file {file} bytes");
        let used = current(&store.db).unwrap().cache_stats().used_bytes();
        assert!(used > 0 && used <= bound, "cache holds {used} bytes");
    }

    #[tokio::test]
    async fn list_pages_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            StoreOptions {
                max_batch: 1,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let cat = Arc::new(fixture::catalog());
        for h in 0..5 {
            let at = format!("2026-03-0{}T10:00:00Z", h + 1);
            store
                .log_sessions(
                    "u",
                    vec![item(&format!("r{h}"), draft("ql_superficial", &at, None))],
                    cat.clone(),
                    now(),
                )
                .await
                .unwrap();
        }
        let (page, more) = store
            .list_sessions("u", None, None, None, None, 2)
            .await
            .unwrap();
        assert!(more);
        assert_eq!(page[0].local_date.to_string(), "2026-03-05");
        let last = &page[1];
        let cursor = (last.draft.perform_time.as_microsecond(), last.id.clone());
        let (page, _) = store
            .list_sessions("u", None, None, None, Some(cursor), 10)
            .await
            .unwrap();
        let dates: Vec<_> = page.iter().map(|r| r.local_date.to_string()).collect();
        assert_eq!(dates, ["2026-03-03", "2026-03-02", "2026-03-01"]);
        let start = "2026-03-02T00:00:00Z".parse().unwrap();
        let end = "2026-03-04T00:00:00Z".parse().unwrap();
        let (page, more) = store
            .list_sessions("u", Some(start), Some(end), None, None, 10)
            .await
            .unwrap();
        assert_eq!(page.len(), 2);
        assert!(!more);
    }
}
