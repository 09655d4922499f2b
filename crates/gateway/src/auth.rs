//! Bearer JWT authentication.
//!
//! The keys and algorithms come from configuration, never from the token:
//! either one HS256 shared secret (development) or the RS256/ES256 public
//! keys of a JWKS file (production), never both, so a token signed with a
//! public key as an HMAC secret (HS/RS confusion) has nothing to match.
//! `alg: none` does not even parse. `exp`, `iss`, `aud` and `sub` are
//! required; `nbf` is checked when present; a small leeway absorbs clock
//! skew. Tokens are never logged.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataMap;

use crate::Error;

/// The longest token accepted, in bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The longest user id (`sub`) accepted; the backends apply the same bound.
const MAX_SUBJECT_LEN: usize = knotwork_runtime::internal::MAX_USER_ID_LEN;

/// The claims the gateway reads and [`mint_dev_token`] writes.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    // Defaults let the validator, not the parser, report a missing claim.
    #[serde(default)]
    sub: String,
    #[serde(default)]
    iss: String,
    /// A string or an array of strings; the validator checks membership.
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(default)]
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

/// One configured verification key.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys.
pub struct Authenticator {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

fn unauthenticated(reason: &'static str, message: &str) -> Error {
    Error::Unauthenticated {
        reason,
        message: message.to_owned(),
    }
}

impl Authenticator {
    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: &str, issuer: &str, audience: &str, leeway: Duration) -> Self {
        Self {
            keys: vec![Key {
                kid: None,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.as_bytes()),
            }],
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: leeway.as_secs(),
        }
    }

    /// Accepts RS256/ES256 tokens signed by a key of the JWKS document.
    /// Symmetric (`oct`) keys and other algorithms are refused.
    pub fn from_jwks(
        jwks: &str,
        issuer: &str,
        audience: &str,
        leeway: Duration,
    ) -> Result<Self, Error> {
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| Error::Config(format!("JWKS is not valid JSON: {e}")))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let inferred = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => {
                    return Err(Error::Config(
                        "JWKS keys must be RSA (RS256) or EC P-256 (ES256)".to_owned(),
                    ));
                }
            };
            let alg = match jwk.common.key_algorithm {
                None => inferred,
                Some(KeyAlgorithm::RS256) if inferred == Algorithm::RS256 => Algorithm::RS256,
                Some(KeyAlgorithm::ES256) if inferred == Algorithm::ES256 => Algorithm::ES256,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "JWKS key algorithm {other:?} is not accepted"
                    )));
                }
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| Error::Config(format!("JWKS key is not usable: {e}")))?;
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        if keys.is_empty() {
            return Err(Error::Config("JWKS has no keys".to_owned()));
        }
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: leeway.as_secs(),
        })
    }

    /// Reads a JWKS file (see [`Authenticator::from_jwks`]).
    pub fn from_jwks_file(
        path: &Path,
        issuer: &str,
        audience: &str,
        leeway: Duration,
    ) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read JWKS file {}: {e}", path.display())))?;
        Self::from_jwks(&text, issuer, audience, leeway)
    }

    /// Verifies the `authorization: Bearer <jwt>` of a call and returns the
    /// user id (`sub`).
    pub fn verify(&self, md: &MetadataMap) -> Result<String, Error> {
        let mut values = md.get_all("authorization").iter();
        let value = values
            .next()
            .ok_or_else(|| unauthenticated("TOKEN_MISSING", "a bearer token is required"))?;
        if values.next().is_some() {
            return Err(unauthenticated(
                "TOKEN_MALFORMED",
                "more than one authorization header",
            ));
        }
        let value = value
            .to_str()
            .map_err(|_| unauthenticated("TOKEN_MALFORMED", "authorization is not text"))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unauthenticated("TOKEN_MALFORMED", "authorization must be `Bearer <token>`")
            })?;
        self.verify_token(token)
    }

    /// Verifies one token and returns its subject.
    pub fn verify_token(&self, token: &str) -> Result<String, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(unauthenticated("TOKEN_MALFORMED", "token too long"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("TOKEN_MALFORMED", "token is not a JWT"))?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str())),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        };
        let key = match key {
            Some(k) => k,
            // An HMAC setup has one key without a kid: a kid in the token
            // does not change which key is used.
            None if self.keys.len() == 1 && self.keys[0].kid.is_none() => &self.keys[0],
            None => {
                return Err(unauthenticated(
                    "TOKEN_UNKNOWN_KEY",
                    "token signed by an unknown key",
                ));
            }
        };
        // The algorithm is the configured key's, never the header's.
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|e| {
            let (reason, message) = match e.kind() {
                ErrorKind::ExpiredSignature => ("TOKEN_EXPIRED", "token expired"),
                ErrorKind::ImmatureSignature => ("TOKEN_NOT_YET_VALID", "token not yet valid"),
                ErrorKind::InvalidIssuer => ("TOKEN_WRONG_ISSUER", "token issuer not accepted"),
                ErrorKind::InvalidAudience => {
                    ("TOKEN_WRONG_AUDIENCE", "token audience not accepted")
                }
                ErrorKind::InvalidSignature => {
                    ("TOKEN_INVALID_SIGNATURE", "token signature is not valid")
                }
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    ("TOKEN_WRONG_ALGORITHM", "token algorithm not accepted")
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    ("TOKEN_MISSING_CLAIM", "token lacks a required claim")
                }
                _ => ("TOKEN_MALFORMED", "token is not valid"),
            };
            unauthenticated(reason, message)
        })?;
        let sub = data.claims.sub;
        if sub.is_empty() || sub.len() > MAX_SUBJECT_LEN || sub.chars().any(char::is_control) {
            return Err(unauthenticated(
                "TOKEN_INVALID_SUBJECT",
                "token subject is not a usable user id",
            ));
        }
        Ok(sub)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints an HS256 development token for `user`, valid for `ttl`, that a
/// gateway configured with the same secret, issuer and audience accepts.
/// Used by `knotwork token` and by tests.
pub fn mint_dev_token(
    secret: &str,
    issuer: &str,
    audience: &str,
    user: &str,
    ttl: Duration,
) -> Result<String, Error> {
    if user.is_empty() || user.len() > MAX_SUBJECT_LEN || user.chars().any(char::is_control) {
        return Err(Error::InvalidArgument {
            field: "user",
            reason: "must be 1-128 printable characters".into(),
        });
    }
    let now = now_secs();
    let claims = Claims {
        sub: user.to_owned(),
        iss: issuer.to_owned(),
        aud: serde_json::Value::String(audience.to_owned()),
        exp: now.saturating_add(ttl.as_secs().max(1)),
        nbf: Some(now),
        iat: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| Error::Internal(format!("cannot sign token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test-secret";

    fn auth() -> Authenticator {
        Authenticator::hs256(SECRET, "iss", "aud", Duration::from_secs(30))
    }

    fn sign(claims: &serde_json::Value, alg: Algorithm, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[track_caller]
    fn check(token: &str, expected: Result<&str, &str>) {
        match (auth().verify_token(token), expected) {
            (Ok(sub), Ok(want)) => assert_eq!(sub, want),
            (Err(Error::Unauthenticated { reason, .. }), Err(want)) => assert_eq!(reason, want),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn token_table() {
        let now = now_secs();
        let good = serde_json::json!({"sub": "alice", "iss": "iss", "aud": "aud", "exp": now + 60});
        check(&sign(&good, Algorithm::HS256, SECRET), Ok("alice"));
        let many =
            serde_json::json!({"sub": "al", "iss": "iss", "aud": ["x", "aud"], "exp": now + 60});
        check(&sign(&many, Algorithm::HS256, SECRET), Ok("al"));
        check(
            &mint_dev_token(SECRET, "iss", "aud", "bob", Duration::from_secs(60)).unwrap(),
            Ok("bob"),
        );
        // Within the leeway.
        let skewed = serde_json::json!({"sub": "a", "iss": "iss", "aud": "aud", "exp": now - 10});
        check(&sign(&skewed, Algorithm::HS256, SECRET), Ok("a"));
        let cases: &[(serde_json::Value, &str)] = &[
            (
                serde_json::json!({"sub": "a", "iss": "iss", "aud": "aud", "exp": now - 120}),
                "TOKEN_EXPIRED",
            ),
            (
                serde_json::json!({"sub": "a", "iss": "iss", "aud": "aud", "exp": now + 600, "nbf": now + 300}),
                "TOKEN_NOT_YET_VALID",
            ),
            (
                serde_json::json!({"sub": "a", "iss": "other", "aud": "aud", "exp": now + 60}),
                "TOKEN_WRONG_ISSUER",
            ),
            (
                serde_json::json!({"sub": "a", "iss": "iss", "aud": "other", "exp": now + 60}),
                "TOKEN_WRONG_AUDIENCE",
            ),
            (
                serde_json::json!({"sub": "a", "iss": "iss", "aud": "aud"}),
                "TOKEN_MISSING_CLAIM",
            ),
            (
                serde_json::json!({"iss": "iss", "aud": "aud", "exp": now + 60}),
                "TOKEN_MISSING_CLAIM",
            ),
            (
                serde_json::json!({"sub": "", "iss": "iss", "aud": "aud", "exp": now + 60}),
                "TOKEN_INVALID_SUBJECT",
            ),
        ];
        for (claims, reason) in cases {
            check(&sign(claims, Algorithm::HS256, SECRET), Err(reason));
        }
        check(
            &sign(&good, Algorithm::HS256, "forged"),
            Err("TOKEN_INVALID_SIGNATURE"),
        );
        check(
            &sign(&good, Algorithm::HS512, SECRET),
            Err("TOKEN_WRONG_ALGORITHM"),
        );
        check("not-a-jwt", Err("TOKEN_MALFORMED"));
        // alg "none": header {"alg":"none"} with an empty signature.
        check(
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.",
            Err("TOKEN_MALFORMED"),
        );
    }

    #[test]
    fn authorization_header_forms() {
        let token = mint_dev_token(SECRET, "iss", "aud", "carol", Duration::from_secs(60)).unwrap();
        let mut md = MetadataMap::new();
        assert!(matches!(
            auth().verify(&md),
            Err(Error::Unauthenticated {
                reason: "TOKEN_MISSING",
                ..
            })
        ));
        md.insert("authorization", format!("bearer {token}").parse().unwrap());
        assert_eq!(auth().verify(&md).unwrap(), "carol");
        md.insert("authorization", format!("Basic {token}").parse().unwrap());
        assert!(matches!(
            auth().verify(&md),
            Err(Error::Unauthenticated {
                reason: "TOKEN_MALFORMED",
                ..
            })
        ));
        md.insert("authorization", format!("Bearer {token}").parse().unwrap());
        md.append("authorization", format!("Bearer {token}").parse().unwrap());
        assert!(matches!(
            auth().verify(&md),
            Err(Error::Unauthenticated {
                reason: "TOKEN_MALFORMED",
                ..
            })
        ));
    }

    #[test]
    fn jwks_refuses_symmetric_keys() {
        let jwks = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(Authenticator::from_jwks(jwks, "i", "a", Duration::ZERO).is_err());
        assert!(Authenticator::from_jwks(r#"{"keys":[]}"#, "i", "a", Duration::ZERO).is_err());
    }
}
