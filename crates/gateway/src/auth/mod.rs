//! Bearer JWT authentication.
//!
//! Tokens are accepted from a list of issuers, each with its audience and
//! its keys: the development HS256 secret or a JWKS file for `--jwt-issuer`
//! ([`keys::KeySet`]), and OpenID providers trusted by issuer URL, whose keys
//! are discovered and refreshed ([`oidc::Provider`], [`cache`]). The token's
//! `iss` picks the issuer; the key is the one its `kid` names among that
//! issuer's keys, and the algorithm is the key's, never the header's, so a
//! token signed with a public key as an HMAC secret (HS/RS confusion) has
//! nothing to match. `alg: none` does not even parse. `exp`, `iss`, `aud`
//! and `sub` are required; `nbf` is checked when present; a small leeway
//! absorbs clock skew. Tokens are never logged.
//!
//! # User ids
//! `sub` is unique only within its issuer, so the user id is scoped:
//! - `--jwt-issuer` (the development issuer, or the JWKS file's, or an
//!   OpenID issuer of the same name): the `sub` as it is, so existing data
//!   and shard placement stay where they are;
//! - any other issuer: `oidc:` + the first 12 hex digits of SHA-256(issuer
//!   URL) + `:` + `sub` (see [`scope_of`]). While such issuers are
//!   configured, an unscoped `sub` starting with `oidc:` is refused, so no
//!   token can borrow a scoped id.
//!
//! A `sub` is any UTF-8 text of 1 to 255 characters without control
//! characters; it reaches the backends through knotwork-runtime's internal
//! metadata encoding (binary metadata when it is not plain ASCII).

pub(crate) mod cache;
pub(crate) mod file;
pub(crate) mod keys;
pub(crate) mod oidc;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tonic::metadata::MetadataMap;

use crate::Error;
use crate::config::Config;
use crate::metrics::Metrics;
use cache::CachePolicy;
use keys::KeySet;
use oidc::Provider;

/// The longest token accepted, in bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The longest `sub` accepted, in characters (OpenID Connect Core's bound).
const MAX_SUBJECT_CHARS: usize = 255;
/// What every scoped user id starts with.
const SCOPED_PREFIX: &str = "oidc:";

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

/// The one claim read before the signature is checked: which issuer's
/// keys to check it with.
#[derive(Deserialize)]
struct IssuerOnly {
    #[serde(default)]
    iss: serde_json::Value,
}

/// Where an issuer's keys come from.
enum Keys {
    /// Fixed at start: the development secret.
    Fixed(KeySet),
    /// A JWKS file, read again when it changes.
    File(Arc<file::JwksFile>),
    /// An OpenID provider's, refreshed while serving.
    Discovered(Arc<Provider>),
}

/// One trusted issuer.
struct Issuer {
    iss: String,
    audience: String,
    /// Prepended to `sub` to make the user id (`None`: the `sub` as it is).
    scope: Option<String>,
    keys: Keys,
}

/// Verifies bearer tokens against the configured issuers.
pub struct Authenticator {
    issuers: Vec<Issuer>,
    /// Whether unscoped subjects must not look scoped.
    guard_prefix: bool,
    leeway: u64,
    /// Tokens verified lately.
    remembered: Remembered,
}

/// How many verified tokens are remembered (about 150 bytes each).
const REMEMBERED: usize = 16 * 1024;

/// Tokens verified lately, by SHA-256 of the token: an app sends the same
/// bearer token with every call, and parsing it three times and checking
/// its signature was the largest part of the gateway's own work on a call
/// after HTTP/2 (an RSA signature from an OpenID provider costs more than
/// the rest of a catalog read). A remembered token passes again only while
/// its `exp` and `nbf` hold, with the same leeway, and while its issuer
/// still has the very key set that verified it: a refreshed or reloaded set
/// (a rotation, a removed key) sends every token through the whole check
/// again. Refusals are never remembered.
struct Remembered {
    passes: quick_cache::sync::Cache<[u8; 32], Pass>,
    hits: std::sync::atomic::AtomicU64,
}

/// A token that passed: its user id, its time bounds, and what verified it.
#[derive(Clone)]
struct Pass {
    user: String,
    exp: u64,
    nbf: Option<u64>,
    /// The index of its issuer.
    issuer: usize,
    /// The key set that verified it (`None`: a fixed set, which never
    /// changes); weak, so a replaced set is not kept alive.
    set: Option<std::sync::Weak<KeySet>>,
}

impl Pass {
    /// Whether it still passes at `now` (seconds) with `leeway`, its
    /// issuer's keys being `current` (`None`: a fixed set).
    fn holds(&self, now: u64, leeway: u64, current: Option<&Arc<KeySet>>) -> bool {
        let in_time = self.exp >= now.saturating_sub(leeway)
            && self.nbf.is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        let same_keys = match (&self.set, current) {
            (None, None) => true,
            (Some(set), Some(current)) => std::sync::Weak::ptr_eq(set, &Arc::downgrade(current)),
            _ => false,
        };
        in_time && same_keys
    }
}

impl Remembered {
    fn new() -> Self {
        Self {
            passes: quick_cache::sync::Cache::new(REMEMBERED),
            hits: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<(&str, &str)> = self
            .issuers
            .iter()
            .map(|i| (i.iss.as_str(), i.audience.as_str()))
            .collect();
        f.debug_struct("Authenticator")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

fn unauthenticated(reason: &'static str, message: &str) -> Error {
    Error::Unauthenticated {
        reason,
        message: message.to_owned(),
    }
}

/// The user-id scope of an issuer other than `--jwt-issuer`:
/// `oidc:<first 12 hex digits of SHA-256(issuer)>:`.
pub fn scope_of(issuer: &str) -> String {
    let digest = Sha256::digest(issuer.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{SCOPED_PREFIX}{hex}:")
}

/// Whether `sub` can be a user id: 1 to 255 characters, no control
/// characters.
fn usable_subject(sub: &str) -> bool {
    !sub.is_empty()
        && sub.chars().count() <= MAX_SUBJECT_CHARS
        && !sub.chars().any(char::is_control)
}

impl Authenticator {
    /// Accepts HS256 tokens signed with `secret`, issued by `issuer`, with
    /// unscoped user ids.
    #[cfg(test)]
    pub fn hs256(secret: &str, issuer: &str, audience: &str, leeway: Duration) -> Self {
        Self {
            issuers: vec![Issuer {
                iss: issuer.to_owned(),
                audience: audience.to_owned(),
                scope: None,
                keys: Keys::Fixed(KeySet::hmac(secret)),
            }],
            guard_prefix: false,
            leeway: leeway.as_secs(),
            remembered: Remembered::new(),
        }
    }

    /// The issuers of `config`: the development secret or JWKS file for
    /// `--jwt-issuer` (when enabled), then each OpenID issuer, discovered
    /// now. Refresh loops are started by [`Authenticator::spawn_refresh`].
    pub async fn from_config(config: &Config, metrics: &Metrics) -> Result<Self, Error> {
        let mut issuers = Vec::new();
        if config.local_issuer_enabled() {
            let keys = match &config.jwt_jwks_file {
                Some(path) => Keys::File(Arc::new(file::JwksFile::load(path)?)),
                None => Keys::Fixed(KeySet::hmac(&config.jwt_secret)),
            };
            issuers.push(Issuer {
                iss: config.jwt_issuer.clone(),
                audience: config.jwt_audience.clone(),
                scope: None,
                keys,
            });
        }
        let oidc_issuers = config.oidc_issuers();
        if !oidc_issuers.is_empty() {
            let audiences = config.oidc_audiences();
            let fetcher = oidc::Fetcher::new(
                config.oidc_ca_file.as_deref(),
                config.mode == crate::config::Mode::Prod,
            )?;
            let policy = CachePolicy {
                min: Duration::from_secs(config.oidc_jwks_min_secs),
                max: Duration::from_secs(config.oidc_jwks_max_secs),
                unknown_key_interval: Duration::from_secs(config.oidc_unknown_key_refetch_secs),
            };
            let jwks_metrics = oidc::JwksMetrics::new(metrics);
            for (i, iss) in oidc_issuers.iter().enumerate() {
                let audience = audiences
                    .get(i)
                    .or(audiences.first())
                    .copied()
                    .unwrap_or("");
                let provider =
                    Provider::discover(iss, fetcher.clone(), policy, jwks_metrics.clone()).await?;
                issuers.push(Issuer {
                    iss: (*iss).to_owned(),
                    audience: audience.to_owned(),
                    scope: (*iss != config.jwt_issuer).then(|| scope_of(iss)),
                    keys: Keys::Discovered(provider),
                });
            }
        }
        if issuers.is_empty() {
            return Err(Error::Config(
                "no token issuer is enabled: set --oidc-issuers, --jwt-jwks-file or a \
                 non-development --jwt-secret"
                    .to_owned(),
            ));
        }
        let guard_prefix = issuers.iter().any(|i| i.scope.is_some());
        Ok(Self {
            issuers,
            guard_prefix,
            leeway: config.jwt_leeway_secs,
            remembered: Remembered::new(),
        })
    }

    /// Starts the background key refresh of every OpenID issuer and the
    /// watch of the JWKS file; each stops when `stop` changes.
    pub fn spawn_refresh(&self, stop: &watch::Receiver<bool>) {
        for issuer in &self.issuers {
            match &issuer.keys {
                Keys::Discovered(provider) => {
                    tokio::spawn(provider.clone().refresh_loop(stop.clone()));
                }
                Keys::File(file) => file.watch(stop.clone()),
                Keys::Fixed(_) => {}
            }
        }
    }

    /// Verifies the `authorization: Bearer <jwt>` of a call and returns the
    /// user id (the `sub`, scoped by issuer).
    pub async fn verify(&self, md: &MetadataMap) -> Result<String, Error> {
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
        self.verify_token(token).await
    }

    /// Verifies one token and returns its user id.
    pub async fn verify_token(&self, token: &str) -> Result<String, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(unauthenticated("TOKEN_MALFORMED", "token too long"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(user) = self.remembered_pass(&digest) {
            return Ok(user);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("TOKEN_MALFORMED", "token is not a JWT"))?;
        let (index, issuer) = self.issuer_of(token)?;
        let kid = header.kid.as_deref();
        let set = match &issuer.keys {
            Keys::Fixed(set) => {
                let pass = self.check(token, issuer, set.find(kid))?;
                return Ok(self.remember(digest, index, None, pass));
            }
            Keys::File(file) => file.keys(),
            Keys::Discovered(provider) => {
                let set = provider.keys();
                if set.find(kid).is_some() {
                    set
                } else {
                    // A provider that rotated: one rate-limited refetch.
                    provider.refresh_for_unknown_key().await;
                    provider.keys()
                }
            }
        };
        let pass = self.check(token, issuer, set.find(kid))?;
        Ok(self.remember(digest, index, Some(&set), pass))
    }

    /// The user of a remembered token that still passes (see
    /// [`Remembered`]).
    fn remembered_pass(&self, digest: &[u8; 32]) -> Option<String> {
        let pass = self.remembered.passes.get(digest)?;
        let current = match &self.issuers.get(pass.issuer)?.keys {
            Keys::Fixed(_) => None,
            Keys::File(file) => Some(file.keys()),
            Keys::Discovered(provider) => Some(provider.keys()),
        };
        if !pass.holds(now_secs(), self.leeway, current.as_ref()) {
            self.remembered.passes.remove(digest);
            return None;
        }
        self.remembered
            .hits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(pass.user)
    }

    /// Remembers a token that passed, verified by `set`, and returns its
    /// user.
    fn remember(
        &self,
        digest: [u8; 32],
        issuer: usize,
        set: Option<&Arc<KeySet>>,
        (user, exp, nbf): (String, u64, Option<u64>),
    ) -> String {
        let pass = Pass {
            user: user.clone(),
            exp,
            nbf,
            issuer,
            set: set.map(Arc::downgrade),
        };
        self.remembered.passes.insert(digest, pass);
        user
    }

    /// The configured issuer the token's (unverified) `iss` names. With a
    /// single issuer, a token naming another is refused by validation so
    /// that the reason is the same as before OpenID issuers existed.
    fn issuer_of(&self, token: &str) -> Result<(usize, &Issuer), Error> {
        let peek = jsonwebtoken::dangerous::insecure_decode::<IssuerOnly>(token)
            .map_err(|_| unauthenticated("TOKEN_MALFORMED", "token is not a JWT"))?;
        let iss = peek.claims.iss.as_str().unwrap_or("");
        self.issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.iss == iss)
            .or(match self.issuers.as_slice() {
                [only] => Some((0, only)),
                _ => None,
            })
            .ok_or_else(|| unauthenticated("TOKEN_WRONG_ISSUER", "token issuer not accepted"))
    }

    /// Checks the signature and claims with `key` and makes the user id;
    /// returns it with the token's `exp` and `nbf`.
    fn check(
        &self,
        token: &str,
        issuer: &Issuer,
        key: Option<&keys::Key>,
    ) -> Result<(String, u64, Option<u64>), Error> {
        let key = key.ok_or_else(|| {
            unauthenticated("TOKEN_UNKNOWN_KEY", "token signed by an unknown key")
        })?;
        // The algorithm is the configured key's, never the header's.
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer.iss]);
        validation.set_audience(&[&issuer.audience]);
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
        let (exp, nbf) = (data.claims.exp, data.claims.nbf);
        let sub = data.claims.sub;
        let bad_subject = || {
            unauthenticated(
                "TOKEN_INVALID_SUBJECT",
                "token subject is not a usable user id",
            )
        };
        if !usable_subject(&sub) {
            return Err(bad_subject());
        }
        let user = match &issuer.scope {
            Some(scope) => format!("{scope}{sub}"),
            None if self.guard_prefix && sub.starts_with(SCOPED_PREFIX) => {
                return Err(bad_subject());
            }
            None => sub,
        };
        if !knotwork_runtime::internal::is_valid_user_id(&user) {
            return Err(bad_subject());
        }
        Ok((user, exp, nbf))
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
    if !usable_subject(user) {
        return Err(Error::InvalidArgument {
            field: "user",
            reason: "must be 1-255 characters without control characters".into(),
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

/// The token verification the intake layer (`crate::intake`) made, kept in the request's extensions
/// for the handler.
#[derive(Debug, Clone)]
pub struct Verified(pub(crate) Result<String, (&'static str, String)>);

impl Verified {
    /// What the verification found: the user, or the refusal's reason and message.
    pub(crate) fn new(result: Result<String, (&'static str, String)>) -> Self {
        Self(result)
    }

    /// The verified user, or the refusal as the handler would have made it.
    pub fn result(&self) -> Result<String, Error> {
        match &self.0 {
            Ok(user) => Ok(user.clone()),
            Err((reason, message)) => Err(Error::Unauthenticated {
                reason,
                message: message.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

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
        match (block_on(auth().verify_token(token)), expected) {
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
            block_on(auth().verify(&md)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_MISSING",
                ..
            })
        ));
        md.insert("authorization", format!("bearer {token}").parse().unwrap());
        assert_eq!(block_on(auth().verify(&md)).unwrap(), "carol");
        md.insert("authorization", format!("Basic {token}").parse().unwrap());
        assert!(matches!(
            block_on(auth().verify(&md)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_MALFORMED",
                ..
            })
        ));
        md.insert("authorization", format!("Bearer {token}").parse().unwrap());
        md.append("authorization", format!("Bearer {token}").parse().unwrap());
        assert!(matches!(
            block_on(auth().verify(&md)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_MALFORMED",
                ..
            })
        ));
    }

    /// The development issuer `iss` (unscoped) beside a second HMAC
    /// issuer `https://b` (scoped), as OpenID issuers are.
    fn two_issuers() -> Authenticator {
        let fixed = |iss: &str, secret: &str, scope: Option<String>| Issuer {
            iss: iss.to_owned(),
            audience: "aud".to_owned(),
            scope,
            keys: Keys::Fixed(KeySet::hmac(secret)),
        };
        Authenticator {
            issuers: vec![
                fixed("iss", SECRET, None),
                fixed("https://b", "b-secret", Some(scope_of("https://b"))),
            ],
            guard_prefix: true,
            leeway: 30,
            remembered: Remembered::new(),
        }
    }

    #[test]
    fn user_ids_are_scoped_per_issuer() {
        let now = now_secs();
        let auth = two_issuers();
        let token = |iss: &str, sub: &str, secret: &str| {
            sign(
                &serde_json::json!({"sub": sub, "iss": iss, "aud": "aud", "exp": now + 60}),
                Algorithm::HS256,
                secret,
            )
        };
        let verify = |t: String| block_on(auth.verify_token(&t));
        assert_eq!(verify(token("iss", "alice", SECRET)).unwrap(), "alice");
        let scoped = verify(token("https://b", "alice", "b-secret")).unwrap();
        assert_eq!(scope_of("https://b"), "oidc:4d50e35b22de:");
        assert_eq!(scoped, format!("{}alice", scope_of("https://b")));
        // Any UTF-8 subject; the bound is 255 characters, not bytes.
        assert_eq!(verify(token("iss", "josé", SECRET)).unwrap(), "josé");
        let long = "\u{1f600}".repeat(255);
        assert_eq!(
            verify(token("https://b", &long, "b-secret"))
                .unwrap()
                .chars()
                .count(),
            255 + 18
        );
        // Each issuer's own key: b's secret does not sign for `iss`.
        let reason = |r: Result<String, Error>| match r {
            Err(Error::Unauthenticated { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(verify(token("iss", "a", "b-secret"))),
            "TOKEN_INVALID_SIGNATURE"
        );
        assert_eq!(
            reason(verify(token("https://c", "a", SECRET))),
            "TOKEN_WRONG_ISSUER"
        );
        // No unscoped token can borrow a scoped id.
        assert_eq!(
            reason(verify(token("iss", &scoped, SECRET))),
            "TOKEN_INVALID_SUBJECT"
        );
        assert_eq!(
            reason(verify(token("iss", &"a".repeat(256), SECRET))),
            "TOKEN_INVALID_SUBJECT"
        );
    }

    #[test]
    fn a_verified_token_is_remembered_and_never_for_another() {
        let a = auth();
        let now = now_secs();
        let claims = |sub: &str| serde_json::json!({"sub": sub, "iss": "iss", "aud": "aud", "exp": now + 600});
        let ana = sign(&claims("ana"), Algorithm::HS256, SECRET);
        let hits = || a.remembered.hits.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(block_on(a.verify_token(&ana)).unwrap(), "ana");
        assert_eq!(hits(), 0);
        assert_eq!(block_on(a.verify_token(&ana)).unwrap(), "ana");
        assert_eq!(hits(), 1);
        // Another token, and the same one with its signature altered.
        let bo = sign(&claims("bo"), Algorithm::HS256, SECRET);
        assert_eq!(block_on(a.verify_token(&bo)).unwrap(), "bo");
        // The signature's first character: all six of its bits are
        // signature (the last one's low bits are padding).
        let at = ana.rfind('.').unwrap() + 1;
        let swap = if ana[at..].starts_with('A') { "B" } else { "A" };
        let forged = format!("{}{swap}{}", &ana[..at], &ana[at + 1..]);
        assert!(matches!(
            block_on(a.verify_token(&forged)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_INVALID_SIGNATURE",
                ..
            })
        ));
        assert_eq!(hits(), 1);
    }

    #[test]
    fn a_remembered_token_expires_on_time() {
        // No leeway: expired the second after `exp`.
        let a = Authenticator::hs256(SECRET, "iss", "aud", Duration::ZERO);
        let exp = now_secs() + 2;
        let token = sign(
            &serde_json::json!({"sub": "ana", "iss": "iss", "aud": "aud", "exp": exp}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(block_on(a.verify_token(&token)).unwrap(), "ana");
        while now_secs() <= exp {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(matches!(
            block_on(a.verify_token(&token)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_EXPIRED",
                ..
            })
        ));
    }

    #[test]
    fn a_pass_holds_within_its_times_and_with_its_own_keys() {
        let set = Arc::new(KeySet::hmac("one"));
        let pass = Pass {
            user: "ana".into(),
            exp: 1_000,
            nbf: Some(500),
            issuer: 0,
            set: Some(Arc::downgrade(&set)),
        };
        assert!(pass.holds(700, 0, Some(&set)));
        // The leeway stretches both ends, as the full check's does.
        assert!(!pass.holds(1_001, 0, Some(&set)));
        assert!(pass.holds(1_030, 30, Some(&set)));
        assert!(!pass.holds(499, 0, Some(&set)));
        assert!(pass.holds(470, 30, Some(&set)));
        // A refreshed set, even with the same keys, checks again.
        let refreshed = Arc::new(KeySet::hmac("one"));
        assert!(!pass.holds(700, 0, Some(&refreshed)));
        assert!(!pass.holds(700, 0, None));
        let fixed = Pass { set: None, ..pass };
        assert!(fixed.holds(700, 0, None));
    }
}
