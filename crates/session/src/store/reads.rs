//! The reads: every query a handler makes, run on one read transaction
//! (or, for the rules, inside the writer's), so what one call sees is one
//! consistent snapshot.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use redb::ReadableTable;

use super::DaySummary;
use super::journal;
use super::keys::{
    key, point_day_hi, point_day_lo, request_id_value, sessions_from, time_from_micros, user_hi,
    user_lo,
};
use super::tables::{Rows, Tables, get, json, scan};
use super::versions::Keys;
use crate::domain::checkin::CheckIn;
use crate::domain::progress::{Grouped, JournalEntry};
use crate::domain::{GuidedSession, Profile, Screening, SessionRecord, UserData, time};
use crate::error::Error;

impl<T: Rows> Tables<T> {
    pub(super) fn profile(&self, user: &str) -> Result<Option<Profile>, Error> {
        get(&self.profiles, user.as_bytes())?
            .map(|v| json(&v))
            .transpose()
    }

    pub(super) fn screening(&self, user: &str) -> Result<Option<Screening>, Error> {
        get(&self.screenings, user.as_bytes())?
            .map(|v| json(&v))
            .transpose()
    }

    pub(super) fn zone(&self, user: &str) -> Result<TimeZone, Error> {
        Ok(self
            .profile(user)?
            .map_or(TimeZone::UTC, |p| time::zone_or_utc(&p.time_zone)))
    }

    pub(super) fn session(&self, user: &str, id: &str) -> Result<Option<SessionRecord>, Error> {
        let Some(t) = get(&self.session_ids, &key(user, &[id.as_bytes()]))? else {
            return Ok(None);
        };
        let mut k = user_lo(user);
        k.extend_from_slice(&t);
        k.extend_from_slice(id.as_bytes());
        get(&self.sessions, &k)?.map(|v| json(&v)).transpose()
    }

    pub(super) fn guided(&self, user: &str, id: &str) -> Result<Option<GuidedSession>, Error> {
        get(&self.guided, &key(user, &[id.as_bytes()]))?
            .map(|v| json(&v))
            .transpose()
    }

    /// Distinct events (sessions, guided sessions) on a point that day.
    pub(super) fn events(
        &self,
        user: &str,
        point: &str,
        date: Date,
    ) -> Result<BTreeSet<String>, Error> {
        let mut out = BTreeSet::new();
        scan(
            &self.point_day,
            &point_day_lo(user, point, date),
            &point_day_hi(user, point, date),
            false,
            |_, v| {
                let v = String::from_utf8_lossy(v);
                let event = v.split('\t').next().unwrap_or_default();
                out.insert(event.to_owned());
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Tenderness readings on a point from `from` to `to` (inclusive).
    pub(super) fn readings(
        &self,
        user: &str,
        point: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, u8)>, Error> {
        let lo = point_day_lo(user, point, from);
        let hi = point_day_hi(user, point, to);
        let prefix_len = key(user, &[point.as_bytes()]).len() + 1;
        let mut out = Vec::new();
        scan(&self.point_day, &lo, &hi, false, |k, v| {
            let date = k
                .get(prefix_len..prefix_len + 10)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<Date>().ok());
            let t = String::from_utf8_lossy(v)
                .split('\t')
                .nth(1)
                .and_then(|t| t.parse::<u8>().ok());
            if let (Some(d), Some(t)) = (date, t) {
                out.push((d, t));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    pub(super) fn sessions_range(
        &self,
        user: &str,
        lo: &[u8],
        hi: &[u8],
        rev: bool,
        mut f: impl FnMut(SessionRecord) -> bool,
    ) -> Result<(), Error> {
        let _ = user;
        scan(&self.sessions, lo, hi, rev, |_, v| Ok(f(json(v)?)))
    }

    /// Check-ins from `from` to `to` (inclusive), oldest day first.
    pub(super) fn check_ins(
        &self,
        user: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<CheckIn>, Error> {
        let lo = key(user, &[from.to_string().as_bytes()]);
        let mut hi = key(user, &[to.to_string().as_bytes()]);
        hi.push(1);
        let mut out = Vec::new();
        scan(&self.check_ins, &lo, &hi, false, |_, v| {
            out.push(json::<CheckIn>(v)?);
            Ok(true)
        })?;
        Ok(out)
    }

    pub(super) fn export(&self, user: &str) -> Result<UserData, Error> {
        let (lo, hi) = (user_lo(user), user_hi(user));
        let mut sessions = Vec::new();
        self.sessions_range(user, &lo, &hi, false, |r| {
            sessions.push(r);
            true
        })?;
        let mut guided_sessions = Vec::new();
        scan(&self.guided, &lo, &hi, false, |_, v| {
            guided_sessions.push(json::<GuidedSession>(v)?);
            Ok(true)
        })?;
        guided_sessions.sort_by_key(|g| g.start_time);
        let mut request_ids = Vec::new();
        scan(&self.request_ids, &lo, &hi, false, |k, v| {
            let rid = String::from_utf8_lossy(&k[lo.len()..]).into_owned();
            request_ids.push((rid, request_id_value(v).0));
            Ok(true)
        })?;
        let mut check_ins = Vec::new();
        scan(&self.check_ins, &lo, &hi, false, |_, v| {
            check_ins.push(json::<CheckIn>(v)?);
            Ok(true)
        })?;
        Ok(UserData {
            check_ins,
            user_id: user.to_owned(),
            profile: self.profile(user)?,
            screening: self.screening(user)?,
            sessions,
            guided_sessions,
            request_ids,
            holds: self.holds(user)?,
        })
    }

    /// Sessions performed in `[start, end)`, newest first, optionally on one
    /// point, strictly before the cursor `(perform time µs, id)`; at most
    /// `limit`, plus whether more follow.
    pub(super) fn list_sessions(
        &self,
        user: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        point: Option<String>,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<SessionRecord>, bool), Error> {
        let lo = match start {
            Some(s) => sessions_from(user, s),
            None => user_lo(user),
        };
        let mut hi = match end {
            Some(e) => sessions_from(user, e),
            None => user_hi(user),
        };
        if let Some((micros, id)) = before {
            let mut k = user_lo(user);
            k.extend_from_slice(&time_from_micros(micros));
            k.extend_from_slice(id.as_bytes());
            if k < hi {
                hi = k;
            }
        }
        let mut out = Vec::new();
        let mut more = false;
        if lo < hi {
            self.sessions_range(user, &lo, &hi, true, |r| {
                if point.as_ref().is_some_and(|p| *p != r.draft.trigger_point) {
                    return true;
                }
                if out.len() == limit {
                    more = true;
                    return false;
                }
                out.push(r);
                true
            })?;
        }
        Ok((out, more))
    }

    /// Sessions performed in `[start, end)`, oldest first.
    pub(super) fn sessions_between(
        &self,
        user: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SessionRecord>, Error> {
        let lo = sessions_from(user, start);
        let hi = sessions_from(user, end);
        let mut out = Vec::new();
        if lo < hi {
            self.sessions_range(user, &lo, &hi, false, |r| {
                out.push(r);
                true
            })?;
        }
        Ok(out)
    }

    /// The sessions from `start` to `end`, oldest first, at most `max` of
    /// them, with the totals over all of them (see [`DaySummary`]). Memory
    /// stays bounded by `max` however many the day holds.
    pub(super) fn day_summary(
        &self,
        user: &str,
        start: Timestamp,
        end: Timestamp,
        max: usize,
    ) -> Result<DaySummary, Error> {
        let lo = sessions_from(user, start);
        let hi = sessions_from(user, end);
        let mut out = DaySummary::default();
        if lo < hi {
            self.sessions_range(user, &lo, &hi, false, |r| {
                out.total_sessions += 1;
                out.total_duration_seconds += u64::from(r.draft.duration_seconds);
                out.points.insert(r.draft.trigger_point.clone());
                if out.sessions.len() < max {
                    out.sessions.push(r);
                }
                true
            })?;
        }
        Ok(out)
    }

    /// Sessions and guided sessions on each of `points` on local `date`.
    pub(super) fn day_counts(
        &self,
        user: &str,
        points: Vec<String>,
        date: Date,
    ) -> Result<BTreeMap<String, u32>, Error> {
        let mut out = BTreeMap::new();
        for p in points {
            let n = self.events(user, &p, date)?.len();
            out.insert(p, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(out)
    }

    /// Trigger points of the guided sessions started on local `date`.
    pub(super) fn guided_points_on(&self, user: &str, date: Date) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        scan(
            &self.guided,
            &user_lo(user),
            &user_hi(user),
            false,
            |_, v| {
                let g: GuidedSession = json(v)?;
                if g.local_date == date {
                    out.push(g.trigger_point);
                }
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Every session of a user, oldest first.
    pub(super) fn all_sessions(&self, user: &str) -> Result<Vec<SessionRecord>, Error> {
        let mut out = Vec::new();
        self.sessions_range(user, &user_lo(user), &user_hi(user), false, |r| {
            out.push(r);
            true
        })?;
        Ok(out)
    }

    /// Every session of a user as progress reads it, oldest first: the
    /// compact rows of the `journal` table (`journal.rs`).
    pub(super) fn journal(&self, user: &str) -> Result<Vec<JournalEntry>, Error> {
        let mut out = Vec::new();
        scan(
            &self.journal,
            &user_lo(user),
            &user_hi(user),
            false,
            |_, v| {
                out.push(journal::decode(v)?);
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Every session of a user grouped per point, as progress and the
    /// plans read it: [`Tables::journal`] without a copy of each entry;
    /// with each row's key past the user's prefix, so a commit can patch
    /// it (`versions.rs`).
    pub(super) fn journal_grouped(&self, user: &str) -> Result<(Grouped, Keys), Error> {
        let mut out = Grouped::default();
        let mut keys = Keys::default();
        let lo = user_lo(user);
        scan(&self.journal, &lo, &user_hi(user), false, |k, v| {
            let (point, s) = journal::decode_parts(v)?;
            out.add(point, s);
            keys.put(point, &k[lo.len()..]);
            Ok(true)
        })?;
        Ok((out, keys))
    }

    /// User ids after `after`, in order; at most `limit`, plus whether more
    /// follow.
    pub(super) fn list_users(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), Error> {
        let mut out = Vec::new();
        let mut more = false;
        let range = match &after {
            Some(a) => {
                let mut lo = a.as_bytes().to_vec();
                lo.push(0);
                self.users.rows()?.range::<&[u8]>(lo.as_slice()..)?
            }
            None => self.users.rows()?.range::<&[u8]>(..)?,
        };
        for item in range {
            let (k, _) = item?;
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(String::from_utf8_lossy(k.value()).into_owned());
        }
        Ok((out, more))
    }
}
