//! The gateway's settings: every field a flag and a `KNOTWORK_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use knotwork_runtime::listen::LimitArgs;

use crate::domain::forwarded::ForwardedHeader;
use knotwork_runtime::telemetry::LogArgs;
use knotwork_runtime::tls::{BackendTlsArgs, TlsArgs, is_https};

/// The development HS256 secret. Production mode refuses it.
pub use knotwork_runtime::dev::JWT_SECRET as DEV_JWT_SECRET;
/// The development internal credential. Production mode refuses it.
pub use knotwork_runtime::prod::DEV_INTERNAL_TOKEN;
/// How strict the gateway is about secrets, browser origins and plain-text
/// backends (shared by the three services).
pub use knotwork_runtime::prod::Mode;

/// Gateway settings. `Debug` is written by hand so that secrets never reach
/// a log line.
#[derive(Clone, clap::Parser)]
#[command(
    name = "knotwork-gateway",
    version,
    about = "Knotwork's gateway: the mobile and browser edge"
)]
pub struct Config {
    /// Address for gRPC and grpc-web (one port).
    #[arg(
        long,
        env = "KNOTWORK_GATEWAY_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: SocketAddr,

    /// Address of the admin listener serving Prometheus metrics on `/metrics`.
    #[arg(
        long,
        env = "KNOTWORK_GATEWAY_ADMIN_LISTEN",
        default_value = "127.0.0.1:9090"
    )]
    pub admin_listen: SocketAddr,

    /// Catalog replicas, comma-separated; calls are balanced round robin.
    #[arg(
        long,
        env = "KNOTWORK_CATALOG_URLS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:50052"
    )]
    pub catalog_urls: Vec<String>,

    /// Session shards, comma-separated; the order is the shard index. Users
    /// are placed with a jump consistent hash of SHA-256(user id): changing
    /// this list moves users (see `knotwork reshard`). A replicated shard
    /// group is its members' URLs joined by `|` (`http://a|http://b|http://c`,
    /// spelled as in the group's `KNOTWORK_SESSION_RAFT_MEMBERS`): calls go
    /// to its leader and follow a NOT_LEADER refusal to the one it names.
    #[arg(
        long,
        env = "KNOTWORK_SESSION_SHARDS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:50053"
    )]
    pub session_shards: Vec<String>,

    /// HS256 shared secret for development tokens (ignored when a JWKS file is given).
    #[arg(long, env = "KNOTWORK_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_env_values = true)]
    pub jwt_secret: String,

    /// JWKS file with the RS256/ES256 public keys of production tokens. When
    /// set, only these keys are accepted (HS256 is off).
    #[arg(long, env = "KNOTWORK_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// The issuer (`iss`) of the development secret's or the JWKS file's
    /// tokens. Its `sub` is the user id as it is; every other issuer's user
    /// ids are `oidc:<first 12 hex digits of SHA-256(issuer)>:<sub>`. An
    /// `--oidc-issuers` entry equal to this one keeps the unscoped ids (to
    /// move from a JWKS file to discovery without moving anyone's data).
    #[arg(long, env = "KNOTWORK_JWT_ISSUER", default_value = knotwork_runtime::dev::JWT_ISSUER)]
    pub jwt_issuer: String,

    /// Required token audience (`aud`).
    #[arg(long, env = "KNOTWORK_JWT_AUDIENCE", default_value = knotwork_runtime::dev::JWT_AUDIENCE)]
    pub jwt_audience: String,

    /// OpenID providers trusted by issuer URL, comma-separated. The gateway
    /// reads each one's discovery document and keys (`jwks_uri`) at start
    /// and refreshes the keys while serving. User ids are scoped per issuer:
    /// see `--jwt-issuer`.
    #[arg(long, env = "KNOTWORK_OIDC_ISSUERS", value_delimiter = ',')]
    pub oidc_issuers: Vec<String>,

    /// The audience (`aud`) tokens of each OpenID issuer must carry: one for
    /// every issuer, or one per issuer in the same order.
    #[arg(long, env = "KNOTWORK_OIDC_AUDIENCES", value_delimiter = ',')]
    pub oidc_audiences: Vec<String>,

    /// PEM file of extra CA certificates trusted for the OpenID providers'
    /// https (a private provider); the system's roots stay trusted.
    #[arg(long, env = "KNOTWORK_OIDC_CA_FILE")]
    pub oidc_ca_file: Option<PathBuf>,

    /// Shortest time fetched provider keys are kept, in seconds, whatever
    /// their Cache-Control says (also the retry delay after a failed fetch).
    #[arg(long, env = "KNOTWORK_OIDC_JWKS_MIN_SECS", default_value_t = 60)]
    pub oidc_jwks_min_secs: u64,

    /// Longest time fetched provider keys are kept before a refetch, in
    /// seconds (bounds how long a key the provider removed still works).
    #[arg(long, env = "KNOTWORK_OIDC_JWKS_MAX_SECS", default_value_t = 3600)]
    pub oidc_jwks_max_secs: u64,

    /// A token naming an unknown key id refetches its issuer's keys at most
    /// once per this many seconds.
    #[arg(
        long,
        env = "KNOTWORK_OIDC_UNKNOWN_KEY_REFETCH_SECS",
        default_value_t = 30
    )]
    pub oidc_unknown_key_refetch_secs: u64,

    /// Clock-skew allowance for `exp` and `nbf`, in seconds.
    #[arg(long, env = "KNOTWORK_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Allowed browser origins, comma-separated. Empty: any origin in dev
    /// mode, none in prod mode.
    #[arg(long, env = "KNOTWORK_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// `dev` or `prod` (`prod` refuses the development secrets).
    #[arg(long, env = "KNOTWORK_MODE", value_enum, default_value_t = Mode::Dev)]
    pub mode: Mode,

    /// The internal credential sent to the backends.
    #[arg(long, env = "KNOTWORK_INTERNAL_TOKEN", default_value = DEV_INTERNAL_TOKEN, hide_env_values = true)]
    pub internal_token: String,

    /// Longest deadline of a unary backend call, in milliseconds; a client's
    /// shorter `grpc-timeout` wins.
    #[arg(
        long,
        env = "KNOTWORK_MAX_BACKEND_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub max_backend_timeout_ms: u64,

    /// Longest life of a forwarded server stream (a guided session), in milliseconds.
    #[arg(
        long,
        env = "KNOTWORK_MAX_STREAM_TIMEOUT_MS",
        default_value_t = 3_600_000
    )]
    pub max_stream_timeout_ms: u64,

    /// After SIGTERM, how long in-flight calls and forwarded guided-session
    /// streams may run before the streams end with UNAVAILABLE and the
    /// process exits (below the pods' terminationGracePeriodSeconds, 30 s).
    #[arg(long, env = "KNOTWORK_SHUTDOWN_GRACE_SECONDS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// How long to wait for a TCP connection to a backend, in milliseconds.
    #[arg(
        long,
        env = "KNOTWORK_BACKEND_CONNECT_TIMEOUT_MS",
        default_value_t = 1_000
    )]
    pub backend_connect_timeout_ms: u64,

    /// HTTP/2 connections kept to each backend (calls are spread over them).
    #[arg(long, env = "KNOTWORK_BACKEND_CONNECTIONS", default_value_t = 2)]
    pub backend_connections: usize,

    /// Resolve each catalog URL's host name this often, in seconds, and
    /// balance every call over all the addresses found (a headless Service
    /// lists one per ready catalog pod), so every replica takes calls and
    /// pods that come and go are followed. 0 dials the URL as given
    /// (`KNOTWORK_BACKEND_CONNECTIONS` connections to one address).
    #[arg(long, env = "KNOTWORK_CATALOG_RESOLVE_SECS", default_value_t = 0)]
    pub catalog_resolve_secs: u64,

    /// Ask each client connection to close (HTTP/2 GOAWAY) once it is this
    /// old, in seconds, so clients reconnect and new gateway replicas get
    /// their share; calls in flight finish. 0 keeps connections forever.
    #[arg(long, env = "KNOTWORK_MAX_CONNECTION_AGE_SECS", default_value_t = 300)]
    pub max_connection_age_secs: u64,

    /// After that GOAWAY, how long calls still open (guided-session
    /// streams) may go on before the connection is closed, in seconds.
    #[arg(
        long,
        env = "KNOTWORK_MAX_CONNECTION_AGE_GRACE_SECS",
        default_value_t = 300
    )]
    pub max_connection_age_grace_secs: u64,

    /// How often the backends' health is polled, in milliseconds.
    #[arg(long, env = "KNOTWORK_HEALTH_INTERVAL_MS", default_value_t = 2_000)]
    pub health_interval_ms: u64,

    /// Sustained requests per second per user (0 turns the limit off).
    #[arg(long, env = "KNOTWORK_USER_RATE", default_value_t = 50)]
    pub user_rate: u32,

    /// Burst size per user.
    #[arg(long, env = "KNOTWORK_USER_BURST", default_value_t = 100)]
    pub user_burst: u32,

    /// Sustained requests per second per client address (0 turns the limit off).
    #[arg(long, env = "KNOTWORK_ADDR_RATE", default_value_t = 500)]
    pub addr_rate: u32,

    /// Burst size per client address.
    #[arg(long, env = "KNOTWORK_ADDR_BURST", default_value_t = 1000)]
    pub addr_burst: u32,

    /// Largest request or response message, in bytes.
    #[arg(long, env = "KNOTWORK_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Proxies whose forwarding header names the client, comma-separated
    /// CIDRs or addresses. A call whose TCP peer is one of them is charged
    /// (rate and pending limits) to the right-most address in the header
    /// that is not a trusted proxy; any other call to its peer address.
    #[arg(long, env = "KNOTWORK_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// The forwarding header the trusted proxies set: `x-forwarded-for` or
    /// `forwarded` (RFC 7239). Only this one is read: a proxy passes the
    /// other through as the client wrote it.
    #[arg(
        long,
        env = "KNOTWORK_FORWARDED_HEADER",
        value_enum,
        default_value_t = ForwardedHeader::XForwardedFor
    )]
    pub forwarded_header: ForwardedHeader,

    /// Milliseconds a call's request body has to arrive whole, from its
    /// headers; a call still waiting for it then ends with
    /// DEADLINE_EXCEEDED (ErrorInfo `REQUEST_BODY_TIMEOUT`), its HTTP/2
    /// stream is reset and an HTTP/1.1 connection closed.
    #[arg(long, env = "KNOTWORK_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,

    /// Most calls on one connection whose request body has not fully
    /// arrived; one more is refused with RESOURCE_EXHAUSTED (0: no cap).
    #[arg(
        long,
        env = "KNOTWORK_MAX_PENDING_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_pending_per_connection: usize,

    /// Most calls of one user (of one client address, for calls without
    /// a valid token) whose request body has not fully arrived, over all
    /// connections; one more is refused with RESOURCE_EXHAUSTED (0: no cap).
    #[arg(long, env = "KNOTWORK_MAX_PENDING_PER_USER", default_value_t = 100)]
    pub max_pending_per_user: usize,

    /// Most GuideSession streams one user holds open at once; one more is
    /// refused with RESOURCE_EXHAUSTED and a QuotaFailure (0: no cap).
    #[arg(long, env = "KNOTWORK_MAX_GUIDE_STREAMS_PER_USER", default_value_t = 8)]
    pub max_guide_streams_per_user: usize,

    /// Bytes of catalog answers the gateway keeps to answer repeated
    /// catalog reads itself (one generation per catalog version; 0 turns
    /// the cache off).
    #[arg(long, env = "KNOTWORK_CATALOG_CACHE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub catalog_cache_bytes: u64,

    /// How often the gateway asks every catalog replica for its version, in
    /// milliseconds: after a catalog reload the gateway serves the new
    /// version within this interval plus one round trip.
    #[arg(long, env = "KNOTWORK_CATALOG_CACHE_POLL_MS", default_value_t = 1_000)]
    pub catalog_cache_poll_ms: u64,

    /// TLS of the gRPC and admin listeners (plain text when unset).
    #[command(flatten)]
    pub tls: TlsArgs,

    /// TLS and mTLS for calling the backends (`https://` URLs).
    #[command(flatten)]
    pub backend_tls: BackendTlsArgs,

    /// Prod mode only: accept `http://` backend URLs (for a service mesh that
    /// already encrypts and authenticates pod-to-pod traffic).
    #[arg(long, env = "KNOTWORK_ALLOW_PLAINTEXT_BACKENDS")]
    pub allow_plaintext_backends: bool,

    /// Limits of the listeners (streams per connection, timeouts).
    #[command(flatten)]
    pub limits: LimitArgs,

    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,

    /// In `knotwork up`: the backends served in the same process, dialled
    /// in memory instead of over the network (not a flag).
    #[arg(skip)]
    pub memory_backends: knotwork_runtime::memory::MemoryBackends,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("catalog_urls", &self.catalog_urls)
            .field("session_shards", &self.session_shards)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_jwks_file", &self.jwt_jwks_file)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("oidc_issuers", &self.oidc_issuers)
            .field("oidc_audiences", &self.oidc_audiences)
            .field("oidc_ca_file", &self.oidc_ca_file)
            .field("oidc_jwks_min_secs", &self.oidc_jwks_min_secs)
            .field("oidc_jwks_max_secs", &self.oidc_jwks_max_secs)
            .field(
                "oidc_unknown_key_refetch_secs",
                &self.oidc_unknown_key_refetch_secs,
            )
            .field("jwt_leeway_secs", &self.jwt_leeway_secs)
            .field("cors_origins", &self.cors_origins)
            .field("mode", &self.mode)
            .field("internal_token", &"<redacted>")
            .field("max_backend_timeout_ms", &self.max_backend_timeout_ms)
            .field("max_stream_timeout_ms", &self.max_stream_timeout_ms)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field(
                "backend_connect_timeout_ms",
                &self.backend_connect_timeout_ms,
            )
            .field("backend_connections", &self.backend_connections)
            .field("catalog_resolve_secs", &self.catalog_resolve_secs)
            .field("max_connection_age_secs", &self.max_connection_age_secs)
            .field(
                "max_connection_age_grace_secs",
                &self.max_connection_age_grace_secs,
            )
            .field("health_interval_ms", &self.health_interval_ms)
            .field("user_rate", &self.user_rate)
            .field("user_burst", &self.user_burst)
            .field("addr_rate", &self.addr_rate)
            .field("addr_burst", &self.addr_burst)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("forwarded_header", &self.forwarded_header)
            .field("body_timeout_ms", &self.body_timeout_ms)
            .field(
                "max_pending_per_connection",
                &self.max_pending_per_connection,
            )
            .field("max_pending_per_user", &self.max_pending_per_user)
            .field(
                "max_guide_streams_per_user",
                &self.max_guide_streams_per_user,
            )
            .field("catalog_cache_bytes", &self.catalog_cache_bytes)
            .field("catalog_cache_poll_ms", &self.catalog_cache_poll_ms)
            .field("tls", &self.tls)
            .field("backend_tls", &self.backend_tls)
            .field("allow_plaintext_backends", &self.allow_plaintext_backends)
            .field("limits", &self.limits)
            .field("log", &self.log)
            .field("memory_backends", &self.memory_backends)
            .finish()
    }
}

impl Config {
    /// A configuration with the same defaults as the flags, pointing at the
    /// given catalog replicas and session shards (for `knotwork up` and tests).
    pub fn local(catalog_urls: Vec<String>, session_shards: Vec<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            catalog_urls,
            session_shards,
            jwt_secret: DEV_JWT_SECRET.to_owned(),
            jwt_jwks_file: None,
            jwt_issuer: knotwork_runtime::dev::JWT_ISSUER.to_owned(),
            jwt_audience: knotwork_runtime::dev::JWT_AUDIENCE.to_owned(),
            oidc_issuers: Vec::new(),
            oidc_audiences: Vec::new(),
            oidc_ca_file: None,
            oidc_jwks_min_secs: 60,
            oidc_jwks_max_secs: 3600,
            oidc_unknown_key_refetch_secs: 30,
            jwt_leeway_secs: 30,
            cors_origins: Vec::new(),
            mode: Mode::Dev,
            internal_token: DEV_INTERNAL_TOKEN.to_owned(),
            max_backend_timeout_ms: 10_000,
            max_stream_timeout_ms: 3_600_000,
            shutdown_grace_secs: 25,
            backend_connect_timeout_ms: 1_000,
            backend_connections: 2,
            catalog_resolve_secs: 0,
            max_connection_age_secs: 300,
            max_connection_age_grace_secs: 300,
            health_interval_ms: 2_000,
            user_rate: 50,
            user_burst: 100,
            addr_rate: 500,
            addr_burst: 1000,
            max_message_bytes: 4 * 1024 * 1024,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            body_timeout_ms: 10_000,
            max_pending_per_connection: 100,
            max_pending_per_user: 100,
            max_guide_streams_per_user: 8,
            catalog_cache_bytes: 16 * 1024 * 1024,
            catalog_cache_poll_ms: 1_000,
            tls: TlsArgs::default(),
            backend_tls: BackendTlsArgs::default(),
            allow_plaintext_backends: false,
            limits: LimitArgs::default(),
            log: LogArgs::default(),
            memory_backends: Default::default(),
        }
    }

    /// The OpenID issuers, trimmed, without empty entries.
    pub fn oidc_issuers(&self) -> Vec<&str> {
        nonempty(&self.oidc_issuers)
    }

    /// The OpenID audiences, trimmed, without empty entries.
    pub fn oidc_audiences(&self) -> Vec<&str> {
        nonempty(&self.oidc_audiences)
    }

    /// Whether the development secret or the JWKS file verifies tokens of
    /// `--jwt-issuer`: a JWKS file always; the secret unless an OpenID
    /// issuer takes that name, or in prod mode while it is the development
    /// one (prod with OpenID issuers simply leaves it off).
    pub fn local_issuer_enabled(&self) -> bool {
        if self.jwt_jwks_file.is_some() {
            return true;
        }
        let replaced = self.oidc_issuers().contains(&self.jwt_issuer.as_str());
        let dev_in_prod = self.mode == Mode::Prod && self.jwt_secret == DEV_JWT_SECRET;
        !self.jwt_secret.is_empty() && !replaced && !dev_in_prod
    }

    /// The trusted proxies, parsed (the error names the bad entry).
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, crate::Error> {
        crate::domain::forwarded::parse_proxies(&self.trusted_proxies).map_err(crate::Error::Config)
    }

    /// The unary backend deadline cap.
    pub fn max_backend_timeout(&self) -> Duration {
        Duration::from_millis(self.max_backend_timeout_ms)
    }

    /// Checks what can be checked before serving: backends listed, and in
    /// production no development secret.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let bad = |m: &str| Err(crate::Error::Config(m.to_owned()));
        if self.catalog_urls.iter().all(|u| u.trim().is_empty()) {
            return bad("at least one catalog URL is needed (--catalog-urls)");
        }
        if self.session_shards.iter().all(|u| u.trim().is_empty()) {
            return bad("at least one session shard is needed (--session-shards)");
        }
        if self.internal_token.is_empty() {
            return bad("the internal credential must not be empty");
        }
        let proxies = self.trusted_proxies()?;
        let issuers = self.oidc_issuers();
        if self.jwt_jwks_file.is_none() && self.jwt_secret.is_empty() && issuers.is_empty() {
            return bad("a JWT secret, a JWKS file or an OpenID issuer is needed");
        }
        if !issuers.is_empty() {
            let audiences = self.oidc_audiences();
            if audiences.is_empty() {
                return bad("--oidc-issuers needs --oidc-audiences (the `aud` its tokens carry)");
            }
            if audiences.len() != 1 && audiences.len() != issuers.len() {
                return bad("--oidc-audiences needs one audience, or one per issuer in order");
            }
            for (i, issuer) in issuers.iter().enumerate() {
                if issuers[..i].contains(issuer) {
                    return Err(crate::Error::Config(format!(
                        "the OpenID issuer {issuer} is listed twice"
                    )));
                }
                if self.mode == Mode::Prod && !is_https(issuer) {
                    return Err(crate::Error::Config(format!(
                        "prod mode refuses the http issuer {issuer}: OpenID providers must \
                         be reached over https (--oidc-ca-file trusts a private CA)"
                    )));
                }
            }
            if self.jwt_jwks_file.is_some() && issuers.contains(&self.jwt_issuer.as_str()) {
                return Err(crate::Error::Config(format!(
                    "the issuer {} is both --jwt-issuer with --jwt-jwks-file and an \
                     --oidc-issuers entry: keep one",
                    self.jwt_issuer
                )));
            }
        }
        if self.mode == Mode::Prod {
            self.check_prod_secrets().map_err(crate::Error::Config)?;
            if self.cors_origins.iter().any(|o| o.trim() == "*") {
                return bad("prod mode refuses `*` as a CORS origin");
            }
            // Trusting everyone lets any client write its own address and
            // so escape the per-address limit.
            if let Some(net) = proxies.iter().find(|n| n.prefix_len() == 0) {
                return Err(crate::Error::Config(format!(
                    "prod mode refuses {net} in KNOTWORK_TRUSTED_PROXIES: it trusts every \
                     address, so any client could choose the address it is limited by"
                )));
            }
            let plain = self
                .catalog_urls
                .iter()
                .chain(&self.session_shards)
                .map(|u| u.trim())
                .find(|u| !u.is_empty() && !is_https(u));
            if let Some(url) = plain
                && !self.allow_plaintext_backends
            {
                return Err(crate::Error::Config(format!(
                    "prod mode refuses the plain-text backend {url}: use https:// with \
                     --backend-ca and a client certificate (mTLS), or set \
                     --allow-plaintext-backends when a service mesh encrypts the traffic"
                )));
            }
        }
        Ok(())
    }
}

fn nonempty(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Config {
    /// Production mode's secret rules: the internal credential and the
    /// HS256 secret (when no JWKS file is set, and unless OpenID issuers
    /// verify the tokens while the secret stays the development one, which
    /// then turns the HS256 issuer off) must not be the development values
    /// and must be at least 32 bytes; the error names the setting.
    fn check_prod_secrets(&self) -> Result<(), String> {
        use knotwork_runtime::prod::{check_internal_token, check_secret};
        check_internal_token(self.mode, &self.internal_token)?;
        let secret_off = !self.oidc_issuers().is_empty() && self.jwt_secret == DEV_JWT_SECRET;
        if self.jwt_jwks_file.is_none() && !secret_off {
            check_secret(
                self.mode,
                "KNOTWORK_JWT_SECRET",
                &self.jwt_secret,
                DEV_JWT_SECRET,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn local_matches_flag_defaults() {
        let parsed = Config::parse_from(["knotwork-gateway"]);
        let local = Config::local(
            vec!["http://127.0.0.1:50052".into()],
            vec!["http://127.0.0.1:50053".into()],
        );
        assert_eq!(format!("{parsed:?}"), format!("{local:?}"));
        assert!(!format!("{parsed:?}").contains(DEV_JWT_SECRET));
        assert_eq!(parsed.jwt_secret, local.jwt_secret);
        assert_eq!(parsed.internal_token, local.internal_token);
    }

    #[test]
    fn prod_refuses_dev_secrets() {
        let mut c = Config::local(vec!["https://a".into()], vec!["https://b".into()]);
        assert!(c.validate().is_ok());
        c.mode = Mode::Prod;
        let refused = |c: &Config| c.validate().unwrap_err().to_string();
        assert!(refused(&c).contains("KNOTWORK_INTERNAL_TOKEN"));
        c.internal_token = "real".into();
        assert!(refused(&c).contains("KNOTWORK_INTERNAL_TOKEN"));
        c.internal_token = "r".repeat(32);
        assert!(refused(&c).contains("KNOTWORK_JWT_SECRET"));
        // A 1-byte HS256 secret, then 31 bytes: both refused, by name.
        c.jwt_secret = "s".into();
        assert!(refused(&c).contains("KNOTWORK_JWT_SECRET"));
        c.jwt_secret = "s".repeat(31);
        assert!(refused(&c).contains("KNOTWORK_JWT_SECRET"));
        c.jwt_secret = "s".repeat(32);
        assert!(c.validate().is_ok());
        // With a JWKS file the HS256 secret is not used.
        c.jwt_secret = "s".into();
        c.jwt_jwks_file = Some("jwks.json".into());
        assert!(c.validate().is_ok());
        c.jwt_jwks_file = None;
        c.jwt_secret = "s".repeat(32);
        c.cors_origins = vec!["*".into()];
        assert!(c.validate().is_err());
    }

    #[test]
    fn trusted_proxies_are_checked() {
        let mut c = Config::local(vec!["https://a".into()], vec!["https://b".into()]);
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "not-a-net".into()];
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("KNOTWORK_TRUSTED_PROXIES") && e.contains("not-a-net"),
            "{e}"
        );
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "0.0.0.0/0".into()];
        assert!(c.validate().is_ok(), "dev mode may trust everyone");
        c.mode = Mode::Prod;
        c.internal_token = "r".repeat(32);
        c.jwt_secret = "s".repeat(32);
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("0.0.0.0/0") && e.contains("KNOTWORK_TRUSTED_PROXIES"),
            "{e}"
        );
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "::/0".into()];
        assert!(c.validate().is_err());
        c.trusted_proxies = vec!["10.0.0.0/8".into()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn prod_refuses_plaintext_backends_unless_allowed() {
        let mut c = Config::local(
            vec!["https://catalog:50052".into()],
            vec!["https://s0:50053".into(), "http://s1:50053".into()],
        );
        c.mode = Mode::Prod;
        c.internal_token = "r".repeat(32);
        c.jwt_secret = "s".repeat(32);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("http://s1:50053"), "{e}");
        c.allow_plaintext_backends = true;
        assert!(c.validate().is_ok());
        c.allow_plaintext_backends = false;
        c.session_shards = vec!["https://s0:50053".into(), "HTTPS://s1:50053".into()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn openid_issuer_rules() {
        let mut c = Config::local(vec!["https://a".into()], vec!["https://b".into()]);
        c.oidc_issuers = vec!["https://id.example/".into()];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--oidc-audiences"), "{e}");
        c.oidc_audiences = vec!["knotwork".into()];
        assert!(c.validate().is_ok());
        assert!(c.local_issuer_enabled(), "dev keeps the development issuer");
        c.mode = Mode::Prod;
        c.internal_token = "r".repeat(32);
        assert!(c.validate().is_ok(), "prod with an issuer needs no secret");
        assert!(!c.local_issuer_enabled(), "prod turns the dev secret off");
        c.oidc_issuers.push("http://plain.example".into());
        c.oidc_audiences = vec!["a".into(), "b".into()];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("http issuer http://plain.example"), "{e}");
        c.oidc_issuers[1] = "https://id.example/".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
        c.oidc_issuers[1] = "https://other.example".into();
        c.oidc_audiences = vec!["a".into(), "b".into(), "c".into()];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("one per issuer"), "{e}");
        c.mode = Mode::Dev;
        c.oidc_audiences = vec!["a".into()];
        c.jwt_issuer = "https://id.example/".into();
        assert!(
            !c.local_issuer_enabled(),
            "the OpenID issuer replaces the secret"
        );
    }
}
