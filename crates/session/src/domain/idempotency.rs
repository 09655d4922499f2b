//! Request ids: what makes a retry "the same request".
//!
//! A request id is stored with a fingerprint of the validated request it
//! first came with (SHA-256 of its canonical form). A later request with
//! that id and the same fingerprint is a retry and gets the first result
//! back; a different fingerprint is a different request reusing the id,
//! refused with REQUEST_ID_REUSED (as Stripe refuses an idempotency key
//! reused with other parameters), and the first record stays as it was.
//! A request id without a fingerprint (stored before fingerprints, or
//! imported by `knotwork reshard`) accepts any request as a retry.

use sha2::{Digest, Sha256};

use super::{GuidedRequest, SessionDraft};

/// SHA-256 of a request's canonical form.
pub type Fingerprint = [u8; 32];

/// The fingerprint of a session to log: its validated fields (JSON of the
/// draft, whose field order is fixed).
pub fn of_session(draft: &SessionDraft) -> Fingerprint {
    // Serializing plain strings, numbers and an RFC 3339 time cannot fail;
    // an empty form would still fingerprint consistently.
    let bytes = serde_json::to_vec(draft).unwrap_or_default();
    digest(b"session", &bytes)
}

/// The fingerprint of a guided-session start.
pub fn of_guided(req: &GuidedRequest) -> Fingerprint {
    let form = format!(
        "{}\u{0}{}\u{0}{:?}\u{0}{}",
        req.trigger_point, req.tool, req.side, req.duration_seconds
    );
    digest(b"guided", form.as_bytes())
}

fn digest(kind: &[u8], bytes: &[u8]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(kind);
    h.update([0]);
    h.update(bytes);
    h.finalize().into()
}

/// Whether a request with fingerprint `new` may replay the record stored
/// under a request id with fingerprint `stored`.
pub fn is_retry(stored: Option<&Fingerprint>, new: &Fingerprint) -> bool {
    stored.is_none_or(|s| s == new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Side;

    fn guided(point: &str, secs: u32) -> GuidedRequest {
        GuidedRequest {
            trigger_point: point.into(),
            tool: "thumb".into(),
            side: Side::Left,
            duration_seconds: secs,
        }
    }

    #[track_caller]
    fn check(stored: Option<&GuidedRequest>, new: &GuidedRequest, retry: bool) {
        let stored = stored.map(of_guided);
        assert_eq!(is_retry(stored.as_ref(), &of_guided(new)), retry);
    }

    #[test]
    fn same_request_is_a_retry_a_different_one_is_not() {
        let a = guided("upper_trapezius", 60);
        check(Some(&a), &a, true);
        check(Some(&a), &guided("upper_trapezius", 61), false);
        check(Some(&a), &guided("levator_scapulae", 60), false);
        // No stored fingerprint (older or imported record): a retry.
        check(None, &a, true);
        // Field boundaries count: "ab"+"c" differs from "a"+"bc".
        let mut x = guided("ab", 1);
        x.tool = "c".into();
        let mut y = guided("a", 1);
        y.tool = "bc".into();
        check(Some(&x), &y, false);
    }
}
