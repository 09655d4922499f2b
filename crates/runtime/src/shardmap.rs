//! Which session shard owns a user: the placement rule the gateway routes
//! by and the session shards refuse by, over the same epoch-versioned shard
//! map (`knotwork.session.v1.ShardMap`), and the two refusals a shard sends.
//!
//! Placement: a **jump consistent hash** (Lamping and Veach, 2014) of the
//! first 8 bytes (big endian) of SHA-256(user id) over the first `count`
//! shards of the map. Both steps are fully specified, so every gateway and
//! shard, before and after a restart, agrees (std's randomly seeded hasher
//! is never used). Growing `count` moves about 1/(n+1) of the users, each
//! to a new shard; nobody moves between old shards (and shrinking moves
//! only the users of the removed shards).
//!
//! During an online move the map carries both counts and the state of 256
//! buckets (byte 8 of the same digest): a bucket not moved yet places its
//! users by the old count, a moved one by the new count, and a fenced one
//! by the old count while the old shard refuses the writes of its users
//! that change shard ([`REASON_USER_MOVING`], retryable).

use std::collections::HashMap;

use knotwork_proto::metadata::ERROR_DOMAIN;
use knotwork_proto::session::v1::{BucketState, ShardInfo, ShardMap};
use sha2::{Digest, Sha256};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How many buckets a move cuts over one at a time.
pub const BUCKETS: usize = 256;

/// `ErrorInfo` reason: this shard does not own the user (FAILED_PRECONDITION);
/// the metadata names the owner ([`META_SHARD`], [`META_URL`]) and the
/// refusing shard's epoch ([`META_EPOCH`]).
pub(crate) const REASON_WRONG_SHARD: &str = "WRONG_SHARD";
/// `ErrorInfo` reason: the user's data is being cut over to another shard
/// (UNAVAILABLE, retry shortly); nothing was written.
pub(crate) const REASON_USER_MOVING: &str = "USER_MOVING";
/// `ErrorInfo` reason: this replica is not its shard group's leader
/// (UNAVAILABLE); nothing was read or written. The metadata names the
/// leader when the replica knows it ([`META_LEADER_ID`],
/// [`META_LEADER_ADDRESS`]: the leader's URL as the group's members list
/// spells it), so the caller retries there.
pub const REASON_NOT_LEADER: &str = "NOT_LEADER";
/// `ErrorInfo` metadata key: the leader's node id in its group.
pub const META_LEADER_ID: &str = "leader_id";
/// `ErrorInfo` metadata key: the leader's URL.
pub const META_LEADER_ADDRESS: &str = "leader_address";
/// What separates the members of a replicated shard group in a shard URL
/// (`http://a:50053|http://b:50053|http://c:50053`).
pub const MEMBER_SEPARATOR: char = '|';

/// The member URLs of a shard URL: one for a single copy, each replica's
/// for a group (`url1|url2|url3`), trimmed, empty ones left out.
pub fn members(url: &str) -> Vec<&str> {
    url.split(MEMBER_SEPARATOR)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// `ErrorInfo` metadata key: the owning shard's id.
pub(crate) const META_SHARD: &str = "shard";
/// `ErrorInfo` metadata key: the owning shard's URL.
pub(crate) const META_URL: &str = "url";
/// `ErrorInfo` metadata key: the epoch of the refusing shard's map.
pub(crate) const META_EPOCH: &str = "epoch";

/// The shard index (0-based) of `user_id` among `shards` shards. Returns 0
/// when `shards` is 0 or 1.
pub fn shard_for(user_id: &str, shards: usize) -> usize {
    jump_hash(Key::of(user_id).hash, shards)
}

/// The bucket (0..[`BUCKETS`]) of `user_id`.
pub fn bucket_of(user_id: &str) -> usize {
    Key::of(user_id).bucket
}

/// Where a user is placed by a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The owning shard's index in the map.
    pub index: usize,
    /// The user changes shard in a fenced bucket: the owner refuses writes.
    pub fenced: bool,
}

/// The owner of `user_id` under `map`.
pub fn owner(map: &ShardMap, user_id: &str) -> Owner {
    let key = Key::of(user_id);
    let Some(mv) = &map.r#move else {
        return Owner {
            index: jump_hash(key.hash, map.shards.len()),
            fenced: false,
        };
    };
    let from = jump_hash(key.hash, mv.from_count as usize);
    let to = jump_hash(key.hash, mv.to_count as usize);
    match bucket_state(map, key.bucket) {
        BucketState::Moved => Owner {
            index: to,
            fenced: false,
        },
        BucketState::Fenced => Owner {
            index: from,
            fenced: from != to,
        },
        BucketState::Unspecified => Owner {
            index: from,
            fenced: false,
        },
    }
}

/// Whether `user_id` changes shard in the move of `map` (false without one).
pub fn moves(map: &ShardMap, user_id: &str) -> bool {
    let key = Key::of(user_id);
    map.r#move.as_ref().is_some_and(|mv| {
        jump_hash(key.hash, mv.from_count as usize) != jump_hash(key.hash, mv.to_count as usize)
    })
}

/// The state of bucket `bucket` in `map`'s move (not moved when absent).
pub fn bucket_state(map: &ShardMap, bucket: usize) -> BucketState {
    map.r#move
        .as_ref()
        .and_then(|mv| mv.buckets.get(bucket))
        .and_then(|&s| BucketState::try_from(s).ok())
        .unwrap_or(BucketState::Unspecified)
}

/// Checks that `map` is usable: at least one shard, ids and URLs present
/// and unique, and a move's counts within the list with one state per
/// bucket. Returns what is wrong.
pub fn validate(map: &ShardMap) -> Result<(), String> {
    if map.epoch == 0 {
        return Err("epoch must be at least 1".to_owned());
    }
    if map.shards.is_empty() {
        return Err("a shard map needs at least one shard".to_owned());
    }
    let mut ids = std::collections::HashSet::new();
    let mut urls = std::collections::HashSet::new();
    for (i, s) in map.shards.iter().enumerate() {
        if s.id.is_empty() || s.url.is_empty() {
            return Err(format!("shard {i} needs an id and a URL"));
        }
        if !ids.insert(s.id.as_str()) {
            return Err(format!("shard id {:?} appears twice", s.id));
        }
        if !urls.insert(s.url.as_str()) {
            return Err(format!("shard URL {:?} appears twice", s.url));
        }
    }
    if let Some(mv) = &map.r#move {
        let n = map.shards.len();
        let (from, to) = (mv.from_count as usize, mv.to_count as usize);
        if from == 0 || to == 0 || from.max(to) != n {
            return Err(format!(
                "a move from {from} to {to} shards must list max({from}, {to}) shards, not {n}"
            ));
        }
        if mv.buckets.len() != BUCKETS {
            return Err(format!(
                "a move needs {BUCKETS} bucket states, not {}",
                mv.buckets.len()
            ));
        }
        if mv
            .buckets
            .iter()
            .any(|&b| BucketState::try_from(b).is_err())
        {
            return Err("unknown bucket state".to_owned());
        }
    }
    Ok(())
}

/// Parses a shard list `id=url,id=url,...` (ids and URLs trimmed).
pub fn parse_shards(list: &[String]) -> Result<Vec<ShardInfo>, String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((id, url)) if !id.trim().is_empty() && !url.trim().is_empty() => Ok(ShardInfo {
                id: id.trim().to_owned(),
                url: url.trim().to_owned(),
            }),
            _ => Err(format!("{s:?} is not `id=url`")),
        })
        .collect()
}

/// The refusal of a user this shard does not own.
pub fn wrong_shard(owner: Option<&ShardInfo>, epoch: u64) -> Status {
    let (id, url) = owner.map_or(("", ""), |o| (o.id.as_str(), o.url.as_str()));
    let metadata = HashMap::from([
        (META_SHARD.to_owned(), id.to_owned()),
        (META_URL.to_owned(), url.to_owned()),
        (META_EPOCH.to_owned(), epoch.to_string()),
    ]);
    Status::with_error_details(
        Code::FailedPrecondition,
        format!("this shard does not own the user: shard {id:?} does (shard map epoch {epoch})"),
        ErrorDetails::with_error_info(REASON_WRONG_SHARD, ERROR_DOMAIN, metadata),
    )
}

/// The refusal of a write while the user's data is cut over.
pub fn user_moving(epoch: u64) -> Status {
    let metadata = HashMap::from([(META_EPOCH.to_owned(), epoch.to_string())]);
    Status::with_error_details(
        Code::Unavailable,
        "the user's data is moving to another shard; retry in a moment",
        ErrorDetails::with_error_info(REASON_USER_MOVING, ERROR_DOMAIN, metadata),
    )
}

/// The refusal of a call by a replica that is not its group's leader.
pub fn not_leader(leader_id: Option<u64>, leader_address: Option<&str>) -> Status {
    let mut metadata = HashMap::new();
    if let Some(id) = leader_id {
        metadata.insert(META_LEADER_ID.to_owned(), id.to_string());
    }
    if let Some(a) = leader_address.filter(|a| !a.is_empty()) {
        metadata.insert(META_LEADER_ADDRESS.to_owned(), a.to_owned());
    }
    Status::with_error_details(
        Code::Unavailable,
        "this replica is not the shard's leader; retry at the leader",
        ErrorDetails::with_error_info(REASON_NOT_LEADER, ERROR_DOMAIN, metadata),
    )
}

/// A shard's refusal, read back from a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// [`REASON_WRONG_SHARD`]: the owner by the refusing shard's map.
    WrongShard {
        /// The owner's id.
        shard: String,
        /// The owner's URL.
        url: String,
        /// The refusing shard's epoch.
        epoch: u64,
    },
    /// [`REASON_USER_MOVING`].
    UserMoving {
        /// The refusing shard's epoch.
        epoch: u64,
    },
    /// [`REASON_NOT_LEADER`]: the leader's URL when the replica knows it.
    NotLeader {
        /// The leader's URL.
        leader: Option<String>,
    },
}

/// The shard refusal `status` carries, if any.
pub fn refusal(status: &Status) -> Option<Refusal> {
    if !matches!(status.code(), Code::FailedPrecondition | Code::Unavailable) {
        return None;
    }
    let info = status.get_details_error_info()?;
    if info.domain != ERROR_DOMAIN {
        return None;
    }
    let get = |k: &str| info.metadata.get(k).cloned().unwrap_or_default();
    let epoch = get(META_EPOCH).parse().unwrap_or(0);
    match (status.code(), info.reason.as_str()) {
        (Code::FailedPrecondition, REASON_WRONG_SHARD) => Some(Refusal::WrongShard {
            shard: get(META_SHARD),
            url: get(META_URL),
            epoch,
        }),
        (Code::Unavailable, REASON_USER_MOVING) => Some(Refusal::UserMoving { epoch }),
        (Code::Unavailable, REASON_NOT_LEADER) => Some(Refusal::NotLeader {
            leader: Some(get(META_LEADER_ADDRESS)).filter(|a| !a.is_empty()),
        }),
        _ => None,
    }
}

struct Key {
    hash: u64,
    bucket: usize,
}

impl Key {
    fn of(user_id: &str) -> Self {
        let digest = Sha256::digest(user_id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self {
            hash: u64::from_be_bytes(first),
            bucket: usize::from(digest[8]),
        }
    }
}

/// Jump consistent hash: maps `key` to a bucket in `0..buckets` (0 when
/// `buckets` is 0).
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

#[cfg(test)]
mod tests {
    use super::*;
    use knotwork_proto::session::v1::ShardMove;

    fn shards(n: usize) -> Vec<ShardInfo> {
        (0..n)
            .map(|i| ShardInfo {
                id: format!("s{i}"),
                url: format!("http://s{i}"),
            })
            .collect()
    }

    fn moving(state: BucketState) -> ShardMap {
        ShardMap {
            epoch: 2,
            shards: shards(4),
            r#move: Some(ShardMove {
                from_count: 3,
                to_count: 4,
                buckets: vec![state as i32; BUCKETS],
            }),
        }
    }

    #[test]
    fn jump_hash_reference_values() {
        // From an independent Python transcription of the paper's code.
        assert_eq!(jump_hash(0, 1), 0);
        assert_eq!(jump_hash(1, 100), 55);
        assert_eq!(jump_hash(0xdead_beef, 1000), 285);
        assert_eq!(jump_hash(12_345_678_901_234_567_890, 7), 0);
        assert_eq!(jump_hash(5, 0), 0);
    }

    #[test]
    fn owner_follows_the_bucket_state() {
        let steady3 = ShardMap {
            epoch: 1,
            shards: shards(3),
            r#move: None,
        };
        let steady4 = ShardMap {
            epoch: 3,
            shards: shards(4),
            r#move: None,
        };
        let mut fenced_seen = 0;
        for i in 0..500 {
            let u = format!("user-{i}");
            let (old, new) = (shard_for(&u, 3), shard_for(&u, 4));
            assert_eq!(owner(&steady3, &u).index, old);
            assert_eq!(owner(&steady4, &u).index, new);
            let o = owner(&moving(BucketState::Unspecified), &u);
            assert_eq!(
                o,
                Owner {
                    index: old,
                    fenced: false
                },
                "{u}"
            );
            let o = owner(&moving(BucketState::Fenced), &u);
            assert_eq!(
                o,
                Owner {
                    index: old,
                    fenced: old != new
                },
                "{u}"
            );
            fenced_seen += usize::from(o.fenced);
            let o = owner(&moving(BucketState::Moved), &u);
            assert_eq!(
                o,
                Owner {
                    index: new,
                    fenced: false
                },
                "{u}"
            );
            assert_eq!(moves(&moving(BucketState::Moved), &u), old != new);
        }
        assert!((75..175).contains(&fenced_seen), "{fenced_seen}");
    }

    #[test]
    fn one_bucket_moves_alone() {
        let mut map = moving(BucketState::Unspecified);
        let Some(mv) = map.r#move.as_mut() else {
            unreachable!()
        };
        mv.buckets[7] = BucketState::Moved as i32;
        for i in 0..3000 {
            let u = format!("u{i}");
            let expected = if bucket_of(&u) == 7 {
                shard_for(&u, 4)
            } else {
                shard_for(&u, 3)
            };
            assert_eq!(owner(&map, &u).index, expected, "{u}");
        }
    }

    #[track_caller]
    fn check(map: &ShardMap, expected: Result<(), &str>) {
        assert_eq!(
            validate(map).map_err(|e| e.split(' ').next().unwrap_or("").to_owned()),
            expected.map_err(str::to_owned)
        );
    }

    #[test]
    fn validation_table() {
        check(&moving(BucketState::Fenced), Ok(()));
        let mut m = moving(BucketState::Fenced);
        m.epoch = 0;
        check(&m, Err("epoch"));
        let mut m = moving(BucketState::Fenced);
        m.shards[1].id = "s0".into();
        check(&m, Err("shard"));
        let mut m = moving(BucketState::Fenced);
        m.shards.pop();
        check(&m, Err("a"));
        let mut m = moving(BucketState::Fenced);
        if let Some(mv) = m.r#move.as_mut() {
            mv.buckets.pop();
        }
        check(&m, Err("a"));
        let m = ShardMap {
            epoch: 1,
            shards: vec![],
            r#move: None,
        };
        check(&m, Err("a"));
    }

    #[test]
    fn refusals_round_trip() {
        let owner = ShardInfo {
            id: "s3".into(),
            url: "http://s3".into(),
        };
        assert_eq!(
            refusal(&wrong_shard(Some(&owner), 9)),
            Some(Refusal::WrongShard {
                shard: "s3".into(),
                url: "http://s3".into(),
                epoch: 9
            })
        );
        assert_eq!(
            refusal(&user_moving(4)),
            Some(Refusal::UserMoving { epoch: 4 })
        );
        assert_eq!(
            refusal(&not_leader(Some(2), Some("http://b"))),
            Some(Refusal::NotLeader {
                leader: Some("http://b".into())
            })
        );
        assert_eq!(
            refusal(&not_leader(None, None)),
            Some(Refusal::NotLeader { leader: None })
        );
        assert_eq!(refusal(&Status::unavailable("down")), None);
    }

    #[test]
    fn group_urls_split_into_members() {
        assert_eq!(members("http://a"), ["http://a"]);
        assert_eq!(
            members(" http://a | http://b|http://c "),
            ["http://a", "http://b", "http://c"]
        );
        assert!(members(" | ").is_empty());
    }

    #[test]
    fn shard_lists_parse() {
        let list = vec!["a=http://a".to_owned(), " b = http://b ".to_owned()];
        let parsed = parse_shards(&list).unwrap();
        assert_eq!(parsed[1].id, "b");
        assert_eq!(parsed[1].url, "http://b");
        assert!(parse_shards(&["http://a".to_owned()]).is_err());
    }
}
