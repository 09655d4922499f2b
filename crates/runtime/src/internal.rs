//! The trust boundary between the gateway and the backends.
//!
//! The gateway authenticates people; backends authenticate the gateway. A
//! backend accepts a call only when it carries the shared internal credential
//! (compared in constant time), and only then trusts the user id the gateway
//! put beside it. A client that reaches a backend directly cannot pick a user.
//!
//! A user id is any UTF-8 text without control characters, up to
//! [`MAX_USER_ID_LEN`] bytes. Plain visible ASCII travels as the text header
//! `x-knotwork-user-id`; anything else (`josé`, a space) as the binary header
//! `x-knotwork-user-id-bin`, whose bytes are the UTF-8 of the id (gRPC
//! base64-encodes binary metadata on the wire, so the encoding is exact and
//! reversible). [`set_user_id`] writes one of the two, [`user_id`] reads
//! either and refuses a call that carries both or several.

use std::sync::Arc;

use knotwork_proto::metadata;
use subtle::ConstantTimeEq;
use tonic::metadata::{BinaryMetadataValue, MetadataMap};
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

/// The longest user id accepted from the gateway, in bytes: an OpenID
/// `sub` (at most 255 characters, so at most 1020 bytes of UTF-8) with its
/// issuer scope (`oidc:<12 hex>:`, 18 bytes) fits.
pub const MAX_USER_ID_LEN: usize = 1040;

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

/// Whether `id` is usable as a user id: 1 to [`MAX_USER_ID_LEN`] bytes of
/// UTF-8 without control characters (a NUL would break the session store's
/// key prefixes).
pub fn is_valid_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_USER_ID_LEN && !id.chars().any(char::is_control)
}

/// Writes the user id into outgoing metadata: the text header for visible
/// ASCII, the binary header otherwise (see the module docs). Any earlier
/// value of either header is replaced.
pub fn set_user_id(md: &mut MetadataMap, id: &str) {
    md.remove(metadata::USER_ID);
    md.remove_bin(metadata::USER_ID_BIN);
    if id.bytes().all(|b| b.is_ascii_graphic())
        && let Ok(v) = id.parse()
    {
        md.insert(metadata::USER_ID, v);
        return;
    }
    md.insert_bin(
        metadata::USER_ID_BIN,
        BinaryMetadataValue::from_bytes(id.as_bytes()),
    );
}

/// Reads the user id the gateway set (text or binary header). Only call
/// after the credential was verified (the interceptor does it).
pub fn user_id(md: &MetadataMap) -> Result<String, Status> {
    let missing = || Status::unauthenticated("missing user id");
    let invalid = || Status::unauthenticated("invalid user id");
    let mut text = md.get_all(metadata::USER_ID).iter();
    let mut bin = md.get_all_bin(metadata::USER_ID_BIN).iter();
    let id = match (text.next(), bin.next()) {
        (Some(_), Some(_)) => return Err(invalid()),
        (Some(v), None) => {
            if text.next().is_some() {
                return Err(invalid());
            }
            v.to_str().map_err(|_| invalid())?.to_owned()
        }
        (None, Some(v)) => {
            if bin.next().is_some() {
                return Err(invalid());
            }
            let bytes = v.to_bytes().map_err(|_| invalid())?;
            String::from_utf8(bytes.to_vec()).map_err(|_| invalid())?
        }
        (None, None) => return Err(missing()),
    };
    if !is_valid_user_id(&id) {
        return Err(invalid());
    }
    Ok(id)
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
    fn any_utf8_user_id_round_trips() {
        let auth = InternalAuth::new("k");
        for id in [
            "alice",
            "josé",
            "Jane Doe",
            "用户",
            "oidc:0123456789ab:a|b",
            "e\u{301}",
        ] {
            let mut m = md(&[(metadata::INTERNAL_TOKEN, "k")]);
            set_user_id(&mut m, id);
            let ascii = id.bytes().all(|b| b.is_ascii_graphic());
            assert_eq!(m.get(metadata::USER_ID).is_some(), ascii, "{id}");
            assert_eq!(m.get_bin(metadata::USER_ID_BIN).is_some(), !ascii, "{id}");
            assert_eq!(auth.user_id(&m).unwrap(), id);
            // Setting again replaces, never duplicates.
            set_user_id(&mut m, "bob");
            assert_eq!(auth.user_id(&m).unwrap(), "bob");
        }
    }

    #[test]
    fn ambiguous_or_bad_user_ids_are_refused() {
        let mut both = md(&[(metadata::INTERNAL_TOKEN, "k"), (metadata::USER_ID, "a")]);
        both.insert_bin(metadata::USER_ID_BIN, BinaryMetadataValue::from_bytes(b"b"));
        assert!(user_id(&both).is_err());
        let mut two_bin = MetadataMap::new();
        two_bin.append_bin(metadata::USER_ID_BIN, BinaryMetadataValue::from_bytes(b"a"));
        two_bin.append_bin(metadata::USER_ID_BIN, BinaryMetadataValue::from_bytes(b"b"));
        assert!(user_id(&two_bin).is_err());
        for bad in [&b"\xff\xfe"[..], b"a\0b", b"", &[b'a'; MAX_USER_ID_LEN + 1]] {
            let mut m = MetadataMap::new();
            m.insert_bin(metadata::USER_ID_BIN, BinaryMetadataValue::from_bytes(bad));
            assert!(user_id(&m).is_err(), "{bad:?}");
        }
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
