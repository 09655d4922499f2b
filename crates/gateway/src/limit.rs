//! Per-user and per-address token buckets (GCRA through `governor`), and
//! [`Slots`]: counts of things a key holds open at once (guided-session
//! streams per user, requests whose body has not arrived per connection
//! and per caller).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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

/// How many things each key holds open, with a cap per key. A key whose
/// count returns to zero is forgotten, so the map holds only keys with
/// something open.
#[derive(Debug)]
pub struct Slots<K: Eq + Hash> {
    open: Arc<Mutex<HashMap<K, usize>>>,
    max: usize,
}

impl<K: Eq + Hash + Clone> Slots<K> {
    /// At most `max` open per key (0: no cap).
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::new(Mutex::new(HashMap::new())),
            max,
        }
    }

    /// The cap per key (0: none).
    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes a slot for `key`, held until the returned guard is dropped;
    /// `None` when `key` already holds the cap.
    pub fn try_take(&self, key: K) -> Option<Slot<K>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.open.clone(),
            key: Some(key),
        })
    }

    /// How many `key` holds now.
    #[cfg(test)]
    pub fn held(&self, key: &K) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

/// One open thing of a key in [`Slots`]; dropping it (or calling
/// [`Slot::release`]) gives the slot back.
#[derive(Debug)]
pub struct Slot<K: Eq + Hash> {
    open: Arc<Mutex<HashMap<K, usize>>>,
    key: Option<K>,
}

impl<K: Eq + Hash> Slot<K> {
    /// Gives the slot back now (idempotent; dropping does the same).
    pub fn release(&mut self) {
        if let Some(key) = self.key.take() {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = open.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

impl<K: Eq + Hash> Drop for Slot<K> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_each_key_and_come_back() {
        let slots = Slots::new(2);
        let a1 = slots.try_take("a").unwrap();
        let mut a2 = slots.try_take("a").unwrap();
        assert!(slots.try_take("a").is_none(), "third over a cap of 2");
        let _b = slots.try_take("b").expect("another key has its own cap");
        a2.release();
        a2.release();
        assert_eq!(slots.held(&"a"), 1, "release is idempotent");
        let _a3 = slots.try_take("a").expect("a released slot is free again");
        drop(a1);
        assert_eq!(slots.held(&"a"), 1);
        let unlimited = Slots::new(0);
        let held: Vec<_> = (0..100).filter_map(|_| unlimited.try_take(1u8)).collect();
        assert_eq!(held.len(), 100);
        drop(held);
        assert!(
            unlimited.open.lock().unwrap().is_empty(),
            "empty keys forgotten"
        );
    }

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
