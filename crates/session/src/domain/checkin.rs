//! Pain check-ins: once a day the person rates how much a region hurts,
//! 0-10. This is the outcome that matters, apart from any one point's
//! tenderness. Pure: validation, the resource name, progress per region,
//! and the region's week rule ([`region_status`]), which moves the
//! next-suspect logic on when a region is not better after a consistent
//! week.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::FieldViolation;
use super::catalog::{CatalogView, Guidance};
use super::progress::Status;
use super::time;

/// `checkIns/`: check-in names.
pub use super::names::CHECK_IN;
/// `regions/`: catalog region names.
pub use super::names::REGION;
/// Highest score.
pub const MAX_SCORE: u8 = 10;
/// Default days of ListCheckIns and ListRegionProgress.
pub const DEFAULT_LIST_DAYS: u32 = 90;
/// Default window of ListRegionProgress.
pub const DEFAULT_PROGRESS_DAYS: u32 = 30;
/// Longest range of days one call covers.
pub const MAX_DAYS: u32 = 400;

/// One stored check-in: one region, one local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// Region id (catalog).
    pub region: String,
    /// 0-10.
    pub score: u8,
    /// The person's local day.
    pub local_date: Date,
    /// When it was recorded or last replaced.
    pub record_time: Timestamp,
}

impl CheckIn {
    /// `checkIns/{local_date}.{region}`.
    pub fn name(&self) -> String {
        format!("{CHECK_IN}{}.{}", self.local_date, self.region)
    }
}

/// A validated request to record a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInDraft {
    /// Region id.
    pub region: String,
    /// 0-10.
    pub score: u8,
}

/// Checks the region (a catalog region, `regions/{id}`) and the score
/// (0-10); every problem is reported.
pub fn validate(
    region: &str,
    score: i32,
    catalog: &CatalogView,
) -> Result<CheckInDraft, Vec<FieldViolation>> {
    let mut v = Vec::new();
    let id = match region.strip_prefix(REGION) {
        Some(id) if catalog.regions.contains_key(id) => Some(id.to_owned()),
        Some(_) => {
            v.push(FieldViolation::new("region", "unknown region"));
            None
        }
        None => {
            v.push(FieldViolation::new(
                "region",
                "must be a region name \"regions/{region}\"",
            ));
            None
        }
    };
    let score = u8::try_from(score).ok().filter(|s| *s <= MAX_SCORE);
    if score.is_none() {
        v.push(FieldViolation::new("score", "must be 0 to 10"));
    }
    match (id, score) {
        (Some(region), Some(score)) if v.is_empty() => Ok(CheckInDraft { region, score }),
        _ => Err(v),
    }
}

/// Parses an optional `YYYY-MM-DD` field.
pub fn date_field(value: &str, field: &str) -> Result<Option<Date>, FieldViolation> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<Date>()
        .map(Some)
        .map_err(|_| FieldViolation::new(field, "must be a date YYYY-MM-DD"))
}

/// The inclusive day range of a listing: `end` defaults to `today`, `start`
/// to [`DEFAULT_LIST_DAYS`] before `end`; at most [`MAX_DAYS`] long.
pub fn range(
    start: Option<Date>,
    end: Option<Date>,
    today: Date,
) -> Result<(Date, Date), FieldViolation> {
    let end = end.unwrap_or(today);
    let start = start.unwrap_or_else(|| time::days_before(end, DEFAULT_LIST_DAYS - 1));
    let span = time::days_between(start, end);
    if span < 0 {
        return Err(FieldViolation::new(
            "start_date",
            "must not be after end_date",
        ));
    }
    if span >= i64::from(MAX_DAYS) {
        return Err(FieldViolation::new(
            "start_date",
            format!("the range may cover at most {MAX_DAYS} days"),
        ));
    }
    Ok((start, end))
}

/// How one region's pain moved over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionProgress {
    /// Region id.
    pub region: String,
    /// (day, score), oldest first, one per day.
    pub daily: Vec<(Date, u8)>,
    /// Days from the first to the latest check-in.
    pub days: i64,
}

impl RegionProgress {
    /// The first score.
    pub fn first(&self) -> u8 {
        self.daily.first().map_or(0, |d| d.1)
    }

    /// The latest score.
    pub fn latest(&self) -> u8 {
        self.daily.last().map_or(0, |d| d.1)
    }

    /// "low back: 6 -> 3 over 9 days", with the region's display name.
    pub fn summary(&self, display: &str) -> String {
        match self.daily.len() {
            0 => format!("{display}: no check-ins"),
            1 => format!("{display}: {} (one check-in)", self.first()),
            _ => format!(
                "{display}: {} -> {} over {} day{}",
                self.first(),
                self.latest(),
                self.days,
                if self.days == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Progress per region, regions in id order, from check-ins in any order
/// (one per region per day, as stored).
pub fn progress(check_ins: &[CheckIn]) -> Vec<RegionProgress> {
    let mut by_region: BTreeMap<&str, BTreeMap<Date, u8>> = BTreeMap::new();
    for c in check_ins {
        by_region
            .entry(&c.region)
            .or_default()
            .insert(c.local_date, c.score);
    }
    by_region
        .into_iter()
        .map(|(region, days)| {
            let daily: Vec<(Date, u8)> = days.into_iter().collect();
            let span = match (daily.first(), daily.last()) {
                (Some(a), Some(b)) => time::days_between(a.0, b.0),
                _ => 0,
            };
            RegionProgress {
                region: region.to_owned(),
                daily,
                days: span,
            }
        })
        .collect()
}

/// Where a region stands over the trend window, with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionStatus {
    /// The status.
    pub status: Status,
    /// Plain-language advice.
    pub advice: String,
    /// When not improving: the points worked in the window that refer pain
    /// to the region (ids, sorted).
    pub tried: Vec<String>,
}

/// The points of `catalog` whose pain reaches `region`: they lie in it or
/// refer pain to it.
pub fn region_points<'a>(
    catalog: &'a CatalogView,
    region: &'a str,
) -> impl Iterator<Item = &'a str> {
    catalog
        .points
        .values()
        .filter(move |p| p.region == region || p.referral_regions.contains(region))
        .map(|p| p.id.as_str())
}

/// The week rule of points, applied to a region's pain check-ins over the
/// trend window ending `today` (`trend_window_days`, the seed's week):
/// the window needs two check-ins at least `consistent_days_min - 1` days
/// apart (4 for 5 of 7). A drop of `min_tenderness_change` or more is
/// IMPROVING, a rise as large is WORSENING. Anything smaller is
/// NOT_IMPROVING when the person worked the region's points (`worked`:
/// point id to the local days with a session) on at least
/// `consistent_days_min` days of the window; then those points were tried,
/// and the next suspect should come from the region's other muscles.
pub fn region_status(
    daily: &[(Date, u8)],
    worked: &BTreeMap<String, BTreeSet<Date>>,
    today: Date,
    g: &Guidance,
) -> RegionStatus {
    let window = g.trend_window_days.max(1);
    let start = time::days_before(today, window - 1);
    let status = |status, advice: &str| RegionStatus {
        status,
        advice: advice.to_owned(),
        tried: Vec::new(),
    };
    let scores: Vec<&(Date, u8)> = daily
        .iter()
        .filter(|(d, _)| (start..=today).contains(d))
        .collect();
    let (Some(first), Some(last)) = (scores.first(), scores.last()) else {
        return status(
            Status::InsufficientData,
            "Check in once a day for a week to see how this region is doing.",
        );
    };
    let apart = time::days_between(first.0, last.0);
    if apart < i64::from(g.consistent_days_min.saturating_sub(1).max(1)) {
        return status(
            Status::InsufficientData,
            "Check in once a day for a week to see how this region is doing.",
        );
    }
    let change = i32::from(last.1) - i32::from(first.1);
    let real = i32::try_from(g.min_tenderness_change.max(1)).unwrap_or(i32::MAX);
    if change <= -real {
        return status(Status::Improving, "Better than a week ago: keep going.");
    }
    if change >= real {
        return status(
            Status::Worsening,
            "Worse than a week ago: stop working this region and see a medical provider.",
        );
    }
    let days: BTreeSet<Date> = worked
        .values()
        .flat_map(|d| d.range(start..=today).copied())
        .collect();
    if u32::try_from(days.len()).unwrap_or(u32::MAX) < g.consistent_days_min {
        return status(
            Status::InsufficientData,
            "Not better yet. Work its points on at least 5 days of the week before judging them.",
        );
    }
    RegionStatus {
        status: Status::NotImproving,
        advice: "Not better after a consistent week: the points worked so far are probably not \
                 the source. Try the region's other candidate muscles."
            .to_owned(),
        tried: worked
            .iter()
            .filter(|(_, d)| d.range(start..=today).next().is_some())
            .map(|(p, _)| p.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::fixture;
    use jiff::civil::date;

    #[track_caller]
    fn check(region: &str, score: i32, expected: Result<u8, &[&str]>) {
        let got = validate(region, score, &fixture::catalog());
        match (got, expected) {
            (Ok(d), Ok(s)) => assert_eq!(d.score, s),
            (Err(v), Err(fields)) => {
                let got: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(got, fields, "{region} {score}");
            }
            (got, want) => panic!("{region} {score}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn validation_table() {
        check("regions/low_back", 0, Ok(0));
        check("regions/low_back", 10, Ok(10));
        check("regions/low_back", 11, Err(&["score"]));
        check("regions/low_back", -1, Err(&["score"]));
        check("regions/nowhere", 5, Err(&["region"]));
        check("low_back", 5, Err(&["region"]));
        check("", 99, Err(&["region", "score"]));
    }

    fn at(d: Date, region: &str, score: u8) -> CheckIn {
        CheckIn {
            region: region.into(),
            score,
            local_date: d,
            record_time: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn progress_per_region_with_summary() {
        let c = [
            at(date(2026, 3, 10), "low_back", 3),
            at(date(2026, 3, 1), "low_back", 6),
            at(date(2026, 3, 5), "low_back", 4),
            at(date(2026, 3, 2), "buttock", 2),
        ];
        let p = progress(&c);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].region, "buttock");
        assert_eq!(p[0].summary("buttock"), "buttock: 2 (one check-in)");
        let lb = &p[1];
        assert_eq!((lb.first(), lb.latest(), lb.days), (6, 3, 9));
        assert_eq!(lb.summary("low back"), "low back: 6 -> 3 over 9 days");
        assert_eq!(lb.daily.len(), 3);
    }

    /// Checks a region's status from its scores (days before `today`,
    /// score) and the days (before `today`) each point was worked.
    #[track_caller]
    fn check_status(
        scores: &[(u32, u8)],
        worked: &[(&str, &[u32])],
        expected: Status,
        tried: &[&str],
    ) {
        let today = date(2026, 3, 31);
        let daily: Vec<(Date, u8)> = scores
            .iter()
            .map(|(n, s)| (time::days_before(today, *n), *s))
            .collect();
        let worked: BTreeMap<String, BTreeSet<Date>> = worked
            .iter()
            .map(|(p, days)| {
                let set = days.iter().map(|n| time::days_before(today, *n)).collect();
                ((*p).to_owned(), set)
            })
            .collect();
        let g = fixture::catalog().guidance;
        let got = region_status(&daily, &worked, today, &g);
        assert_eq!(got.status, expected, "{scores:?} {worked:?}");
        assert_eq!(got.tried, tried, "{scores:?}");
        assert!(!got.advice.is_empty());
    }

    #[test]
    fn region_week_rule_table() {
        use Status::*;
        let week: &[u32] = &[0, 1, 2, 3, 4];
        // Not better after 5 of 7 days of work: tried, move on.
        check_status(
            &[(6, 6), (3, 7), (0, 6)],
            &[("a", week), ("b", &[9])],
            NotImproving,
            &["a"],
        );
        // Two points sharing the week's days still make 5 days.
        check_status(
            &[(6, 6), (0, 6)],
            &[("a", &[0, 1, 2]), ("b", &[3, 4])],
            NotImproving,
            &["a", "b"],
        );
        // Four days of work are not a consistent week.
        check_status(
            &[(6, 6), (0, 6)],
            &[("a", &[0, 1, 2, 3])],
            InsufficientData,
            &[],
        );
        // Better or worse by the guidance's real change.
        check_status(&[(6, 6), (0, 4)], &[("a", week)], Improving, &[]);
        check_status(&[(6, 4), (0, 6)], &[("a", week)], Worsening, &[]);
        // Check-ins too close together, or older than the week, say nothing.
        check_status(&[(2, 6), (0, 6)], &[("a", week)], InsufficientData, &[]);
        check_status(&[(9, 6), (7, 6)], &[("a", week)], InsufficientData, &[]);
        check_status(&[], &[("a", week)], InsufficientData, &[]);
    }

    #[test]
    fn ranges() {
        let today = date(2026, 3, 31);
        assert_eq!(
            range(None, None, today),
            Ok((date(2026, 1, 1), today)),
            "90 days ending today"
        );
        assert!(range(Some(date(2026, 4, 1)), Some(today), today).is_err());
        assert!(range(Some(date(2024, 1, 1)), Some(today), today).is_err());
        assert_eq!(range(Some(today), Some(today), today), Ok((today, today)));
    }
}
