//! The per-user quota: how many sessions and how many bytes of journal one
//! person may store on a shard. Pure: the store keeps the counters
//! ([`Usage`]) and asks [`Quota::admit`] before each write.

/// What one user stores: journal entries and the bytes of their records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sessions stored.
    pub sessions: u64,
    /// Bytes of stored session and guided-session records.
    pub bytes: u64,
}

impl Usage {
    /// These counters changed by `sessions` and `bytes` (negative to
    /// remove), never below zero.
    #[must_use]
    pub fn add(self, sessions: i64, bytes: i64) -> Self {
        let shift = |v: u64, d: i64| {
            if d >= 0 {
                v.saturating_add(d.unsigned_abs())
            } else {
                v.saturating_sub(d.unsigned_abs())
            }
        };
        Self {
            sessions: shift(self.sessions, sessions),
            bytes: shift(self.bytes, bytes),
        }
    }
}

/// The limits per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most sessions one user may store.
    pub max_sessions: u64,
    /// Most bytes of session and guided-session records one user may store.
    pub max_bytes: u64,
}

/// The default of [`Quota::max_sessions`]: ten sessions a day for more than
/// 27 years.
pub const DEFAULT_MAX_SESSIONS: u64 = 100_000;
/// The default of [`Quota::max_bytes`], in MiB: 100,000 sessions of about
/// 1.3 KiB each (a record with a few hundred characters of notes).
pub const DEFAULT_MAX_MIB: u64 = 128;

impl Default for Quota {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_bytes: DEFAULT_MAX_MIB * 1024 * 1024,
        }
    }
}

/// Which limit a refused write would pass, as `google.rpc.QuotaFailure`
/// describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaViolation {
    /// `user:sessions` or `user:bytes`.
    pub subject: &'static str,
    /// What is used, what is allowed, and what to do.
    pub description: String,
}

/// The `QuotaFailure` subject of the session count.
pub const SUBJECT_SESSIONS: &str = "user:sessions";
/// The `QuotaFailure` subject of the stored bytes.
pub const SUBJECT_BYTES: &str = "user:bytes";

impl Quota {
    /// No limit (the quota of imports and of readers).
    pub const UNLIMITED: Self = Self {
        max_sessions: u64::MAX,
        max_bytes: u64::MAX,
    };

    /// Whether a user at `now` may add `sessions` records of `bytes` bytes.
    pub fn admit(&self, now: Usage, sessions: u64, bytes: u64) -> Result<(), QuotaViolation> {
        if now.sessions.saturating_add(sessions) > self.max_sessions {
            return Err(QuotaViolation {
                subject: SUBJECT_SESSIONS,
                description: format!(
                    "{} of {} sessions stored; delete old sessions (after exporting them) \
                     to log more",
                    now.sessions, self.max_sessions
                ),
            });
        }
        if now.bytes.saturating_add(bytes) > self.max_bytes {
            return Err(QuotaViolation {
                subject: SUBJECT_BYTES,
                description: format!(
                    "{} of {} bytes stored; this write needs {bytes} more; delete old \
                     sessions (after exporting them) or shorten notes",
                    now.bytes, self.max_bytes
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(quota: (u64, u64), now: (u64, u64), add: (u64, u64), expected: Option<&str>) {
        let q = Quota {
            max_sessions: quota.0,
            max_bytes: quota.1,
        };
        let now = Usage {
            sessions: now.0,
            bytes: now.1,
        };
        let got = q.admit(now, add.0, add.1).err().map(|v| v.subject);
        assert_eq!(got, expected);
    }

    #[test]
    fn admits_up_to_the_limits_and_names_the_one_passed() {
        check((10, 1000), (0, 0), (1, 100), None);
        check((10, 1000), (9, 900), (1, 100), None);
        check((10, 1000), (10, 900), (1, 10), Some(SUBJECT_SESSIONS));
        check((10, 1000), (9, 901), (1, 100), Some(SUBJECT_BYTES));
        check((10, 1000), (10, 1000), (0, 0), None);
        check((u64::MAX, u64::MAX), (u64::MAX, u64::MAX), (1, 1), None);
        check((0, 0), (0, 0), (1, 1), Some(SUBJECT_SESSIONS));
    }

    #[test]
    fn counters_never_go_below_zero() {
        let u = Usage {
            sessions: 1,
            bytes: 10,
        };
        assert_eq!(u.add(-2, -20), Usage::default());
        assert_eq!(
            u.add(2, 5),
            Usage {
                sessions: 3,
                bytes: 15
            }
        );
    }
}
