//! TLS and mTLS on every listener, with certificates this test generates
//! (rcgen): a CA, a server certificate for 127.0.0.1/localhost, a client
//! certificate for the gateway and the session service, and a second,
//! unrelated CA with its own client certificate.
//!
//! Boots catalog and session with TLS that requires a client certificate,
//! and the gateway with TLS towards apps and mTLS towards the backends
//! (`https://` URLs). Then: a TLS client gets correct answers through the
//! gateway (gRPC over HTTP/2 and grpc-web over HTTP/1.1), a plain-text
//! client is refused, a backend called without a client certificate or
//! with one from the other CA is refused, and wrong certificate files stop
//! a service at start with an error naming the file. The reshard tool moves
//! users between shards that require mTLS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_runtime::tls::{BackendTlsArgs, TlsArgs};
use knotwork_tests::procs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const JWT_SECRET: &str = "tls-test-jwt-secret";
const INTERNAL: &str = "tls-test-internal";

/// PEM files written by the test.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
    other_client_cert: PathBuf,
    other_client_key: PathBuf,
}

fn ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate signed by `issuer`: (cert PEM, key PEM).
fn leaf(
    issuer: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    names: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca1 = ca("knotwork test CA");
        let (server_cert, server_key) = leaf(
            &ca1,
            &["localhost", "127.0.0.1"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            &ca1,
            &["knotwork-gateway"],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        let ca2 = ca("some other CA");
        let (other_cert, other_key) = leaf(
            &ca2,
            &["intruder"],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca: write("ca.pem", &ca1.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            other_ca: write("other-ca.pem", &ca2.pem()),
            other_client_cert: write("other-client.pem", &other_cert),
            other_client_key: write("other-client.key", &other_key),
            dir,
        }
    }

    /// Server TLS; with `mtls`, client certificates signed by the CA are required.
    fn server(&self, mtls: bool) -> TlsArgs {
        TlsArgs {
            tls_cert: Some(self.server_cert.clone()),
            tls_key: Some(self.server_key.clone()),
            tls_client_ca: mtls.then(|| self.ca.clone()),
        }
    }

    /// Client TLS towards the backends, with the client certificate.
    fn backend(&self) -> BackendTlsArgs {
        BackendTlsArgs {
            backend_ca: Some(self.ca.clone()),
            backend_client_cert: Some(self.client_cert.clone()),
            backend_client_key: Some(self.client_key.clone()),
        }
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap()
    }

    /// A tonic TLS config trusting the CA, with an optional client identity.
    fn client(&self, identity: Option<(&Path, &Path)>) -> ClientTlsConfig {
        let mut c =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(Self::read(&self.ca)));
        if let Some((cert, key)) = identity {
            c = c.identity(Identity::from_pem(Self::read(cert), Self::read(key)));
        }
        c
    }
}

/// catalog + one session shard + gateway, all TLS; backends require mTLS.
struct Stack {
    gateway: String,
    catalog: String,
    session: String,
    stop: watch::Sender<bool>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", l.local_addr().unwrap());
    (l, url)
}

impl Stack {
    async fn start(pki: &Pki, tweak: impl FnOnce(&mut knotwork_gateway::Config)) -> Self {
        let (stop, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let (cat_dir, ses_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

        let (cl, catalog) = bind().await;
        let mut c = knotwork_catalog::Config::local(cat_dir.path().to_path_buf());
        c.internal_token = INTERNAL.into();
        c.tls = pki.server(true);
        tokio::spawn(knotwork_catalog::run(c, cl, stopped(rx.clone())));

        let (sl, session) = bind().await;
        let mut s = knotwork_session::Config::local(ses_dir.path().to_path_buf());
        s.internal_token = INTERNAL.into();
        s.catalog_url = catalog.clone();
        s.tls = pki.server(true);
        s.backend_tls = pki.backend();
        tokio::spawn(knotwork_session::run(s, sl, stopped(rx.clone())));

        let (gl, gateway) = bind().await;
        let mut g = knotwork_gateway::Config::local(vec![catalog.clone()], vec![session.clone()]);
        g.jwt_secret = JWT_SECRET.into();
        g.internal_token = INTERNAL.into();
        g.tls = pki.server(false);
        g.backend_tls = pki.backend();
        g.health_interval_ms = 100;
        tweak(&mut g);
        tokio::spawn(knotwork_gateway::run(g, gl, None, stopped(rx)));

        let stack = Stack {
            gateway,
            catalog,
            session,
            stop,
            _dirs: vec![cat_dir, ses_dir],
        };
        let ch = channel(&stack.gateway, pki.client(None));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut all = true;
            for service in [
                "",
                "knotwork.catalog.v1.CatalogService",
                "knotwork.session.v1.SessionService",
            ] {
                all &= HealthClient::new(ch.clone())
                    .check(HealthCheckRequest {
                        service: service.into(),
                    })
                    .await
                    .is_ok_and(|r| r.into_inner().status() == ServingStatus::Serving);
            }
            if all {
                return stack;
            }
            assert!(Instant::now() < deadline, "TLS stack not serving in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn channel(url: &str, tls: ClientTlsConfig) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

fn plain_channel(url: &str) -> Channel {
    Endpoint::from_shared(url.replace("https://", "http://"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect_lazy()
}

fn as_user<T>(user: &str, msg: T) -> tonic::Request<T> {
    let token = knotwork_gateway::auth::mint_dev_token(
        JWT_SECRET,
        knotwork_runtime::dev::JWT_ISSUER,
        knotwork_runtime::dev::JWT_AUDIENCE,
        user,
        Duration::from_secs(600),
    )
    .unwrap();
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

async fn health(ch: Channel) -> Result<ServingStatus, tonic::Status> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status())
}

/// A grpc-web call over HTTP/1.1 inside TLS, with ALPN offering only
/// `http/1.1` (a browser or proxy that does not speak HTTP/2).
async fn grpc_web_over_tls_http1(pki: &Pki, url: &str) -> String {
    let addr = url.trim_start_matches("https://");
    let mut roots = rustls::RootCertStore::empty();
    for c in knotwork_runtime::tls::load_certs("CA", &pki.ca).unwrap() {
        roots.add(c).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let req = format!(
        "POST /knotwork.catalog.v1.CatalogService/GetCatalogVersion HTTP/1.1\r\nhost: {addr}\r\n\
         content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\ncontent-length: 5\r\n\
         connection: close\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    tls.write_all(&[0, 0, 0, 0, 0]).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_everywhere_and_mtls_to_the_backends() {
    let pki = Pki::generate();
    let stack = Stack::start(&pki, |g| g.limits.header_timeout_ms = 1_000).await;

    // A TLS client gets correct answers through the gateway: a catalog read...
    let ch = channel(&stack.gateway, pki.client(None));
    let point = CatalogServiceClient::new(ch.clone())
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: procs::POINT.into(),
        })
        .await
        .expect("catalog read over TLS")
        .into_inner()
        .trigger_point
        .unwrap();
    assert_eq!(point.name, procs::POINT);
    // ... and an authenticated write and its read-back (gateway -> session
    // shard over mTLS; the shard's rules come from the catalog over mTLS).
    let mut sessions = SessionServiceClient::new(ch.clone());
    let tool = point.techniques[0].tool.clone();
    let logged = sessions
        .log_session(as_user(
            "alice",
            ses::LogSessionRequest {
                request_id: "tls-1".into(),
                session: Some(procs::record(&tool, 5, "over tls")),
            },
        ))
        .await
        .expect("authenticated write over TLS")
        .into_inner();
    let name = logged.session.unwrap().name;
    let got = sessions
        .get_session(as_user("alice", ses::GetSessionRequest { name }))
        .await
        .expect("read back")
        .into_inner()
        .session
        .unwrap();
    assert_eq!(got.notes, "over tls");

    // grpc-web over HTTP/1.1 inside TLS on the same port.
    let resp = grpc_web_over_tls_http1(&pki, &stack.gateway).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("grpc-status:0"), "{resp}");

    // A plain-text client to a TLS port is refused, on every service.
    for url in [&stack.gateway, &stack.catalog, &stack.session] {
        let r = health(plain_channel(url)).await;
        assert!(r.is_err(), "plain text to {url} answered: {r:?}");
    }

    // Backends: without a client certificate, or with one from another CA,
    // the handshake is refused; the gateway's certificate is accepted.
    for url in [&stack.catalog, &stack.session] {
        let none = health(channel(url, pki.client(None))).await;
        assert!(none.is_err(), "{url} without a client cert: {none:?}");
        let other = health(channel(
            url,
            pki.client(Some((&pki.other_client_cert, &pki.other_client_key))),
        ))
        .await;
        assert!(other.is_err(), "{url} with another CA's cert: {other:?}");
        let ours = health(channel(
            url,
            pki.client(Some((&pki.client_cert, &pki.client_key))),
        ))
        .await;
        let ours = ours.unwrap_or_else(|s| panic!("{url} with the CA's client cert: {s:?}"));
        assert_eq!(ours, ServingStatus::Serving);
    }
    // A client that trusts only the other CA refuses the gateway's certificate.
    let wrong_trust = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&pki.other_ca).unwrap()));
    assert!(health(channel(&stack.gateway, wrong_trust)).await.is_err());

    // A TCP connection to the TLS port that never starts the handshake is
    // closed at the header timeout (1 s here).
    let started = Instant::now();
    let mut silent = TcpStream::connect(stack.gateway.trim_start_matches("https://"))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    let took = started.elapsed();
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "silent TLS connection not closed: {read:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    println!("silent connection to the TLS gateway port closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_certificate_files_stop_the_service_naming_the_file() {
    let pki = Pki::generate();
    let missing = pki.dir.path().join("missing.pem");
    let not_pem = pki.dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let never = std::future::pending::<()>();

    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = knotwork_catalog::Config::local(data.path().join("c"));
    c.tls = TlsArgs {
        tls_cert: Some(missing.clone()),
        tls_key: Some(pki.server_key.clone()),
        tls_client_ca: None,
    };
    let e = knotwork_catalog::run(c, l, never)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.pem"), "{e}");

    // A certificate where the key should be.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = knotwork_session::Config::local(data.path().join("s"));
    s.tls = TlsArgs {
        tls_cert: Some(pki.server_cert.clone()),
        tls_key: Some(pki.server_cert.clone()),
        tls_client_ca: None,
    };
    let e = knotwork_session::run(s, l, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("server.pem") && e.contains("key"), "{e}");

    // The gateway's backend CA is not PEM.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut g = knotwork_gateway::Config::local(
        vec!["https://127.0.0.1:1".into()],
        vec!["https://127.0.0.1:2".into()],
    );
    g.backend_tls = BackendTlsArgs {
        backend_ca: Some(not_pem.clone()),
        ..Default::default()
    };
    let e = knotwork_gateway::run(g, l, None, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not-a-cert.pem"), "{e}");

    // A key that does not belong to the certificate.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = knotwork_catalog::Config::local(data.path().join("c2"));
    c.tls = TlsArgs {
        tls_cert: Some(pki.server_cert.clone()),
        tls_key: Some(pki.client_key.clone()),
        tls_client_ca: None,
    };
    let e = knotwork_catalog::run(c, l, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("server.pem") && e.contains("client.key"), "{e}");

    // The binary: non-zero exit, the file named on stderr.
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(procs::bin("knotwork-catalog"))
            .env("KNOTWORK_CATALOG_LISTEN", "127.0.0.1:0")
            .env("KNOTWORK_CATALOG_DATA_DIR", data.path().join("bin"))
            .env("KNOTWORK_TLS_CERT", &missing)
            .env("KNOTWORK_TLS_KEY", &pki.server_key)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the binary exits at once")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("missing.pem"), "{stderr}");
}

/// `knotwork reshard` against shards that require mTLS: with the CA and the
/// client certificate the users whose shard changes move; without the
/// certificate no shard lets it in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reshard_moves_users_between_mtls_shards() {
    let pki = Pki::generate();
    let stack = Stack::start(&pki, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (listener, second) = bind().await;
    let mut s = knotwork_session::Config::local(dir.path().to_path_buf());
    s.internal_token = INTERNAL.into();
    s.catalog_url = stack.catalog.clone();
    s.tls = pki.server(true);
    s.backend_tls = pki.backend();
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(knotwork_session::run(s, listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));

    let ch = channel(&stack.gateway, pki.client(None));
    let users: Vec<String> = (0..12).map(|i| format!("mover-{i}")).collect();
    for user in &users {
        SessionServiceClient::new(ch.clone())
            .update_profile(as_user(
                user,
                ses::UpdateProfileRequest {
                    profile: Some(ses::Profile {
                        time_zone: "Europe/Paris".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await
            .expect("profile written");
    }
    let from = vec![stack.session.clone()];
    let to = vec![stack.session.clone(), second.clone()];
    let tls = |args: BackendTlsArgs| knotwork_runtime::tls::BackendTls::load(&args).unwrap();

    let refused = knotwork_gateway::reshard_with_tls(
        &from,
        &to,
        INTERNAL,
        &tls(BackendTlsArgs {
            backend_ca: Some(pki.ca.clone()),
            ..Default::default()
        }),
    )
    .await;
    assert!(refused.is_err(), "no client certificate: {refused:?}");

    let report = knotwork_gateway::reshard_with_tls(&from, &to, INTERNAL, &tls(pki.backend()))
        .await
        .expect("reshard over mTLS");
    let moving = users
        .iter()
        .filter(|u| knotwork_gateway::route::shard_for(u, 2) == 1)
        .count();
    assert!(moving > 0, "some of the users change shard");
    assert_eq!(report.users_seen, users.len(), "{report:?}");
    assert_eq!(report.users_moved, moving, "{report:?}");
    assert!(report.failures.is_empty(), "{report:?}");
    let _ = stop.send(true);
}

/// The certificate a TLS handshake with `addr` presents, trusting `cas`.
async fn served_certificate(addr: &str, cas: &[&Path]) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for c in knotwork_runtime::tls::load_certs("CA", ca).unwrap() {
            roots.add(c).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der(pem: &Path) -> Vec<u8> {
    knotwork_runtime::tls::load_certs("cert", pem).unwrap()[0].to_vec()
}

/// A certificate replaced on disk is served to new connections without a
/// restart, and answers calls; files that do not load leave the last good
/// certificate serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_swapped_on_disk_is_served_without_a_restart() {
    let pki = Pki::generate();
    let next = Pki::generate();
    // The service reads copies, so the test can replace them.
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("tls.crt"), files.path().join("tls.key"));
    std::fs::copy(&pki.server_cert, &cert).unwrap();
    std::fs::copy(&pki.server_key, &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (listener, url) = bind().await;
    let mut c = knotwork_catalog::Config::local(dir.path().to_path_buf());
    c.internal_token = INTERNAL.into();
    c.tls = TlsArgs {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        tls_client_ca: None,
    };
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(knotwork_catalog::run(c, listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let addr = url.trim_start_matches("https://").to_owned();
    let both = [pki.ca.as_path(), next.ca.as_path()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "catalog not listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        served_certificate(&addr, &both).await,
        der(&pki.server_cert)
    );

    // Swap in another certificate and key, each replaced atomically (as a
    // Secret volume does).
    for (from, to) in [(&next.server_key, &key), (&next.server_cert, &cert)] {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_certificate(&addr, &both).await != der(&next.server_cert) {
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served 30 s after the swap"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A client that trusts only the new CA makes calls.
    let version = CatalogServiceClient::new(channel(&url, next.client(None)))
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .expect("a call over the new certificate");
    assert!(!version.into_inner().catalog_version.is_empty());

    // A broken file: for two poll periods (the reload attempt happens in
    // them) every new connection still gets the last good certificate.
    std::fs::write(&cert, "not a certificate").unwrap();
    let until = Instant::now() + knotwork_runtime::reload::POLL * 2;
    while Instant::now() < until {
        assert_eq!(
            served_certificate(&addr, &both).await,
            der(&next.server_cert)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
}
