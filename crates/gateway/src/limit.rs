//! Per-user and per-address token buckets (GCRA through `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::Error;
use crate::metrics::Metrics;

/// Both limiters. A rate of 0 turns a limit off.
pub struct Limits {
    user: Option<DefaultKeyedRateLimiter<String>>,
    addr: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    metrics: Metrics,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("user", &self.user.is_some())
            .field("addr", &self.addr.is_some())
            .finish_non_exhaustive()
    }
}

fn quota(rate: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limits {
    /// Limits with the given sustained rates (per second) and bursts.
    pub fn new(
        user_rate: u32,
        user_burst: u32,
        addr_rate: u32,
        addr_burst: u32,
        metrics: Metrics,
    ) -> Self {
        Self {
            user: quota(user_rate, user_burst).map(RateLimiter::keyed),
            addr: quota(addr_rate, addr_burst).map(RateLimiter::keyed),
            clock: DefaultClock::default(),
            metrics,
        }
    }

    /// Takes a token from the address's bucket.
    pub fn check_addr(&self, addr: Option<IpAddr>) -> Result<(), Error> {
        match (&self.addr, addr) {
            (Some(limiter), Some(ip)) => limiter.check_key(&ip).map_err(|not_until| {
                self.refuse("address", not_until.wait_time_from(self.clock.now()))
            }),
            _ => Ok(()),
        }
    }

    /// Takes a token from the user's bucket.
    pub fn check_user(&self, user: &str) -> Result<(), Error> {
        match &self.user {
            Some(limiter) => limiter.check_key(&user.to_owned()).map_err(|not_until| {
                self.refuse("user", not_until.wait_time_from(self.clock.now()))
            }),
            None => Ok(()),
        }
    }

    fn refuse(&self, scope: &'static str, wait: Duration) -> Error {
        self.metrics.rate_limited(scope);
        Error::RateLimited {
            scope,
            retry_after: wait.max(Duration::from_millis(1)),
        }
    }

    /// Forgets buckets that are full again, so idle keys do not pile up.
    pub fn sweep(&self) {
        if let Some(l) = &self.user {
            l.retain_recent();
        }
        if let Some(l) = &self.addr {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_delay() {
        let limits = Limits::new(1, 3, 0, 0, Metrics::new().unwrap());
        for _ in 0..3 {
            limits.check_user("a").unwrap();
        }
        match limits.check_user("a") {
            Err(Error::RateLimited {
                scope: "user",
                retry_after,
            }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
        // Other users have their own bucket; the address limit is off.
        limits.check_user("b").unwrap();
        for _ in 0..100 {
            limits
                .check_addr(Some(IpAddr::from([127, 0, 0, 1])))
                .unwrap();
        }
    }

    #[test]
    fn zero_rate_is_off() {
        let limits = Limits::new(0, 0, 0, 0, Metrics::new().unwrap());
        for _ in 0..1000 {
            limits.check_user("a").unwrap();
        }
    }
}
