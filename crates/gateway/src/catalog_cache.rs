//! Catalog reads answered at the edge: a bounded cache of the catalog's
//! encoded answers, keyed by method and request bytes, one generation per
//! catalog version. Forwarded catalog reads and the screens' own catalog
//! reads (relief plan, today) both go through it (`read` in
//! `service/catalog.rs`).
//!
//! The catalog stays the source of truth. The gateway learns the version it
//! serves by polling `GetCatalogVersion` on every replica
//! ([`poll_versions`]), and the catalog stamps every answer with the version
//! it was made from (`x-knotwork-catalog-version`). Rules:
//!
//! - entries live in a [`Generation`] named after one version; when the
//!   replicas agree on a new version, a new, empty generation replaces the
//!   old one, so no entry of the old version is served again;
//! - an answer is kept only when its stamp names the generation's version
//!   and the generation is still the current one, so an answer of another
//!   version (a replica that reloaded earlier or later than the others) is
//!   passed on but never kept;
//! - while the replicas disagree (a rollout) or before the first poll, the
//!   generation has no version and nothing is kept.
//!
//! Each answer is the bytes of one catalog answer, so it never mixes two
//! versions. After a reload, every gateway serves the new version within
//! one poll interval plus one `GetCatalogVersion` round trip
//! (`KNOTWORK_CATALOG_CACHE_POLL_MS`, 1 s by default). Only OK answers are
//! kept; errors are forwarded each time. The bound is by bytes
//! (`KNOTWORK_CATALOG_CACHE_BYTES`; 0 turns the cache off), with
//! quick_cache's scan-resistant eviction inside it.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use knotwork_proto::catalog::v1::GetCatalogVersionRequest;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::metadata::CATALOG_VERSION;
use knotwork_runtime::metrics::IntCounter;
use tonic::metadata::MetadataMap;

use crate::metrics::Metrics;
use crate::upstream::Upstreams;

/// A cache key: the method's index in the forwarded list and the request
/// message as the client encoded it.
type Key = (u8, Bytes);

/// Weighs an entry by its bytes (plus a fixed overhead for the map).
#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl quick_cache::Weighter<Key, Bytes> for ByBytes {
    fn weight(&self, key: &Key, value: &Bytes) -> u64 {
        (key.1.len() + value.len() + 64) as u64
    }
}

/// The entries of one catalog version.
#[derive(Debug)]
pub struct Generation {
    /// The version every entry belongs to; `None`: keep nothing.
    version: Option<String>,
    entries: quick_cache::sync::Cache<Key, Bytes, ByBytes>,
}

impl Generation {
    fn new(version: Option<String>, capacity: u64) -> Self {
        // Estimated entries: one per KiB of capacity (most answers are
        // 1-40 KiB), at least a few.
        let items = usize::try_from(capacity / 1024).unwrap_or(1 << 16).max(16);
        Self {
            version,
            entries: quick_cache::sync::Cache::with_weighter(items, capacity.max(1), ByBytes),
        }
    }
}

/// The cache. See the module docs.
#[derive(Debug)]
pub struct CatalogCache {
    current: ArcSwap<Generation>,
    capacity: u64,
    hits: IntCounter,
    misses: IntCounter,
    /// Wakes the poller early (an answer named a version it did not know).
    nudge: tokio::sync::Notify,
}

impl CatalogCache {
    /// A cache of at most `capacity` bytes (0: off) reporting into
    /// `metrics` (entries, bytes, hits, misses and the hit ratio, read at
    /// each scrape).
    pub fn new(capacity: u64, metrics: &Metrics) -> Arc<Self> {
        let registry = metrics.registry();
        let this = Arc::new(Self {
            current: ArcSwap::from_pointee(Generation::new(None, capacity.max(1))),
            capacity,
            hits: registry.counter(
                "catalog_cache_hits_total",
                "Catalog reads answered from the gateway's cache.",
            ),
            misses: registry.counter(
                "catalog_cache_misses_total",
                "Catalog reads forwarded to a replica while the cache is on.",
            ),
            nudge: tokio::sync::Notify::new(),
        });
        let entries = registry.gauge(
            "catalog_cache_entries",
            "Catalog answers kept by the gateway's cache now.",
        );
        let bytes = registry.gauge(
            "catalog_cache_bytes",
            "Bytes the gateway's catalog cache holds now (answers, keys and overhead).",
        );
        let ratio = registry.float_gauge(
            "catalog_cache_hit_ratio",
            "Share of catalog reads answered from the cache since start (0-1).",
        );
        let weak = Arc::downgrade(&this);
        registry.on_scrape(move || {
            if let Some(this) = weak.upgrade() {
                let g = this.current.load();
                entries.set(i64::try_from(g.entries.len()).unwrap_or(i64::MAX));
                bytes.set(i64::try_from(g.entries.weight()).unwrap_or(i64::MAX));
                let (h, m) = this.counts();
                let all = h + m;
                ratio.set(if all == 0 { 0.0 } else { h as f64 / all as f64 });
            }
        });
        this
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Hits and misses since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    /// The kept answer of `method` for `request`, or a miss with the
    /// generation to offer the forwarded answer to.
    pub fn lookup(&self, method: u8, request: &Bytes) -> Result<Bytes, Arc<Generation>> {
        let g = self.current.load_full();
        if g.version.is_some()
            && let Some(hit) = g.entries.get(&(method, request.clone()))
        {
            self.hits.inc();
            return Ok(hit);
        }
        if self.enabled() {
            self.misses.inc();
        }
        Err(g)
    }

    /// Keeps a forwarded OK answer when its stamp names `generation`'s
    /// version and `generation` is still current (see the module docs).
    pub fn offer(
        &self,
        generation: &Arc<Generation>,
        method: u8,
        request: Bytes,
        headers: &MetadataMap,
        answer: &Bytes,
    ) {
        if !self.enabled() {
            return;
        }
        let stamp = headers.get(CATALOG_VERSION).and_then(|v| v.to_str().ok());
        let Some(version) = generation.version.as_deref() else {
            return;
        };
        match stamp {
            Some(s) if s == version => {}
            // A version the poller has not seen yet: look now.
            Some(_) => {
                self.nudge.notify_one();
                return;
            }
            None => return,
        }
        // Kept in a generation that is no longer current, it would be
        // unreachable and only cost memory until dropped.
        if !Arc::ptr_eq(generation, &self.current.load()) {
            return;
        }
        // One answer may not take over the cache.
        if (answer.len() as u64) > self.capacity / 8 {
            return;
        }
        // Copies: the received bytes may be slices of larger receive
        // buffers, which a kept slice would hold on to unaccounted.
        generation.entries.insert(
            (method, Bytes::copy_from_slice(&request)),
            Bytes::copy_from_slice(answer),
        );
    }

    /// Starts a generation for `version` (`None`: replicas disagree or
    /// unknown) unless the current one already has it. Returns whether it
    /// changed.
    pub fn set_version(&self, version: Option<String>) -> bool {
        if self.current.load().version == version {
            return false;
        }
        tracing::info!(version = ?version, "catalog cache: new generation");
        self.current
            .store(Arc::new(Generation::new(version, self.capacity.max(1))));
        true
    }
}

/// What the replicas' answers mean for the cache: the version all that
/// answered agree on; `None` when they disagree; unchanged (`Err`) when
/// none answered, so a catalog that is briefly away does not empty every
/// gateway's cache.
fn agreed(answers: &[Option<String>]) -> Result<Option<String>, ()> {
    let mut seen = answers.iter().flatten();
    let Some(first) = seen.next() else {
        return Err(());
    };
    if seen.all(|v| v == first) {
        Ok(Some(first.clone()))
    } else {
        Ok(None)
    }
}

/// Polls every catalog replica's version each `interval` (or sooner when
/// nudged) and moves the cache to a new generation when it changes.
pub async fn poll_versions(
    cache: Arc<CatalogCache>,
    upstreams: Arc<Upstreams>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if !cache.enabled() {
        return;
    }
    loop {
        let asks = upstreams.catalog.iter().map(|b| {
            let mut client = CatalogServiceClient::new(b.channel());
            async move {
                let ask = client.get_catalog_version(GetCatalogVersionRequest {});
                match tokio::time::timeout(Duration::from_secs(2), ask).await {
                    Ok(Ok(r)) => Some(r.into_inner().catalog_version),
                    _ => None,
                }
            }
        });
        let answers = futures::future::join_all(asks).await;
        if let Ok(version) = agreed(&answers) {
            cache.set_version(version.filter(|v| !v.is_empty()));
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = cache.nudge.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[track_caller]
    fn check(answers: &[Option<String>], expected: Result<Option<String>, ()>) {
        assert_eq!(agreed(answers), expected, "{answers:?}");
    }

    #[test]
    fn versions_agree_or_not() {
        check(&[v("a")], Ok(v("a")));
        check(&[v("a"), v("a")], Ok(v("a")));
        check(&[v("a"), None, v("a")], Ok(v("a")));
        check(&[v("a"), v("b")], Ok(None));
        check(&[None, None], Err(()));
        check(&[], Err(()));
    }

    fn stamped(version: &str) -> MetadataMap {
        let mut md = MetadataMap::new();
        md.insert(CATALOG_VERSION, version.parse().unwrap());
        md
    }

    #[test]
    fn keeps_only_answers_of_the_current_version() {
        let metrics = Metrics::new().unwrap();
        let cache = CatalogCache::new(1 << 20, &metrics);
        let req = Bytes::from_static(b"\x0a\x01x");
        let answer = Bytes::from_static(b"answer-v1");
        // No version known yet: nothing is kept.
        let g = cache.lookup(3, &req).unwrap_err();
        cache.offer(&g, 3, req.clone(), &stamped("v1"), &answer);
        assert!(cache.lookup(3, &req).is_err());

        assert!(cache.set_version(v("v1")));
        assert!(!cache.set_version(v("v1")));
        let g = cache.lookup(3, &req).unwrap_err();
        // Another version's answer, or none, is passed on, not kept.
        cache.offer(&g, 3, req.clone(), &stamped("v2"), &answer);
        cache.offer(&g, 3, req.clone(), &MetadataMap::new(), &answer);
        assert!(cache.lookup(3, &req).is_err());
        cache.offer(&g, 3, req.clone(), &stamped("v1"), &answer);
        assert_eq!(cache.lookup(3, &req).unwrap(), answer);
        // Another method with the same bytes is another entry.
        assert!(cache.lookup(4, &req).is_err());

        // A new version drops every entry, and an answer of the old
        // generation that arrives late is not kept in the new one.
        let old = cache.lookup(5, &req).unwrap_err();
        assert!(cache.set_version(v("v2")));
        assert!(cache.lookup(3, &req).is_err());
        cache.offer(&old, 5, req.clone(), &stamped("v1"), &answer);
        assert!(cache.lookup(5, &req).is_err());

        let (hits, misses) = cache.counts();
        assert_eq!(hits, 1);
        assert_eq!(misses, 8);
        let text = metrics.render();
        assert!(
            text.contains("knotwork_gateway_catalog_cache_hits_total 1"),
            "{text}"
        );
        assert!(
            text.contains("knotwork_gateway_catalog_cache_hit_ratio 0.111"),
            "{text}"
        );
    }

    #[test]
    fn stays_within_its_bytes() {
        let metrics = Metrics::new().unwrap();
        let cache = CatalogCache::new(64 * 1024, &metrics);
        cache.set_version(v("v1"));
        let answer = Bytes::from(vec![7u8; 1000]);
        for i in 0..1000u32 {
            let req = Bytes::from(i.to_be_bytes().to_vec());
            let g = cache.lookup(1, &req).unwrap_err();
            cache.offer(&g, 1, req, &stamped("v1"), &answer);
        }
        let g = cache.current.load();
        assert!(g.entries.weight() <= 64 * 1024, "{}", g.entries.weight());
        assert!(g.entries.len() > 10);
        // Too large for one entry (over an eighth of the capacity).
        let big = Bytes::from(vec![1u8; 9 * 1024]);
        let req = Bytes::from_static(b"big");
        let g = cache.lookup(2, &req).unwrap_err();
        cache.offer(&g, 2, req.clone(), &stamped("v1"), &big);
        assert!(cache.lookup(2, &req).is_err());
    }

    #[test]
    fn off_keeps_nothing() {
        let metrics = Metrics::new().unwrap();
        let cache = CatalogCache::new(0, &metrics);
        cache.set_version(v("v1"));
        let req = Bytes::from_static(b"r");
        let g = cache.lookup(1, &req).unwrap_err();
        cache.offer(
            &g,
            1,
            req.clone(),
            &stamped("v1"),
            &Bytes::from_static(b"a"),
        );
        assert!(cache.lookup(1, &req).is_err());
        assert_eq!(cache.counts(), (0, 0));
    }
}
