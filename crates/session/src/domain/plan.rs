//! The daily plan, pure: which points to work on a local day, how many
//! sessions each, suggested times spread through the person's waking hours,
//! the streak and the week's adherence.
//!
//! **Which points.** A day's plan holds the points worked in the week before
//! it or on it ([`PLAN_WINDOW_DAYS`]; for a day after today, the week before
//! today), minus the points set aside (a held muscle, worsening
//! tenderness), most recently worked first, at most [`MAX_PLAN_POINTS`].
//!
//! **How many.** Each point is planned `recommended_sessions_per_day_min`
//! times, never more than `max_sessions_per_point_per_day` (both from the
//! catalog's guidance).
//!
//! **When.** The n-th of N suggested times sits at (2n-1)/2N of the waking
//! window, measured in real time (so a 23- or 25-hour day stays even) and
//! rounded to 5 minutes. The window runs from the wake time to the sleep
//! time; a sleep time after midnight ends it at midnight, because the daily
//! limit counts per local calendar day.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::time;

/// The wake time when the profile has none: 07:00, in minutes.
pub const DEFAULT_WAKE: u16 = 7 * 60;
/// The sleep time when the profile has none: 22:00, in minutes.
pub const DEFAULT_SLEEP: u16 = 22 * 60;
/// The shortest waking day accepted, in minutes.
pub const MIN_AWAKE_MINUTES: u16 = 4 * 60;
/// The most points one day's plan lists.
pub const MAX_PLAN_POINTS: usize = 12;
/// A point stays in the plan this many days after it was last worked.
pub const PLAN_WINDOW_DAYS: u32 = 7;
/// The latest day a plan is made for, in days after today (a later day is
/// planned from what the person works on today).
pub const MAX_DAYS_AHEAD: i64 = 400;
/// The longest span of days one call plans (reminders, calendar).
pub const MAX_SPAN_DAYS: i64 = 14;
/// The earliest day a plan is made for, in days before today.
pub const MAX_DAYS_BACK: i64 = 400;
/// The streak counts at most this many days back.
pub const MAX_STREAK_DAYS: u32 = 400;
/// Days in the adherence week.
pub const WEEK_DAYS: u32 = 7;
/// Suggested times are rounded to this many seconds.
const ROUND_SECONDS: i64 = 300;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Parses a local time of day `HH:MM` (24-hour clock) into minutes.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Formats minutes after midnight as `HH:MM`.
pub fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// When the person is awake, in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waking {
    /// Wake time.
    pub wake: u16,
    /// Sleep time (earlier than `wake` means after midnight).
    pub sleep: u16,
}

impl Default for Waking {
    fn default() -> Self {
        Self {
            wake: DEFAULT_WAKE,
            sleep: DEFAULT_SLEEP,
        }
    }
}

impl Waking {
    /// The profile's times, each falling back to its default.
    pub fn from_profile(wake: Option<u16>, sleep: Option<u16>) -> Self {
        Self {
            wake: wake.unwrap_or(DEFAULT_WAKE),
            sleep: sleep.unwrap_or(DEFAULT_SLEEP),
        }
    }

    /// Minutes awake, a sleep time after midnight included.
    pub fn awake_minutes(self) -> u16 {
        (self.sleep + MINUTES_PER_DAY - self.wake) % MINUTES_PER_DAY
    }

    /// Whether the day is long enough to plan ([`MIN_AWAKE_MINUTES`]).
    pub fn valid(self) -> bool {
        self.awake_minutes() >= MIN_AWAKE_MINUTES
    }

    /// The waking window of local day `date` in `tz`: from the wake time to
    /// the sleep time, or to the end of the day when the sleep time is after
    /// midnight. A time that falls in a daylight-saving gap moves forward
    /// by the gap (jiff's compatible disambiguation).
    pub fn window(self, date: Date, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
        let at = |m: u16| {
            date.at(i8::try_from(m / 60).ok()?, i8::try_from(m % 60).ok()?, 0, 0)
                .to_zoned(tz.clone())
                .ok()
                .map(|z| z.timestamp())
        };
        let start = at(self.wake)?;
        let end = if self.sleep > self.wake {
            at(self.sleep)?
        } else {
            time::start_of_next_day(date, tz)?.timestamp()
        };
        (start < end).then_some((start, end))
    }
}

/// `n` times spread evenly through `[start, end)`: the i-th (from 0) at
/// (2i+1)/2n of the span, rounded to 5 minutes.
pub fn slot_times(start: Timestamp, end: Timestamp, n: u32) -> Vec<Timestamp> {
    let (a, b) = (start.as_second(), end.as_second());
    let span = b - a;
    (0..i64::from(n))
        .filter_map(|i| {
            let raw = a + span * (2 * i + 1) / (2 * i64::from(n));
            let rounded = (raw + ROUND_SECONDS / 2).div_euclid(ROUND_SECONDS) * ROUND_SECONDS;
            Timestamp::from_second(rounded.clamp(a, b - 1)).ok()
        })
        .collect()
}

/// How many sessions a plan asks for, from the guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Sessions planned per point per day.
    pub per_day: u32,
    /// The daily limit per point.
    pub cap: u32,
}

impl Rules {
    /// The guidance's recommended number, never above the daily limit.
    pub fn new(recommended: u32, cap: u32) -> Self {
        Self {
            per_day: recommended.clamp(1, cap.max(1)),
            cap,
        }
    }
}

/// Sessions per point (id) per local day.
pub use super::progress::Worked;

/// One point of a day's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointPlan {
    /// Trigger point id.
    pub point: String,
    /// Sessions planned that day.
    pub planned: u32,
    /// Sessions done that day.
    pub done: u32,
    /// Planned sessions still to do.
    pub left: u32,
    /// Sessions the daily limit still allows.
    pub allowed: u32,
    /// The last day it was worked (on or before the plan's day).
    pub last_worked: Date,
}

/// Where a suggested time stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Every point of it is done.
    Done,
    /// Its time has passed with points still to do.
    Due,
    /// Still to come.
    Upcoming,
}

/// A suggested time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// When.
    pub time: Timestamp,
    /// Its points (ids).
    pub points: Vec<String>,
    /// Its points still to do (ids).
    pub left: Vec<String>,
    /// Where it stands.
    pub state: SlotState,
}

/// One local day's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPlan {
    /// The day.
    pub date: Date,
    /// The points, most recently worked first.
    pub points: Vec<PointPlan>,
    /// Suggested times, in order.
    pub slots: Vec<Slot>,
    /// Points that qualified (more than listed when above the cap).
    pub points_total: usize,
    /// Sessions planned over the listed points.
    pub planned: u32,
    /// Planned sessions done.
    pub done: u32,
    /// Planned sessions left.
    pub left: u32,
    /// Points set aside (ids, sorted).
    pub set_aside: Vec<String>,
}

/// The points of `date`'s plan with the day each was last worked, most
/// recently worked first (ties by id), at most [`MAX_PLAN_POINTS`]; the
/// number that qualified; and the points set aside because `excluded`.
pub fn plan_points(
    worked: &Worked,
    excluded: &BTreeSet<String>,
    date: Date,
    today: Date,
) -> (Vec<(String, Date)>, usize, Vec<String>) {
    let mut set_aside = Vec::new();
    let (points, total) = ranked_points(worked.iter(), date, today, |p| {
        let out = excluded.contains(p);
        if out {
            set_aside.push(p.to_owned());
        }
        out
    });
    let points = points
        .into_iter()
        .map(|(p, _, last)| (p.to_owned(), last))
        .collect();
    (points, total, set_aside)
}

/// A point of a plan: its id, its worked days and the last of them in
/// the plan's window.
type PlanEntry<'w> = (&'w str, &'w BTreeMap<Date, u32>, Date);

/// The points of the plan of `date` (as [`plan_points`] orders and bounds
/// them) and how many qualified; `set_aside` is asked about each point
/// worked in the window and says whether the plan leaves it out.
fn ranked_points<'w>(
    worked: impl Iterator<Item = (&'w String, &'w BTreeMap<Date, u32>)>,
    date: Date,
    today: Date,
    mut set_aside: impl FnMut(&'w str) -> bool,
) -> (Vec<PlanEntry<'w>>, usize) {
    let reference = date.min(today);
    let from = time::days_before(reference, PLAN_WINDOW_DAYS);
    let mut points: Vec<_> = worked
        .filter_map(|(p, days)| {
            let last = *days.range(from..=reference).next_back()?.0;
            (!set_aside(p)).then_some((p.as_str(), days, last))
        })
        .collect();
    let total = points.len();
    let order = |a: &PlanEntry<'w>, b: &PlanEntry<'w>| recent_first((a.0, a.2), (b.0, b.2));
    keep_plan_points(&mut points, order);
    points.sort_unstable_by(order);
    (points, total)
}

/// A plan's order of (point, last worked): most recent first, ties by id
/// (ids are unique, so the order is total).
fn recent_first(a: (&str, Date), b: (&str, Date)) -> std::cmp::Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0))
}

/// Keeps the first [`MAX_PLAN_POINTS`] of `points` in `order`: only those
/// need sorting.
fn keep_plan_points<T>(points: &mut Vec<T>, order: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    if points.len() > MAX_PLAN_POINTS {
        points.select_nth_unstable_by(MAX_PLAN_POINTS, order);
        points.truncate(MAX_PLAN_POINTS);
    }
}

fn done_on(worked: &Worked, point: &str, date: Date) -> u32 {
    worked
        .get(point)
        .and_then(|d| d.get(&date))
        .copied()
        .unwrap_or(0)
}

/// The plan of local day `date` as of `now` (local day `today`), with its
/// suggested times in `window` (see [`Waking::window`]).
pub fn day_plan(
    worked: &Worked,
    excluded: &BTreeSet<String>,
    date: Date,
    today: Date,
    now: Timestamp,
    window: (Timestamp, Timestamp),
    rules: Rules,
) -> DayPlan {
    let (chosen, points_total, set_aside) = plan_points(worked, excluded, date, today);
    let points: Vec<PointPlan> = chosen
        .into_iter()
        .map(|(point, last_worked)| {
            let done = done_on(worked, &point, date);
            PointPlan {
                planned: rules.per_day,
                done,
                left: rules.per_day.saturating_sub(done),
                allowed: rules.cap.saturating_sub(done),
                last_worked,
                point,
            }
        })
        .collect();
    let n = points.iter().map(|p| p.planned).max().unwrap_or(0);
    let slots = slot_times(window.0, window.1, n)
        .into_iter()
        .zip(0u32..)
        .map(|(time, k)| {
            let mine: Vec<&PointPlan> = points.iter().filter(|p| p.planned > k).collect();
            let left: Vec<String> = mine
                .iter()
                .filter(|p| p.done <= k)
                .map(|p| p.point.clone())
                .collect();
            let state = if left.is_empty() {
                SlotState::Done
            } else if time <= now {
                SlotState::Due
            } else {
                SlotState::Upcoming
            };
            Slot {
                time,
                points: mine.iter().map(|p| p.point.clone()).collect(),
                left,
                state,
            }
        })
        .collect();
    let planned = points.iter().map(|p| p.planned).sum();
    let done = points.iter().map(|p| p.done.min(p.planned)).sum();
    DayPlan {
        date,
        slots,
        points_total,
        planned,
        done,
        left: points.iter().map(|p| p.left).sum(),
        points,
        set_aside,
    }
}

impl DayPlan {
    /// Applies the day's counts toward the daily limit (`used`: sessions
    /// and guided sessions started, per point, as the limit counts them),
    /// so `allowed` matches what a new session would be allowed, and no
    /// point is left more sessions than the limit allows.
    pub fn limit_by(&mut self, used: &BTreeMap<String, u32>, cap: u32) {
        for p in &mut self.points {
            let used = used.get(&p.point).copied().unwrap_or(0).max(p.done);
            p.allowed = cap.saturating_sub(used);
            p.left = p.left.min(p.allowed);
        }
        self.left = self.points.iter().map(|p| p.left).sum();
    }
}

/// The streak and the week's adherence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adherence {
    /// Days in a row with a session, ending today or yesterday.
    pub streak_days: u32,
    /// Whether today has a session.
    pub includes_today: bool,
    /// First day of the week counted.
    pub week_start: Date,
    /// Last day of the week counted (today).
    pub week_end: Date,
    /// Planned sessions done in the week.
    pub done: u32,
    /// Sessions planned in the week.
    pub planned: u32,
    /// Days of the week with a session.
    pub active_days: u32,
}

impl Adherence {
    /// `done` as a percentage of `planned`, 0-100.
    pub fn percent(&self) -> u32 {
        (self.done.saturating_mul(100))
            .checked_div(self.planned)
            .map_or(0, |p| p.min(100))
    }
}

/// The streak (local days in a row with at least one session, ending today,
/// or yesterday while today has none) and the week ending today: for each
/// of its days, the plan's points times the planned sessions, and the
/// planned sessions done.
pub fn adherence(
    worked: &Worked,
    excluded: &BTreeSet<String>,
    today: Date,
    rules: Rules,
) -> Adherence {
    // The days with a session that a streak or the week can reach.
    let earliest = time::days_before(today, MAX_STREAK_DAYS);
    let mut active: Vec<Date> = worked
        .values()
        .flat_map(|d| d.range(earliest..=today).filter(|(_, n)| **n > 0))
        .map(|(d, _)| *d)
        .collect();
    active.sort_unstable();
    active.dedup();
    let is_active = |d: &Date| active.binary_search(d).is_ok();
    let includes_today = is_active(&today);
    let mut day = if includes_today {
        Some(today)
    } else {
        today.yesterday().ok()
    };
    let mut streak_days = 0;
    while let Some(d) = day.filter(|d| is_active(d) && streak_days < MAX_STREAK_DAYS) {
        streak_days += 1;
        day = d.yesterday().ok();
    }
    let week_start = time::days_before(today, WEEK_DAYS - 1);
    // Only a point worked from a plan window before the week on can be
    // in one of its days' plans.
    let lookback = time::days_before(week_start, PLAN_WINDOW_DAYS);
    // Each point's days from then on, read out of its map once: the seven
    // days' plans search these short lists, not every map seven times.
    let recent: Vec<(&str, Vec<(Date, u32)>)> = worked
        .iter()
        .filter(|(p, _)| !excluded.contains(p.as_str()))
        .filter_map(|(p, days)| {
            let days: Vec<_> = days
                .range(lookback..=today)
                .map(|(d, n)| (*d, *n))
                .collect();
            (!days.is_empty()).then_some((p.as_str(), days))
        })
        .collect();
    let (mut done, mut planned, mut active_days) = (0, 0, 0);
    let mut points: Vec<(&str, Date, u32)> = Vec::with_capacity(recent.len());
    for offset in 0..WEEK_DAYS {
        let d = time::days_before(today, WEEK_DAYS - 1 - offset);
        if d < week_start {
            continue;
        }
        active_days += u32::from(is_active(&d));
        // The points `ranked_points` keeps in `d`'s plan: those last worked
        // in the window before `d` (or on it), the most recent ones.
        let from = time::days_before(d, PLAN_WINDOW_DAYS);
        points.clear();
        points.extend(recent.iter().filter_map(|(p, days)| {
            let until = days.partition_point(|(x, _)| *x <= d);
            let &(last, n) = days[..until].last()?;
            (last >= from).then_some((*p, last, if last == d { n } else { 0 }))
        }));
        keep_plan_points(&mut points, |a, b| recent_first((a.0, a.1), (b.0, b.1)));
        for &(_, _, n) in &points {
            planned += rules.per_day;
            done += n.min(rules.per_day);
        }
    }
    Adherence {
        streak_days,
        includes_today,
        week_start,
        week_end: today,
        done,
        planned,
        active_days,
    }
}

/// Whether `date` may be planned as of `today`.
pub fn in_range(date: Date, today: Date) -> bool {
    (-MAX_DAYS_BACK..=MAX_DAYS_AHEAD).contains(&time::days_between(today, date))
}

/// A reminder's title and text, from the display names of its points.
pub fn reminder_text(names: &[String]) -> (String, String) {
    let title = "Time for your trigger points".to_owned();
    let body = match names {
        [] => "Nothing left to do.".to_owned(),
        [one] => format!("1 point to work: {one}."),
        [first, second] => format!("2 points to work: {first} and {second}."),
        [first, second, rest @ ..] => format!(
            "{} points to work: {first}, {second} and {} more.",
            names.len(),
            rest.len()
        ),
    };
    (title, body)
}

#[cfg(test)]
mod tests;
