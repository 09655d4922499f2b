//! Which backend serves a call.
//!
//! Session data is sharded by user with a **jump consistent hash** (Lamping
//! and Veach, 2014) of the first 8 bytes (big endian) of SHA-256(user id),
//! over the shard list in its configured order. Both steps are fully
//! specified, so every gateway replica, before and after a restart, sends a
//! user to the same shard (std's randomly seeded hasher is never used).
//!
//! Adding a shard at the end of the list moves about 1/(n+1) of the users,
//! each to the new shard; nobody moves between old shards. Removing or
//! reordering shards moves more. [`crate::reshard::reshard`] moves the data
//! of exactly the users whose shard changes.

use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

/// The shard index (0-based) of `user_id` among `shards` shards. Returns 0
/// when `shards` is 0 or 1.
pub fn shard_for(user_id: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let digest = Sha256::digest(user_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    jump_hash(u64::from_be_bytes(first), shards)
}

/// Jump consistent hash: maps `key` to a bucket in `0..buckets`.
fn jump_hash(mut key: u64, buckets: usize) -> usize {
    let buckets = i64::try_from(buckets).unwrap_or(i64::MAX);
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // The constants and float steps are those of the paper; IEEE-754
        // arithmetic makes them identical on every platform.
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    usize::try_from(b).unwrap_or(0)
}

/// A round-robin cursor over `n` replicas.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next replica index in `0..n` (0 when `n` is 0).
    pub fn next(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.next.fetch_add(1, Ordering::Relaxed) % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(user: &str, shards: usize, expected: usize) {
        assert_eq!(shard_for(user, shards), expected, "{user} over {shards}");
    }

    #[test]
    fn placements_are_pinned() {
        // These values are part of the on-disk layout of a deployment: if
        // this test fails, users would silently change shards.
        // Computed with an independent Python implementation of the same
        // definition.
        check("alice", 1, 0);
        check("alice", 3, 1);
        check("bob", 3, 1);
        check("erin", 3, 0);
        check("grace", 3, 2);
        check("erin", 10, 7);
        check("user-2", 10, 4);
        check("user-42", 5, 0);
    }

    #[test]
    fn jump_hash_reference_values() {
        // From an independent Python transcription of the paper's code.
        assert_eq!(jump_hash(0, 1), 0);
        assert_eq!(jump_hash(1, 100), 55);
        assert_eq!(jump_hash(0xdead_beef, 1000), 285);
        assert_eq!(jump_hash(12_345_678_901_234_567_890, 7), 0);
    }

    #[test]
    fn growing_moves_users_only_to_the_new_shard() {
        let mut moved = 0;
        for i in 0..2000 {
            let user = format!("user-{i}");
            let (old, new) = (shard_for(&user, 3), shard_for(&user, 4));
            if old != new {
                assert_eq!(new, 3, "{user} moved between old shards");
                moved += 1;
            }
        }
        // About a quarter moves.
        assert!((350..650).contains(&moved), "{moved}");
    }

    #[test]
    fn spreads_users() {
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            counts[shard_for(&format!("u{i}"), 3)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn round_robin_cycles() {
        let rr = RoundRobin::default();
        let picks: Vec<_> = (0..6).map(|_| rr.next(3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        assert_eq!(rr.next(0), 0);
    }
}
