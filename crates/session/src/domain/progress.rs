//! Progress on a trigger point: tenderness per local day, its trend over the
//! catalog's trend window, and what that means.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;

use super::{CatalogView, DayStats, time};

/// The fewest days with a tenderness reading in the window for a trend.
pub const MIN_TREND_DAYS: usize = 3;

/// The slope, in tenderness points per day, below which a change is noise.
/// Tenderness is reported in whole points on a 0-10 scale, so a change of
/// one point over a week (about 0.14 per day) is the smallest real change.
pub const TREND_NOISE_PER_DAY: f64 = 0.1;

/// A tenderness trend over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Least-squares slope of the daily mean, points per day.
    pub slope: f64,
    /// Days with a reading.
    pub days: usize,
}

impl Trend {
    /// Whether tenderness is going up.
    pub fn rising(self) -> bool {
        self.slope > TREND_NOISE_PER_DAY
    }

    /// Whether tenderness is going down.
    pub fn falling(self) -> bool {
        self.slope < -TREND_NOISE_PER_DAY
    }
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
    Some(Trend {
        slope: slope(&points),
        days: points.len(),
    })
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
    /// Other points referring to the same regions, when not improving.
    pub alternatives: Vec<String>,
    /// First session on the point.
    pub first_perform_time: Option<Timestamp>,
    /// Latest session on the point.
    pub last_perform_time: Option<Timestamp>,
}

/// How many alternative points to suggest.
const MAX_ALTERNATIVES: usize = 5;

fn mean(v: &[u8]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64)
}

/// Computes progress on `point` from all of its sessions, as of local date
/// `today`, showing `history_days` days.
pub fn point_progress(
    point: &str,
    sessions: &[SessionPoint],
    today: Date,
    history_days: u32,
    catalog: &CatalogView,
) -> PointProgress {
    let g = &catalog.guidance;
    let window = g.trend_window_days.max(1);
    let mut by_day: BTreeMap<Date, (u32, Vec<u8>, Vec<u8>, u32)> = BTreeMap::new();
    for s in sessions {
        let e = by_day.entry(s.local_date).or_default();
        e.0 += 1;
        e.1.extend(s.tenderness_before);
        e.2.extend(s.tenderness_after);
        e.3 = e.3.saturating_add(s.duration_seconds);
    }
    let history_start = time::days_before(today, history_days.saturating_sub(1));
    let days: Vec<DayStats> = by_day
        .range(history_start..=today)
        .map(|(d, (n, before, after, secs))| DayStats {
            date: *d,
            sessions: *n,
            mean_before: mean(before),
            mean_after: mean(after),
            total_duration_seconds: *secs,
        })
        .collect();
    let window_start = time::days_before(today, window - 1);
    let in_window = by_day.range(window_start..=today);
    let (mut active, mut consistent, mut count) = (0u32, 0u32, 0u32);
    for (_, (n, ..)) in in_window {
        active += 1;
        count += n;
        if *n >= g.recommended_sessions_per_day_min.max(1) {
            consistent += 1;
        }
    }
    let readings: Vec<(Date, u8)> = sessions
        .iter()
        .filter_map(|s| {
            s.tenderness_before
                .or(s.tenderness_after)
                .map(|t| (s.local_date, t))
        })
        .collect();
    let t = trend(&readings, today, window);
    let first = sessions.iter().map(|s| s.perform_time).min();
    let last = sessions.iter().map(|s| s.perform_time).max();
    let first_date = sessions.iter().map(|s| s.local_date).min();
    let worked_days = first_date.map_or(0, |d| time::days_between(d, today) + 1);
    // Consistent work: at least five days in seven at the recommended rate.
    let is_consistent = u64::from(consistent) * 7 >= u64::from(window) * 5;
    let waited = worked_days >= i64::from(g.expected_improvement_days.max(1));
    let mut alternatives = Vec::new();
    let (status, advice) = match t {
        Some(t) if t.rising() => (
            Status::Worsening,
            "Tenderness on this point is going up. Stop working it and seek medical attention."
                .to_owned(),
        ),
        Some(t) if t.falling() => (
            Status::Improving,
            "Tenderness is going down. Keep going at the same gentle pressure.".to_owned(),
        ),
        Some(_) if is_consistent && waited => {
            alternatives = catalog.alternatives(point, MAX_ALTERNATIVES);
            (
                Status::NotImproving,
                format!(
                    "After {} days of consistent work tenderness has not improved. Re-check that this is the right point, and look at the other trigger points that can cause the same pain.",
                    worked_days
                ),
            )
        }
        _ => (
            Status::InsufficientData,
            format!(
                "Work this point consistently and record tenderness before each session; results usually show within {} days.",
                g.expected_improvement_days
            ),
        ),
    };
    PointProgress {
        trigger_point: point.to_owned(),
        days,
        trend_per_day: t.map_or(0.0, |t| t.slope),
        status,
        advice,
        active_days_in_window: active,
        sessions_in_window: count,
        alternatives,
        first_perform_time: first,
        last_perform_time: last,
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::fixture;
    use super::*;
    use jiff::civil::date;

    #[test]
    fn slope_of_a_line() {
        assert!((slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 3.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }

    fn sessions(readings: &[(u32, Option<u8>)]) -> Vec<SessionPoint> {
        readings
            .iter()
            .map(|(day, t)| {
                let d = date(2026, 3, 1)
                    .checked_add(jiff::Span::new().days(i64::from(*day)))
                    .unwrap();
                SessionPoint {
                    local_date: d,
                    perform_time: d.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp(),
                    tenderness_before: *t,
                    tenderness_after: None,
                    duration_seconds: 60,
                }
            })
            .collect()
    }

    /// Progress on `ql_superficial` as of 2026-03-01 + `today` days.
    #[track_caller]
    fn check(readings: &[(u32, Option<u8>)], today: u32, expected: Status) -> PointProgress {
        let today = date(2026, 3, 1)
            .checked_add(jiff::Span::new().days(i64::from(today)))
            .unwrap();
        let p = point_progress(
            "ql_superficial",
            &sessions(readings),
            today,
            28,
            &fixture::catalog(),
        );
        assert_eq!(p.status, expected, "{p:?}");
        p
    }

    #[test]
    fn statuses() {
        use Status::*;
        check(&[], 0, InsufficientData);
        check(&[(0, Some(5)), (1, Some(5))], 1, InsufficientData);
        let p = check(
            &[(0, Some(7)), (1, Some(6)), (2, Some(5)), (3, Some(4))],
            3,
            Improving,
        );
        assert!((p.trend_per_day + 1.0).abs() < 1e-9);
        assert!(p.alternatives.is_empty());
        let p = check(&[(0, Some(3)), (2, Some(5)), (4, Some(7))], 4, Worsening);
        assert!(p.advice.contains("medical attention"));
        // A flat week of daily work: not improving, with alternatives.
        let flat: Vec<_> = (0..7).map(|d| (d, Some(5))).collect();
        let p = check(&flat, 6, NotImproving);
        assert_eq!(p.alternatives, ["iliopsoas_1"]);
        assert_eq!((p.active_days_in_window, p.sessions_in_window), (7, 7));
        // Flat but only three days of work: too early to say.
        check(
            &[(0, Some(5)), (3, Some(5)), (6, Some(5))],
            6,
            InsufficientData,
        );
        // Flat and consistent, but less than a week since the first session.
        check(
            &[
                (0, Some(5)),
                (1, Some(5)),
                (2, Some(5)),
                (3, Some(5)),
                (4, Some(5)),
            ],
            4,
            InsufficientData,
        );
        // Old readings fall out of the window.
        check(
            &[(0, Some(9)), (1, Some(8)), (2, Some(7)), (20, Some(5))],
            20,
            InsufficientData,
        );
    }

    #[test]
    fn days_are_grouped_and_bounded() {
        let s = sessions(&[(0, Some(6)), (0, Some(4)), (1, None), (40, Some(2))]);
        let p = point_progress(
            "ql_superficial",
            &s,
            date(2026, 4, 10),
            28,
            &fixture::catalog(),
        );
        assert_eq!(p.days.len(), 1, "only day 40 is within 28 days");
        let p = point_progress(
            "ql_superficial",
            &s,
            date(2026, 3, 2),
            28,
            &fixture::catalog(),
        );
        assert_eq!(p.days.len(), 2);
        assert_eq!(p.days[0].sessions, 2);
        assert_eq!(p.days[0].mean_before, Some(5.0));
        assert_eq!(p.days[1].mean_before, None);
        assert_eq!(p.days[0].total_duration_seconds, 120);
        assert_eq!(p.first_perform_time, Some(s[0].perform_time));
    }
}
