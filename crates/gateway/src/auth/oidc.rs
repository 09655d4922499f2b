//! The keys of one OpenID provider, fetched by issuer URL.
//!
//! At start: the discovery document (`<issuer>/.well-known/openid-configuration`)
//! must name exactly the configured issuer and a `jwks_uri` (both https in
//! prod), and the JWKS must hold usable signing keys; otherwise the gateway
//! does not start, with an error naming the problem. While serving: the keys
//! are refetched when their [`CachePolicy`] lifetime ends, and at most once
//! per `unknown_key_interval` when a token names a key id the set lacks (a
//! provider that rotated). A failed fetch keeps the last good keys, counts
//! in `knotwork_gateway_jwks_fetches_total{result="error"}` and logs a
//! warning; `knotwork_gateway_jwks_last_success_timestamp_seconds` shows
//! how old the keys in use are.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use knotwork_runtime::metrics::{IntCounterVec, IntGaugeVec};
use tokio::sync::{Mutex, Notify, watch};

use super::cache::CachePolicy;
use super::keys::KeySet;
use crate::Error;
use crate::metrics::Metrics;

/// The largest discovery or JWKS document read.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The JWKS fetch metrics, shared by every provider of a gateway.
#[derive(Clone)]
pub(crate) struct JwksMetrics {
    fetches: IntCounterVec,
    last_success: IntGaugeVec,
    keys: IntGaugeVec,
}

impl JwksMetrics {
    /// Creates the metrics in the gateway's registry.
    pub(crate) fn new(metrics: &Metrics) -> Self {
        let registry = metrics.registry();
        Self {
            fetches: registry.counter_vec(
                "jwks_fetches_total",
                "JWKS fetches from OpenID providers, by issuer and result (ok, error).",
                &["issuer", "result"],
            ),
            last_success: registry.gauge_vec(
                "jwks_last_success_timestamp_seconds",
                "When the keys in use were fetched (Unix time), by issuer.",
                &["issuer"],
            ),
            keys: registry.gauge_vec("jwks_keys", "Signing keys in use, by issuer.", &["issuer"]),
        }
    }
}

/// How the gateway reaches OpenID providers.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    /// Prod: discovery and JWKS URLs must be https.
    require_https: bool,
}

impl Fetcher {
    /// An HTTP client trusting the system's roots plus the PEM
    /// certificates of `ca` (a private provider's CA). Redirects are not
    /// followed: the discovery and JWKS URLs are used as published.
    pub(crate) fn new(ca: Option<&std::path::Path>, require_https: bool) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(require_https)
            .user_agent(concat!("knotwork-gateway/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!(
                    "cannot read the OpenID CA file {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Config(format!("OpenID CA file {} is not PEM: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "OpenID CA file {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the OpenID HTTP client: {e}")))?;
        Ok(Self {
            client,
            require_https,
        })
    }

    /// GETs `url` and returns its body (at most [`MAX_DOCUMENT_BYTES`])
    /// and its `Cache-Control`.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<String>), String> {
        if self.require_https && !knotwork_runtime::tls::is_https(url) {
            return Err(format!("{url} is not https (required in prod mode)"));
        }
        let mut resp = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot fetch {url}: {}", chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered HTTP {}", resp.status()));
        }
        let cache_control = resp
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("cannot read {url}: {}", chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, cache_control))
    }
}

/// An error and its causes on one line (reqwest's top message alone says
/// "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The discovery URL of an issuer.
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// When fetches happened, guarded by the refresh lock.
struct Schedule {
    /// When the next scheduled fetch is due.
    next: Instant,
    /// When the last fetch (successful or not) ended.
    last_attempt: Instant,
}

/// One OpenID provider's keys, refreshed in place.
pub(crate) struct Provider {
    issuer: String,
    jwks_uri: String,
    fetcher: Fetcher,
    policy: CachePolicy,
    metrics: JwksMetrics,
    keys: ArcSwap<KeySet>,
    schedule: Mutex<Schedule>,
    /// Wakes the refresh loop when a fetch moved the schedule.
    rescheduled: Notify,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Reads the discovery document and the first keys; any problem is a
    /// configuration error naming it.
    pub(crate) async fn discover(
        issuer: &str,
        fetcher: Fetcher,
        policy: CachePolicy,
        metrics: JwksMetrics,
    ) -> Result<Arc<Self>, Error> {
        let fail = |m: String| Error::Config(format!("OpenID issuer {issuer}: {m}"));
        let url = discovery_url(issuer);
        let (body, _) = fetcher.get(&url).await.map_err(fail)?;
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("the discovery document {url} is not JSON: {e}")))?;
        let named = doc.get("issuer").and_then(serde_json::Value::as_str);
        if named != Some(issuer) {
            return Err(fail(format!(
                "the discovery document {url} names the issuer {}, not the configured one \
                 (the issuer must match exactly, trailing slash included)",
                named.map_or_else(|| "nothing".to_owned(), |n| format!("{n:?}"))
            )));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| fail(format!("the discovery document {url} has no jwks_uri")))?
            .to_owned();
        let provider = Self {
            issuer: issuer.to_owned(),
            jwks_uri,
            fetcher,
            policy,
            metrics,
            keys: ArcSwap::from_pointee(KeySet::default()),
            schedule: Mutex::new(Schedule {
                next: Instant::now(),
                last_attempt: Instant::now(),
            }),
            rescheduled: Notify::new(),
        };
        {
            let mut schedule = provider.schedule.lock().await;
            provider
                .fetch(&mut schedule)
                .await
                .map_err(|m| fail(format!("the JWKS {}: {m}", provider.jwks_uri)))?;
        }
        tracing::info!(
            issuer,
            jwks_uri = %provider.jwks_uri,
            kids = ?provider.keys.load().kids(),
            "OpenID provider ready"
        );
        Ok(Arc::new(provider))
    }

    /// The keys in use.
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Fetches and installs the JWKS, or leaves the keys as they were.
    async fn fetch(&self, schedule: &mut Schedule) -> Result<(), String> {
        let result = async {
            let (body, cache_control) = self.fetcher.get(&self.jwks_uri).await?;
            let text = std::str::from_utf8(&body).map_err(|_| "the JWKS is not UTF-8")?;
            Ok::<_, String>((KeySet::from_jwks(text)?, cache_control))
        }
        .await;
        let now = Instant::now();
        schedule.last_attempt = now;
        self.rescheduled.notify_one();
        let issuer = self.issuer.as_str();
        match result {
            Ok((set, cache_control)) => {
                let lifetime = self.policy.lifetime(cache_control.as_deref());
                schedule.next = now + lifetime;
                let old = self.keys.load();
                if old.kids() != set.kids() && old.len() > 0 {
                    tracing::info!(issuer, from = ?old.kids(), to = ?set.kids(), "OpenID provider keys changed");
                }
                self.metrics
                    .keys
                    .with_label_values(&[issuer])
                    .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
                self.keys.store(Arc::new(set));
                self.metrics
                    .fetches
                    .with_label_values(&[issuer, "ok"])
                    .inc();
                let unix = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.metrics
                    .last_success
                    .with_label_values(&[issuer])
                    .set(i64::try_from(unix).unwrap_or(i64::MAX));
                tracing::debug!(issuer, next_in = ?lifetime, "JWKS fetched");
                Ok(())
            }
            Err(e) => {
                schedule.next = now + self.policy.min;
                self.metrics
                    .fetches
                    .with_label_values(&[issuer, "error"])
                    .inc();
                Err(e)
            }
        }
    }

    /// One fetch that keeps the last good keys on failure, with a log line.
    async fn refresh(&self, schedule: &mut Schedule, why: &'static str) {
        if let Err(error) = self.fetch(schedule).await {
            tracing::warn!(
                issuer = %self.issuer,
                why,
                %error,
                keys = ?self.keys.load().kids(),
                retry_in = ?self.policy.min,
                "cannot refresh the OpenID provider's keys; keeping the last good keys"
            );
        }
    }

    /// Called when a token names a key the set lacks: refetches unless a
    /// fetch ended less than `unknown_key_interval` ago. Concurrent callers
    /// wait for the one fetch and then see its keys.
    pub(crate) async fn refresh_for_unknown_key(&self) {
        let mut schedule = self.schedule.lock().await;
        if schedule.last_attempt.elapsed() < self.policy.unknown_key_interval {
            return;
        }
        self.refresh(&mut schedule, "unknown key id").await;
    }

    /// Refetches the keys when their lifetime ends, until `stop` changes.
    pub(crate) async fn refresh_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let next = self.schedule.lock().await.next;
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {
                    let mut schedule = self.schedule.lock().await;
                    // An unknown-key fetch may have moved the schedule.
                    if schedule.next <= Instant::now() {
                        self.refresh(&mut schedule, "scheduled").await;
                    }
                }
                // A fetch for an unknown key set a new lifetime: sleep anew.
                () = self.rescheduled.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }
}
