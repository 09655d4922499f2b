//! An export read back (ImportUser, StreamImportUser): records taken as
//! stored on the shard they came from, only their shape checked.

use std::collections::BTreeMap;

use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;

use super::{hold_from, severity_from, strip, timestamp, warning_code_from};
use crate::domain::checkin::{self, CheckIn};
use crate::domain::validate::parse_name;
use crate::domain::{
    Answer, FieldViolation, GuidedSession, Origin, PainQuality, Profile, Screening, SessionDraft,
    SessionRecord, Side, UserData, Warning, names, plan,
};
use crate::error::Error;

fn bad(field: String, what: &str) -> FieldViolation {
    FieldViolation::new(field, what)
}

fn opt_scale(v: Option<i32>) -> Option<u8> {
    v.and_then(|v| u8::try_from(v).ok())
}

fn side_from(v: i32) -> Side {
    crate::domain::validate::side(v).unwrap_or(Side::Unspecified)
}

/// Reads an export back (for ImportUser). Records are taken as stored on the
/// shard they came from; only their shape is checked here.
pub fn import(e: &pb::UserDataExport) -> Result<UserData, Error> {
    let mut v = Vec::new();
    if e.user_id.is_empty() || e.user_id.chars().any(char::is_control) {
        v.push(bad("export.user_id".into(), "required"));
    }
    let ts = |t: &Option<prost_types::Timestamp>| t.as_ref().and_then(timestamp);
    let profile = e
        .profile
        .as_ref()
        .filter(|p| p.create_time.is_some())
        .map(|p| Profile {
            time_zone: p.time_zone.clone(),
            tools: p
                .tools
                .iter()
                .map(|t| strip(t, names::TOOL).to_owned())
                .collect(),
            create_time: ts(&p.create_time),
            update_time: ts(&p.update_time),
            wake: plan::parse_hhmm(&p.wake_time),
            sleep: plan::parse_hhmm(&p.sleep_time),
        });
    let screening = e
        .screening
        .as_ref()
        .filter(|s| !s.answers.is_empty() || s.update_time.is_some())
        .map(|s| Screening {
            answers: s
                .answers
                .iter()
                .map(|a| {
                    (
                        strip(&a.contraindication, names::CONTRAINDICATION).to_owned(),
                        Answer {
                            present: a.present,
                            cleared_by_provider: a.cleared_by_provider,
                            cleared_date: a.cleared_date.parse().ok(),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            update_time: ts(&s.update_time),
        });
    let mut sessions = Vec::new();
    for (i, s) in e.sessions.iter().enumerate() {
        let f = |n: &str| format!("export.sessions[{i}].{n}");
        let id = parse_name(&s.name, names::SESSION);
        let perform = ts(&s.perform_time);
        let date = s.local_date.parse().ok();
        let (Some(id), Some(perform), Some(date)) = (id, perform, date) else {
            v.push(bad(f("name"), "needs name, perform_time and local_date"));
            continue;
        };
        sessions.push(SessionRecord {
            id: id.to_owned(),
            draft: SessionDraft {
                trigger_point: strip(&s.trigger_point, names::TRIGGER_POINT).to_owned(),
                tool: strip(&s.tool, names::TOOL).to_owned(),
                side: side_from(s.side),
                pressure: u8::try_from(s.pressure).unwrap_or(0),
                duration_seconds: u32::try_from(s.duration_seconds).unwrap_or(0),
                tenderness_before: opt_scale(s.tenderness_before),
                tenderness_after: opt_scale(s.tenderness_after),
                pain_quality: crate::domain::validate::pain_quality(s.pain_quality)
                    .unwrap_or(PainQuality::Unspecified),
                worse_with_activity: s.worse_with_activity,
                worse_with_massage: s.worse_with_massage,
                twitch_response: s.twitch_response,
                notes: s.notes.clone(),
                perform_time: perform,
                guided_session: parse_name(&s.guided_session, names::GUIDED_SESSION)
                    .map(str::to_owned),
            },
            create_time: ts(&s.create_time).unwrap_or(perform),
            local_date: date,
            origin: if s.origin == pb::SessionOrigin::Guided as i32 {
                Origin::Guided
            } else {
                Origin::Logged
            },
            warnings: s
                .warnings
                .iter()
                .filter_map(|w| {
                    Some(Warning {
                        code: warning_code_from(w.code)?,
                        severity: severity_from(w.severity),
                        message: w.message.clone(),
                    })
                })
                .collect(),
        });
    }
    let mut guided_sessions = Vec::new();
    for (i, g) in e.guided_sessions.iter().enumerate() {
        let id = parse_name(&g.name, names::GUIDED_SESSION);
        let start = ts(&g.start_time);
        let date = g.local_date.parse().ok();
        let (Some(id), Some(start), Some(date)) = (id, start, date) else {
            v.push(bad(
                format!("export.guided_sessions[{i}].name"),
                "needs name, start_time and local_date",
            ));
            continue;
        };
        guided_sessions.push(GuidedSession {
            id: id.to_owned(),
            trigger_point: strip(&g.trigger_point, names::TRIGGER_POINT).to_owned(),
            tool: strip(&g.tool, names::TOOL).to_owned(),
            side: side_from(g.side),
            duration_seconds: u32::try_from(g.duration_seconds).unwrap_or(0),
            target_pressure: u8::try_from(g.target_pressure).unwrap_or(0),
            start_time: start,
            local_date: date,
            sessions_today: u32::try_from(g.sessions_today).unwrap_or(0),
            warnings: Vec::new(),
            instructions: g.instructions.clone(),
            clock_start: None,
        });
    }
    let mut check_ins = Vec::new();
    for (i, c) in e.check_ins.iter().enumerate() {
        let region = parse_name(&c.region, checkin::REGION);
        let date = c.local_date.parse().ok();
        let score = u8::try_from(c.score)
            .ok()
            .filter(|s| *s <= checkin::MAX_SCORE);
        let (Some(region), Some(local_date), Some(score)) = (region, date, score) else {
            v.push(bad(
                format!("export.check_ins[{i}]"),
                "needs region, local_date and a score 0-10",
            ));
            continue;
        };
        check_ins.push(CheckIn {
            region: region.to_owned(),
            score,
            local_date,
            record_time: ts(&c.record_time).unwrap_or(Timestamp::UNIX_EPOCH),
        });
    }
    let mut holds = Vec::new();
    for (i, h) in e.holds.iter().enumerate() {
        match hold_from(h) {
            Some(h) => holds.push(h),
            None => v.push(bad(
                format!("export.holds[{i}]"),
                "needs name, reason, since, and release_time with provider_checked_date when released",
            )),
        }
    }
    if !v.is_empty() {
        return Err(Error::InvalidArgument(v));
    }
    Ok(UserData {
        check_ins,
        holds,
        user_id: e.user_id.clone(),
        profile,
        screening,
        sessions,
        guided_sessions,
        request_ids: e
            .request_ids
            .iter()
            .map(|r| (r.request_id.clone(), r.resource.clone()))
            .collect(),
    })
}
