//! Holds and journal corrections, on the writer's side.
//!
//! Kept apart from the rest of the store: the `holds` table (key: user,
//! muscle, hold id; value: [`Hold`] as JSON), starting holds after a session
//! is stored, releasing them, and UpdateSession / DeleteSession, which
//! rewrite or remove a session's rows and then re-apply the safety rules.
//! Deleting or correcting a session never releases a hold.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::keys::{key, point_day_key, session_event, session_key, user_hi, user_lo};
use super::tables::{Applied, Rows, Tables, WTable, json, scan};
use crate::domain::holds::{self, Hold};
use crate::domain::rules::{self, SessionContext};
use crate::domain::{
    CatalogView, GuidedRequest, Refusal, Screening, SessionDraft, SessionRecord, Warning, names,
    time,
};
use crate::error::Error;

fn hold_key(user: &str, h: &Hold) -> Vec<u8> {
    key(user, &[h.muscle.as_bytes(), h.id.as_bytes()])
}

impl<T: Rows> Tables<T> {
    /// Every hold of `user`, active and released, by muscle.
    pub(super) fn holds(&self, user: &str) -> Result<Vec<Hold>, Error> {
        let mut out = Vec::new();
        scan(
            &self.holds,
            &user_lo(user),
            &user_hi(user),
            false,
            |_, v| {
                out.push(json::<Hold>(v)?);
                Ok(true)
            },
        )?;
        Ok(out)
    }
}

/// A correction of one session: the id and the new, validated values.
#[derive(Debug, Clone)]
pub struct SessionUpdate {
    /// The session id.
    pub id: String,
    /// The new values (all fields; the service merged the mask).
    pub draft: SessionDraft,
}

impl Tables<WTable<'_>> {
    pub(super) fn put_hold(&mut self, user: &str, h: &Hold) -> Result<(), Error> {
        Self::put_json(&mut self.holds, &hold_key(user, h), h)
    }

    /// Sets the warnings of a session about to be stored (new or
    /// corrected): the rules' (with that day's count on the point and the
    /// point's readings over the trend window), then the holds'. Call it
    /// after the session's old rows are gone, before the new ones go in.
    pub(super) fn set_session_warnings(
        &self,
        user: &str,
        record: &mut SessionRecord,
        catalog: &CatalogView,
        screening: &Screening,
        tz: &TimeZone,
    ) -> Result<(), Error> {
        let point = record.draft.trigger_point.clone();
        let local_date = record.local_date;
        let events = self.events(user, &point, local_date)?;
        let that_day = events.len() + usize::from(!events.contains(&session_event(record)));
        let window = catalog.guidance.trend_window_days.max(1);
        let history = self.readings(
            user,
            &point,
            time::days_before(local_date, window - 1),
            local_date,
        )?;
        let ctx = SessionContext {
            catalog,
            screening,
            sessions_that_day: u32::try_from(that_day).unwrap_or(u32::MAX),
            history: &history,
            local_date,
        };
        record.warnings = rules::session_warnings(&record.draft, &ctx);
        self.add_hold_warnings(user, record, catalog, tz)
    }

    /// Adds the hold-related warnings to a session about to be stored: the
    /// muscle was already on hold (by another session), or a nerve-type
    /// sensation was reported beside a nerve.
    fn add_hold_warnings(
        &self,
        user: &str,
        record: &mut SessionRecord,
        catalog: &CatalogView,
        tz: &TimeZone,
    ) -> Result<(), Error> {
        let existing = self.holds(user)?;
        let mut extra: Vec<Warning> = Vec::new();
        let held = existing.iter().find(|h| {
            h.active()
                && h.muscle == holds::muscle_of(catalog, &record.draft.trigger_point)
                && h.session.as_deref() != Some(record.id.as_str())
        });
        if let Some(h) = held {
            extra.push(holds::on_hold_warning(h, catalog, tz));
        }
        extra.extend(holds::nerve_warning(record, catalog));
        let rules = std::mem::take(&mut record.warnings);
        record.warnings = holds::merge_warnings(rules, extra);
        Ok(())
    }

    /// Starts the holds a stored session triggers.
    pub(super) fn holds_after_session(
        &mut self,
        user: &str,
        record: &SessionRecord,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Result<(), Error> {
        let existing = self.holds(user)?;
        for h in holds::triggered(record, catalog, &existing, now) {
            self.put_hold(user, &h)?;
        }
        Ok(())
    }

    /// The refusal of a guided session on a held muscle, if it is held.
    pub(super) fn guided_hold_refusal(
        &self,
        user: &str,
        req: &GuidedRequest,
        catalog: &CatalogView,
        tz: &TimeZone,
    ) -> Result<Option<Refusal>, Error> {
        let all = self.holds(user)?;
        Ok(holds::active_for_point(&all, catalog, &req.trigger_point)
            .map(|h| holds::refusal(h, &req.trigger_point, catalog, tz)))
    }

    /// The warnings an admitted guided session starts with.
    pub(super) fn guided_warnings(
        &self,
        user: &str,
        point: &str,
        sessions_today: u32,
        catalog: &CatalogView,
    ) -> Result<Vec<Warning>, Error> {
        let all = self.holds(user)?;
        let saved = self.profile(user)?.is_some();
        Ok(holds::guided_warnings(
            point,
            sessions_today,
            &all,
            catalog,
            saved,
        ))
    }

    /// Releases the active holds on `point`'s muscle. Idempotent: with no
    /// active hold but released ones, answers them; with none at all,
    /// NOT_FOUND.
    pub(super) fn release_holds(
        &mut self,
        user: &str,
        point: &str,
        provider_checked: bool,
        checked_date: &str,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Applied<Vec<Hold>> {
        let muscle = holds::muscle_of(catalog, point);
        let mut on_muscle: Vec<Hold> = self
            .holds(user)?
            .into_iter()
            .filter(|h| h.muscle == muscle)
            .collect();
        if on_muscle.is_empty() {
            return Ok(Err(Error::NotFound(format!(
                "a hold on {}{point}",
                names::TRIGGER_POINT
            ))));
        }
        let tz = self.zone(user)?;
        if let Some(earliest) = holds::earliest_release_date(&on_muscle, muscle, &tz) {
            let today = time::local_date(now, &tz);
            let date = match holds::check_release(provider_checked, checked_date, earliest, today) {
                Ok(d) => d,
                Err(v) => return Ok(Err(Error::InvalidArgument(v))),
            };
            holds::release(&mut on_muscle, muscle, date, now);
            for h in &on_muscle {
                self.put_hold(user, h)?;
            }
        }
        Ok(Ok(on_muscle))
    }

    fn remove_session_rows(&mut self, user: &str, r: &SessionRecord) -> Result<(), Error> {
        let k = session_key(user, r.draft.perform_time, &r.id);
        let removed = self.sessions.remove(k.as_slice())?;
        self.journal.remove(k.as_slice())?;
        if let Some(bytes) = removed {
            self.count(user, -1, -(bytes as i64))?;
        }
        self.session_ids
            .remove(key(user, &[r.id.as_bytes()]).as_slice())?;
        let pk = point_day_key(user, &r.draft.trigger_point, r.local_date, b's', &r.id);
        self.point_day.remove(pk.as_slice())?;
        Ok(())
    }

    /// Rewrites one session with new values and re-applies the rules: its
    /// warnings, its day's count, and any hold it now triggers.
    pub(super) fn update_session(
        &mut self,
        user: &str,
        update: SessionUpdate,
        catalog: &CatalogView,
        now: Timestamp,
    ) -> Applied<SessionRecord> {
        let Some(old) = self.session(user, &update.id)? else {
            return Ok(Err(Error::NotFound(format!(
                "{}{}",
                names::SESSION,
                update.id
            ))));
        };
        self.remove_session_rows(user, &old)?;
        let tz = self.zone(user)?;
        let screening = self.screening(user)?.unwrap_or_default();
        let mut draft = update.draft;
        draft.guided_session = old.draft.guided_session.clone();
        let local_date = time::local_date(draft.perform_time, &tz);
        let mut record = SessionRecord {
            id: old.id.clone(),
            draft,
            create_time: old.create_time,
            local_date,
            origin: old.origin,
            warnings: Vec::new(),
        };
        self.set_session_warnings(user, &mut record, catalog, &screening, &tz)?;
        self.insert_session(user, &record)?;
        self.holds_after_session(user, &record, catalog, now)?;
        Ok(Ok(record))
    }

    /// Removes one session's rows; `false` when it was already gone. Its
    /// request id stays used, and its holds stay.
    pub(super) fn delete_session(&mut self, user: &str, id: &str) -> Applied<bool> {
        let Some(old) = self.session(user, id)? else {
            return Ok(Ok(false));
        };
        self.remove_session_rows(user, &old)?;
        Ok(Ok(true))
    }
}
