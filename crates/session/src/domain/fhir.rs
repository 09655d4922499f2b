//! A report a clinician can read: the person's pain check-ins and
//! self-treatment sessions as a FHIR R4 `Bundle` of type `collection`.
//!
//! - one `Patient`, pseudonymous: its id is a hash of the user id, and no
//!   name, birth date or user id appears anywhere;
//! - one `Observation` per check-in, coded LOINC 72514-3 (pain severity,
//!   0-10 numeric rating), `valueInteger` the score, `bodySite` the region;
//! - one `Procedure` per session: the trigger point and tool, its time span,
//!   pressure and tenderness in a note.
//!
//! Pure: the caller supplies the data, the names and the time.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::SessionRecord;
use super::checkin::CheckIn;

/// LOINC: Pain severity - 0-10 verbal numeric rating \[Score\] - Reported.
pub const LOINC_PAIN_SEVERITY: &str = "72514-3";
/// Where resource URLs of the bundle live (they are not dereferenceable).
const BASE: &str = "https://knotwork.dev/fhir";

/// What goes into a report.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The user id: only its hash leaves this function.
    pub user: &'a str,
    /// First and last local day covered.
    pub range: (Date, Date),
    /// The check-ins to include.
    pub check_ins: &'a [CheckIn],
    /// The sessions to include.
    pub sessions: &'a [SessionRecord],
    /// Region display names by id.
    pub regions: &'a BTreeMap<String, String>,
    /// Trigger point display names by id.
    pub points: &'a BTreeMap<String, String>,
    /// When the report is made.
    pub now: Timestamp,
}

/// The pseudonymous patient id: 32 hex characters of SHA-256 over a fixed
/// label and the user id. Stable per person, so reports line up over time.
pub fn pseudonym(user: &str) -> String {
    let digest = Sha256::digest(format!("knotwork-fhir-subject:{user}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A FHIR id (`[A-Za-z0-9\-\.]{1,64}`) from our ids.
fn fhir_id(parts: &[&str]) -> String {
    let s: String = parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.chars().take(64).collect()
}

fn entry(kind: &str, id: &str, resource: Value) -> Value {
    json!({ "fullUrl": format!("{BASE}/{kind}/{id}"), "resource": resource })
}

fn display<'m>(names: &'m BTreeMap<String, String>, id: &'m str) -> &'m str {
    names.get(id).map_or(id, String::as_str)
}

/// The bundle, as JSON.
pub fn bundle(input: &ReportInput<'_>) -> Value {
    let pid = pseudonym(input.user);
    let subject = json!({ "reference": format!("Patient/{pid}") });
    let mut entries = vec![entry(
        "Patient",
        &pid,
        json!({
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{ "system": format!("{BASE}/pseudonym"), "value": pid }],
        }),
    )];
    for c in input.check_ins {
        let id = fhir_id(&["checkin", &c.local_date.to_string(), &c.region]);
        let region = display(input.regions, &c.region);
        entries.push(entry(
            "Observation",
            &id,
            json!({
                "resourceType": "Observation",
                "id": id,
                "status": "final",
                "category": [{ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "survey",
                    "display": "Survey",
                }]}],
                "code": {
                    "coding": [{
                        "system": "http://loinc.org",
                        "code": LOINC_PAIN_SEVERITY,
                        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                    }],
                    "text": "Pain severity (0-10)",
                },
                "subject": subject,
                "effectiveDateTime": c.local_date.to_string(),
                "issued": c.record_time.to_string(),
                "valueInteger": c.score,
                "bodySite": {
                    "coding": [{
                        "system": format!("{BASE}/CodeSystem/region"),
                        "code": c.region,
                        "display": region,
                    }],
                    "text": region,
                },
            }),
        ));
    }
    for s in input.sessions {
        let d = &s.draft;
        let id = fhir_id(&["session", &s.id]);
        let point = display(input.points, &d.trigger_point);
        let end = d
            .perform_time
            .checked_add(jiff::SignedDuration::from_secs(i64::from(
                d.duration_seconds,
            )))
            .unwrap_or(d.perform_time);
        let mut note = format!(
            "Pressure {}/10 for {} s with {}.",
            d.pressure,
            d.duration_seconds,
            d.tool.replace('_', " ")
        );
        match (d.tenderness_before, d.tenderness_after) {
            (Some(b), Some(a)) => {
                note.push_str(&format!(" Tenderness {b}/10 before, {a}/10 after."))
            }
            (Some(b), None) => note.push_str(&format!(" Tenderness {b}/10 before.")),
            (None, Some(a)) => note.push_str(&format!(" Tenderness {a}/10 after.")),
            (None, None) => {}
        }
        if !s.warnings.is_empty() {
            note.push_str(&format!(
                " {} safety warning(s) at logging.",
                s.warnings.len()
            ));
        }
        entries.push(entry(
            "Procedure",
            &id,
            json!({
                "resourceType": "Procedure",
                "id": id,
                "status": "completed",
                "code": { "text": "Self-applied trigger point pressure (self-massage)" },
                "subject": subject,
                "performedPeriod": {
                    "start": d.perform_time.to_string(),
                    "end": end.to_string(),
                },
                "bodySite": [{
                    "coding": [{
                        "system": format!("{BASE}/CodeSystem/trigger-point"),
                        "code": d.trigger_point,
                        "display": point,
                    }],
                    "text": point,
                }],
                "usedCode": [{ "text": d.tool.replace('_', " ") }],
                "note": [{ "text": note }],
            }),
        ));
    }
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": input.now.to_string(),
        "meta": { "tag": [{
            "system": format!("{BASE}/report"),
            "code": "self-care",
            "display": format!("Self-care report {} to {}", input.range.0, input.range.1),
        }]},
        "entry": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Origin, PainQuality, SessionDraft, Side};
    use jiff::civil::date;

    #[test]
    fn bundle_shape_and_pseudonym() {
        let now: Timestamp = "2026-03-10T12:00:00Z".parse().unwrap();
        let check_ins = [CheckIn {
            region: "low_back".into(),
            score: 6,
            local_date: date(2026, 3, 9),
            record_time: now,
        }];
        let sessions = [SessionRecord {
            id: "0190-abc".into(),
            draft: SessionDraft {
                trigger_point: "ql_superficial".into(),
                tool: "lacrosse_ball".into(),
                side: Side::Left,
                pressure: 5,
                duration_seconds: 240,
                tenderness_before: Some(6),
                tenderness_after: Some(4),
                pain_quality: PainQuality::Dull,
                worse_with_activity: false,
                worse_with_massage: false,
                twitch_response: false,
                notes: "private words".into(),
                perform_time: now,
                guided_session: None,
            },
            create_time: now,
            local_date: date(2026, 3, 10),
            origin: Origin::Logged,
            warnings: Vec::new(),
        }];
        let regions = [("low_back".to_owned(), "Low back".to_owned())].into();
        let points = BTreeMap::new();
        let b = bundle(&ReportInput {
            user: "alice@example.com",
            range: (date(2026, 3, 1), date(2026, 3, 10)),
            check_ins: &check_ins,
            sessions: &sessions,
            regions: &regions,
            points: &points,
            now,
        });
        assert_eq!(b["resourceType"], "Bundle");
        assert_eq!(b["type"], "collection");
        let entries = b["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        let obs = &entries[1]["resource"];
        assert_eq!(obs["code"]["coding"][0]["code"], LOINC_PAIN_SEVERITY);
        assert_eq!(obs["valueInteger"], 6);
        assert_eq!(obs["bodySite"]["text"], "Low back");
        assert_eq!(obs["id"], "checkin-2026-03-09-low-back");
        let proc = &entries[2]["resource"];
        assert_eq!(proc["performedPeriod"]["end"], "2026-03-10T12:04:00Z");
        // Pseudonymous: no user id, no free-text notes.
        let text = b.to_string();
        assert!(!text.contains("alice"), "{text}");
        assert!(!text.contains("private words"));
        assert_eq!(pseudonym("alice@example.com").len(), 32);
        assert_ne!(pseudonym("a"), pseudonym("b"));
    }
}
