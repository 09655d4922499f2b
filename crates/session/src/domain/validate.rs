//! Input validation: every bad field becomes a [`FieldViolation`], all of
//! them reported at once, and nothing partial is stored.
//!
//! Inputs arrive as [`RawSession`] and friends: the protobuf message with
//! enums still as their wire integers, so an unknown enum value is a field
//! violation here instead of a silent default.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::{
    Answer, CatalogView, FieldViolation, GuidedRequest, PainQuality, ProfilePatch, SessionDraft,
    Side, names, plan, time,
};

/// Longest notes accepted, in characters.
pub const MAX_NOTES_CHARS: usize = 2000;
/// Longest client request id, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 64;
/// Most items in one batch.
pub const MAX_BATCH: usize = 500;
/// Longest duration accepted on a logged session, seconds.
pub const MAX_DURATION_SECONDS: i32 = 3600;
/// How far a client clock may run ahead of the server's.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);
/// The scale pressure and tenderness are measured on.
pub const SCALE_MAX: i32 = 10;

/// A session as it arrives, unvalidated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSession {
    /// `triggerPoints/{id}`.
    pub trigger_point: String,
    /// `tools/{id}`.
    pub tool: String,
    /// Wire value of the side enum.
    pub side: i32,
    /// Pressure.
    pub pressure: i32,
    /// Duration in seconds.
    pub duration_seconds: i32,
    /// Tenderness before.
    pub tenderness_before: Option<i32>,
    /// Tenderness after.
    pub tenderness_after: Option<i32>,
    /// Wire value of the pain quality enum.
    pub pain_quality: i32,
    /// Worse with activity.
    pub worse_with_activity: bool,
    /// Worse with massage.
    pub worse_with_massage: bool,
    /// Twitch response.
    pub twitch_response: bool,
    /// Notes.
    pub notes: String,
    /// When it was done; `None` when absent (taken as the server's now).
    pub perform_time: Option<Timestamp>,
    /// `guidedSessions/{id}` or empty.
    pub guided_session: String,
}

/// Collects violations under a common field prefix.
#[derive(Debug, Default)]
pub struct Violations {
    prefix: String,
    list: Vec<FieldViolation>,
}

impl Violations {
    /// Violations whose field paths start with `prefix` (e.g. `session.`).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            list: Vec::new(),
        }
    }

    /// Records one violation.
    pub fn add(&mut self, field: &str, description: impl Into<String>) {
        self.list.push(FieldViolation::new(
            format!("{}{field}", self.prefix),
            description,
        ));
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(self.list)
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Strips `prefix` from a resource name; `None` when it does not fit.
pub fn parse_name<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let id = name.strip_prefix(prefix)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Checks a client request id: 1-64 characters, printable.
pub fn request_id(id: &str, field: &str) -> Result<(), FieldViolation> {
    let n = id.chars().count();
    if n == 0 || n > MAX_REQUEST_ID_CHARS {
        return Err(FieldViolation::new(
            field,
            format!("must be 1 to {MAX_REQUEST_ID_CHARS} characters"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks the size of a batch.
pub fn batch_size(n: usize) -> Result<(), FieldViolation> {
    if n == 0 || n > MAX_BATCH {
        return Err(FieldViolation::new(
            "requests",
            format!("must hold 1 to {MAX_BATCH} items"),
        ));
    }
    Ok(())
}

/// Decodes the side enum.
pub fn side(v: i32) -> Option<Side> {
    Some(match v {
        0 => Side::Unspecified,
        1 => Side::Left,
        2 => Side::Right,
        3 => Side::Both,
        4 => Side::Midline,
        _ => return None,
    })
}

/// Decodes the pain quality enum.
pub fn pain_quality(v: i32) -> Option<PainQuality> {
    Some(match v {
        0 => PainQuality::Unspecified,
        1 => PainQuality::Dull,
        2 => PainQuality::Aching,
        3 => PainQuality::Burning,
        4 => PainQuality::Tingling,
        5 => PainQuality::Sharp,
        6 => PainQuality::Numbness,
        7 => PainQuality::Electric,
        _ => return None,
    })
}

fn scale(v: &mut Violations, field: &str, value: i32) -> u8 {
    if (0..=SCALE_MAX).contains(&value) {
        u8::try_from(value).unwrap_or(0)
    } else {
        v.add(field, format!("must be between 0 and {SCALE_MAX}"));
        0
    }
}

fn point<'a>(v: &mut Violations, catalog: &CatalogView, name: &'a str) -> &'a str {
    match parse_name(name, names::TRIGGER_POINT) {
        Some(id) if catalog.point(id).is_some() => id,
        Some(_) => {
            v.add("trigger_point", "unknown trigger point");
            ""
        }
        None => {
            v.add("trigger_point", "must be `triggerPoints/{trigger_point}`");
            ""
        }
    }
}

fn tool<'a>(v: &mut Violations, catalog: &CatalogView, name: &'a str) -> &'a str {
    match parse_name(name, names::TOOL) {
        Some(id) if catalog.tools.contains(id) => id,
        Some(_) => {
            v.add("tool", "unknown tool");
            ""
        }
        None => {
            v.add("tool", "must be `tools/{tool}`");
            ""
        }
    }
}

/// The earliest perform time accepted.
pub fn earliest_perform_time() -> Timestamp {
    // 2000-01-01T00:00:00Z.
    Timestamp::from_second(946_684_800).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Checks one LogSession request, as LogSession and each item of
/// BatchLogSessions send it: its request id and its session (required),
/// with field names under `prefix` (`""`, or `requests[3].` in a batch).
/// Every violation of both is reported.
pub fn log_request(
    request_id: &str,
    session: Option<&RawSession>,
    catalog: &CatalogView,
    now: Timestamp,
    prefix: &str,
) -> Result<SessionDraft, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    if let Err(v) = self::request_id(request_id, &format!("{prefix}request_id")) {
        violations.push(v);
    }
    let draft = match session {
        None => {
            violations.push(FieldViolation::new(format!("{prefix}session"), "required"));
            None
        }
        Some(s) => match self::session(s, catalog, now, &format!("{prefix}session.")) {
            Ok(d) => Some(d),
            Err(mut list) => {
                violations.append(&mut list);
                None
            }
        },
    };
    match draft {
        Some(draft) if violations.is_empty() => Ok(draft),
        _ => Err(violations),
    }
}

/// Validates a session against the catalog at server time `now`.
/// `prefix` is the field path prefix (`session.` or `requests[3].session.`).
pub fn session(
    raw: &RawSession,
    catalog: &CatalogView,
    now: Timestamp,
    prefix: &str,
) -> Result<SessionDraft, Vec<FieldViolation>> {
    let mut v = Violations::with_prefix(prefix);
    let trigger_point = point(&mut v, catalog, &raw.trigger_point).to_owned();
    let tool = tool(&mut v, catalog, &raw.tool).to_owned();
    let side = side(raw.side).unwrap_or_else(|| {
        v.add("side", "unknown side");
        Side::Unspecified
    });
    let pressure = scale(&mut v, "pressure", raw.pressure);
    let duration_seconds = if (1..=MAX_DURATION_SECONDS).contains(&raw.duration_seconds) {
        u32::try_from(raw.duration_seconds).unwrap_or(0)
    } else {
        v.add(
            "duration_seconds",
            format!("must be between 1 and {MAX_DURATION_SECONDS} seconds"),
        );
        0
    };
    let tenderness_before = raw
        .tenderness_before
        .map(|t| scale(&mut v, "tenderness_before", t));
    let tenderness_after = raw
        .tenderness_after
        .map(|t| scale(&mut v, "tenderness_after", t));
    let pain_quality = pain_quality(raw.pain_quality).unwrap_or_else(|| {
        v.add("pain_quality", "unknown pain quality");
        PainQuality::Unspecified
    });
    if raw.notes.chars().count() > MAX_NOTES_CHARS {
        v.add(
            "notes",
            format!("must be at most {MAX_NOTES_CHARS} characters"),
        );
    }
    let perform_time = match raw.perform_time {
        // Required: an offline record synced later must keep the day it was
        // done on, so the server never guesses.
        None => {
            v.add("perform_time", "is required: when the session was done");
            now
        }
        Some(t) if t > now.saturating_add(MAX_CLOCK_SKEW).unwrap_or(now) => {
            v.add(
                "perform_time",
                "must not be more than 5 minutes in the future",
            );
            t
        }
        Some(t) if t < earliest_perform_time() => {
            v.add("perform_time", "must not be before 2000-01-01");
            t
        }
        Some(t) => t,
    };
    let guided_session = if raw.guided_session.is_empty() {
        None
    } else if let Some(id) = parse_name(&raw.guided_session, names::GUIDED_SESSION) {
        Some(id.to_owned())
    } else {
        v.add(
            "guided_session",
            "must be `guidedSessions/{guided_session}`",
        );
        None
    };
    v.finish(SessionDraft {
        trigger_point,
        tool,
        side,
        pressure,
        duration_seconds,
        tenderness_before,
        tenderness_after,
        pain_quality,
        worse_with_activity: raw.worse_with_activity,
        worse_with_massage: raw.worse_with_massage,
        twitch_response: raw.twitch_response,
        notes: raw.notes.clone(),
        perform_time,
        guided_session,
    })
}

/// Validates a request to start a guided session. A duration of 0 means the
/// guidance's minimum; any other must lie within the guidance's range.
pub fn guided(
    trigger_point: &str,
    tool_name: &str,
    side_value: i32,
    duration_seconds: i32,
    catalog: &CatalogView,
) -> Result<GuidedRequest, Vec<FieldViolation>> {
    let mut v = Violations::default();
    let tp = point(&mut v, catalog, trigger_point).to_owned();
    let tl = tool(&mut v, catalog, tool_name).to_owned();
    let g = &catalog.guidance;
    let side = side(side_value).unwrap_or_else(|| {
        v.add("side", "unknown side");
        Side::Unspecified
    });
    // An unspecified side means "as the point is": both sides of a bilateral
    // point, else the midline.
    let side = match (side, catalog.point(&tp)) {
        (Side::Unspecified, Some(p)) if p.bilateral => Side::Both,
        (Side::Unspecified, _) => Side::Midline,
        (s, _) => s,
    };
    let duration = if duration_seconds == 0 {
        g.min_duration_seconds
    } else {
        match u32::try_from(duration_seconds) {
            Ok(d) if (g.min_duration_seconds..=g.max_duration_seconds).contains(&d) => d,
            _ => {
                v.add(
                    "duration_seconds",
                    format!(
                        "must be between {} and {} seconds, or 0 for {}",
                        g.min_duration_seconds, g.max_duration_seconds, g.min_duration_seconds
                    ),
                );
                0
            }
        }
    };
    v.finish(GuidedRequest {
        trigger_point: tp,
        tool: tl,
        side,
        duration_seconds: duration,
    })
}

/// Validates a profile update. `mask` lists the fields to change (empty:
/// both).
pub fn profile_patch(
    time_zone: &str,
    tools: &[String],
    mask: &[String],
    catalog: &CatalogView,
) -> Result<ProfilePatch, Vec<FieldViolation>> {
    let mut v = Violations::default();
    let mut want_zone = mask.is_empty();
    let mut want_tools = mask.is_empty();
    for path in mask {
        match path.strip_prefix("profile.").unwrap_or(path) {
            "time_zone" => want_zone = true,
            "tools" => want_tools = true,
            // Checked by [`waking_patch`].
            "wake_time" | "sleep_time" => {}
            _ => v.add("update_mask", format!("unknown field `{path}`")),
        }
    }
    let mut patch = ProfilePatch::default();
    if want_zone {
        if time::zone(time_zone).is_some() {
            patch.time_zone = Some(time_zone.to_owned());
        } else {
            v.add("profile.time_zone", "must be an IANA time zone name");
        }
    }
    if want_tools {
        let mut ids = Vec::new();
        for (i, name) in tools.iter().enumerate() {
            match parse_name(name, names::TOOL) {
                Some(id) if catalog.tools.contains(id) => {
                    if !ids.iter().any(|x: &String| x == id) {
                        ids.push(id.to_owned());
                    }
                }
                _ => v.add(&format!("profile.tools[{i}]"), "unknown tool"),
            }
        }
        patch.tools = Some(ids);
    }
    v.finish(patch)
}

/// New wake and sleep times (`None`: unchanged; `Some(None)`: default).
pub type WakingPatch = (Option<Option<u16>>, Option<Option<u16>>);

/// The wake and sleep times of a profile update (`HH:MM`, empty for the
/// default), for the fields `mask` names (all when empty), checked together
/// with the times already saved (`current`): the waking day must be at
/// least [`plan::MIN_AWAKE_MINUTES`] long.
pub fn waking_patch(
    wake: &str,
    sleep: &str,
    mask: &[String],
    current: (Option<u16>, Option<u16>),
) -> Result<WakingPatch, Vec<FieldViolation>> {
    let wants = |field: &str| {
        mask.is_empty()
            || mask
                .iter()
                .any(|p| p.strip_prefix("profile.").unwrap_or(p) == field)
    };
    let mut v = Violations::default();
    let mut parse = |field: &str, value: &str| -> Option<Option<u16>> {
        if !wants(field) {
            return None;
        }
        if value.is_empty() {
            return Some(None);
        }
        match plan::parse_hhmm(value) {
            Some(m) => Some(Some(m)),
            None => {
                v.add(
                    &format!("profile.{field}"),
                    "must be a local time HH:MM (24-hour clock)",
                );
                None
            }
        }
    };
    let new_wake = parse("wake_time", wake);
    let new_sleep = parse("sleep_time", sleep);
    let merged = plan::Waking::from_profile(
        new_wake.unwrap_or(current.0),
        new_sleep.unwrap_or(current.1),
    );
    if !merged.valid() {
        v.add(
            "profile.sleep_time",
            format!(
                "must be at least {} hours after the wake time",
                plan::MIN_AWAKE_MINUTES / 60
            ),
        );
    }
    v.finish((new_wake, new_sleep))
}

/// One screening answer as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawAnswer {
    /// `contraindications/{id}`.
    pub contraindication: String,
    /// Present.
    pub present: bool,
    /// Cleared by a provider.
    pub cleared_by_provider: bool,
    /// YYYY-MM-DD or empty.
    pub cleared_date: String,
}

/// Validates screening answers: each names a screening condition of the
/// catalog at most once; a clearance needs a date, not in the future.
pub fn answers(
    raw: &[RawAnswer],
    catalog: &CatalogView,
    today: Date,
) -> Result<BTreeMap<String, Answer>, Vec<FieldViolation>> {
    let mut v = Violations::default();
    let mut out = BTreeMap::new();
    if raw.is_empty() {
        v.add("answers", "at least one answer is required");
    }
    for (i, a) in raw.iter().enumerate() {
        let f = |name: &str| format!("answers[{i}].{name}");
        let id = match parse_name(&a.contraindication, names::CONTRAINDICATION) {
            Some(id) if catalog.is_condition(id) => id,
            _ => {
                v.add(&f("contraindication"), "unknown screening condition");
                continue;
            }
        };
        let cleared_date = if a.cleared_date.is_empty() {
            None
        } else {
            match a.cleared_date.parse::<Date>() {
                Ok(d) if d <= today => Some(d),
                Ok(_) => {
                    v.add(&f("cleared_date"), "must not be in the future");
                    None
                }
                Err(_) => {
                    v.add(&f("cleared_date"), "must be YYYY-MM-DD");
                    None
                }
            }
        };
        if a.cleared_by_provider && a.cleared_date.is_empty() {
            v.add(&f("cleared_date"), "required when cleared by a provider");
        }
        let answer = Answer {
            present: a.present,
            cleared_by_provider: a.cleared_by_provider,
            cleared_date,
        };
        if out.insert(id.to_owned(), answer).is_some() {
            v.add(&f("contraindication"), "answered more than once");
        }
    }
    v.finish(out)
}

#[cfg(test)]
mod tests;
