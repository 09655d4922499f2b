//! Progress on a trigger point: tenderness per local day, and the week rule
//! as the seed states it.
//!
//! **The week rule.** Work is *consistent* when sessions were done on at
//! least `consistent_days_min` of the last `trend_window_days` local days
//! (the seed: 5 of 7), at any count per day. Across the window's tenderness
//! readings (at least [`MIN_TREND_DAYS`] days of them) the fitted change is
//! compared with `min_tenderness_change`: a rise that large is WORSENING
//! (which puts the muscle on hold, see [`super::holds`]), a drop that large is
//! IMPROVING, and anything smaller after consistent work that began at least
//! `expected_improvement_days` ago is NOT_IMPROVING: probably the wrong
//! spot, so the other points that refer to the same regions are suggested.
//! Every threshold comes from the catalog's guidance.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;

use super::{CatalogView, DayStats, Guidance, time};

/// The days of history ListProgress shows unless asked for another span
/// (and the span the plans compute progress with, to share it).
pub const DEFAULT_HISTORY_DAYS: u32 = 28;

/// The fewest days with a tenderness reading in the window for a trend.
pub const MIN_TREND_DAYS: usize = 3;

/// A tenderness trend over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Least-squares slope of the daily mean, points per day.
    pub slope: f64,
    /// Days with a reading.
    pub days: usize,
    /// The fitted change from the first to the last day with a reading,
    /// in tenderness points (negative is better).
    pub change: f64,
}

impl Trend {
    /// Whether tenderness went up by at least the guidance's threshold.
    pub fn rising(self, g: &Guidance) -> bool {
        self.change >= threshold(g)
    }

    /// Whether tenderness went down by at least the guidance's threshold.
    pub fn falling(self, g: &Guidance) -> bool {
        self.change <= -threshold(g)
    }
}

/// The change that counts as real; a tiny epsilon absorbs float rounding
/// of a fitted line through whole-point readings.
fn threshold(g: &Guidance) -> f64 {
    f64::from(g.min_tenderness_change.max(1)) - 1e-9
}

/// The trend of tenderness readings over the `window` days ending on `end`
/// (inclusive); `None` with fewer than [`MIN_TREND_DAYS`] days of readings.
pub fn trend(readings: &[(Date, u8)], end: Date, window: u32) -> Option<Trend> {
    let start = time::days_before(end, window.saturating_sub(1));
    let mut per_day: BTreeMap<Date, (f64, f64)> = BTreeMap::new();
    for (d, t) in readings {
        if *d >= start && *d <= end {
            let e = per_day.entry(*d).or_insert((0.0, 0.0));
            e.0 += f64::from(*t);
            e.1 += 1.0;
        }
    }
    if per_day.len() < MIN_TREND_DAYS {
        return None;
    }
    let points: Vec<(f64, f64)> = per_day
        .iter()
        .map(|(d, (sum, n))| (time::days_between(start, *d) as f64, sum / n))
        .collect();
    let slope = slope(&points);
    let span = points.last().map_or(0.0, |l| l.0) - points.first().map_or(0.0, |f| f.0);
    Some(Trend {
        slope,
        days: points.len(),
        change: slope * span,
    })
}

/// Whether tenderness readings worsen across the guidance's window ending
/// on `end`: the one rule behind WORSENING, the rising-tenderness warning
/// and the worsening hold.
pub fn worsening(readings: &[(Date, u8)], end: Date, g: &Guidance) -> bool {
    trend(readings, end, g.trend_window_days.max(1)).is_some_and(|t| t.rising(g))
}

/// The least-squares slope of `points`; 0 when x does not vary.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// One session as progress needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPoint {
    /// Local date.
    pub local_date: Date,
    /// When it was done.
    pub perform_time: Timestamp,
    /// Tenderness before.
    pub tenderness_before: Option<u8>,
    /// Tenderness after.
    pub tenderness_after: Option<u8>,
    /// Seconds on the point.
    pub duration_seconds: u32,
    /// A local twitch response was felt.
    pub twitch_response: bool,
}

/// Where progress on a point stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Too few days of data.
    InsufficientData,
    /// Tenderness going down.
    Improving,
    /// A week of consistent work without improvement.
    NotImproving,
    /// Tenderness going up.
    Worsening,
}

/// Progress on one trigger point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointProgress {
    /// Trigger point id.
    pub trigger_point: String,
    /// Per local day, oldest first, within the requested history.
    pub days: Vec<DayStats>,
    /// Tenderness change per day over the trend window.
    pub trend_per_day: f64,
    /// The status.
    pub status: Status,
    /// Plain-language advice.
    pub advice: String,
    /// Days with a session in the trend window.
    pub active_days_in_window: u32,
    /// Sessions in the trend window.
    pub sessions_in_window: u32,
    /// First session on the point.
    pub first_perform_time: Option<Timestamp>,
    /// Latest session on the point.
    pub last_perform_time: Option<Timestamp>,
    /// A twitch response was reported on the point.
    pub twitch_reported: bool,
    /// Daily mean tenderness, latest minus first day with a reading, over
    /// the whole journal; `None` with fewer than two such days.
    pub tenderness_change: Option<f64>,
}

/// How many alternative points to suggest.
const MAX_ALTERNATIVES: usize = 5;

/// The tenderness readings of one day: their sum and count (exact, so the
/// mean is the same as over the readings themselves).
#[derive(Debug, Clone, Copy, Default)]
struct Readings {
    total: u64,
    n: u64,
}

impl Readings {
    fn add(&mut self, t: Option<u8>) {
        if let Some(t) = t {
            self.total += u64::from(t);
            self.n += 1;
        }
    }

    fn mean(self) -> Option<f64> {
        (self.n > 0).then(|| self.total as f64 / self.n as f64)
    }
}

/// One local day of a point: sessions, readings before and after, seconds.
type Day = (u32, Readings, Readings, u32);

/// What a point's status rests on, over the trend window ending on `today`.
struct Assessment {
    /// The tenderness trend, with enough days of readings.
    trend: Option<Trend>,
    /// Days with a session in the window.
    active: u32,
    /// Sessions in the window.
    sessions: u32,
    status: Status,
}

/// The week rule (see the module's docs) on a point's sessions.
fn assess(sessions: &[SessionPoint], today: Date, g: &Guidance) -> Assessment {
    let window = g.trend_window_days.max(1);
    let window_start = time::days_before(today, window - 1);
    let mut days: Vec<Date> = sessions
        .iter()
        .map(|s| s.local_date)
        .filter(|d| (window_start..=today).contains(d))
        .collect();
    let in_window = u32::try_from(days.len()).unwrap_or(u32::MAX);
    days.sort_unstable();
    days.dedup();
    let active = u32::try_from(days.len()).unwrap_or(u32::MAX);
    let readings: Vec<(Date, u8)> = sessions
        .iter()
        .filter_map(|s| {
            s.tenderness_before
                .or(s.tenderness_after)
                .map(|t| (s.local_date, t))
        })
        .collect();
    let t = trend(&readings, today, window);
    let first_date = sessions.iter().map(|s| s.local_date).min();
    let worked_days = first_date.map_or(0, |d| time::days_between(d, today) + 1);
    let is_consistent = active >= g.consistent_days_min.max(1);
    let waited = worked_days >= i64::from(g.expected_improvement_days.max(1));
    let status = match t {
        Some(t) if t.rising(g) => Status::Worsening,
        Some(t) if t.falling(g) => Status::Improving,
        Some(_) if is_consistent && waited => Status::NotImproving,
        _ => Status::InsufficientData,
    };
    Assessment {
        trend: t,
        active,
        sessions: in_window,
        status,
    }
}

/// The status of a point from all of its sessions, as of local date
/// `today`: [`point_progress`]'s, without the rest of it.
pub fn status(sessions: &[SessionPoint], today: Date, catalog: &CatalogView) -> Status {
    assess(sessions, today, &catalog.guidance).status
}

/// Computes progress on `point` from all of its sessions, as of local date
/// `today`, showing `history_days` days. Its alternatives are not part of
/// it: they depend on the other points too ([`alternatives`]).
pub fn point_progress(
    point: &str,
    sessions: &[SessionPoint],
    today: Date,
    history_days: u32,
    catalog: &CatalogView,
) -> PointProgress {
    let g = &catalog.guidance;
    let window = g.trend_window_days.max(1);
    let mut by_day: BTreeMap<Date, Day> = BTreeMap::new();
    for s in sessions {
        let e = by_day.entry(s.local_date).or_default();
        e.0 += 1;
        e.1.add(s.tenderness_before);
        e.2.add(s.tenderness_after);
        e.3 = e.3.saturating_add(s.duration_seconds);
    }
    let history_start = time::days_before(today, history_days.saturating_sub(1));
    let days: Vec<DayStats> = by_day
        .range(history_start..=today)
        .map(|(d, (n, before, after, secs))| DayStats {
            date: *d,
            sessions: *n,
            mean_before: before.mean(),
            mean_after: after.mean(),
            total_duration_seconds: *secs,
        })
        .collect();
    let Assessment {
        trend: t,
        active,
        sessions: count,
        status,
    } = assess(sessions, today, g);
    let advice = match status {
        Status::Worsening => {
            "Tenderness on this point is going up. Stop working it and seek medical attention."
                .to_owned()
        }
        Status::Improving => {
            "Tenderness is going down. Keep going at the same gentle pressure.".to_owned()
        }
        Status::NotImproving => format!(
            "Sessions on {active} of the last {window} days and tenderness has not come down by {} point{}. This is probably not the right spot: re-check it, and try the other trigger points that can cause the same pain.",
            g.min_tenderness_change,
            if g.min_tenderness_change == 1 {
                ""
            } else {
                "s"
            }
        ),
        Status::InsufficientData => format!(
            "Work this point on at least {} of every {window} days and record tenderness before each session; results usually show within {} days.",
            g.consistent_days_min, g.expected_improvement_days
        ),
    };
    let first = sessions.iter().map(|s| s.perform_time).min();
    let last = sessions.iter().map(|s| s.perform_time).max();
    let daily: Vec<f64> = by_day
        .values()
        .filter_map(|(_, before, after, _)| before.mean().or_else(|| after.mean()))
        .collect();
    let tenderness_change = match (daily.first(), daily.last()) {
        (Some(a), Some(b)) if daily.len() >= 2 => Some(b - a),
        _ => None,
    };
    PointProgress {
        trigger_point: point.to_owned(),
        days,
        trend_per_day: t.map_or(0.0, |t| t.slope),
        status,
        advice,
        active_days_in_window: active,
        sessions_in_window: count,
        first_perform_time: first,
        last_perform_time: last,
        twitch_reported: sessions.iter().any(|s| s.twitch_response),
        tenderness_change,
    }
}

/// The alternatives of each point of `list`, in its order: for a
/// NOT_IMPROVING point, the points that refer pain to the same regions,
/// most shared regions first, never a point of a held muscle, nor one that
/// is worsening or was already tried without improvement; none for the
/// others. They depend on every point's status and on the holds, so they
/// are not part of a point's own progress.
pub fn alternatives<P: Borrow<PointProgress>>(
    list: &[P],
    catalog: &CatalogView,
    held_muscles: &BTreeSet<String>,
) -> Vec<Vec<String>> {
    let excluded: BTreeSet<&str> = list
        .iter()
        .map(Borrow::borrow)
        .filter(|p| matches!(p.status, Status::Worsening | Status::NotImproving))
        .map(|p| p.trigger_point.as_str())
        .collect();
    list.iter()
        .map(Borrow::borrow)
        .map(|p| {
            if p.status != Status::NotImproving {
                return Vec::new();
            }
            catalog
                .alternatives(&p.trigger_point, usize::MAX)
                .into_iter()
                .filter(|a| !excluded.contains(a.as_str()))
                .filter(|a| {
                    // Never a held muscle, nor a point for a therapist only.
                    catalog.point(a).is_none_or(|i| {
                        !held_muscles.contains(&i.muscle) && i.therapist_only.is_none()
                    })
                })
                .take(MAX_ALTERNATIVES)
                .collect()
        })
        .collect()
}

/// Sessions worked per point and local day: what plans and adherence count.
pub type Worked = BTreeMap<String, BTreeMap<Date, u32>>;

/// One stored session as progress reads it: the fields of a
/// [`SessionRecord`](super::SessionRecord) that plans and progress use,
/// decoded from the stored record without the rest (its id, tool, notes
/// and warnings are skipped, not allocated). ListProgress, the plan and
/// GetToday read the whole journal; decoding whole records was most of it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct JournalEntry {
    /// What the client described, as far as progress needs it.
    pub draft: JournalDraft,
    /// Local date of the session.
    pub local_date: Date,
}

/// The part of a [`super::SessionDraft`] that progress reads.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct JournalDraft {
    /// Trigger point id.
    pub trigger_point: String,
    /// Seconds on the point.
    pub duration_seconds: u32,
    /// Tenderness before.
    pub tenderness_before: Option<u8>,
    /// Tenderness after.
    pub tenderness_after: Option<u8>,
    /// Twitch response felt.
    pub twitch_response: bool,
    /// When it was done.
    pub perform_time: Timestamp,
}

impl From<&super::SessionRecord> for JournalEntry {
    fn from(s: &super::SessionRecord) -> Self {
        Self {
            draft: JournalDraft {
                trigger_point: s.draft.trigger_point.clone(),
                duration_seconds: s.draft.duration_seconds,
                tenderness_before: s.draft.tenderness_before,
                tenderness_after: s.draft.tenderness_after,
                twitch_response: s.draft.twitch_response,
                perform_time: s.draft.perform_time,
            },
            local_date: s.local_date,
        }
    }
}

/// A journal grouped per trigger point: the sessions worked per local day,
/// and each point's sessions as progress reads them (in journal order).
/// What ListProgress and the plans compute from, built once per call (once
/// per GetOverview for all its parts), and kept between calls while the
/// user's rows do not change (`store/versions.rs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grouped {
    /// Sessions per point and local day.
    pub worked: Worked,
    /// Each point's sessions, in journal order.
    pub by_point: BTreeMap<String, Vec<SessionPoint>>,
    /// Each point's progress as last computed from this journal.
    computed: Slot<(Key, Points)>,
    /// One more value computed from it ([`Grouped::kept`]).
    extra: Slot<Box<dyn std::any::Any + Send + Sync>>,
}

impl Grouped {
    /// Adds the next session of the journal, on `point` (the point's id is
    /// copied only the first time it is seen).
    pub fn add(&mut self, point: &str, s: SessionPoint) {
        match self.worked.get_mut(point) {
            Some(days) => *days.entry(s.local_date).or_default() += 1,
            None => {
                self.worked
                    .insert(point.to_owned(), BTreeMap::from([(s.local_date, 1)]));
            }
        }
        match self.by_point.get_mut(point) {
            Some(list) => list.push(s),
            None => {
                self.by_point.insert(point.to_owned(), vec![s]);
            }
        }
    }

    /// The progress of every point (in `by_point` order) as of local date
    /// `today`, showing `history_days` days, with `catalog`'s guidance:
    /// [`point_progress`] of each, computed once per journal, day, span
    /// and catalog, whoever asks (ListProgress, the plans, every part of a
    /// GetOverview), and only for the points whose sessions changed since
    /// the journal this one [`inherited`](Grouped::inherit) from.
    pub fn progress(&self, today: Date, history_days: u32, catalog: &Arc<CatalogView>) -> Progress {
        let mut kept = self.computed.lock();
        let key = Key {
            today,
            history_days,
            catalog: Arc::downgrade(catalog),
        };
        // Asked again: the same list, not a copy of it.
        if let Some((k, Points::All(all))) = &*kept
            && *k == key
        {
            return all.clone();
        }
        let done = match kept.take() {
            Some((k, Points::Partial(done))) if k == key => done,
            _ => vec![None; self.by_point.len()],
        };
        let all: Progress = self
            .by_point
            .iter()
            .zip(done)
            .map(|((p, sessions), done)| {
                done.unwrap_or_else(|| {
                    Arc::new(point_progress(p, sessions, today, history_days, catalog))
                })
            })
            .collect();
        *kept = Some((key, Points::All(all.clone())));
        all
    }

    /// `compute`'s value, kept with this journal until asked with another
    /// `key` (what else it depends on): for a value computed from the whole
    /// journal on every read, such as the plans' adherence. One value is
    /// kept; asking with another key or type replaces it.
    pub fn kept<K, V>(&self, key: K, compute: impl FnOnce() -> V) -> V
    where
        K: PartialEq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if let Some((k, v)) = self
            .extra
            .lock()
            .as_ref()
            .and_then(|b| b.downcast_ref::<(K, V)>())
            && *k == key
        {
            return v.clone();
        }
        let v = compute();
        *self.extra.lock() = Some(Box::new((key, v.clone())));
        v
    }

    /// Takes the `i`th session of `point` out, in place (the store keeps a
    /// journal up to date this way after a commit): what was computed for
    /// that point, and the extra value, are forgotten; every other point's
    /// progress stays. `None` when there is no such session.
    pub fn remove_at(&mut self, point: &str, i: usize) -> Option<SessionPoint> {
        let at = self.place(point);
        let list = self.by_point.get_mut(point)?;
        if i >= list.len() {
            return None;
        }
        let s = list.remove(i);
        let gone = list.is_empty();
        if gone {
            self.by_point.remove(point);
        }
        if let Some(days) = self.worked.get_mut(point) {
            if let Some(n) = days.get_mut(&s.local_date) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    days.remove(&s.local_date);
                }
            }
            if days.is_empty() {
                self.worked.remove(point);
            }
        }
        self.forget(at, if gone { Edit::Gone } else { Edit::Changed });
        Some(s)
    }

    /// Puts `s` in as the `i`th session of `point` (at most one past its
    /// last), in place; see [`Grouped::remove_at`]. False when `i` is past
    /// that.
    pub fn insert_at(&mut self, point: &str, i: usize, s: SessionPoint) -> bool {
        let at = self.place(point);
        let new = !self.by_point.contains_key(point);
        let list = self.by_point.entry(point.to_owned()).or_default();
        if i > list.len() {
            if list.is_empty() {
                self.by_point.remove(point);
            }
            return false;
        }
        *self
            .worked
            .entry(point.to_owned())
            .or_default()
            .entry(s.local_date)
            .or_default() += 1;
        list.insert(i, s);
        self.forget(at, if new { Edit::New } else { Edit::Changed });
        true
    }

    /// The index `point` has (or would have) in `by_point`, when progress
    /// was computed (it is kept in that order); `None` otherwise.
    fn place(&mut self, point: &str) -> Option<usize> {
        let computed = self.computed.0.get_mut().unwrap_or_else(|p| p.into_inner());
        // The points before it, found by one search and counted without
        // comparing each id.
        computed.is_some().then(|| {
            self.by_point
                .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(point)))
                .count()
        })
    }

    /// Forgets the computed progress of the point at index `at` of
    /// `by_point` (see [`Grouped::place`]) after `edit`, keeping every
    /// other point's in step.
    fn forget(&mut self, at: Option<usize>, edit: Edit) {
        *self.extra.0.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        let computed = self.computed.0.get_mut().unwrap_or_else(|p| p.into_inner());
        let (Some((key, points)), Some(at)) = (computed.take(), at) else {
            return;
        };
        let mut points = match points {
            Points::All(all) => all.iter().cloned().map(Some).collect(),
            Points::Partial(done) => done,
        };
        match edit {
            Edit::Changed if at < points.len() => points[at] = None,
            Edit::Gone if at < points.len() => {
                points.remove(at);
            }
            Edit::New if at <= points.len() => points.insert(at, None),
            // Out of step (never expected): compute every point again.
            _ => return,
        }
        *computed = Some((key, Points::Partial(points)));
    }

    /// Takes over what `earlier` (the same user's journal before a change)
    /// computed for the points whose sessions are the same in both: after
    /// a session is logged, only its point is computed again.
    pub fn inherit(&self, earlier: &Grouped) {
        let Some((key, done)) = earlier.computed.lock().clone() else {
            return;
        };
        let done = match done {
            Points::All(all) => all.iter().cloned().map(Some).collect(),
            Points::Partial(done) => done,
        };
        // Both maps are in point order: walk them side by side.
        let mut before = earlier.by_point.iter().zip(done).peekable();
        let points = self
            .by_point
            .iter()
            .map(|(p, sessions)| {
                while before.next_if(|((q, _), _)| *q < p).is_some() {}
                match before.next_if(|((q, _), _)| *q == p) {
                    Some(((_, same), done)) if same == sessions => done,
                    _ => None,
                }
            })
            .collect();
        *self.computed.lock() = Some((key, Points::Partial(points)));
    }
}

/// What a point's computed progress depends on besides its sessions.
#[derive(Debug, Clone)]
struct Key {
    today: Date,
    history_days: u32,
    /// The catalog it was computed with (its guidance); held weakly, which
    /// also keeps its address from being reused by another.
    catalog: std::sync::Weak<CatalogView>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.today == other.today
            && self.history_days == other.history_days
            && std::sync::Weak::ptr_eq(&self.catalog, &other.catalog)
    }
}

/// Every point's progress, in `by_point` order (so in point id order), as
/// [`Grouped::progress`] answers it: one list shared by everyone who asks.
pub type Progress = Arc<[Arc<PointProgress>]>;

/// The status of `point` in `list` (in point id order, as
/// [`Grouped::progress`] answers it); `None` for a point not worked.
pub fn status_of(list: &[Arc<PointProgress>], point: &str) -> Option<Status> {
    list.binary_search_by(|p| p.trigger_point.as_str().cmp(point))
        .ok()
        .map(|i| list[i].status)
}

/// What an in-place edit did to a point of a journal.
enum Edit {
    /// Its sessions changed.
    Changed,
    /// It has no session left.
    Gone,
    /// It has its first.
    New,
}

/// Progress computed from a journal, per point in `by_point` order.
#[derive(Clone)]
enum Points {
    /// Every point's, as [`Grouped::progress`] answered it.
    All(Progress),
    /// Some points' (`None`: not yet): what a journal inherited.
    Partial(Vec<Option<Arc<PointProgress>>>),
}

/// A value computed from a journal and kept beside it, not part of its
/// value: a clone starts empty, and equality ignores it. Holds each
/// point's progress ([`Grouped::progress`]) and the one more value of
/// [`Grouped::kept`].
struct Slot<T>(std::sync::Mutex<Option<T>>);

impl<T> Slot<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(None))
    }
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

#[cfg(test)]
impl JournalEntry {
    /// A minute on `point` on `local_date` with nothing else recorded, for
    /// tests that only need a journal to hold something.
    pub(crate) fn bare(point: &str, local_date: Date) -> Self {
        Self {
            draft: JournalDraft {
                trigger_point: point.into(),
                duration_seconds: 60,
                tenderness_before: None,
                tenderness_after: None,
                twitch_response: false,
                perform_time: Timestamp::UNIX_EPOCH,
            },
            local_date,
        }
    }
}

impl SessionPoint {
    /// The session of a journal entry as progress reads it.
    pub fn of(e: &JournalEntry) -> Self {
        let d = &e.draft;
        Self {
            local_date: e.local_date,
            perform_time: d.perform_time,
            tenderness_before: d.tenderness_before,
            tenderness_after: d.tenderness_after,
            duration_seconds: d.duration_seconds,
            twitch_response: d.twitch_response,
        }
    }
}

/// Groups a journal per trigger point (see [`Grouped`]).
pub fn by_point(journal: impl IntoIterator<Item = JournalEntry>) -> Grouped {
    let mut out = Grouped::default();
    for e in journal {
        out.add(&e.draft.trigger_point, SessionPoint::of(&e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::catalog::fixture;
    use super::*;
    use jiff::civil::date;

    /// The status alone is the one the whole progress reports, whatever
    /// the sessions: many generated histories, each seen from several days.
    #[test]
    fn the_status_alone_matches_the_whole_progress() {
        let c = fixture::catalog();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let start = date(2026, 3, 1);
        let mut seen = BTreeSet::new();
        for _ in 0..300 {
            let n = next(25);
            let mut list: Vec<SessionPoint> = (0..n)
                .map(|_| {
                    let d = start
                        .checked_add(jiff::Span::new().days(next(30) as i64))
                        .unwrap();
                    let t = |x: u64| (x < 11).then_some(x as u8);
                    SessionPoint {
                        local_date: d,
                        perform_time: d.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp(),
                        tenderness_before: t(next(14)),
                        tenderness_after: t(next(14)),
                        duration_seconds: 60,
                        twitch_response: false,
                    }
                })
                .collect();
            list.sort_by_key(|s| s.local_date);
            for offset in [0, 10, 20, 29, 40] {
                let today = start.checked_add(jiff::Span::new().days(offset)).unwrap();
                let whole = point_progress("p", &list, today, 28, &c).status;
                assert_eq!(status(&list, today, &c), whole);
                seen.insert(format!("{whole:?}"));
            }
        }
        // The generated histories reach every status.
        assert_eq!(seen.len(), 4, "{seen:?}");
    }

    /// Grouping counts sessions per point and day and keeps each point's
    /// sessions in journal order.
    #[test]
    fn grouping_counts_days_and_keeps_journal_order() {
        let at = |point: &str, day: i8, hour: i8| JournalEntry {
            draft: JournalDraft {
                trigger_point: point.into(),
                duration_seconds: 60,
                tenderness_before: Some(day as u8),
                tenderness_after: None,
                twitch_response: false,
                perform_time: date(2026, 3, day)
                    .at(hour, 0, 0, 0)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .unwrap()
                    .timestamp(),
            },
            local_date: date(2026, 3, day),
        };
        let g = by_point([at("a", 1, 8), at("b", 1, 9), at("a", 1, 18), at("a", 3, 8)]);
        assert_eq!(
            g.worked["a"],
            BTreeMap::from([(date(2026, 3, 1), 2), (date(2026, 3, 3), 1)])
        );
        assert_eq!(g.worked["b"], BTreeMap::from([(date(2026, 3, 1), 1)]));
        let hours: Vec<i8> = g.by_point["a"]
            .iter()
            .map(|s| s.perform_time.to_zoned(jiff::tz::TimeZone::UTC).hour())
            .collect();
        assert_eq!(hours, [8, 18, 8]);
        assert_eq!(g.by_point.len(), 2);
    }

    /// Progress kept with a journal is each point's own progress; asked
    /// again it is not computed again, and a journal after a change takes
    /// over the points whose sessions did not change, and only those.
    #[test]
    fn kept_progress_is_computed_once_and_only_for_changed_points() {
        let catalog = Arc::new(fixture::catalog());
        let at = |point: &str, day: i8, t: u8| JournalEntry {
            draft: JournalDraft {
                trigger_point: point.into(),
                duration_seconds: 120,
                tenderness_before: Some(t),
                tenderness_after: Some(t.saturating_sub(2)),
                twitch_response: false,
                perform_time: date(2026, 3, day)
                    .at(9, 0, 0, 0)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .unwrap()
                    .timestamp(),
            },
            local_date: date(2026, 3, day),
        };
        let first = [at("a", 1, 6), at("b", 1, 5), at("a", 2, 5), at("b", 3, 7)];
        let today = date(2026, 3, 4);
        let fresh = |g: &Grouped, days: u32, c: &CatalogView| -> Vec<PointProgress> {
            g.by_point
                .iter()
                .map(|(p, s)| point_progress(p, s, today, days, c))
                .collect()
        };
        let g = by_point(first.clone());
        let once = g.progress(today, 28, &catalog);
        let owned: Vec<PointProgress> = once.iter().map(|p| (**p).clone()).collect();
        assert_eq!(owned, fresh(&g, 28, &catalog));
        // Asked again, the same list is answered, not a copy.
        let again = g.progress(today, 28, &catalog);
        assert!(Arc::ptr_eq(&once, &again));
        // Another span, day or catalog is computed anew.
        let wider = g.progress(today, 90, &catalog);
        assert!(!Arc::ptr_eq(&wider[0], &again[0]));
        let reloaded = Arc::new(fixture::catalog());
        let other = g.progress(today, 90, &reloaded);
        assert!(!Arc::ptr_eq(&other[0], &wider[0]));
        let tomorrow = date(2026, 3, 5);
        let later = g.progress(tomorrow, 90, &reloaded);
        assert!(!Arc::ptr_eq(&later[0], &other[0]));

        // A session logged on "b", and a new point "c".
        let g = by_point(first.clone());
        let before = g.progress(today, 28, &catalog);
        let mut logged = first.to_vec();
        logged.push(at("b", 4, 8));
        logged.push(at("c", 4, 3));
        let after = by_point(logged);
        after.inherit(&g);
        let now = after.progress(today, 28, &catalog);
        let points: Vec<&str> = now.iter().map(|p| p.trigger_point.as_str()).collect();
        assert_eq!(points, ["a", "b", "c"]);
        assert!(Arc::ptr_eq(&now[0], &before[0]), "a is unchanged");
        assert!(!Arc::ptr_eq(&now[1], &before[1]), "b has a new session");
        let owned: Vec<PointProgress> = now.iter().map(|p| (**p).clone()).collect();
        assert_eq!(owned, fresh(&after, 28, &catalog));
        assert_ne!(now[1].sessions_in_window, before[1].sessions_in_window);
        // Taken over for another span, nothing is reused.
        let other_span = by_point(first.clone());
        other_span.inherit(&g);
        let wide = other_span.progress(today, 7, &catalog);
        assert!(!Arc::ptr_eq(&wide[0], &before[0]));
        assert_eq!(
            wide.iter().map(|p| (**p).clone()).collect::<Vec<_>>(),
            fresh(&other_span, 7, &catalog)
        );
        // A clone keeps the journal, not what was computed from it.
        assert_eq!(g.clone(), g);
        assert!(!Arc::ptr_eq(
            &g.clone().progress(today, 28, &catalog)[0],
            &before[0]
        ));
    }

    /// A point's status is found in the kept list by its id (the list is in
    /// id order); a point never worked has none.
    #[test]
    fn a_points_status_is_found_by_its_id() {
        let catalog = Arc::new(fixture::catalog());
        let day = |d: i8| date(2026, 3, d);
        let entry = |point: &str, d: i8, before: u8, after: u8| JournalEntry {
            draft: JournalDraft {
                trigger_point: point.into(),
                duration_seconds: 120,
                tenderness_before: Some(before),
                tenderness_after: Some(after),
                twitch_response: false,
                perform_time: day(d)
                    .at(9, 0, 0, 0)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .unwrap()
                    .timestamp(),
            },
            local_date: day(d),
        };
        let mut journal = Vec::new();
        for (i, point) in ["zeta", "alpha", "mid", "beta"].into_iter().enumerate() {
            for d in 1..=4 {
                // Each point's tenderness moves its own way.
                let t = if i % 2 == 0 { 3 + d as u8 } else { 9 - d as u8 };
                journal.push(entry(point, d, t, t));
            }
        }
        let list = by_point(journal).progress(day(5), 28, &catalog);
        assert!(list.len() == 4);
        for p in list.iter() {
            assert_eq!(status_of(&list, &p.trigger_point), Some(p.status));
        }
        assert_ne!(
            status_of(&list, "zeta"),
            status_of(&list, "alpha"),
            "worsening and improving points"
        );
        assert_eq!(status_of(&list, "gamma"), None);
        assert_eq!(status_of(&[], "alpha"), None);
    }

    /// A kept value is computed once per key, and again for another key.
    #[test]
    fn a_kept_value_is_computed_once_per_key() {
        let g = Grouped::default();
        let calls = std::cell::Cell::new(0);
        let count = |v: u32| {
            calls.set(calls.get() + 1);
            v
        };
        assert_eq!(g.kept(1u8, || count(10)), 10);
        assert_eq!(g.kept(1u8, || count(11)), 10);
        assert_eq!(calls.get(), 1);
        assert_eq!(g.kept(2u8, || count(20)), 20);
        assert_eq!(g.kept(1u8, || count(12)), 12);
        // Another type under an equal key is not mistaken for it.
        assert_eq!(g.kept(1u8, || "text".to_owned()), "text");
        assert_eq!(calls.get(), 3);
        assert_eq!(g.clone().kept(1u8, || count(13)), 13);
    }

    #[test]
    fn slope_of_a_line() {
        assert!((slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 3.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }

    /// Sessions at local times in `zone`: (local datetime, tenderness).
    fn sessions(zone: &str, at: &[(&str, Option<u8>)]) -> Vec<SessionPoint> {
        let tz = time::zone(zone).unwrap();
        at.iter()
            .map(|(local, t)| {
                let dt: jiff::civil::DateTime = local.parse().unwrap();
                let ts = dt.to_zoned(tz.clone()).unwrap().timestamp();
                SessionPoint {
                    local_date: time::local_date(ts, &tz),
                    perform_time: ts,
                    tenderness_before: *t,
                    tenderness_after: None,
                    duration_seconds: 60,
                    twitch_response: false,
                }
            })
            .collect()
    }

    /// One session at 09:00 on each listed day of March 2026, with its
    /// tenderness.
    fn daily(days: &[(u32, u8)]) -> Vec<(String, Option<u8>)> {
        days.iter()
            .map(|(d, t)| (format!("2026-03-{d:02}T09:00"), Some(*t)))
            .collect()
    }

    /// Progress on `ql_superficial` as of local date `today`.
    #[track_caller]
    fn check(
        zone: &str,
        at: &[(String, Option<u8>)],
        today: &str,
        expected: Status,
    ) -> PointProgress {
        let at: Vec<(&str, Option<u8>)> = at.iter().map(|(a, t)| (a.as_str(), *t)).collect();
        let p = point_progress(
            "ql_superficial",
            &sessions(zone, &at),
            today.parse().unwrap(),
            28,
            &fixture::catalog(),
        );
        assert_eq!(p.status, expected, "{p:?}");
        p
    }

    #[test]
    fn the_week_rule() {
        use Status::*;
        let utc = "UTC";
        check(utc, &[], "2026-03-07", InsufficientData);
        // One a day for seven days, no change: not improving (the seed's
        // "about a week of consistent work").
        let flat7 = daily(&[(1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (6, 5), (7, 5)]);
        let p = check(utc, &flat7, "2026-03-07", NotImproving);
        assert_eq!((p.active_days_in_window, p.sessions_in_window), (7, 7));
        assert!(p.advice.contains("7 of the last 7 days"), "{}", p.advice);
        // Eight days, one a day, no change (the report).
        let flat8: Vec<(u32, u8)> = (1..=8).map(|d| (d, 5)).collect();
        check(utc, &daily(&flat8), "2026-03-08", NotImproving);
        // Five of seven days, with gaps: consistent.
        check(
            utc,
            &daily(&[(1, 5), (2, 5), (4, 5), (6, 5), (7, 5)]),
            "2026-03-07",
            NotImproving,
        );
        // Four of seven: not consistent yet.
        check(
            utc,
            &daily(&[(1, 5), (3, 5), (5, 5), (7, 5)]),
            "2026-03-07",
            InsufficientData,
        );
        // Five days in a row, but the first only five days ago: wait.
        check(
            utc,
            &daily(&[(3, 5), (4, 5), (5, 5), (6, 5), (7, 5)]),
            "2026-03-07",
            InsufficientData,
        );
        // A long gap: old work does not make this week consistent.
        check(
            utc,
            &daily(&[(1, 5), (2, 5), (3, 5), (12, 5), (14, 5), (15, 5)]),
            "2026-03-15",
            InsufficientData,
        );
        // Several sessions a day count as one day.
        let mut many = daily(&[(1, 5), (2, 5), (3, 5), (7, 5)]);
        many.push(("2026-03-07T12:00".into(), Some(5)));
        many.push(("2026-03-07T18:00".into(), Some(5)));
        check(utc, &many, "2026-03-07", InsufficientData);
        // Improving: down by at least the threshold.
        let p = check(
            utc,
            &daily(&[(1, 7), (2, 7), (3, 6), (4, 6), (5, 5), (6, 5), (7, 4)]),
            "2026-03-07",
            Improving,
        );
        assert!(p.trend_per_day < 0.0);
        // Improving after three days already.
        check(
            utc,
            &daily(&[(1, 7), (2, 6), (3, 5)]),
            "2026-03-03",
            Improving,
        );
        // Less than the threshold is no change.
        check(
            utc,
            &daily(&[(1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (6, 5), (7, 6)]),
            "2026-03-07",
            NotImproving,
        );
        check(
            utc,
            &daily(&[(1, 6), (2, 5), (3, 6), (4, 5), (5, 6), (6, 5), (7, 6)]),
            "2026-03-07",
            NotImproving,
        );
        // Rising: worsening, whatever the consistency.
        let p = check(
            utc,
            &daily(&[(4, 3), (5, 4), (6, 5), (7, 6)]),
            "2026-03-07",
            Worsening,
        );
        assert!(p.advice.contains("medical attention"));
        check(
            utc,
            &daily(&[(1, 3), (4, 5), (7, 7)]),
            "2026-03-07",
            Worsening,
        );
        // Readings older than the window fall out.
        check(
            utc,
            &daily(&[(1, 9), (2, 8), (3, 7), (21, 5)]),
            "2026-03-21",
            InsufficientData,
        );
        // Consistent, but tenderness measured on two days only.
        let mut unmeasured = daily(&[(1, 5), (7, 5)]);
        for d in 2..=6 {
            unmeasured.push((format!("2026-03-{d:02}T09:00"), None));
        }
        check(utc, &unmeasured, "2026-03-07", InsufficientData);
    }

    #[test]
    fn the_week_rule_across_daylight_saving() {
        use Status::*;
        // Berlin's clocks go forward on 29 March 2026: a 23-hour day. One
        // session a day at half past midnight, local time, for seven days.
        let spring: Vec<_> = (25..=31)
            .map(|d| (format!("2026-03-{d:02}T00:30"), Some(5)))
            .collect();
        let p = check("Europe/Berlin", &spring, "2026-03-31", NotImproving);
        assert_eq!(p.active_days_in_window, 7);
        assert_eq!(p.days.len(), 7);
        // New York falls back on 1 November 2026: a 25-hour day. Late
        // evening sessions stay on their local day.
        let autumn: Vec<_> = [
            (10, 28),
            (10, 29),
            (10, 30),
            (10, 31),
            (11, 1),
            (11, 2),
            (11, 3),
        ]
        .iter()
        .map(|(m, d)| (format!("2026-{m:02}-{d:02}T23:30"), Some(6)))
        .collect();
        let p = check("America/New_York", &autumn, "2026-11-03", NotImproving);
        assert_eq!(p.active_days_in_window, 7);
        // Five of the seven, rising across the change: worsening.
        let rising: Vec<_> = [(25, 3), (27, 4), (29, 5), (30, 6), (31, 7)]
            .iter()
            .map(|(d, t)| (format!("2026-03-{d:02}T01:30"), Some(*t)))
            .collect();
        check("Europe/Berlin", &rising, "2026-03-31", Worsening);
    }

    #[test]
    fn alternatives_skip_held_worsening_and_tried_points() {
        let catalog = fixture::catalog();
        let stalled = |point: &str, status: Status| PointProgress {
            trigger_point: point.into(),
            days: Vec::new(),
            trend_per_day: 0.0,
            status,
            advice: String::new(),
            active_days_in_window: 7,
            sessions_in_window: 7,
            first_perform_time: None,
            last_perform_time: None,
            twitch_reported: false,
            tenderness_change: None,
        };
        let run = |others: &[(&str, Status)], held: &[&str]| -> Vec<String> {
            let mut list = vec![stalled("ql_superficial", Status::NotImproving)];
            list.extend(others.iter().map(|(p, s)| stalled(p, *s)));
            let held = held.iter().map(|m| (*m).to_owned()).collect();
            alternatives(&list, &catalog, &held).swap_remove(0)
        };
        // Most shared regions first (piriformis refers to the low back and
        // the buttock), then by id.
        assert_eq!(run(&[], &[]), ["piriformis_1", "iliopsoas_1", "ql_deep"]);
        assert_eq!(run(&[], &["piriformis"]), ["iliopsoas_1", "ql_deep"]);
        assert_eq!(
            run(&[("iliopsoas_1", Status::Worsening)], &[]),
            ["piriformis_1", "ql_deep"]
        );
        assert_eq!(
            run(&[("piriformis_1", Status::NotImproving)], &[]),
            ["iliopsoas_1", "ql_deep"]
        );
        assert_eq!(
            run(
                &[("piriformis_1", Status::Improving)],
                &["quadratus_lumborum"]
            ),
            ["piriformis_1", "iliopsoas_1"]
        );
    }

    #[test]
    fn days_are_grouped_and_bounded() {
        let mut s = sessions(
            "UTC",
            &[
                ("2026-03-01T09:00", Some(6)),
                ("2026-03-01T10:00", Some(4)),
                ("2026-03-02T09:00", None),
                ("2026-04-10T09:00", Some(2)),
            ],
        );
        s[1].twitch_response = true;
        let c = fixture::catalog();
        let p = point_progress("ql_superficial", &s, date(2026, 4, 10), 28, &c);
        assert_eq!(p.days.len(), 1, "only 10 April is within 28 days");
        assert!(p.twitch_reported);
        assert_eq!(p.tenderness_change, Some(-3.0));
        let p = point_progress("ql_superficial", &s[..3], date(2026, 3, 2), 28, &c);
        assert_eq!(p.days.len(), 2);
        assert_eq!(p.days[0].sessions, 2);
        assert_eq!(p.days[0].mean_before, Some(5.0));
        assert_eq!(p.days[1].mean_before, None);
        assert_eq!(p.days[0].total_duration_seconds, 120);
        assert_eq!(p.first_perform_time, Some(s[0].perform_time));
        assert_eq!(p.tenderness_change, None);
    }
}
