//! Pain check-ins: once a day the person rates how much a region hurts,
//! 0-10. This is the outcome that matters, apart from any one point's
//! tenderness. Pure: validation, the resource name, and progress per region.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::FieldViolation;
use super::catalog::CatalogView;
use super::time;

/// `regions/`: catalog region names.
pub const REGION: &str = "regions/";
/// `checkIns/`: check-in names.
pub const CHECK_IN: &str = "checkIns/";
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
