//! The session service's rules, pure: no IO, no async, no protobuf types.
//!
//! Everything medical lives here and is unit-tested without a server:
//! validation ([`validate`]), screening and guided-session admission and the
//! safety warnings on every session ([`rules`]), progress ([`progress`]),
//! the cue schedule of a guided session ([`guide`]), local days in the
//! user's IANA time zone ([`time`]) and what makes a retry the same request
//! ([`idempotency`]), and the per-user quota ([`quota`]). Every threshold comes from the catalog's
//! data through [`CatalogView`]; none is repeated here.

pub mod catalog;
pub mod checkin;
pub mod fhir;
pub mod guide;
pub mod holds;
pub mod ical;
pub mod idempotency;
pub mod page;
pub mod plan;
pub mod progress;
pub mod quota;
pub mod rules;
pub mod time;
pub mod validate;

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

pub use catalog::{CatalogView, Condition, Effect, Guidance, PointInfo};

/// Resource name prefixes of the contract (AIP-122): the collection and
/// `/`, taken from `knotwork_proto::names`, where each collection is
/// defined once.
pub mod names {
    use knotwork_proto::names as n;

    /// `triggerPoints/{id}`.
    pub const TRIGGER_POINT: &str = n::TRIGGER_POINTS.prefix;
    /// `tools/{id}`.
    pub const TOOL: &str = n::TOOLS.prefix;
    /// `contraindications/{id}`.
    pub const CONTRAINDICATION: &str = n::CONTRAINDICATIONS.prefix;
    /// `sessions/{id}`.
    pub const SESSION: &str = n::SESSIONS.prefix;
    /// `guidedSessions/{id}`.
    pub const GUIDED_SESSION: &str = n::GUIDED_SESSIONS.prefix;
    /// `holds/{id}`.
    pub const HOLD: &str = n::HOLDS.prefix;
    /// `regions/{id}`: catalog regions.
    pub const REGION: &str = n::REGIONS.prefix;
    /// `checkIns/{id}`.
    pub const CHECK_IN: &str = n::CHECK_INS.prefix;

    /// The resource name of `id` under one of the prefixes above
    /// (`knotwork_proto::names::join`).
    pub use n::join as of;
}

/// A side of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Not given.
    Unspecified,
    /// The person's left side.
    Left,
    /// The person's right side.
    Right,
    /// Both sides.
    Both,
    /// The midline.
    Midline,
}

/// The quality of the pain felt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PainQuality {
    /// Not reported.
    Unspecified,
    /// Dull.
    Dull,
    /// Aching.
    Aching,
    /// Burning.
    Burning,
    /// Tingling.
    Tingling,
    /// Sharp: a red flag.
    Sharp,
    /// Numbness: nerve-type.
    Numbness,
    /// Electric or shooting: nerve-type.
    Electric,
}

impl PainQuality {
    /// Whether it is a nerve-type sensation (tingling, burning, numbness,
    /// electric): pressure may be on a nerve.
    pub fn nerve_type(self) -> bool {
        matches!(
            self,
            Self::Tingling | Self::Burning | Self::Numbness | Self::Electric
        )
    }
}

/// How a session came to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Logged after the fact.
    Logged,
    /// Completed from a guided session.
    Guided,
}

/// A person's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// IANA time zone name.
    pub time_zone: String,
    /// Tool ids the person owns.
    pub tools: Vec<String>,
    /// When first saved.
    pub create_time: Option<Timestamp>,
    /// When last saved.
    pub update_time: Option<Timestamp>,
    /// Wake time in minutes after local midnight; `None` means the default.
    #[serde(default)]
    pub wake: Option<u16>,
    /// Sleep time in minutes after local midnight; `None` means the default.
    #[serde(default)]
    pub sleep: Option<u16>,
}

impl Profile {
    /// The waking hours the plan spreads sessions through.
    pub fn waking(&self) -> plan::Waking {
        plan::Waking::from_profile(self.wake, self.sleep)
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            time_zone: "UTC".to_owned(),
            tools: Vec::new(),
            create_time: None,
            update_time: None,
            wake: None,
            sleep: None,
        }
    }
}

/// A change to the profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    /// New time zone (already checked to be a valid IANA name).
    pub time_zone: Option<String>,
    /// New tool ids (already checked against the catalog).
    pub tools: Option<Vec<String>>,
    /// New wake time (`Some(None)` resets it to the default).
    pub wake: Option<Option<u16>>,
    /// New sleep time (`Some(None)` resets it to the default).
    pub sleep: Option<Option<u16>>,
}

/// One answer of the screening questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Whether the person has the condition.
    pub present: bool,
    /// Whether a medical provider cleared massage despite it.
    pub cleared_by_provider: bool,
    /// When the provider cleared it.
    pub cleared_date: Option<Date>,
}

/// The saved screening answers, keyed by contraindication id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screening {
    /// Answers by contraindication id.
    pub answers: BTreeMap<String, Answer>,
    /// When last saved.
    pub update_time: Option<Timestamp>,
}

/// Where the person stands with the questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreeningStatus {
    /// Not done or incomplete.
    Required,
    /// Done, nothing rules massage out.
    Cleared,
    /// A present condition is not cleared by a provider.
    Contraindicated,
}

/// The screening evaluated against the catalog's current conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningAssessment {
    /// The status.
    pub status: ScreeningStatus,
    /// Condition ids not answered yet.
    pub missing: Vec<String>,
    /// Condition ids present and not cleared.
    pub blocking: Vec<String>,
}

/// What a safety warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarningCode {
    /// Pressure above the guidance's maximum.
    PressureTooHigh,
    /// Duration beyond the guidance's maximum.
    DurationTooLong,
    /// More sessions on the point that local day than allowed.
    DailyLimitExceeded,
    /// Sharp pain.
    SharpPain,
    /// Pain worse with activity.
    WorseWithActivity,
    /// Pain worse with massage.
    WorseWithMassage,
    /// Tenderness rising over the trend window.
    TendernessRising,
    /// Screening not complete.
    ScreeningIncomplete,
    /// A screening answer rules massage out.
    Contraindicated,
    /// The tool must never be used on the point.
    ToolExcluded,
    /// A condition of the person's rules the point out.
    ConditionExcluded,
    /// The point is for a trained therapist only, not for self-treatment.
    TherapistOnly,
    /// The point's muscle is on hold.
    PointOnHold,
    /// A nerve-type sensation beside a nerve.
    NerveSensation,
    /// Close to the daily limit on the point.
    NearDailyLimit,
    /// A point in the same body region is on hold.
    NeighbourOnHold,
    /// The profile was never saved.
    ProfileIncomplete,
    /// The point's hold limit is shorter than the guidance's (the belly).
    HoldLimited,
}

/// How serious a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Change how you do it.
    Caution,
    /// Stop and seek medical attention.
    MedicalAttention,
}

/// A structured safety warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What it is about.
    pub code: WarningCode,
    /// How serious.
    pub severity: Severity,
    /// Plain-language text.
    pub message: String,
}

impl Warning {
    /// Whether the person is advised to seek medical attention.
    pub fn medical_attention_advised(&self) -> bool {
        self.severity == Severity::MedicalAttention
    }
}

/// A validated session as the client described it, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDraft {
    /// Trigger point id.
    pub trigger_point: String,
    /// Tool id.
    pub tool: String,
    /// Side worked.
    pub side: Side,
    /// Pressure 0-10.
    pub pressure: u8,
    /// Seconds on the point, 1-3600.
    pub duration_seconds: u32,
    /// Tenderness before, 0-10.
    pub tenderness_before: Option<u8>,
    /// Tenderness after, 0-10.
    pub tenderness_after: Option<u8>,
    /// Pain quality.
    pub pain_quality: PainQuality,
    /// Worse with activity.
    pub worse_with_activity: bool,
    /// Worse with the massage.
    pub worse_with_massage: bool,
    /// Twitch response felt.
    pub twitch_response: bool,
    /// Notes, at most [`validate::MAX_NOTES_CHARS`] characters.
    pub notes: String,
    /// When it was done (client clock).
    pub perform_time: Timestamp,
    /// The guided session it completes (id).
    pub guided_session: Option<String>,
}

impl SessionDraft {
    /// The tenderness reading that stands for the point's state that day:
    /// before treatment when measured, else after.
    pub fn tenderness(&self) -> Option<u8> {
        self.tenderness_before.or(self.tenderness_after)
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id.
    pub id: String,
    /// What the client described.
    pub draft: SessionDraft,
    /// When the server stored it.
    pub create_time: Timestamp,
    /// Local date of `perform_time` in the person's zone at logging time.
    pub local_date: Date,
    /// How it was recorded.
    pub origin: Origin,
    /// The warnings computed when it was stored.
    pub warnings: Vec<Warning>,
}

/// A validated request to start a guided session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuidedRequest {
    /// Trigger point id.
    pub trigger_point: String,
    /// Tool id.
    pub tool: String,
    /// Side or sides.
    pub side: Side,
    /// Seconds per side.
    pub duration_seconds: u32,
}

/// A started guided session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidedSession {
    /// Guided session id.
    pub id: String,
    /// Trigger point id.
    pub trigger_point: String,
    /// Tool id.
    pub tool: String,
    /// Side or sides.
    pub side: Side,
    /// Seconds per side.
    pub duration_seconds: u32,
    /// Pressure to aim for.
    pub target_pressure: u8,
    /// When it was started.
    pub start_time: Timestamp,
    /// Local date it counts for.
    pub local_date: Date,
    /// Sessions on the point that local day, this one included.
    pub sessions_today: u32,
    /// Warnings that did not block the start.
    pub warnings: Vec<Warning>,
    /// Technique for this tool on this point.
    pub instructions: String,
    /// When the guide's clock started: its first GuideSession attach
    /// ([`guide::clock_start`]), stored so a reattach after a restart of the
    /// service resumes at the real elapsed time. `None` until the first
    /// attach (and in records written before it existed).
    #[serde(default)]
    pub clock_start: Option<Timestamp>,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path, e.g. `session.pressure`.
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a guided session may not start (FAILED_PRECONDITION reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// Screening not complete.
    ScreeningRequired,
    /// A present condition is not cleared.
    Contraindicated,
    /// The tool must never be used on the point.
    ToolExcluded,
    /// A condition of the person's rules the point out.
    ConditionExcluded,
    /// The daily limit on the point is reached.
    DailyLimitReached,
    /// The point is for a trained therapist only: the person cannot reach
    /// it safely alone.
    TherapistOnly,
    /// The point's muscle is on hold until a provider has checked it.
    PointOnHold,
}

impl RefusalReason {
    /// The ErrorInfo reason string of the contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScreeningRequired => "SCREENING_REQUIRED",
            Self::Contraindicated => "CONTRAINDICATED",
            Self::ToolExcluded => "TOOL_EXCLUDED",
            Self::ConditionExcluded => "CONDITION_EXCLUDED",
            Self::DailyLimitReached => "DAILY_LIMIT_REACHED",
            Self::TherapistOnly => "THERAPIST_ONLY",
            Self::PointOnHold => "POINT_ON_HOLD",
        }
    }
}

/// A refusal with what the app needs to show the right screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The reason.
    pub reason: RefusalReason,
    /// Plain-language explanation.
    pub message: String,
    /// ErrorInfo metadata (what is missing, when the next session is allowed).
    pub metadata: BTreeMap<String, String>,
}

impl Refusal {
    /// A refusal for `reason`, explained by `message`, with no metadata yet.
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// The same refusal with one more ErrorInfo metadata entry.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }
}

/// One local day of work on one point, as progress shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayStats {
    /// The local date.
    pub date: Date,
    /// Sessions that day.
    pub sessions: u32,
    /// Mean tenderness before.
    pub mean_before: Option<f64>,
    /// Mean tenderness after.
    pub mean_after: Option<f64>,
    /// Total seconds on the point.
    pub total_duration_seconds: u32,
}

/// Everything stored about one user, for export, import and deletion checks.
/// The default is empty (no user id, nothing stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserData {
    /// The user id.
    pub user_id: String,
    /// The saved profile, if any.
    pub profile: Option<Profile>,
    /// The saved screening, if any.
    pub screening: Option<Screening>,
    /// Every session, oldest first.
    pub sessions: Vec<SessionRecord>,
    /// Every guided session.
    pub guided_sessions: Vec<GuidedSession>,
    /// Used idempotency keys and the resources they created.
    pub request_ids: Vec<(String, String)>,
    /// Every pain check-in, oldest day first.
    pub check_ins: Vec<checkin::CheckIn>,
    /// Every hold, active and released.
    pub holds: Vec<holds::Hold>,
}
