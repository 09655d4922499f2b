//! ListSessions page tokens: `{perform_time_micros}_{session_id}`, the
//! last session of the page, newest first. One type both prints a token
//! and parses it back, so the two cannot drift apart.

use std::fmt;

use jiff::Timestamp;

use super::FieldViolation;

/// Where the next ListSessions page starts: after this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    /// The session's perform time, in microseconds since the epoch.
    pub perform_micros: i64,
    /// The session's id.
    pub session_id: String,
}

impl PageToken {
    /// The token of a page that ended with the session `session_id`
    /// performed at `perform_time`.
    pub fn after(perform_time: Timestamp, session_id: &str) -> Self {
        Self {
            perform_micros: perform_time.as_microsecond(),
            session_id: session_id.to_owned(),
        }
    }

    /// Parses a token from a previous response; an empty one is the first
    /// page (`None`).
    pub fn parse(token: &str) -> Result<Option<Self>, FieldViolation> {
        if token.is_empty() {
            return Ok(None);
        }
        token
            .split_once('_')
            .and_then(|(m, id)| {
                Some(Self {
                    perform_micros: m.parse::<i64>().ok()?,
                    session_id: id.to_owned(),
                })
            })
            .filter(|t| !t.session_id.is_empty())
            .map(Some)
            .ok_or_else(|| {
                FieldViolation::new("page_token", "not a token from a previous response")
            })
    }
}

impl fmt::Display for PageToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.perform_micros, self.session_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(token: &str, expected: Option<Option<(i64, &str)>>) {
        let parsed = PageToken::parse(token).ok();
        let want = expected.map(|o| {
            o.map(|(m, id)| PageToken {
                perform_micros: m,
                session_id: id.to_owned(),
            })
        });
        assert_eq!(parsed, want, "{token:?}");
        if let Some(Some(t)) = parsed {
            assert_eq!(PageToken::parse(&t.to_string()).ok(), Some(Some(t)));
        }
    }

    #[test]
    fn tokens() {
        check("", Some(None));
        check(
            "1700000000000000_abc",
            Some(Some((1_700_000_000_000_000, "abc"))),
        );
        check("-5_a_b", Some(Some((-5, "a_b"))));
        check("12_", None);
        check("_abc", None);
        check("x_abc", None);
        check("12", None);
    }

    #[test]
    fn after_prints_what_parse_reads() {
        let t = PageToken::after(Timestamp::from_second(1_700_000_000).unwrap(), "s1");
        assert_eq!(t.to_string(), "1700000000000000_s1");
    }
}
