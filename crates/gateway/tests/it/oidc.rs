//! OpenID providers trusted by issuer URL: a tiny discovery + JWKS server
//! on loopback stands in for the provider, so rotation, outage and the
//! refusals at start run in milliseconds without npm.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use knotwork_gateway::Mode;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::{ExportUserDataRequest, GetProfileRequest};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

const AUDIENCE: &str = "knotwork-web";

/// What the fake provider serves; tests change it while it runs.
struct IdpState {
    /// The `issuer` of the discovery document (`None`: its own URL).
    issuer: Option<String>,
    jwks: serde_json::Value,
    cache_control: &'static str,
}

/// A discovery document and a JWKS on 127.0.0.1.
struct FakeIdp {
    addr: SocketAddr,
    state: Arc<Mutex<IdpState>>,
    jwks_fetches: Arc<AtomicUsize>,
    /// When set, every request is answered by closing the connection.
    down: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl FakeIdp {
    async fn start(jwks: serde_json::Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(IdpState {
            issuer: None,
            jwks,
            cache_control: "public, max-age=3600",
        }));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (st, count, off) = (state.clone(), jwks_fetches.clone(), down.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, count, off) = (st.clone(), count.clone(), off.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (st, count, off) = (st.clone(), count.clone(), off.clone());
                        async move {
                            if off.load(Ordering::SeqCst) {
                                return Err(std::io::Error::other("provider down"));
                            }
                            let base = format!("http://{addr}");
                            let s = st.lock().unwrap();
                            let (body, cache) = match req.uri().path() {
                                "/.well-known/openid-configuration" => (
                                    serde_json::json!({
                                        "issuer": s.issuer.clone().unwrap_or(base.clone()),
                                        "jwks_uri": format!("{base}/jwks"),
                                    }),
                                    "no-store",
                                ),
                                "/jwks" => {
                                    count.fetch_add(1, Ordering::SeqCst);
                                    (s.jwks.clone(), s.cache_control)
                                }
                                _ => (serde_json::json!({}), "no-store"),
                            };
                            Ok::<_, std::io::Error>(
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .header("cache-control", cache)
                                    .body(Full::new(Bytes::from(body.to_string())))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            state,
            jwks_fetches,
            down,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_jwks(&self, jwks: serde_json::Value) {
        self.state.lock().unwrap().jwks = jwks;
    }

    /// Stops answering: no new connections, open ones closed on use.
    fn stop(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.task.abort();
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two signing keys from the fixtures: `k1` (RSA, RS256) and `k2` (EC
/// P-256, ES256).
struct Keys {
    rsa: EncodingKey,
    ec: EncodingKey,
}

impl Keys {
    fn new() -> Self {
        Self {
            rsa: EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa2048.pem")).unwrap(),
            ec: EncodingKey::from_ec_pem(include_bytes!("../fixtures/ec256.pem")).unwrap(),
        }
    }

    fn jwk(&self, kid: &str) -> serde_json::Value {
        let mut jwk = match kid {
            "k1" => Jwk::from_encoding_key(&self.rsa, Algorithm::RS256).unwrap(),
            _ => Jwk::from_encoding_key(&self.ec, Algorithm::ES256).unwrap(),
        };
        jwk.common.key_id = Some(kid.into());
        serde_json::to_value(jwk).unwrap()
    }

    fn jwks(&self, kids: &[&str]) -> serde_json::Value {
        serde_json::json!({"keys": kids.iter().map(|k| self.jwk(k)).collect::<Vec<_>>()})
    }

    /// A token for `sub` from `issuer`, signed by the key behind `key`
    /// (`k1` or `k2`) and naming `kid`.
    fn token(&self, issuer: &str, key: &str, kid: &str, sub: &str) -> String {
        let (alg, enc) = match key {
            "k1" => (Algorithm::RS256, &self.rsa),
            _ => (Algorithm::ES256, &self.ec),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let claims = serde_json::json!({"sub": sub, "iss": issuer, "aud": AUDIENCE, "exp": exp});
        jsonwebtoken::encode(&header, &claims, enc).unwrap()
    }
}

fn trust(c: &mut knotwork_gateway::Config, idp: &FakeIdp) {
    c.oidc_issuers = vec![idp.url()];
    c.oidc_audiences = vec![AUDIENCE.into()];
    c.oidc_jwks_min_secs = 1;
    c.oidc_jwks_max_secs = 3600;
}

/// The UNAUTHENTICATED reason of a GetProfile with `token`, or `None` when
/// the call passed.
async fn refusal(
    client: &mut SessionServiceClient<tonic::transport::Channel>,
    token: &str,
) -> Option<String> {
    match client
        .get_profile(authed(GetProfileRequest {}, token))
        .await
    {
        Ok(_) => None,
        Err(s) => {
            assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
            Some(s.get_error_details().error_info().unwrap().reason.clone())
        }
    }
}

async fn metrics_text(admin: SocketAddr) -> String {
    let resp = http1(admin, "GET", "/metrics", &[], b"").await;
    String::from_utf8_lossy(&resp.body).into_owned()
}

#[tokio::test]
async fn rotation_is_followed_without_a_restart_and_outages_keep_the_keys() {
    let keys = Keys::new();
    let idp = FakeIdp::start(keys.jwks(&["k1"])).await;
    let iss = idp.url();
    let s = stack_with(|c| {
        trust(c, &idp);
        // Unknown key ids refetch at once here; the rate limit has its own test.
        c.oidc_unknown_key_refetch_secs = 0;
    })
    .await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);

    // The provider's token passes; the user id is scoped by issuer, while
    // the development issuer's stays as it was.
    let old = keys.token(&iss, "k1", "k1", "alice");
    assert_eq!(refusal(&mut client, &old).await, None);
    let export = client
        .export_user_data(authed(ExportUserDataRequest {}, &old))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(
        export.user_id,
        format!("{}alice", knotwork_gateway::scope_of(&iss))
    );
    let export = client
        .export_user_data(authed(ExportUserDataRequest {}, &token("alice")))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export.user_id, "alice");
    assert_eq!(idp.fetches(), 1);

    // The provider rotates, now with a short max-age: a token naming the
    // new key passes at once (one refetch for the unknown key id).
    {
        let mut st = idp.state.lock().unwrap();
        st.jwks = keys.jwks(&["k1", "k2"]);
        st.cache_control = "max-age=1";
    }
    let new = keys.token(&iss, "k2", "k2", "alice");
    assert_eq!(refusal(&mut client, &new).await, None);
    assert_eq!(idp.fetches(), 2);
    assert_eq!(
        refusal(&mut client, &old).await,
        None,
        "k1 is still published"
    );

    // The old key is removed: when the keys' lifetime (max-age=1) ends, the
    // background refresh drops it and tokens signed with it are refused.
    idp.set_jwks(keys.jwks(&["k2"]));
    let start = std::time::Instant::now();
    let mut last = None;
    while last.is_none() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = refusal(&mut client, &old).await;
    }
    assert_eq!(last.as_deref(), Some("TOKEN_UNKNOWN_KEY"));
    assert_eq!(refusal(&mut client, &new).await, None);

    // The provider goes away: the gateway keeps the last good keys, counts
    // the failed fetches and still accepts k2's tokens.
    idp.stop();
    let admin = s.gateway.admin;
    let failed = eventually(Duration::from_secs(10), || async move {
        metrics_text(admin).await.lines().any(|l| {
            l.starts_with("knotwork_gateway_jwks_fetches_total")
                && l.contains("result=\"error\"")
                && !l.ends_with(" 0")
        })
    })
    .await;
    assert!(failed, "no failed fetch was counted");
    assert_eq!(refusal(&mut client, &new).await, None);
    let text = metrics_text(admin).await;
    assert!(
        text.contains("knotwork_gateway_jwks_keys{issuer="),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_key_ids_refetch_at_most_once_per_interval() {
    let keys = Keys::new();
    let idp = FakeIdp::start(keys.jwks(&["k1"])).await;
    let iss = idp.url();
    let s = stack_with(|c| trust(c, &idp)).await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    let good = keys.token(&iss, "k1", "k1", "bob");
    assert_eq!(refusal(&mut client, &good).await, None);
    assert_eq!(idp.fetches(), 1);
    for kid in ["x1", "x2", "x3"] {
        let t = keys.token(&iss, "k1", kid, "bob");
        assert_eq!(
            refusal(&mut client, &t).await.as_deref(),
            Some("TOKEN_UNKNOWN_KEY")
        );
    }
    // The first unknown id was only moments after the start's fetch, within
    // the 30 s interval: no fetch at all.
    assert_eq!(idp.fetches(), 1);
    // The pinned algorithm: k1 is RSA, so an HS256 token naming it fails.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    let hs = jsonwebtoken::encode(
        &h,
        &serde_json::json!({"sub": "bob", "iss": iss, "aud": AUDIENCE, "exp": u64::MAX / 2}),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert_eq!(
        refusal(&mut client, &hs).await.as_deref(),
        Some("TOKEN_WRONG_ALGORITHM")
    );
    // A non-ASCII subject reaches the shard as it is.
    let t = keys.token(&iss, "k1", "k1", "josé");
    assert_eq!(refusal(&mut client, &t).await, None);
    let scoped = format!("{}josé", knotwork_gateway::scope_of(&iss));
    assert!(s.session.users.lock().unwrap().contains_key(&scoped));
}

/// Runs a gateway with `edit` applied and returns its start error.
async fn start_error(edit: impl FnOnce(&mut knotwork_gateway::Config)) -> String {
    let mut c = config(
        &["http://127.0.0.1:1".into()],
        &["http://127.0.0.1:1".into()],
    );
    edit(&mut c);
    let listener = bind(None).await;
    let run = knotwork_gateway::run(c, listener, None, std::future::pending());
    match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => panic!("the gateway stopped without an error"),
        Err(_) => panic!("the gateway started"),
    }
}

#[tokio::test]
async fn start_refuses_a_wrong_issuer_an_http_issuer_in_prod_and_hmac_keys() {
    let keys = Keys::new();
    let idp = FakeIdp::start(keys.jwks(&["k1"])).await;
    idp.state.lock().unwrap().issuer = Some("https://elsewhere.example".into());
    let e = start_error(|c| trust(c, &idp)).await;
    assert!(
        e.contains("names the issuer \"https://elsewhere.example\""),
        "{e}"
    );

    idp.state.lock().unwrap().issuer = None;
    idp.set_jwks(
        serde_json::json!({"keys": [keys.jwk("k1"), {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"}]}),
    );
    let e = start_error(|c| trust(c, &idp)).await;
    assert!(e.contains("\"h1\" is a symmetric (HMAC"), "{e}");

    let e = start_error(|c| {
        trust(c, &idp);
        c.mode = Mode::Prod;
        c.internal_token = "r".repeat(32);
        c.allow_plaintext_backends = true;
    })
    .await;
    assert!(
        e.contains(&format!("refuses the http issuer {}", idp.url())),
        "{e}"
    );

    let url = idp.url();
    drop(idp);
    let e = start_error(|c| {
        c.oidc_issuers = vec![url.clone()];
        c.oidc_audiences = vec![AUDIENCE.into()];
    })
    .await;
    assert!(e.contains("cannot fetch"), "{e}");
}
