//! The trust boundary between the gateway and the backends.
//!
//! The gateway authenticates people; backends authenticate the gateway. A
//! backend accepts a call only when it carries the shared internal credential
//! (compared in constant time), and only then trusts the user id the gateway
//! put beside it. A client that reaches a backend directly cannot pick a user.

use std::sync::Arc;

use knotwork_proto::metadata;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// Checks the internal credential on incoming calls.
#[derive(Clone)]
pub struct InternalAuth {
    token: Arc<[u8]>,
    /// The credential being rotated in: accepted beside `token` while a
    /// rotation is under way, so no call is refused in between.
    next: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for InternalAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("InternalAuth").finish_non_exhaustive()
    }
}

/// The longest user id accepted from the gateway.
pub const MAX_USER_ID_LEN: usize = 128;

impl InternalAuth {
    /// A checker for the given shared secret.
    pub fn new(token: &str) -> Self {
        Self {
            token: Arc::from(token.as_bytes()),
            next: None,
        }
    }

    /// Also accepts `next` (when set and not empty), the credential being
    /// rotated in: backends accept both while the callers move to `next`.
    pub fn with_next(mut self, next: Option<&str>) -> Self {
        self.next = next
            .filter(|n| !n.is_empty())
            .map(|n| Arc::from(n.as_bytes()));
        self
    }

    /// Refuses the call with UNAUTHENTICATED unless it carries the internal
    /// credential.
    pub fn verify(&self, md: &MetadataMap) -> Result<(), Status> {
        let given = md
            .get(metadata::INTERNAL_TOKEN)
            .ok_or_else(|| Status::unauthenticated("missing internal credential"))?;
        let matches = |token: &[u8]| !token.is_empty() && bool::from(given.as_bytes().ct_eq(token));
        // Both are compared (no early exit), so timing does not tell which
        // credential a guess came close to.
        let current = matches(&self.token);
        let next = self.next.as_deref().is_some_and(matches);
        if !(current | next) {
            return Err(Status::unauthenticated("invalid internal credential"));
        }
        Ok(())
    }

    /// Verifies the credential and returns the user id the gateway set.
    pub fn user_id(&self, md: &MetadataMap) -> Result<String, Status> {
        self.verify(md)?;
        user_id(md)
    }

    /// A tonic interceptor that refuses calls without the credential.
    pub fn interceptor(&self) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
        let this = self.clone();
        move |req: Request<()>| {
            this.verify(req.metadata())?;
            Ok(req)
        }
    }
}

/// Reads the user id the gateway set. Only call after the credential was
/// verified (the interceptor does it).
pub fn user_id(md: &MetadataMap) -> Result<String, Status> {
    let id = md
        .get(metadata::USER_ID)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Status::unauthenticated("missing user id"))?;
    if id.is_empty() || id.len() > MAX_USER_ID_LEN || id.chars().any(char::is_control) {
        return Err(Status::unauthenticated("invalid user id"));
    }
    Ok(id.to_owned())
}

/// The request id of a call, or a fresh one when the caller sent none or an
/// unusable one.
pub fn request_id(md: &MetadataMap) -> String {
    md.get(metadata::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn credential_is_required_and_must_match() {
        let auth = InternalAuth::new("s3cret");
        assert_eq!(
            auth.verify(&md(&[])).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            auth.verify(&md(&[(metadata::INTERNAL_TOKEN, "s3cre")]))
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert!(
            auth.verify(&md(&[(metadata::INTERNAL_TOKEN, "s3cret")]))
                .is_ok()
        );
    }

    #[test]
    fn both_credentials_pass_during_a_rotation() {
        let auth = InternalAuth::new("old").with_next(Some("new"));
        for (given, ok) in [("old", true), ("new", true), ("neww", false), ("", false)] {
            assert_eq!(
                auth.verify(&md(&[(metadata::INTERNAL_TOKEN, given)]))
                    .is_ok(),
                ok,
                "{given:?}"
            );
        }
        let unset = InternalAuth::new("old").with_next(Some(""));
        assert!(
            unset
                .verify(&md(&[(metadata::INTERNAL_TOKEN, "")]))
                .is_err()
        );
    }

    #[test]
    fn empty_secret_admits_nobody() {
        let auth = InternalAuth::new("");
        assert!(auth.verify(&md(&[(metadata::INTERNAL_TOKEN, "")])).is_err());
    }

    #[test]
    fn user_id_needs_credential_and_sane_value() {
        let auth = InternalAuth::new("k");
        let ok = md(&[
            (metadata::INTERNAL_TOKEN, "k"),
            (metadata::USER_ID, "alice"),
        ]);
        assert_eq!(auth.user_id(&ok).unwrap(), "alice");
        let spoof = md(&[(metadata::USER_ID, "alice")]);
        assert!(auth.user_id(&spoof).is_err());
        let empty = md(&[(metadata::INTERNAL_TOKEN, "k"), (metadata::USER_ID, "")]);
        assert!(auth.user_id(&empty).is_err());
    }

    #[test]
    fn request_id_is_kept_or_minted() {
        assert_eq!(request_id(&md(&[(metadata::REQUEST_ID, "abc-1")])), "abc-1");
        assert_eq!(request_id(&md(&[])).len(), 36);
        assert_eq!(
            request_id(&md(&[(metadata::REQUEST_ID, "has space")])).len(),
            36
        );
    }
}
