//! The plan as an iCalendar file (RFC 5545), pure string building.
//!
//! Times are written in UTC (`...Z`), so no VTIMEZONE is needed and every
//! calendar places them at the person's local time; the wall-clock times
//! come from the plan, which was computed in the person's zone. Text values
//! are escaped (section 3.3.11) and lines are folded at 75 octets on
//! character boundaries (section 3.1); lines end in CRLF.

use std::fmt::Write as _;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// The media type of the file.
pub const CONTENT_TYPE: &str = "text/calendar";
/// The most octets on one line before folding, CRLF excluded.
const FOLD_AT: usize = 75;

/// One calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// A unique id, stable across exports of the same plan slot.
    pub uid: String,
    /// When it starts.
    pub start: Timestamp,
    /// How long, in minutes.
    pub minutes: u32,
    /// The title.
    pub summary: String,
    /// The text.
    pub description: String,
}

/// A stable, pseudonymous id part for a person's events (no user id in a
/// file that people share): 16 hex characters of SHA-256.
pub fn person_tag(user: &str) -> String {
    let digest = Sha256::digest(format!("knotwork-calendar:{user}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Escapes a TEXT value.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A UTC DATE-TIME, `YYYYMMDDTHHMMSSZ`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Appends one content line, folded.
fn line(out: &mut String, content: &str) {
    let mut used = 0;
    for c in content.chars() {
        if used + c.len_utf8() > FOLD_AT {
            out.push_str("\r\n ");
            // The leading space counts towards the next line.
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The calendar with `events`, stamped `now`.
pub fn calendar(name: &str, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Knotwork//Daily plan//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    let stamp = utc(now);
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", text(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{stamp}"));
        line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        let mut duration = String::new();
        let _ = write!(duration, "DURATION:PT{}M", e.minutes.max(1));
        line(&mut out, &duration);
        line(&mut out, &format!("SUMMARY:{}", text(&e.summary)));
        line(&mut out, &format!("DESCRIPTION:{}", text(&e.description)));
        line(&mut out, "TRANSP:TRANSPARENT");
        line(&mut out, "BEGIN:VALARM");
        line(&mut out, "ACTION:DISPLAY");
        line(&mut out, "TRIGGER:PT0M");
        line(&mut out, &format!("DESCRIPTION:{}", text(&e.summary)));
        line(&mut out, "END:VALARM");
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_text(input: &str, expected: &str) {
        assert_eq!(text(input), expected);
    }

    #[test]
    fn text_escapes() {
        check_text("plain", "plain");
        check_text("a, b; c", "a\\, b\\; c");
        check_text("back\\slash", "back\\\\slash");
        check_text("two\r\nlines", "two\\nlines");
        check_text("bell\u{7}", "bell");
    }

    #[track_caller]
    fn check_fold(input: &str, lines: usize) {
        let mut out = String::new();
        line(&mut out, input);
        let parts: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert_eq!(parts.len(), lines, "{input}");
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= FOLD_AT, "line {i} is {} octets", p.len());
            assert_eq!(p.starts_with(' '), i > 0);
        }
        let unfolded: String = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, input);
    }

    #[test]
    fn folding() {
        check_fold("SUMMARY:short", 1);
        check_fold(&"x".repeat(75), 1);
        check_fold(&"x".repeat(76), 2);
        check_fold(&"x".repeat(200), 3);
        // Multi-byte characters are never split.
        check_fold(&"é".repeat(80), 3);
    }

    #[test]
    fn a_calendar_with_one_event() {
        let start: Timestamp = "2026-03-29T07:30:00Z".parse().unwrap();
        let now: Timestamp = "2026-03-27T10:00:00Z".parse().unwrap();
        let ics = calendar(
            "Knotwork",
            &[Event {
                uid: "2026-03-29-1-abc@knotwork.dev".into(),
                start,
                minutes: 10,
                summary: "Trigger points: 2".into(),
                description: "Upper trapezius, Levator scapulae".into(),
            }],
            now,
        );
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(ics.contains("\r\nDTSTART:20260329T073000Z\r\n"));
        assert!(ics.contains("\r\nDTSTAMP:20260327T100000Z\r\n"));
        assert!(ics.contains("\r\nDURATION:PT10M\r\n"));
        assert!(ics.contains("DESCRIPTION:Upper trapezius\\, Levator scapulae\r\n"));
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1);
        assert!(!ics.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn person_tags_are_stable_and_opaque() {
        assert_eq!(person_tag("alice"), person_tag("alice"));
        assert_ne!(person_tag("alice"), person_tag("bob"));
        assert_eq!(person_tag("alice").len(), 16);
        assert!(!person_tag("alice").contains("alice"));
    }
}
