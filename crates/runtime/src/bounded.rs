//! Bounded error replies: what a status may echo back, and how much of it.
//!
//! A status travels in HTTP/2 header fields (`grpc-message`,
//! `grpc-status-details-bin`). A reply that repeats unbounded input (a
//! 17 000-character resource name, 500 field violations) makes a header
//! block that a peer may treat as a connection error, which resets every
//! other call on that connection. So every status a Knotwork service sends
//! goes through this module:
//!
//! - `grpc-message` is at most [`MESSAGE_LIMIT`] bytes, cut visibly
//!   (`…[N more bytes]`);
//! - names echoed back are cut to [`NAME_LIMIT`] bytes, field descriptions
//!   to [`TEXT_LIMIT`];
//! - at most [`VIOLATION_LIMIT`] field violations travel, the message says
//!   how many more there were;
//! - the encoded status details are at most [`DETAILS_LIMIT`] bytes.
//!
//! Each crate's one `From<Error> for Status` builds its statuses with
//! [`invalid_argument`] and [`not_found`] and passes the result through
//! [`bounded`], the final guard (the gateway also bounds what backends
//! send).

use std::borrow::Cow;

use tonic::{Code, Status};
use tonic_types::{ErrorDetail, ErrorDetails, StatusExt};

/// The most bytes of `grpc-message` a Knotwork status carries.
pub(crate) const MESSAGE_LIMIT: usize = 1024;
/// The most bytes of a resource name or field path echoed back.
pub(crate) const NAME_LIMIT: usize = 128;
/// The most bytes of one field violation's description.
pub(crate) const TEXT_LIMIT: usize = 256;
/// The most field violations one status carries.
pub(crate) const VIOLATION_LIMIT: usize = 20;
/// The most bytes of encoded status details (`grpc-status-details-bin`
/// before base64).
pub(crate) const DETAILS_LIMIT: usize = 4096;

/// `text` at most `max` bytes: unchanged when it fits, else a prefix (cut
/// at a character boundary) followed by `…[N more bytes]`.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    // The marker's length depends on the count; 24 bytes hold any usize.
    let mut keep = max.saturating_sub(24);
    while keep > 0 && !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let more = text.len() - keep;
    let mut out = format!("{}…[{more} more bytes]", &text[..keep]);
    // Tiny limits (below the marker's size) keep only the marker, cut too.
    if out.len() > max {
        let mut end = max;
        while end > 0 && !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    Cow::Owned(out)
}

/// A name as echoed back in a status: at most [`NAME_LIMIT`] bytes.
pub fn cut_name(name: &str) -> Cow<'_, str> {
    cut(name, NAME_LIMIT)
}

/// INVALID_ARGUMENT with `google.rpc.BadRequest` field violations, bounded:
/// at most [`VIOLATION_LIMIT`] violations (fewer if they would not fit in
/// [`DETAILS_LIMIT`]), each field and description cut, and a message
/// naming the first ones and how many more there were.
pub fn invalid_argument<F, D>(violations: impl IntoIterator<Item = (F, D)>) -> Status
where
    F: AsRef<str>,
    D: AsRef<str>,
{
    let all: Vec<(String, String)> = violations
        .into_iter()
        .map(|(f, d)| {
            (
                cut(f.as_ref(), NAME_LIMIT).into_owned(),
                cut(d.as_ref(), TEXT_LIMIT).into_owned(),
            )
        })
        .collect();
    let mut shown = all.len().min(VIOLATION_LIMIT);
    loop {
        let mut details = ErrorDetails::new();
        for (f, d) in &all[..shown] {
            details.add_bad_request_violation(f.clone(), d.clone());
        }
        let mut message = format!(
            "invalid argument: {}",
            all[..shown]
                .iter()
                .map(|(f, d)| format!("{f}: {d}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let more = all.len() - shown;
        let suffix = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        message = cut(&message, MESSAGE_LIMIT - suffix.len()).into_owned() + &suffix;
        let status = Status::with_error_details(Code::InvalidArgument, message, details);
        if status.details().len() <= DETAILS_LIMIT || shown <= 1 {
            return status;
        }
        shown -= 1;
    }
}

/// NOT_FOUND for `name` (a resource name such as `sessions/…`), with
/// `google.rpc.ResourceInfo` naming its kind; the name is cut to
/// [`NAME_LIMIT`].
pub fn not_found(name: &str) -> Status {
    let name = cut_name(name);
    let (kind, _) = name.split_once('/').unwrap_or((&name, ""));
    let details = ErrorDetails::with_resource_info(kind, name.as_ref(), "", "");
    Status::with_error_details(Code::NotFound, format!("{name} not found"), details)
}

/// `status` within the limits: the message cut to [`MESSAGE_LIMIT`]; if
/// the details are over [`DETAILS_LIMIT`], their names and texts cut, field
/// violations dropped from the end, and as a last resort every detail but
/// `ErrorInfo`, then all of them. A status already within the limits is
/// returned unchanged.
pub fn bounded(status: Status) -> Status {
    let message_fits = status.message().len() <= MESSAGE_LIMIT;
    if message_fits && status.details().len() <= DETAILS_LIMIT {
        return status;
    }
    let code = status.code();
    let message = cut(status.message(), MESSAGE_LIMIT).into_owned();
    let metadata = status.metadata().clone();
    if status.details().is_empty() {
        return Status::with_metadata(code, message, metadata);
    }
    let Ok(mut details) = status.check_error_details_vec() else {
        // Not a google.rpc.Status: nothing to keep that a client can read.
        return Status::with_metadata(code, message, metadata);
    };
    for d in &mut details {
        cut_detail(d);
    }
    let build = |details: &[ErrorDetail]| {
        Status::with_error_details_vec_and_metadata(
            code,
            message.clone(),
            details.to_vec(),
            metadata.clone(),
        )
    };
    let mut out = build(&details);
    // Drop violations from the end while the details are too big.
    while out.details().len() > DETAILS_LIMIT && pop_violation(&mut details) {
        out = build(&details);
    }
    if out.details().len() > DETAILS_LIMIT {
        details.retain(|d| matches!(d, ErrorDetail::ErrorInfo(_)));
        out = build(&details);
    }
    if out.details().len() > DETAILS_LIMIT {
        out = Status::with_metadata(code, message, metadata);
    }
    out
}

/// Cuts the names and texts a detail echoes back.
fn cut_detail(detail: &mut ErrorDetail) {
    let name = |s: &mut String| {
        if s.len() > NAME_LIMIT {
            *s = cut(s, NAME_LIMIT).into_owned();
        }
    };
    let text = |s: &mut String| {
        if s.len() > TEXT_LIMIT {
            *s = cut(s, TEXT_LIMIT).into_owned();
        }
    };
    match detail {
        ErrorDetail::BadRequest(b) => {
            b.field_violations.truncate(VIOLATION_LIMIT);
            for v in &mut b.field_violations {
                name(&mut v.field);
                text(&mut v.description);
            }
        }
        ErrorDetail::ResourceInfo(r) => {
            name(&mut r.resource_type);
            name(&mut r.resource_name);
            name(&mut r.owner);
            text(&mut r.description);
        }
        ErrorDetail::ErrorInfo(e) => {
            name(&mut e.reason);
            for v in e.metadata.values_mut() {
                name(v);
            }
        }
        ErrorDetail::QuotaFailure(q) => {
            q.violations.truncate(VIOLATION_LIMIT);
            for v in &mut q.violations {
                name(&mut v.subject);
                text(&mut v.description);
            }
        }
        ErrorDetail::PreconditionFailure(p) => {
            p.violations.truncate(VIOLATION_LIMIT);
            for v in &mut p.violations {
                name(&mut v.subject);
                text(&mut v.description);
            }
        }
        ErrorDetail::LocalizedMessage(m) => text(&mut m.message),
        // RetryInfo, DebugInfo, RequestInfo, Help: Knotwork fills them
        // with its own short values, never with client input.
        _ => {}
    }
}

/// Removes the last field violation of the last non-empty BadRequest;
/// false when there is none left to remove.
fn pop_violation(details: &mut [ErrorDetail]) -> bool {
    details.iter_mut().rev().any(|d| match d {
        ErrorDetail::BadRequest(b) => b.field_violations.pop().is_some(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, max: usize, expected: &str) {
        let got = cut(text, max);
        assert_eq!(got, expected);
        if text.len() > max {
            assert!(got.len() <= max);
        }
    }

    #[test]
    fn cut_is_visible_and_bounded() {
        check("short", 10, "short");
        check("", 0, "");
        check(&"a".repeat(40), 30, "aaaaaa…[34 more bytes]");
        // A multi-byte character is never split.
        let e = "é".repeat(40);
        let got = cut(&e, 31);
        assert!(got.len() <= 31 && got.ends_with("more bytes]"), "{got}");
        // Limits below the marker's size still hold.
        assert!(cut(&"a".repeat(100), 5).len() <= 5);
    }

    #[test]
    fn not_found_echoes_at_most_a_short_name() {
        let s = not_found(&format!("sessions/{}", "a".repeat(17_000)));
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.message().len() < NAME_LIMIT + 20, "{}", s.message());
        let info = s.get_details_resource_info().expect("resource info");
        assert_eq!(info.resource_type, "sessions");
        assert!(info.resource_name.len() <= NAME_LIMIT);
    }

    #[test]
    fn violations_are_capped_and_counted() {
        let many: Vec<(String, String)> = (0..500)
            .map(|i| (format!("profile.tools[{i}]"), "unknown tool".to_owned()))
            .collect();
        let s = invalid_argument(many);
        assert_eq!(s.code(), Code::InvalidArgument);
        let br = s.get_details_bad_request().expect("bad request");
        assert_eq!(br.field_violations.len(), VIOLATION_LIMIT);
        assert!(s.message().ends_with("(and 480 more)"), "{}", s.message());
        assert!(s.message().len() <= MESSAGE_LIMIT);
        assert!(s.details().len() <= DETAILS_LIMIT);
        // Long fields and descriptions: fewer violations, still bounded.
        let long: Vec<(String, String)> = (0..100)
            .map(|i| (format!("names[{i}]{}", "x".repeat(300)), "y".repeat(900)))
            .collect();
        let s = invalid_argument(long);
        let br = s.get_details_bad_request().expect("bad request");
        assert!(!br.field_violations.is_empty());
        assert!(br.field_violations[0].field.len() <= NAME_LIMIT);
        assert!(s.details().len() <= DETAILS_LIMIT);
        assert!(s.message().len() <= MESSAGE_LIMIT);
        // A few short ones travel whole.
        let s = invalid_argument([("page_size", "too big")]);
        assert_eq!(s.message(), "invalid argument: page_size: too big");
    }

    #[test]
    fn bounded_guards_any_status() {
        // Unbounded message and details, as an unbounded mapping would make.
        let mut d = ErrorDetails::new();
        for i in 0..1000 {
            d.add_bad_request_violation(format!("f{i}"), "z".repeat(50));
        }
        d.set_error_info("SOME_REASON", "knotwork.dev", [("k".into(), "v".into())]);
        let raw = Status::with_error_details(Code::InvalidArgument, "m".repeat(20_000), d);
        assert!(raw.details().len() > DETAILS_LIMIT);
        let s = bounded(raw);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().len() <= MESSAGE_LIMIT);
        assert!(s.message().ends_with("more bytes]"));
        assert!(s.details().len() <= DETAILS_LIMIT);
        assert!(s.get_details_bad_request().is_some());
        assert_eq!(
            s.get_details_error_info().map(|i| i.reason),
            Some("SOME_REASON".to_owned())
        );
        // Undecodable oversized details are dropped, the code kept.
        let junk = Status::with_details(Code::NotFound, "x", vec![7u8; 10_000].into());
        let s = bounded(junk);
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.details().is_empty());
        // Within the limits: unchanged.
        let ok = bounded(Status::not_found("sessions/1 not found"));
        assert_eq!(ok.message(), "sessions/1 not found");
    }
}
