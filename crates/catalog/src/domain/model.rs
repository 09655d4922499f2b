//! The catalog's data model, exactly as the data file spells it
//! (`crates/catalog/data/catalog.toml`, schema in `catalog-schema.md`).
//!
//! Every struct denies unknown fields: a misspelt key in the data file is an
//! error that names it, never a silently ignored value. These types carry no
//! guarantees by themselves; [`crate::domain::Catalog`] owns a validated set.

use serde::{Deserialize, Serialize};

/// The whole data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogData {
    /// Title and edition.
    pub meta: Meta,
    /// Where the content comes from.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// The technique guidance.
    pub guidance: Guidance,
    /// The symptom vocabulary.
    #[serde(default)]
    pub symptoms: Vec<Symptom>,
    /// Signs that self-treatment is not the answer.
    #[serde(default)]
    pub red_flags: Vec<RedFlag>,
    /// Conditions and places that rule massage out.
    #[serde(default)]
    pub contraindications: Vec<Contraindication>,
    /// The body region vocabulary.
    #[serde(default)]
    pub regions: Vec<Region>,
    /// Self-treatment tools.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Muscles.
    #[serde(default)]
    pub muscles: Vec<Muscle>,
    /// Trigger points.
    #[serde(default)]
    pub trigger_points: Vec<TriggerPoint>,
    /// The body map; a file without one gets the built-in
    /// `data/body_map.toml` (see [`super::body_map`]).
    #[serde(default, skip_serializing_if = "BodyMapData::is_empty")]
    pub body_map: BodyMapData,
    /// How-to guides (usually from `guides.toml`, see [`GuidesFile`]).
    /// Skipped when empty so catalogs without guides keep their hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guides: Vec<Guide>,
}

/// The guides data file, `crates/catalog/data/guides.toml`: kept apart from
/// the chart so the two can be edited independently; merged into
/// [`CatalogData::guides`] before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidesFile {
    /// The guides, in reading order.
    #[serde(default)]
    pub guides: Vec<Guide>,
}

/// A how-to guide: plain-language teaching behind self-treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    /// Identifier.
    pub id: String,
    /// Title.
    pub title: String,
    /// One or two sentences: the gist.
    pub summary: String,
    /// Linked from every trigger point (the basics), not just via tools.
    #[serde(default)]
    pub every_point: bool,
    /// Tools this guide teaches (ids).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Where the advice comes from (source ids).
    pub sources: Vec<String>,
    /// The body, in order.
    pub sections: Vec<GuideSection>,
}

/// One headed part of a guide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuideSection {
    /// Heading.
    pub heading: String,
    /// Text.
    pub text: String,
}

/// Title and edition of the data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Human title.
    pub title: String,
    /// Edition label, e.g. "2026.11".
    pub edition: String,
}

/// A source the content is drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Identifier.
    pub id: String,
    /// Title.
    pub title: String,
    /// Authors.
    pub authors: String,
    /// Year of the edition used.
    pub year: i32,
    /// What it was used for.
    pub note: String,
}

/// Technique guidance every session is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guidance {
    /// Target pressure, 0-10.
    pub target_pressure: i32,
    /// Above this the app warns.
    pub max_safe_pressure: i32,
    /// Shortest time on one point, seconds.
    pub min_duration_seconds: i32,
    /// Longest time on one point, seconds.
    pub max_duration_seconds: i32,
    /// Most sessions on one point per day.
    pub max_sessions_per_point_per_day: i32,
    /// Fewest sessions per day for consistent work.
    pub recommended_sessions_per_day_min: i32,
    /// Days until results are usually felt.
    pub expected_improvement_days: i32,
    /// Window for progress trends, days.
    pub trend_window_days: i32,
    /// Days with a session, out of the trend window, for consistent work.
    pub consistent_days_min: i32,
    /// Tenderness change (0-10 points) across the window that counts as real.
    pub min_tenderness_change: i32,
    /// What the target pressure feels like.
    pub pressure_description: String,
    /// The guidance in one paragraph.
    pub summary: String,
    /// Source ids.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A symptom of the controlled vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symptom {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Other words people use.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// Red flag ids this symptom can be a sign of. A query naming the
    /// symptom surfaces them, ahead of the regions' flags of the same tier.
    #[serde(default)]
    pub red_flags: Vec<String>,
}

/// What a red flag asks the person to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedFlagAction {
    /// Stop and seek medical attention.
    SeekMedicalAttention,
    /// Rule a medical cause out first.
    RuleOutFirst,
    /// Stop the current session.
    StopSession,
    /// Seek urgent care now.
    UrgentCare,
}

/// A sign that self-treatment is not the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedFlag {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the sign is.
    pub description: String,
    /// What it means for the person.
    pub advice: String,
    /// What to do.
    pub action: RedFlagAction,
    /// Source ids.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// Whether a contraindication is a condition or a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContraindicationKind {
    /// A medical condition, asked in screening.
    Condition,
    /// A place never to press.
    Location,
}

/// What a screening condition does to self-massage while it is present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScreeningEffect {
    /// No self-massage until a medical provider clears it (the seed's seven
    /// conditions; the default, so a condition without an effect is on the
    /// safe side).
    #[default]
    RulesOut,
    /// Self-massage within limits: gentle pressure until a provider clears
    /// firm pressure, and the listed regions, points and tools are ruled out.
    Limits,
}

/// A region or point a condition rules out, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceLimit {
    /// Region id (for `excluded_regions`) or trigger point id (for
    /// `excluded_points`).
    pub id: String,
    /// Why, in plain language.
    pub reason: String,
}

/// A condition or place that rules massage out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contraindication {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Condition or place.
    pub kind: ContraindicationKind,
    /// What it is.
    pub description: String,
    /// What it means for the person.
    pub guidance: String,
    /// Yes/no screening question (conditions only).
    #[serde(default)]
    pub screening_question: Option<String>,
    /// What the condition does to self-massage (conditions only).
    #[serde(default)]
    pub effect: ScreeningEffect,
    /// Highest pressure (0-10) until a provider clears firm pressure
    /// (LIMITS conditions only).
    #[serde(default)]
    pub max_pressure_until_cleared: Option<i32>,
    /// Regions whose trigger points are ruled out, even with clearance.
    #[serde(default)]
    pub excluded_regions: Vec<PlaceLimit>,
    /// Trigger points ruled out, even with clearance.
    #[serde(default)]
    pub excluded_points: Vec<PlaceLimit>,
    /// Tools ruled out everywhere, even with clearance.
    #[serde(default)]
    pub excluded_tools: Vec<ToolExclusion>,
    /// Source ids.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// Which body outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum View {
    /// The front outline.
    Front,
    /// The back outline.
    Back,
}

/// The areas regions are grouped in (the list the issue fixes).
pub const AREAS: [&str; 17] = [
    "Head and jaw",
    "Neck",
    "Shoulders",
    "Upper and mid back",
    "Chest",
    "Arms",
    "Elbows",
    "Forearms",
    "Hands",
    "Abdomen",
    "Low back",
    "Hips and buttocks",
    "Thighs",
    "Knees",
    "Legs",
    "Ankles",
    "Feet",
];

/// A body region of the controlled vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Outline it is drawn on.
    pub view: View,
    /// One of [`AREAS`].
    pub area: String,
    /// Whether left and right make sense.
    pub lateral: bool,
    /// Other words people use.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// Red flag ids that apply to pain here.
    #[serde(default)]
    pub red_flags: Vec<String>,
    /// A pressure ceiling (0-10) below the guidance's for points lying here
    /// (the neck, the face, the belly).
    #[serde(default)]
    pub max_safe_pressure: Option<i32>,
    /// The longest hold advised on one point lying here, in seconds, below
    /// the guidance's `max_duration_seconds` (the belly: about a minute).
    #[serde(default)]
    pub max_hold_seconds: Option<i32>,
}

/// How easily a tool travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Portability {
    /// Fits in a pocket.
    Pocket,
    /// Fits in a bag.
    Bag,
    /// Stays at home.
    Home,
    /// At a clinic.
    Clinic,
}

/// A self-treatment tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// How easily it travels.
    pub portability: Portability,
    /// What it is.
    pub description: String,
    /// How to use it in general.
    pub how_to_use: String,
    /// Whether someone else applies it.
    pub requires_partner: bool,
}

/// A muscle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Muscle {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Short names people use.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Region id where it lies.
    pub region: String,
    /// Plain-language description.
    pub description: String,
    /// What it does.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Source ids.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A point on the body outline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Which outline.
    pub view: View,
    /// 0 left edge .. 1 right edge of the image.
    pub x: f64,
    /// 0 top of head .. 1 soles.
    pub y: f64,
}

/// Primary (essential) or spillover referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReferralKind {
    /// Essential zone.
    Primary,
    /// Spillover zone.
    Spillover,
}

/// A zone a trigger point refers pain to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// Region id.
    pub region: String,
    /// Primary or spillover.
    pub kind: ReferralKind,
}

/// The kind of structure a caution is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StructureKind {
    /// An artery with a pulse.
    Artery,
    /// A lymph node.
    LymphNode,
    /// A nerve.
    Nerve,
    /// A bone.
    Bone,
    /// An organ.
    Organ,
    /// A vein.
    Vein,
}

/// A structure near a trigger point that needs care.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caution {
    /// The structure, e.g. "Carotid artery".
    pub structure: String,
    /// Its kind.
    pub kind: StructureKind,
    /// What to do about it.
    pub text: String,
}

/// How to work a point with one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    /// Tool id.
    pub tool: String,
    /// Instructions.
    pub text: String,
}

/// A tool never to use on a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolExclusion {
    /// Tool id.
    pub tool: String,
    /// Why not.
    pub reason: String,
}

/// A condition that rules a point out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionExclusion {
    /// Contraindication id (a condition).
    pub condition: String,
    /// Why.
    pub reason: String,
}

/// A trigger point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerPoint {
    /// Identifier.
    pub id: String,
    /// Muscle id.
    pub muscle: String,
    /// Display name.
    pub name: String,
    /// Region id where the point lies.
    pub region: String,
    /// How to find it.
    pub location: String,
    /// Where to draw it (the person's right side for lateral points).
    pub chart: Chart,
    /// Whether it exists on both sides.
    pub bilateral: bool,
    /// Where it sends pain.
    #[serde(default)]
    pub referrals: Vec<Referral>,
    /// Symptom ids.
    #[serde(default)]
    pub symptoms: Vec<String>,
    /// What aggravates it.
    #[serde(default)]
    pub aggravated_by: Vec<String>,
    /// Structures nearby.
    #[serde(default)]
    pub cautions: Vec<Caution>,
    /// Suitable tools with techniques (at least one).
    #[serde(default)]
    pub techniques: Vec<Technique>,
    /// Tools never to use.
    #[serde(default)]
    pub excluded_tools: Vec<ToolExclusion>,
    /// Conditions that rule it out.
    #[serde(default)]
    pub excluded_conditions: Vec<ConditionExclusion>,
    /// Whether only a trained therapist may work it: the person cannot reach
    /// it safely alone (inside the pelvis, for example). The session refuses
    /// self-treatment on it; find-by-pain still shows it.
    #[serde(default)]
    pub therapist_only: bool,
    /// Why it is for a therapist only, for the person (set exactly when
    /// `therapist_only` is).
    #[serde(default)]
    pub therapist_only_note: String,
    /// The longest hold advised on this point, in seconds, when shorter than
    /// its region's (a point that reaches the belly from another region).
    #[serde(default)]
    pub max_hold_seconds: Option<i32>,
    /// Source ids.
    #[serde(default)]
    pub sources: Vec<String>,
}

// The body map's schema (`data/body_map.toml`); its checks and geometry
// are in `body_map.rs`.

/// The body map as the data file spells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyMapData {
    /// Drawing width in SVG user units (normalized x times this).
    pub width: f64,
    /// Drawing height in SVG user units (normalized y times this).
    pub height: f64,
    /// One outline per view.
    #[serde(default)]
    pub outlines: Vec<OutlineData>,
    /// One shape per region.
    #[serde(default)]
    pub shapes: Vec<ShapeData>,
}

/// An ellipse in normalized coordinates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ellipse {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Horizontal radius.
    pub rx: f64,
    /// Vertical radius.
    pub ry: f64,
}

impl Ellipse {
    /// The same ellipse mirrored about x = 0.5.
    pub fn mirrored(self) -> Self {
        Self {
            cx: 1.0 - self.cx,
            ..self
        }
    }
}

/// The outline of one view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlineData {
    /// Which view.
    pub view: View,
    /// The head.
    pub head: Ellipse,
    /// The image's left half of the silhouette, as `[x, y]` points of a smooth
    /// closed curve, ending on the midline (the other half is its mirror).
    pub half_silhouette: Vec<[f64; 2]>,
    /// Lines drawn on the figure, each as `[x, y]` points.
    #[serde(default)]
    pub guides: Vec<Vec<[f64; 2]>>,
}

/// Where one region is drawn: its RIGHT side for a lateral region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeData {
    /// Region id.
    pub region: String,
    /// The view (must be the region's).
    pub view: View,
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Horizontal radius.
    pub rx: f64,
    /// Vertical radius.
    pub ry: f64,
}

impl ShapeData {
    pub(crate) fn ellipse(&self) -> Ellipse {
        Ellipse {
            cx: self.cx,
            cy: self.cy,
            rx: self.rx,
            ry: self.ry,
        }
    }
}

/// Which side of the person a resolved shape is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShapeSide {
    /// The person's right.
    Right,
    /// The person's left.
    Left,
    /// On the midline.
    Midline,
}
