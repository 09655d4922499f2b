//! Local days in a person's IANA time zone, correct across daylight-saving
//! changes (a local day can be 23 or 25 hours long).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Resolves an IANA zone name; `None` when unknown.
pub fn zone(name: &str) -> Option<TimeZone> {
    if name.is_empty() {
        return None;
    }
    TimeZone::get(name).ok()
}

/// Resolves a stored zone name, falling back to UTC (stored names were
/// validated when saved; the fallback only guards a zone removed from tzdb).
pub fn zone_or_utc(name: &str) -> TimeZone {
    zone(name).unwrap_or(TimeZone::UTC)
}

/// The local date of `ts` in `tz`.
pub fn local_date(ts: Timestamp, tz: &TimeZone) -> Date {
    ts.to_zoned(tz.clone()).date()
}

/// The first instant of local day `date` in `tz` (midnight, or the first
/// existing time when midnight falls in a gap).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Option<Zoned> {
    date.to_zoned(tz.clone()).ok()?.start_of_day().ok()
}

/// The first instant of the local day after `date`.
pub fn start_of_next_day(date: Date, tz: &TimeZone) -> Option<Zoned> {
    start_of_day(date.tomorrow().ok()?, tz)
}

/// The number of whole days from `from` to `to` (negative when earlier).
pub fn days_between(from: Date, to: Date) -> i64 {
    from.until(to).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

/// The date `n` days before `date` (saturating at the minimum date).
pub fn days_before(date: Date, n: u32) -> Date {
    date.checked_sub(jiff::Span::new().days(i64::from(n)))
        .unwrap_or(Date::MIN)
}

/// `date` as `YYYY-MM-DD`, what `Date`'s `Display` writes, without the
/// formatting machinery for the years 0 to 9999 (every answer's days and
/// sessions carry one); other years go through `Display`.
pub fn iso_date(date: Date) -> String {
    let year = match u16::try_from(date.year()) {
        Ok(y) if y <= 9999 => y,
        _ => return date.to_string(),
    };
    let month = u16::try_from(date.month()).unwrap_or(0);
    let day = u16::try_from(date.day()).unwrap_or(0);
    let mut out = String::with_capacity(10);
    push_digits(&mut out, year / 100);
    push_digits(&mut out, year % 100);
    out.push('-');
    push_digits(&mut out, month);
    out.push('-');
    push_digits(&mut out, day);
    out
}

/// Pushes `n` (below 100) as two digits.
fn push_digits(out: &mut String, n: u16) {
    for d in [n / 10 % 10, n % 10] {
        out.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn iso_dates_read_as_display_writes_them() {
        let mut d = date(1999, 12, 25);
        for _ in 0..800 {
            assert_eq!(iso_date(d), d.to_string());
            d = d.tomorrow().unwrap();
        }
        for d in [
            date(1, 1, 1),
            date(9, 9, 9),
            date(10, 10, 10),
            date(999, 1, 31),
            date(2026, 2, 28),
            date(2028, 2, 29),
            date(9999, 12, 31),
            date(0, 1, 1),
            date(-1, 6, 15),
            date(-9999, 1, 1),
            Date::MIN,
            Date::MAX,
        ] {
            assert_eq!(iso_date(d), d.to_string(), "{d:?}");
        }
    }

    #[track_caller]
    fn check_local_date(ts: &str, tz: &str, expected: &str) {
        let ts: Timestamp = ts.parse().unwrap();
        let got = local_date(ts, &zone(tz).unwrap());
        assert_eq!(got.to_string(), expected, "{ts} in {tz}");
    }

    #[test]
    fn local_dates_in_two_zones() {
        // 23:30 UTC is still the same day in London in winter, already the
        // next day in Berlin, and the day before in Los Angeles.
        check_local_date("2026-01-10T23:30:00Z", "Europe/London", "2026-01-10");
        check_local_date("2026-01-10T23:30:00Z", "Europe/Berlin", "2026-01-11");
        check_local_date("2026-01-10T23:30:00Z", "America/Los_Angeles", "2026-01-10");
        check_local_date("2026-01-11T07:59:59Z", "America/Los_Angeles", "2026-01-10");
        check_local_date("2026-01-11T08:00:00Z", "America/Los_Angeles", "2026-01-11");
        // Summer time in London moves the boundary by an hour.
        check_local_date("2026-07-10T23:30:00Z", "Europe/London", "2026-07-11");
        check_local_date("2026-07-10T22:59:59Z", "Europe/London", "2026-07-10");
    }

    #[track_caller]
    fn check_day_length(day: Date, tz: &str, hours: i64) {
        let tz = zone(tz).unwrap();
        let start = start_of_day(day, &tz).unwrap();
        let next = start_of_next_day(day, &tz).unwrap();
        let secs = next.timestamp().as_second() - start.timestamp().as_second();
        assert_eq!(secs, hours * 3600, "{day}");
    }

    #[test]
    fn dst_days_are_23_or_25_hours() {
        check_day_length(date(2026, 3, 29), "Europe/Berlin", 23);
        check_day_length(date(2026, 10, 25), "Europe/Berlin", 25);
        check_day_length(date(2026, 3, 8), "America/New_York", 23);
        check_day_length(date(2026, 3, 9), "America/New_York", 24);
        check_day_length(date(2026, 3, 29), "UTC", 24);
    }

    #[test]
    fn midnight_in_a_gap_starts_at_the_first_valid_time() {
        // Santiago springs forward at midnight: the day starts at 01:00.
        let tz = zone("America/Santiago").unwrap();
        let start = start_of_day(date(2026, 9, 6), &tz).unwrap();
        assert_eq!(start.date(), date(2026, 9, 6));
        assert_eq!(start.hour(), 1);
    }

    #[test]
    fn unknown_zone_is_none() {
        assert!(zone("Mars/Olympus").is_none());
        assert!(zone("").is_none());
        assert_eq!(zone_or_utc("Mars/Olympus"), TimeZone::UTC);
    }

    #[test]
    fn day_arithmetic() {
        assert_eq!(days_between(date(2026, 3, 28), date(2026, 4, 2)), 5);
        assert_eq!(days_between(date(2026, 4, 2), date(2026, 3, 28)), -5);
        assert_eq!(days_before(date(2026, 3, 2), 2), date(2026, 2, 28));
    }
}
