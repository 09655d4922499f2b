//! TLS for every listener and every internal client, with rustls (ring).
//!
//! Server side ([`TlsArgs`], [`server_config`]): a certificate chain and key
//! in PEM files; with a client CA the listener requires and verifies a client
//! certificate signed by it (mTLS). ALPN offers `h2` and `http/1.1`, so gRPC
//! (HTTP/2) and grpc-web over HTTP/1.1 both work on one port.
//!
//! Client side ([`BackendTlsArgs`], [`BackendTls`]): the CA that signs the
//! backends' certificates and, for mTLS, this service's client certificate
//! and key. A backend URL with `https://` is dialled with TLS; `http://`
//! stays plain text (local development).
//!
//! Every file is read and parsed at start, and every error names the file,
//! so a bad path or a key in the certificate's place stops the service
//! before it serves. The listener's files (certificate, key, client CA) are
//! then watched ([`crate::reload`]): new connections get the new
//! certificate and CA within seconds of a change on disk, without a restart;
//! files that do not load (half written, a key that does not match) are
//! logged and the previous certificate keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// Why TLS could not be set up. Each variant names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is for (e.g. "TLS certificate").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the expected kind.
    #[error("{what} {path} holds no PEM {expected}: {reason}")]
    BadPem {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The kind of PEM item expected.
        expected: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The files parsed but do not make a usable configuration (a key that
    /// does not match its certificate, a CA that is not a CA).
    #[error("TLS configuration from {files}: {reason}")]
    Invalid {
        /// The files involved.
        files: String,
        /// rustls' reason.
        reason: String,
    },
    /// The settings do not go together (a certificate without a key, an
    /// https URL without a CA, ...).
    #[error("{0}")]
    Settings(String),
}

/// TLS settings of a listener: flags and `KNOTWORK_TLS_*` variables, the
/// same on every service. Without a certificate the listener is plain text.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain for this service's listeners (leaf first).
    /// Set with --tls-key to serve TLS; unset means plain text.
    #[arg(long, env = "KNOTWORK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) matching --tls-cert.
    #[arg(long, env = "KNOTWORK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificate(s): when set, clients must present a certificate
    /// signed by one of them (mTLS). Needs --tls-cert.
    #[arg(long, env = "KNOTWORK_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

/// TLS settings for calling other Knotwork services (the gateway calling
/// the backends, the session service calling the catalog).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackendTlsArgs {
    /// PEM CA certificate(s) that sign the backends' certificates; needed
    /// for `https://` backend URLs.
    #[arg(long, env = "KNOTWORK_BACKEND_CA")]
    pub backend_ca: Option<PathBuf>,

    /// PEM client certificate chain presented to the backends (mTLS). Set
    /// with --backend-client-key.
    #[arg(
        long,
        env = "KNOTWORK_BACKEND_CLIENT_CERT",
        requires = "backend_client_key"
    )]
    pub backend_client_cert: Option<PathBuf>,

    /// PEM private key of --backend-client-cert.
    #[arg(
        long,
        env = "KNOTWORK_BACKEND_CLIENT_KEY",
        requires = "backend_client_cert"
    )]
    pub backend_client_key: Option<PathBuf>,
}

/// ALPN protocols the listeners offer: gRPC needs `h2`; grpc-web clients
/// that only speak HTTP/1.1 get `http/1.1`.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM file; at least one is required.
pub fn load_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let bad = |reason: String| TlsError::BadPem {
        what,
        path: path.to_owned(),
        expected: "CERTIFICATE",
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate found".to_owned()));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn load_key(what: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(what, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::BadPem {
        what,
        path: path.to_owned(),
        expected: "PRIVATE KEY",
        reason: e.to_string(),
    })
}

fn roots(what: &'static str, path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(what, path)? {
        roots.add(cert).map_err(|e| TlsError::Invalid {
            files: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Builds the listener's rustls configuration, or `None` for plain text.
/// The certificate and the client CA are read again whenever their files
/// change (see the module docs).
pub fn server_config(args: &TlsArgs) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
    let (cert_path, key_path) = match (&args.tls_cert, &args.tls_key) {
        (None, None) => {
            if args.tls_client_ca.is_some() {
                return Err(TlsError::Settings(
                    "--tls-client-ca needs --tls-cert and --tls-key".to_owned(),
                ));
            }
            return Ok(None);
        }
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(TlsError::Settings(
                "--tls-cert and --tls-key go together".to_owned(),
            ));
        }
    };
    let files = ServerFiles {
        cert: cert_path.clone(),
        key: key_path.clone(),
        client_ca: args.tls_client_ca.clone(),
    };
    let state = Arc::new(Served {
        key: RwLock::new(files.certified_key()?),
        verifier: RwLock::new(files.client_verifier()?),
        files,
    });
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Settings(format!("TLS protocol versions: {e}")))?;
    let builder = if state.files.client_ca.is_some() {
        builder.with_client_cert_verifier(Arc::new(ReloadingVerifier(state.clone())))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(Arc::new(ReloadingCert(state.clone())));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    let mut paths = vec![state.files.cert.clone(), state.files.key.clone()];
    paths.extend(state.files.client_ca.clone());
    let (alive, changed) = (Arc::downgrade(&state), Arc::downgrade(&state));
    crate::reload::watch(
        paths,
        move || alive.strong_count() > 0,
        move || match changed.upgrade() {
            Some(state) => {
                state.reload();
                true
            }
            None => false,
        },
    );
    Ok(Some(Arc::new(config)))
}

/// The files a TLS listener serves from.
#[derive(Debug)]
struct ServerFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl ServerFiles {
    /// The certificate chain with its key, checked to match.
    fn certified_key(&self) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
        let certs = load_certs("TLS certificate", &self.cert)?;
        let key = load_key("TLS key", &self.key)?;
        rustls::sign::CertifiedKey::from_der(certs, key, &provider())
            .map(Arc::new)
            .map_err(|e| TlsError::Invalid {
                files: format!("{} and {}", self.cert.display(), self.key.display()),
                reason: e.to_string(),
            })
    }

    /// The verifier of client certificates, when a client CA is set.
    fn client_verifier(
        &self,
    ) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, TlsError> {
        let Some(ca) = &self.client_ca else {
            return Ok(None);
        };
        rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots("TLS client CA", ca)?),
            provider(),
        )
        .build()
        .map(Some)
        .map_err(|e| TlsError::Invalid {
            files: ca.display().to_string(),
            reason: e.to_string(),
        })
    }
}

/// What a TLS listener serves now; swapped whole on a good reload.
#[derive(Debug)]
struct Served {
    files: ServerFiles,
    key: RwLock<Arc<rustls::sign::CertifiedKey>>,
    verifier: RwLock<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>>,
}

impl Served {
    /// Reads the files again; keeps what is served when they do not load.
    fn reload(&self) {
        let loaded = self
            .files
            .certified_key()
            .and_then(|key| Ok((key, self.files.client_verifier()?)));
        match loaded {
            Ok((key, verifier)) => {
                if let Ok(mut k) = self.key.write() {
                    *k = key;
                }
                if let Ok(mut v) = self.verifier.write() {
                    *v = verifier;
                }
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => tracing::error!(
                error = %e,
                "TLS files changed but do not load; still serving the previous certificate"
            ),
        }
    }

    fn verifier(&self) -> Option<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
        self.verifier.read().ok().and_then(|v| v.clone())
    }
}

/// Serves the current certificate to every new connection.
#[derive(Debug)]
struct ReloadingCert(Arc<Served>);

impl rustls::server::ResolvesServerCert for ReloadingCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.key.read().ok().map(|k| k.clone())
    }
}

/// Verifies client certificates against the current client CA. Sends no
/// CA names in the handshake (they could change under it); clients with
/// one certificate, like ours, send it anyway.
#[derive(Debug)]
struct ReloadingVerifier(Arc<Served>);

fn no_verifier() -> rustls::Error {
    rustls::Error::General("no client certificate verifier".to_owned())
}

impl rustls::server::danger::ClientCertVerifier for ReloadingVerifier {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.0
            .verifier()
            .ok_or_else(no_verifier)?
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0
            .verifier()
            .ok_or_else(no_verifier)?
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0
            .verifier()
            .ok_or_else(no_verifier)?
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0
            .verifier()
            .map(|v| v.supported_verify_schemes())
            .unwrap_or_default()
    }
}

/// How a service dials other Knotwork services: the parsed client TLS
/// configuration (when a CA is set) applied to `https://` URLs.
#[derive(Debug, Clone, Default)]
pub struct BackendTls {
    tls: Option<ClientTlsConfig>,
    client_identity: bool,
}

impl BackendTls {
    /// Loads and checks the files named in `args`. Without a CA the result
    /// dials plain-text URLs only.
    pub fn load(args: &BackendTlsArgs) -> Result<Self, TlsError> {
        let Some(ca_path) = &args.backend_ca else {
            if args.backend_client_cert.is_some() || args.backend_client_key.is_some() {
                return Err(TlsError::Settings(
                    "--backend-client-cert/--backend-client-key need --backend-ca".to_owned(),
                ));
            }
            return Ok(Self::default());
        };
        // Parse here so a wrong file is reported at start, by name; tonic
        // takes the PEM bytes.
        let ca_roots = roots("backend CA", ca_path)?;
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("backend CA", ca_path)?));
        let client_identity = match (&args.backend_client_cert, &args.backend_client_key) {
            (Some(cert_path), Some(key_path)) => {
                let certs = load_certs("backend client certificate", cert_path)?;
                let key = load_key("backend client key", key_path)?;
                // Build a rustls client once to check that the key matches.
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| TlsError::Settings(format!("TLS protocol versions: {e}")))?
                    .with_root_certificates(ca_roots)
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| TlsError::Invalid {
                        files: format!("{} and {}", cert_path.display(), key_path.display()),
                        reason: e.to_string(),
                    })?;
                tls = tls.identity(Identity::from_pem(
                    read("backend client certificate", cert_path)?,
                    read("backend client key", key_path)?,
                ));
                true
            }
            (None, None) => false,
            _ => {
                return Err(TlsError::Settings(
                    "--backend-client-cert and --backend-client-key go together".to_owned(),
                ));
            }
        };
        Ok(Self {
            tls: Some(tls),
            client_identity,
        })
    }

    /// Whether a CA is configured (https URLs can be dialled).
    pub fn enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether a client certificate is presented (mTLS).
    pub fn has_client_identity(&self) -> bool {
        self.client_identity
    }

    /// An endpoint for `url`: TLS for `https://` (which needs the CA),
    /// plain text for `http://`.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, TlsError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| TlsError::Settings(format!("bad URL {url:?}: {e}")))?;
        if !is_https(url) {
            return Ok(endpoint);
        }
        let Some(tls) = &self.tls else {
            return Err(TlsError::Settings(format!(
                "{url} is https but no CA is set to verify it (--backend-ca / KNOTWORK_BACKEND_CA)"
            )));
        };
        endpoint
            .tls_config(tls.clone())
            .map_err(|e| TlsError::Settings(format!("TLS for {url}: {e}")))
    }
}

impl BackendTls {
    /// An endpoint dialling `addr`, one address `url`'s host name resolved
    /// to, as [`BackendTls::endpoint`] would dial `url`: the same scheme,
    /// and over TLS the certificate checked against the host name (not the
    /// address).
    pub fn endpoint_at(&self, url: &str, addr: std::net::SocketAddr) -> Result<Endpoint, TlsError> {
        let https = is_https(url);
        let at = format!("{}://{addr}", if https { "https" } else { "http" });
        let endpoint = Endpoint::from_shared(at)
            .map_err(|e| TlsError::Settings(format!("bad address {addr}: {e}")))?;
        if !https {
            return Ok(endpoint);
        }
        let Some(tls) = &self.tls else {
            return Err(TlsError::Settings(format!(
                "{url} is https but no CA is set to verify it (--backend-ca / KNOTWORK_BACKEND_CA)"
            )));
        };
        let host = url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .ok_or_else(|| TlsError::Settings(format!("bad URL {url:?}: no host")))?;
        endpoint
            .tls_config(tls.clone().domain_name(host))
            .map_err(|e| TlsError::Settings(format!("TLS for {url}: {e}")))
    }
}

/// Whether `url` asks for TLS.
pub fn is_https(url: &str) -> bool {
    url.trim()
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn plain_text_without_settings() {
        assert!(server_config(&TlsArgs::default()).unwrap().is_none());
        let b = BackendTls::load(&BackendTlsArgs::default()).unwrap();
        assert!(!b.enabled());
        assert!(b.endpoint("http://127.0.0.1:1").is_ok());
    }

    #[test]
    fn https_without_a_ca_is_refused() {
        let b = BackendTls::load(&BackendTlsArgs::default()).unwrap();
        let e = b.endpoint("https://127.0.0.1:1").unwrap_err().to_string();
        assert!(e.contains("KNOTWORK_BACKEND_CA"), "{e}");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let garbage = write(dir.path(), "garbage.pem", "not a pem file\n");
        let check = |args: TlsArgs, name: &Path| {
            let e = server_config(&args).unwrap_err().to_string();
            assert!(e.contains(&name.display().to_string()), "{e}");
        };
        check(
            TlsArgs {
                tls_cert: Some(missing.clone()),
                tls_key: Some(garbage.clone()),
                tls_client_ca: None,
            },
            &missing,
        );
        check(
            TlsArgs {
                tls_cert: Some(garbage.clone()),
                tls_key: Some(garbage.clone()),
                tls_client_ca: None,
            },
            &garbage,
        );
        let e = BackendTls::load(&BackendTlsArgs {
            backend_ca: Some(missing.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope.pem") && e.contains("backend CA"), "{e}");
    }

    #[test]
    fn half_settings_are_refused() {
        assert!(
            server_config(&TlsArgs {
                tls_cert: Some("a".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            server_config(&TlsArgs {
                tls_client_ca: Some("a".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            BackendTls::load(&BackendTlsArgs {
                backend_client_cert: Some("a".into()),
                backend_client_key: Some("b".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn valid_files_load_and_a_foreign_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = write(dir.path(), "a.pem", &a.cert.pem());
        let key = write(dir.path(), "a.key", &a.signing_key.serialize_pem());
        let other_key = write(dir.path(), "b.key", &b.signing_key.serialize_pem());
        let args = TlsArgs {
            tls_cert: Some(cert.clone()),
            tls_key: Some(key.clone()),
            tls_client_ca: Some(cert.clone()),
        };
        let config = server_config(&args).unwrap().unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let e = server_config(&TlsArgs {
            tls_key: Some(other_key.clone()),
            ..args
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("a.pem") && e.contains("b.key"), "{e}");

        let backend = BackendTls::load(&BackendTlsArgs {
            backend_ca: Some(cert.clone()),
            backend_client_cert: Some(cert.clone()),
            backend_client_key: Some(key),
        })
        .unwrap();
        assert!(backend.enabled() && backend.has_client_identity());
        assert!(backend.endpoint("https://localhost:1").is_ok());
        let e = BackendTls::load(&BackendTlsArgs {
            backend_ca: Some(cert.clone()),
            backend_client_cert: Some(cert),
            backend_client_key: Some(other_key),
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("b.key"), "{e}");
    }

    #[test]
    fn https_detection() {
        assert!(is_https("https://a:1"));
        assert!(is_https(" HTTPS://a:1"));
        assert!(!is_https("http://a:1"));
        assert!(!is_https("http"));
    }
}
