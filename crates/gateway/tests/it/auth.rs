//! Every way a token can be unacceptable, and the JWKS keys of production.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use knotwork_proto::catalog::v1::GetCatalogVersionRequest;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::gateway::v1::GetTodayRequest;
use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
use knotwork_proto::session::v1::GetProfileRequest;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs(claims: serde_json::Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(sub: &str) -> serde_json::Value {
    serde_json::json!({"sub": sub, "iss": "knotwork-dev", "aud": "knotwork", "exp": now() + 600})
}

#[tokio::test]
async fn every_auth_failure_is_refused_before_any_backend() {
    let s = stack().await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    let t = now();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims("alice");
        c[k] = v;
        c
    };
    let mut no_exp = claims("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "TOKEN_MISSING"),
        ("empty bearer", Some("Bearer ".into()), "TOKEN_MALFORMED"),
        (
            "wrong scheme",
            Some(format!("Basic {}", token("alice"))),
            "TOKEN_MALFORMED",
        ),
        (
            "garbage",
            Some("Bearer abc.def.ghi".into()),
            "TOKEN_MALFORMED",
        ),
        (
            "alg none",
            Some("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.".into()),
            "TOKEN_MALFORMED",
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                hs(with("exp", (t - 120).into()), Algorithm::HS256, SECRET)
            )),
            "TOKEN_EXPIRED",
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                hs(with("nbf", (t + 300).into()), Algorithm::HS256, SECRET)
            )),
            "TOKEN_NOT_YET_VALID",
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                hs(with("iss", "evil".into()), Algorithm::HS256, SECRET)
            )),
            "TOKEN_WRONG_ISSUER",
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                hs(with("aud", "other".into()), Algorithm::HS256, SECRET)
            )),
            "TOKEN_WRONG_AUDIENCE",
        ),
        (
            "forged",
            Some(format!(
                "Bearer {}",
                hs(claims("alice"), Algorithm::HS256, "guessed")
            )),
            "TOKEN_INVALID_SIGNATURE",
        ),
        (
            "other algorithm",
            Some(format!(
                "Bearer {}",
                hs(claims("alice"), Algorithm::HS384, SECRET)
            )),
            "TOKEN_WRONG_ALGORITHM",
        ),
        (
            "no exp",
            Some(format!("Bearer {}", hs(no_exp, Algorithm::HS256, SECRET))),
            "TOKEN_MISSING_CLAIM",
        ),
    ];
    for (name, header, reason) in cases {
        let mut req = tonic::Request::new(GetProfileRequest {});
        if let Some(h) = header {
            req.metadata_mut()
                .insert("authorization", h.parse().unwrap());
        }
        let err = client.get_profile(req).await.expect_err(name);
        assert_eq!(err.code(), Code::Unauthenticated, "{name}");
        assert_eq!(
            err.get_error_details()
                .error_info()
                .map(|i| i.reason.as_str()),
            Some(reason),
            "{name}"
        );
    }
    assert_eq!(
        s.session.calls.load(Ordering::SeqCst),
        0,
        "a refused call reached the backend"
    );

    // The views need a token too; the catalog does not.
    let mut views = ViewServiceClient::new(channel(&s.gateway.url()).await);
    assert_eq!(
        views
            .get_today(GetTodayRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut catalog = CatalogServiceClient::new(channel(&s.gateway.url()).await);
    catalog
        .get_catalog_version(GetCatalogVersionRequest {})
        .await
        .unwrap();
    // A good token passes.
    client
        .get_profile(authed(GetProfileRequest {}, &token("alice")))
        .await
        .unwrap();
}

#[tokio::test]
async fn jwks_keys_verify_and_hs_rs_confusion_fails() {
    let ec_pem = include_bytes!("../fixtures/ec256.pem");
    let rsa_pem = include_bytes!("../fixtures/rsa2048.pem");
    let rsa_pub = include_bytes!("../fixtures/rsa2048.pub.pem");
    let ec = EncodingKey::from_ec_pem(ec_pem).unwrap();
    let rsa = EncodingKey::from_rsa_pem(rsa_pem).unwrap();
    let mut ec_jwk = Jwk::from_encoding_key(&ec, Algorithm::ES256).unwrap();
    ec_jwk.common.key_id = Some("ec1".into());
    let mut rsa_jwk = Jwk::from_encoding_key(&rsa, Algorithm::RS256).unwrap();
    rsa_jwk.common.key_id = Some("rsa1".into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        serde_json::to_string(&JwkSet {
            keys: vec![ec_jwk, rsa_jwk],
        })
        .unwrap(),
    )
    .unwrap();

    let s = stack_with(|c| c.jwt_jwks_file = Some(path.clone())).await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    let sign = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims("dana"), key).unwrap()
    };
    let good = [
        sign(Algorithm::ES256, "ec1", &ec),
        sign(Algorithm::RS256, "rsa1", &rsa),
    ];
    for t in &good {
        client
            .get_profile(authed(GetProfileRequest {}, t))
            .await
            .unwrap();
    }
    // HS256 signed with the RSA public key as the secret (the classic
    // confusion), the dev secret, an unknown kid, and a key/alg mismatch.
    let bad = [
        (
            sign(Algorithm::HS256, "rsa1", &EncodingKey::from_secret(rsa_pub)),
            "TOKEN_WRONG_ALGORITHM",
        ),
        (
            sign(
                Algorithm::HS256,
                "rsa1",
                &EncodingKey::from_secret(SECRET.as_bytes()),
            ),
            "TOKEN_WRONG_ALGORITHM",
        ),
        (token("dana"), "TOKEN_UNKNOWN_KEY"),
        (sign(Algorithm::ES256, "nope", &ec), "TOKEN_UNKNOWN_KEY"),
        (sign(Algorithm::RS256, "ec1", &rsa), "TOKEN_WRONG_ALGORITHM"),
    ];
    for (t, reason) in &bad {
        let err = client
            .get_profile(authed(GetProfileRequest {}, t))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        assert_eq!(
            err.get_error_details().error_info().unwrap().reason,
            *reason
        );
    }
    assert_eq!(s.session.calls.load(Ordering::SeqCst), good.len());
    let _ = Duration::ZERO;
}
