//! Verification keys, each pinned to one algorithm.
//!
//! A JWKS document (a file or an OpenID provider's `jwks_uri`) becomes a
//! [`KeySet`]. The algorithm of each key comes from its type (RSA: RS256
//! unless its `alg` names another RSA signature algorithm; EC P-256: ES256;
//! EC P-384: ES384; OKP Ed25519: EdDSA), never from the token, so a token
//! cannot choose a weaker algorithm or use a public key as an HMAC secret.
//! A JWKS that holds a symmetric (`oct`) key, or a key whose `alg` is `none`
//! or HMAC, is refused whole: such a document is a misconfiguration, not
//! something to work around. Encryption keys (`use: enc`, or an `alg` such as
//! `RSA-OAEP`) are skipped: Keycloak publishes one beside its signing keys.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// One verification key.
pub(crate) struct Key {
    /// The key id (`kid`), when the key has one.
    pub(crate) kid: Option<String>,
    /// The one algorithm this key verifies.
    pub(crate) alg: Algorithm,
    /// The key material.
    pub(crate) key: DecodingKey,
}

/// The keys of one issuer.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kids()).finish()
    }
}

/// The signature algorithms a JWKS key may name, by key family.
const RSA_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/// Key-management (encryption) algorithms: keys naming them are skipped.
fn is_encryption_alg(alg: &str) -> bool {
    alg.starts_with("RSA1_5")
        || alg.starts_with("RSA-OAEP")
        || alg.starts_with("ECDH-ES")
        || alg.starts_with("PBES2")
        || alg == "dir"
        || (alg.starts_with('A') && alg.ends_with("KW"))
}

impl KeySet {
    /// One HS256 shared secret (development), without a key id.
    pub(crate) fn hmac(secret: &str) -> Self {
        Self {
            keys: vec![Key {
                kid: None,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.as_bytes()),
            }],
        }
    }

    /// Reads a JWKS document; the error names the key and the problem.
    pub(crate) fn from_jwks(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("JWKS is not valid JSON: {e}"))?;
        let entries = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("JWKS has no `keys` array")?;
        let mut keys: Vec<Key> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let text = |name: &str| entry.get(name).and_then(serde_json::Value::as_str);
            let kid = text("kid").map(str::to_owned);
            let name = kid
                .as_deref()
                .map_or_else(|| format!("#{i}"), |k| format!("{k:?}"));
            let kty = text("kty").ok_or_else(|| format!("JWKS key {name} has no `kty`"))?;
            let alg = text("alg");
            if kty == "oct" {
                return Err(format!(
                    "JWKS key {name} is a symmetric (HMAC, kty `oct`) key: only RSA, EC and \
                     OKP public keys are accepted"
                ));
            }
            if let Some(a) = alg
                && (a.eq_ignore_ascii_case("none") || a.starts_with("HS"))
            {
                return Err(format!(
                    "JWKS key {name} names the algorithm {a}: `none` and HMAC are never \
                     accepted for JWKS keys"
                ));
            }
            if text("use") == Some("enc") || alg.is_some_and(is_encryption_alg) {
                continue;
            }
            let jwk: Jwk = serde_json::from_value(entry.clone())
                .map_err(|e| format!("JWKS key {name} is not usable: {e}"))?;
            let alg = pinned_alg(&jwk).map_err(|e| format!("JWKS key {name} {e}"))?;
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|e| format!("JWKS key {name} is not usable: {e}"))?;
            if kid.is_some() && keys.iter().any(|k| k.kid == kid) {
                return Err(format!("JWKS has two keys with the id {name}"));
            }
            keys.push(Key { kid, alg, key });
        }
        if keys.is_empty() {
            return Err("JWKS has no signing keys".to_owned());
        }
        Ok(Self { keys })
    }

    /// The key a token's header names: by `kid`, or the only key when the
    /// token names none. A set with one key without an id (the HMAC
    /// secret) uses that key whatever the token names.
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&Key> {
        if let [only] = self.keys.as_slice()
            && (only.kid.is_none() || kid.is_none())
        {
            return Some(only);
        }
        let kid = kid?;
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key ids, for log lines (`-` for a key without one).
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect()
    }

    /// How many keys the set holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The one algorithm a key verifies: from its type, narrowed by its `alg`
/// when it names one of the same family.
fn pinned_alg(jwk: &Jwk) -> Result<Algorithm, String> {
    let named = jwk.common.key_algorithm;
    let named_str = named.map(|a| format!("{a:?}"));
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match named_str.as_deref() {
            None => Ok(Algorithm::RS256),
            Some(a) if RSA_ALGS.contains(&a) => a
                .parse::<Algorithm>()
                .map_err(|_| format!("names an unknown algorithm {a}")),
            Some(a) => Err(format!("is an RSA key but names the algorithm {a}")),
        },
        AlgorithmParameters::EllipticCurve(p) => {
            let alg = match p.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                ref other => return Err(format!("uses the unsupported curve {other:?}")),
            };
            match named {
                None => Ok(alg),
                Some(KeyAlgorithm::ES256) if alg == Algorithm::ES256 => Ok(alg),
                Some(KeyAlgorithm::ES384) if alg == Algorithm::ES384 => Ok(alg),
                Some(a) => Err(format!(
                    "is a {:?} key but names the algorithm {a:?}",
                    p.curve
                )),
            }
        }
        AlgorithmParameters::OctetKeyPair(p) => match (&p.curve, named) {
            (EllipticCurve::Ed25519, None | Some(KeyAlgorithm::EdDSA)) => Ok(Algorithm::EdDSA),
            (curve, a) => Err(format!(
                "is an OKP key ({curve:?}) with the algorithm {a:?}: only Ed25519 (EdDSA) is accepted"
            )),
        },
        AlgorithmParameters::OctetKey(_) => {
            Err("is a symmetric (HMAC) key: never accepted in a JWKS".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modulus of the test fixture's 2048-bit RSA key (`tests/fixtures`).
    const RSA_N: &str = "wov97FTbGQhqDo2iodFRubE9rj-qnCo2gR2IsfK-gCcoTUEdrlmvhFX7DEMRblF48KtCKsSE4ThWwTTWsov9XDeqQdpBzsdEITe6jyc_W3FfNIzSh3C9ze8M4ZlNGYBoT1iyJohDNCdDQgNWWtO97jkgF3rYoK8LhO6UPPjgSSrx0noki2RUT-oKD7xZnyEVzEiwjqKPNkmoklgLT-xBBFvX1XfLNla3xTeTJ2N206CMSCSMY2WuyDVkC2MIZS0Ji_ofNniC5kIoPoJU42fTyqj2Aplga-bW8YDGNY8nwgaDFPmRYih4WnpDTzb-c1sKJXZyuHAdSHg5DOXguUblVQ";

    #[track_caller]
    fn check(jwks: serde_json::Value, expected: Result<&[(&str, Algorithm)], &str>) {
        match (KeySet::from_jwks(&jwks.to_string()), expected) {
            (Ok(set), Ok(want)) => {
                let got: Vec<(&str, Algorithm)> = set
                    .keys
                    .iter()
                    .map(|k| (k.kid.as_deref().unwrap_or("-"), k.alg))
                    .collect();
                assert_eq!(got, want);
            }
            (Err(e), Err(want)) => assert!(e.contains(want), "{e:?} should contain {want:?}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    fn rsa(kid: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut k = serde_json::json!({"kty": "RSA", "kid": kid, "n": RSA_N, "e": "AQAB"});
        if let (Some(k), Some(extra)) = (k.as_object_mut(), extra.as_object()) {
            k.extend(extra.clone());
        }
        k
    }

    #[test]
    fn jwks_table() {
        use serde_json::json;
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "ec",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uE_3mK4k",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        check(
            json!({"keys": [rsa("a", json!({})), ec]}),
            Ok(&[("a", Algorithm::RS256), ("ec", Algorithm::ES256)]),
        );
        check(
            json!({"keys": [rsa("p", json!({"alg": "PS256", "use": "sig"}))]}),
            Ok(&[("p", Algorithm::PS256)]),
        );
        // Keycloak publishes an encryption key beside the signing key.
        check(
            json!({"keys": [rsa("enc", json!({"use": "enc", "alg": "RSA-OAEP"})), rsa("sig", json!({"alg": "RS256"}))]}),
            Ok(&[("sig", Algorithm::RS256)]),
        );
        check(
            json!({"keys": [rsa("a", json!({})), {"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}),
            Err("\"h\" is a symmetric (HMAC"),
        );
        check(
            json!({"keys": [rsa("a", json!({"alg": "HS256"}))]}),
            Err("names the algorithm HS256"),
        );
        check(
            json!({"keys": [rsa("a", json!({"alg": "none"}))]}),
            Err("`none` and HMAC are never accepted"),
        );
        check(
            json!({"keys": [rsa("a", json!({"alg": "ES256"}))]}),
            Err("is an RSA key but names the algorithm ES256"),
        );
        check(
            json!({"keys": [rsa("a", json!({})), rsa("a", json!({}))]}),
            Err("two keys with the id \"a\""),
        );
        check(json!({"keys": []}), Err("no signing keys"));
        check(json!({"nokeys": 1}), Err("no `keys` array"));
        check(json!({"keys": [{"kid": "x"}]}), Err("\"x\" has no `kty`"));
    }

    #[test]
    fn find_by_kid() {
        let set = KeySet::from_jwks(
            &serde_json::json!({"keys": [rsa("a", serde_json::json!({})), rsa("b", serde_json::json!({}))]})
                .to_string(),
        )
        .unwrap();
        assert_eq!(
            set.find(Some("b")).and_then(|k| k.kid.as_deref()),
            Some("b")
        );
        assert!(set.find(Some("c")).is_none());
        assert!(set.find(None).is_none());
        let hmac = KeySet::hmac("s");
        assert!(hmac.find(Some("anything")).is_some());
        assert_eq!(hmac.len(), 1);
    }
}
