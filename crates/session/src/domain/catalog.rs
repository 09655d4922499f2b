//! The part of the catalog the session rules need, as plain data.
//!
//! The catalog service owns the chart and its safety guidance; this is a
//! read-only view of one snapshot of it (see `crate::catalog` for how it is
//! fetched and refreshed). Nothing here duplicates catalog content: every
//! threshold and list is filled from the snapshot.

use std::collections::{BTreeMap, BTreeSet};

/// The technique guidance every session is measured against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guidance {
    /// Pressure to aim for (0-10).
    pub target_pressure: u8,
    /// Above this the person is warned.
    pub max_safe_pressure: u8,
    /// Shortest recommended time on a point, seconds.
    pub min_duration_seconds: u32,
    /// Longest recommended time on a point, seconds.
    pub max_duration_seconds: u32,
    /// At most this many sessions per point per local day.
    pub max_sessions_per_point_per_day: u32,
    /// Fewest sessions per day for consistent work.
    pub recommended_sessions_per_day_min: u32,
    /// Results are usually felt within this many days of consistent work.
    pub expected_improvement_days: u32,
    /// The window, in days, over which trends are computed.
    pub trend_window_days: u32,
    /// Days with a session, out of the window, that make work consistent.
    pub consistent_days_min: u32,
    /// Tenderness change (0-10 points) across the window that counts as
    /// real.
    pub min_tenderness_change: u32,
}

/// What a screening condition does to self-massage while it is present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Effect {
    /// No self-massage until a medical provider clears it.
    #[default]
    RulesOut,
    /// Self-massage within limits: gentle pressure until a provider clears
    /// firm pressure; its tools (and, through the points' own
    /// `excluded_conditions`, its places) are ruled out even with clearance.
    Limits,
}

/// A screening condition (a contraindication of kind CONDITION).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// Contraindication id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// What it does to self-massage.
    pub effect: Effect,
    /// For a LIMITS condition, the pressure ceiling until cleared.
    pub max_pressure_until_cleared: Option<u8>,
    /// Tools ruled out everywhere for a person with it, with why.
    pub excluded_tools: BTreeMap<String, String>,
}

/// What the rules need to know about one trigger point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointInfo {
    /// Trigger point id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// The muscle it lies in (id).
    pub muscle: String,
    /// The body region where it lies (id).
    pub region: String,
    /// Nerves its cautions name (structure names), for the nerve-sensation
    /// hold.
    pub nerve_cautions: Vec<String>,
    /// Whether it exists on both sides.
    pub bilateral: bool,
    /// Region ids it refers pain to.
    pub referral_regions: BTreeSet<String>,
    /// Technique instructions by tool id.
    pub techniques: BTreeMap<String, String>,
    /// Tools that must never be used on it, with why.
    pub excluded_tools: BTreeMap<String, String>,
    /// Conditions that rule it out even when cleared, with why.
    pub excluded_conditions: BTreeMap<String, String>,
    /// A pressure ceiling below the guidance's (the neck, the face, the
    /// belly), when the catalog sets one.
    pub max_safe_pressure: Option<u8>,
    /// The longest hold advised on it, in seconds, when shorter than the
    /// guidance's (the belly).
    pub max_hold_seconds: Option<u32>,
    /// Why only a trained therapist may work it, when that is so (the person
    /// cannot reach it safely alone); `None` for a self-treatable point.
    pub therapist_only: Option<String>,
}

/// One catalog snapshot, as the session rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogView {
    /// The catalog's content hash.
    pub version: String,
    /// The technique guidance.
    pub guidance: Guidance,
    /// Screening conditions, in catalog order.
    pub conditions: Vec<Condition>,
    /// Trigger points by id.
    pub points: BTreeMap<String, PointInfo>,
    /// Tool ids.
    pub tools: BTreeSet<String>,
    /// Region ids and display names (what pain check-ins rate).
    pub regions: BTreeMap<String, String>,
}

impl CatalogView {
    /// The trigger point with this id.
    pub fn point(&self, id: &str) -> Option<&PointInfo> {
        self.points.get(id)
    }

    /// Whether `id` is a screening condition.
    pub fn is_condition(&self, id: &str) -> bool {
        self.conditions.iter().any(|c| c.id == id)
    }

    /// The condition with this id.
    pub fn condition(&self, id: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.id == id)
    }

    /// The display name of a condition, or its id.
    pub fn condition_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.conditions
            .iter()
            .find(|c| c.id == id)
            .map_or(id, |c| c.display_name.as_str())
    }

    /// Other trigger points that refer pain to any region `point` refers to,
    /// most shared regions first, at most `limit`. Points for a therapist
    /// only are never offered: these are suggestions for self-treatment.
    pub fn alternatives(&self, point: &str, limit: usize) -> Vec<String> {
        let Some(p) = self.points.get(point) else {
            return Vec::new();
        };
        let mut scored: Vec<(usize, &str)> = self
            .points
            .values()
            .filter(|o| o.id != p.id && o.therapist_only.is_none())
            .map(|o| {
                let shared = o.referral_regions.intersection(&p.referral_regions).count();
                (shared, o.id.as_str())
            })
            .filter(|(shared, _)| *shared > 0)
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        scored
            .into_iter()
            .take(limit)
            .map(|(_, id)| id.to_owned())
            .collect()
    }
}

/// A small catalog for unit tests across the domain.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Guidance like the seed's: aim for 5, warn above 7, 6 per point per day.
    pub(crate) fn guidance() -> Guidance {
        Guidance {
            target_pressure: 5,
            max_safe_pressure: 7,
            min_duration_seconds: 60,
            max_duration_seconds: 300,
            max_sessions_per_point_per_day: 6,
            recommended_sessions_per_day_min: 1,
            expected_improvement_days: 7,
            trend_window_days: 7,
            consistent_days_min: 5,
            min_tenderness_change: 1,
        }
    }

    /// Two conditions, six points (two in one muscle, one for a therapist
    /// only), four tools.
    pub(crate) fn catalog() -> CatalogView {
        let mut points = BTreeMap::new();
        points.insert(
            "ql_superficial".to_owned(),
            PointInfo {
                id: "ql_superficial".into(),
                display_name: "QL superficial point".into(),
                muscle: "quadratus_lumborum".into(),
                region: "low_back".into(),
                nerve_cautions: Vec::new(),
                bilateral: true,
                referral_regions: set(&["low_back", "buttock"]),
                techniques: map(&[("lacrosse_ball", "Lean on the ball against a wall.")]),
                excluded_tools: map(&[("massage_gun", "Too close to the kidneys.")]),
                excluded_conditions: BTreeMap::new(),
                max_safe_pressure: None,
                max_hold_seconds: None,
                therapist_only: None,
            },
        );
        points.insert(
            "iliopsoas_1".to_owned(),
            PointInfo {
                id: "iliopsoas_1".into(),
                display_name: "Iliopsoas abdominal point".into(),
                muscle: "iliopsoas".into(),
                region: "abdomen".into(),
                nerve_cautions: vec!["Femoral nerve".into()],
                bilateral: true,
                referral_regions: set(&["low_back", "front_thigh"]),
                techniques: map(&[("fingers", "Press gently beside the navel.")]),
                excluded_tools: BTreeMap::new(),
                excluded_conditions: map(&[("aneurysm", "The abdominal aorta lies here.")]),
                max_safe_pressure: None,
                max_hold_seconds: None,
                therapist_only: None,
            },
        );
        points.insert(
            "ql_deep".to_owned(),
            PointInfo {
                id: "ql_deep".into(),
                display_name: "QL deep point".into(),
                muscle: "quadratus_lumborum".into(),
                region: "low_back".into(),
                nerve_cautions: Vec::new(),
                bilateral: true,
                referral_regions: set(&["low_back", "hip"]),
                techniques: map(&[("lacrosse_ball", "Lean into the ball.")]),
                excluded_tools: BTreeMap::new(),
                excluded_conditions: BTreeMap::new(),
                max_safe_pressure: None,
                max_hold_seconds: None,
                therapist_only: None,
            },
        );
        points.insert(
            "piriformis_1".to_owned(),
            PointInfo {
                id: "piriformis_1".into(),
                display_name: "Piriformis point".into(),
                muscle: "piriformis".into(),
                region: "buttock".into(),
                nerve_cautions: vec!["Sciatic nerve".into()],
                bilateral: true,
                referral_regions: set(&["buttock", "back_thigh", "low_back"]),
                techniques: map(&[("lacrosse_ball", "Sit on the ball.")]),
                excluded_tools: BTreeMap::new(),
                excluded_conditions: BTreeMap::new(),
                max_safe_pressure: None,
                max_hold_seconds: None,
                therapist_only: None,
            },
        );
        points.insert(
            "upper_trap_1".to_owned(),
            PointInfo {
                id: "upper_trap_1".into(),
                display_name: "Upper trapezius point".into(),
                muscle: "trapezius".into(),
                region: "shoulder_top".into(),
                nerve_cautions: Vec::new(),
                bilateral: true,
                referral_regions: set(&["neck", "temple"]),
                techniques: map(&[("fingers", "Pinch the muscle.")]),
                excluded_tools: BTreeMap::new(),
                excluded_conditions: BTreeMap::new(),
                max_safe_pressure: None,
                max_hold_seconds: None,
                therapist_only: None,
            },
        );
        points.insert(
            "levator_ani_1".to_owned(),
            PointInfo {
                id: "levator_ani_1".into(),
                display_name: "Levator ani point".into(),
                muscle: "levator_ani".into(),
                region: "pelvis".into(),
                nerve_cautions: Vec::new(),
                bilateral: true,
                referral_regions: set(&["coccyx", "low_back"]),
                techniques: map(&[("massage_therapist", "A pelvic health therapist.")]),
                excluded_tools: BTreeMap::new(),
                excluded_conditions: BTreeMap::new(),
                therapist_only: Some("It lies inside the pelvis.".into()),
                max_safe_pressure: None,
                max_hold_seconds: None,
            },
        );
        CatalogView {
            version: "v1".into(),
            guidance: guidance(),
            conditions: vec![
                Condition {
                    id: "aneurysm".into(),
                    display_name: "Aneurysm".into(),
                    ..Condition::default()
                },
                Condition {
                    id: "cancer".into(),
                    display_name: "Cancer".into(),
                    ..Condition::default()
                },
            ],
            points,
            tools: set(&["fingers", "lacrosse_ball", "massage_gun", "foam_roller"]),
            regions: map(&[
                ("low_back", "Low back"),
                ("buttock", "Buttock"),
                ("neck", "Neck"),
            ]),
        }
    }

    /// [`catalog`] plus what the catalog's LIMITS conditions and pressure
    /// ceilings bring: pregnancy (gentle pressure until cleared, no massage
    /// gun, the belly point ruled out) and a ceiling of 4 on the belly point.
    pub(crate) fn with_limits() -> CatalogView {
        let mut c = catalog();
        c.conditions.push(Condition {
            id: "pregnancy".into(),
            display_name: "Pregnancy".into(),
            effect: Effect::Limits,
            max_pressure_until_cleared: Some(3),
            excluded_tools: map(&[("massage_gun", "No percussion in pregnancy.")]),
        });
        if let Some(p) = c.points.get_mut("iliopsoas_1") {
            p.excluded_conditions.insert(
                "pregnancy".into(),
                "No pressure on the belly in pregnancy.".into(),
            );
            p.max_safe_pressure = Some(4);
            p.max_hold_seconds = Some(60);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternatives_share_referral_regions() {
        let c = fixture::catalog();
        assert_eq!(
            c.alternatives("ql_superficial", 5),
            vec!["piriformis_1", "iliopsoas_1", "ql_deep"]
        );
        assert_eq!(c.alternatives("ql_superficial", 1), vec!["piriformis_1"]);
        assert!(c.alternatives("upper_trap_1", 5).is_empty());
        // The levator ani point shares the low back but is for a therapist.
        assert_eq!(
            c.alternatives("levator_ani_1", 5),
            vec!["iliopsoas_1", "piriformis_1", "ql_deep", "ql_superficial"]
        );
        assert!(c.alternatives("nope", 5).is_empty());
    }
}
