//! Key encoding and the table definitions: the on-disk layout.
//!
//! Every key starts with the user id and a 0 byte (user ids hold no control
//! characters), so a user's rows in any table are one contiguous range and
//! every read is a range scan. The layout is versioned by
//! [`SCHEMA_VERSION`], stored in the `meta` table.

use jiff::Timestamp;
use jiff::civil::Date;
use redb::TableDefinition;

use crate::domain::SessionRecord;
use crate::domain::idempotency::Fingerprint;

/// Every session table maps bytes to bytes.
pub(super) type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// The Raft state machine's state (`replica.rs`): applied log id,
/// membership, last batch and shard map (JSON each). Replicas written
/// before the log had a file of its own kept the log's state here too
/// (`log_file.rs` moves it).
pub(super) const RAFT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");

pub(super) const USERS: Def = TableDefinition::new("users");
pub(super) const PROFILES: Def = TableDefinition::new("profiles");
pub(super) const SCREENINGS: Def = TableDefinition::new("screenings");
pub(super) const SESSIONS: Def = TableDefinition::new("sessions");
pub(super) const SESSION_IDS: Def = TableDefinition::new("session_ids");
pub(super) const GUIDED: Def = TableDefinition::new("guided_sessions");
pub(super) const POINT_DAY: Def = TableDefinition::new("by_point_day");
pub(super) const REQUEST_IDS: Def = TableDefinition::new("request_ids");
pub(super) const CHECK_INS: Def = TableDefinition::new("check_ins");
pub(super) const HOLDS: Def = TableDefinition::new("holds");
pub(super) const USAGE: Def = TableDefinition::new("usage");
/// Derived from `sessions` on every replica, not replicated (`journal.rs`).
pub(super) const JOURNAL: Def = TableDefinition::new("journal");
/// Facts about the database itself (key: a name; value: bytes), today the
/// schema version ([`SCHEMA_VERSION_KEY`]).
pub(super) const META: Def = TableDefinition::new("meta");

/// The session tables (the replicated state), in the order a table's id
/// ([`table_id`], `Change::table`) indexes.
pub(super) const DATA_TABLES: [Def; 11] = [
    USERS,
    PROFILES,
    SCREENINGS,
    SESSIONS,
    SESSION_IDS,
    GUIDED,
    POINT_DAY,
    REQUEST_IDS,
    CHECK_INS,
    HOLDS,
    USAGE,
];

/// The id of a session table: its index in [`DATA_TABLES`].
pub(super) fn table_id(def: Def) -> u8 {
    use redb::TableHandle;
    DATA_TABLES
        .iter()
        .position(|t| t.name() == def.name())
        .map_or(u8::MAX, |i| i as u8)
}

/// Every table of the session data, for creation at open, deletion and the
/// tests that scan all of them: [`DATA_TABLES`], then [`JOURNAL`] and
/// [`META`].
pub(super) const TABLES: [Def; DATA_TABLES.len() + 2] = {
    let mut all = [META; DATA_TABLES.len() + 2];
    let mut i = 0;
    while i < DATA_TABLES.len() {
        all[i] = DATA_TABLES[i];
        i += 1;
    }
    all[i] = JOURNAL;
    all
};

/// The layout of the tables' keys and values (and of the JSON records in
/// them). Raised when either changes, with a migration in
/// `Store::open` from the version before. A database written before the
/// version was stored has no row and the layout of version 1.
///
/// Version 2 added the `journal` table (`journal.rs`), filled from
/// `sessions` when a version 1 database opens. A build of version 1 must
/// not open a version 2 database: its writes would leave the journal
/// behind.
///
/// Version 3 moved a Raft replica's log, vote and committed id out of this
/// file into `raft-log.redb` (`log_file.rs`, at start). The session file's
/// tables are unchanged, but a build of version 2 must not open a replica
/// of version 3: it would find no log beside the applied state and start
/// the group's log again.
pub const SCHEMA_VERSION: u32 = 3;

/// The `meta` row holding the schema version (four bytes, big-endian).
pub(super) const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";

/// A key no user id can have (user ids are printable), written and removed
/// again to check that commits work.
pub(super) const PROBE_KEY: &str = "\u{0}probe";

/// The first key of `user`'s range.
pub(super) fn user_lo(user: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(0);
    k
}

/// The end (exclusive) of `user`'s range.
pub(super) fn user_hi(user: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(1);
    k
}

/// `user`, 0, then `parts` joined by 0 bytes.
pub(super) fn key(user: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = user_lo(user);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

/// Order-preserving encoding of a timestamp (microseconds, sign flipped).
pub(super) fn time_bytes(ts: Timestamp) -> [u8; 8] {
    time_from_micros(ts.as_microsecond())
}

/// [`time_bytes`] of a time in microseconds.
pub(super) fn time_from_micros(m: i64) -> [u8; 8] {
    ((m as u64) ^ (1 << 63)).to_be_bytes()
}

/// A `sessions` key: user, perform time, id.
pub(super) fn session_key(user: &str, ts: Timestamp, id: &str) -> Vec<u8> {
    let mut k = user_lo(user);
    k.extend_from_slice(&time_bytes(ts));
    k.extend_from_slice(id.as_bytes());
    k
}

/// The first `sessions` key of `user` at or after `ts`.
pub(super) fn sessions_from(user: &str, ts: Timestamp) -> Vec<u8> {
    let mut k = user_lo(user);
    k.extend_from_slice(&time_bytes(ts));
    k
}

pub(super) fn point_day_lo(user: &str, point: &str, date: Date) -> Vec<u8> {
    let mut k = key(user, &[point.as_bytes(), date.to_string().as_bytes()]);
    k.push(0);
    k
}

pub(super) fn point_day_hi(user: &str, point: &str, date: Date) -> Vec<u8> {
    let mut k = key(user, &[point.as_bytes(), date.to_string().as_bytes()]);
    k.push(1);
    k
}

/// A `by_point_day` key: user, point, local date, kind (`s`/`g`) and id.
pub(super) fn point_day_key(user: &str, point: &str, date: Date, kind: u8, id: &str) -> Vec<u8> {
    let mut k = point_day_lo(user, point, date);
    k.push(kind);
    k.extend_from_slice(id.as_bytes());
    k
}

/// A `by_point_day` value: the event id, a tab, the tenderness if any.
pub(super) fn point_day_value(event: &str, tenderness: Option<u8>) -> Vec<u8> {
    match tenderness {
        Some(t) => format!("{event}\t{t}").into_bytes(),
        None => format!("{event}\t").into_bytes(),
    }
}

/// The event a session counts as on its day: its guided session's, if it
/// came from one, so the guided session and its log count once.
pub(super) fn session_event(r: &SessionRecord) -> String {
    match &r.draft.guided_session {
        Some(g) => format!("g:{g}"),
        None => format!("s:{}", r.id),
    }
}

/// A `check_ins` key: user, local date, region.
pub(super) fn check_in_key(user: &str, date: Date, region: &str) -> Vec<u8> {
    key(user, &[date.to_string().as_bytes(), region.as_bytes()])
}

/// A `request_ids` value: the resource name, then (for ids stored since
/// request fingerprints) a 0 byte and the request's 32-byte fingerprint.
/// Resource names hold no 0 byte.
pub(super) fn request_id_value(v: &[u8]) -> (String, Option<Fingerprint>) {
    match v.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&v[..i]).into_owned(),
            Fingerprint::try_from(&v[i + 1..]).ok(),
        ),
        None => (String::from_utf8_lossy(v).into_owned(), None),
    }
}

/// Encodes a `request_ids` value (see [`request_id_value`]).
pub(super) fn request_id_bytes(resource: &str, fingerprint: Option<&Fingerprint>) -> Vec<u8> {
    let mut value = resource.as_bytes().to_vec();
    if let Some(fp) = fingerprint {
        value.push(0);
        value.extend_from_slice(fp);
    }
    value
}

/// Bytes as base64 text in the replicated log's JSON (an array of numbers
/// would take about four times the space).
pub(super) mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub(crate) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_time_including_before_1970() {
        let a = time_bytes("1969-12-31T23:59:59Z".parse().unwrap());
        let b = time_bytes("1970-01-01T00:00:00Z".parse().unwrap());
        let c = time_bytes("2026-01-01T00:00:00Z".parse().unwrap());
        assert!(a < b && b < c);
    }

    #[test]
    fn request_id_values_round_trip_with_and_without_fingerprint() {
        let fp: Fingerprint = [7u8; 32];
        let v = request_id_bytes("users/u/sessions/1", Some(&fp));
        assert_eq!(
            request_id_value(&v),
            ("users/u/sessions/1".into(), Some(fp))
        );
        let v = request_id_bytes("users/u/sessions/1", None);
        assert_eq!(request_id_value(&v), ("users/u/sessions/1".into(), None));
    }
}
