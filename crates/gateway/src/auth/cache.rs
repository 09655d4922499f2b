//! How long fetched keys stay fresh: the provider's `Cache-Control`
//! (`max-age`; `no-store`/`no-cache` mean now), kept within the gateway's
//! minimum and maximum. The minimum protects the provider from a gateway
//! that would refetch on every call; the maximum bounds how long a removed
//! (revoked) key is still trusted. Pure: no clock, no IO.

use std::time::Duration;

/// The refresh schedule of one issuer's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachePolicy {
    /// Shortest time between scheduled fetches (also the retry delay after
    /// a failed fetch).
    pub(crate) min: Duration,
    /// Longest time fetched keys are kept before a scheduled fetch.
    pub(crate) max: Duration,
    /// Shortest time between fetches caused by tokens naming an unknown key.
    pub(crate) unknown_key_interval: Duration,
}

impl CachePolicy {
    /// How long keys fetched with this `Cache-Control` value stay fresh.
    pub(crate) fn lifetime(&self, cache_control: Option<&str>) -> Duration {
        let max = self.max.max(self.min);
        max_age(cache_control).map_or(max, |age| age.clamp(self.min, max))
    }
}

/// The freshness lifetime a `Cache-Control` value gives: `max-age`
/// (`s-maxage` is for shared caches and ignored), zero for `no-store` or
/// `no-cache`, `None` when it says nothing usable.
fn max_age(value: Option<&str>) -> Option<Duration> {
    let mut age = None;
    for directive in value?.split(',') {
        let directive = directive.trim();
        let (name, arg) = directive
            .split_once('=')
            .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age") {
            age = arg
                .map(|a| a.trim_matches('"'))
                .and_then(|a| a.parse::<u64>().ok())
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(cache_control: Option<&str>, expected_secs: u64) {
        let policy = CachePolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            unknown_key_interval: Duration::from_secs(30),
        };
        assert_eq!(
            policy.lifetime(cache_control),
            Duration::from_secs(expected_secs),
            "{cache_control:?}"
        );
    }

    #[test]
    fn lifetime_table() {
        check(None, 3600);
        check(Some(""), 3600);
        check(Some("public, max-age=300"), 300);
        check(Some("max-age=\"120\", must-revalidate"), 120);
        check(Some("MAX-AGE=900"), 900);
        // Clamped to the minimum and the maximum.
        check(Some("max-age=5"), 60);
        check(Some("public, max-age=86400"), 3600);
        check(Some("no-store"), 60);
        check(Some("max-age=600, no-cache"), 60);
        // Unreadable values mean no advice.
        check(Some("max-age=soon"), 3600);
        check(Some("max-age=-1"), 3600);
        check(Some("s-maxage=10"), 3600);
    }
}
