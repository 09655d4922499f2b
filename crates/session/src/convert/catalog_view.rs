//! A catalog snapshot as the rules' view of it (`CatalogView`): the one
//! conversion from the catalog's wire types.

use knotwork_proto::catalog::v1 as cpb;

use super::strip;
use crate::domain::{CatalogView, Condition, Effect, Guidance, PointInfo, checkin, names};

fn num(v: i32, field: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("guidance.{field} is negative"))
}

/// Builds the rules' view of a catalog snapshot. Refuses a snapshot whose
/// guidance is missing or unusable, so the previous view keeps serving.
pub fn catalog_view(s: cpb::CatalogSnapshot) -> Result<CatalogView, String> {
    let g = s.guidance.ok_or("snapshot has no technique guidance")?;
    let scale = |v: i32, f: &str| -> Result<u8, String> {
        u8::try_from(v)
            .ok()
            .filter(|v| *v <= 10)
            .ok_or_else(|| format!("guidance.{f} is not on the 0-10 scale"))
    };
    let guidance = Guidance {
        target_pressure: scale(g.target_pressure, "target_pressure")?,
        max_safe_pressure: scale(g.max_safe_pressure, "max_safe_pressure")?,
        min_duration_seconds: num(g.min_duration_seconds, "min_duration_seconds")?,
        max_duration_seconds: num(g.max_duration_seconds, "max_duration_seconds")?,
        max_sessions_per_point_per_day: num(
            g.max_sessions_per_point_per_day,
            "max_sessions_per_point_per_day",
        )?,
        recommended_sessions_per_day_min: num(
            g.recommended_sessions_per_day_min,
            "recommended_sessions_per_day_min",
        )?,
        expected_improvement_days: num(g.expected_improvement_days, "expected_improvement_days")?,
        trend_window_days: num(g.trend_window_days, "trend_window_days")?,
        consistent_days_min: num(g.consistent_days_min, "consistent_days_min")?,
        min_tenderness_change: num(g.min_tenderness_change, "min_tenderness_change")?,
    };
    if guidance.max_sessions_per_point_per_day == 0
        || guidance.trend_window_days == 0
        || guidance.consistent_days_min == 0
        || guidance.min_tenderness_change == 0
        || guidance.min_duration_seconds == 0
        || guidance.min_duration_seconds > guidance.max_duration_seconds
    {
        return Err("technique guidance has an empty range".into());
    }
    // A pressure ceiling of 0 means "none set"; anything above 10 is not
    // on the scale and refuses the snapshot.
    let ceiling = |v: i32, f: &str| -> Result<Option<u8>, String> {
        match v {
            0 => Ok(None),
            1..=10 => Ok(u8::try_from(v).ok()),
            _ => Err(format!("{f} is not on the 0-10 scale")),
        }
    };
    let conditions = s
        .contraindications
        .iter()
        .filter(|c| c.kind == cpb::ContraindicationKind::Condition as i32)
        .map(|c| {
            Ok(Condition {
                id: strip(&c.name, names::CONTRAINDICATION).to_owned(),
                display_name: c.display_name.clone(),
                // Unknown or unset effects read as RULES_OUT, the safe side.
                effect: if c.effect == cpb::ScreeningEffect::Limits as i32 {
                    Effect::Limits
                } else {
                    Effect::RulesOut
                },
                max_pressure_until_cleared: ceiling(
                    c.max_pressure_until_cleared,
                    "contraindication.max_pressure_until_cleared",
                )?,
                excluded_tools: c
                    .excluded_tools
                    .iter()
                    .map(|t| (strip(&t.tool, names::TOOL).to_owned(), t.reason.clone()))
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let points = s
        .trigger_points
        .iter()
        .map(|tp| {
            let id = strip(&tp.name, names::TRIGGER_POINT).to_owned();
            let max_safe_pressure =
                ceiling(tp.max_safe_pressure, "trigger_point.max_safe_pressure")?;
            let info = PointInfo {
                id: id.clone(),
                display_name: tp.display_name.clone(),
                muscle: strip(&tp.muscle, "muscles/").to_owned(),
                region: strip(&tp.region, "regions/").to_owned(),
                nerve_cautions: tp
                    .cautions
                    .iter()
                    .filter(|c| {
                        c.kind == cpb::StructureKind::Nerve as i32
                            || c.structure.to_lowercase().contains("nerve")
                    })
                    .map(|c| c.structure.clone())
                    .collect(),
                bilateral: tp.bilateral,
                referral_regions: tp
                    .referrals
                    .iter()
                    .map(|r| strip(&r.region, "regions/").to_owned())
                    .collect(),
                techniques: tp
                    .techniques
                    .iter()
                    .map(|t| {
                        (
                            strip(&t.tool, names::TOOL).to_owned(),
                            t.instructions.clone(),
                        )
                    })
                    .collect(),
                excluded_tools: tp
                    .excluded_tools
                    .iter()
                    .map(|t| (strip(&t.tool, names::TOOL).to_owned(), t.reason.clone()))
                    .collect(),
                excluded_conditions: tp
                    .excluded_conditions
                    .iter()
                    .map(|c| {
                        (
                            strip(&c.contraindication, names::CONTRAINDICATION).to_owned(),
                            c.reason.clone(),
                        )
                    })
                    .collect(),
                max_safe_pressure,
                // 0 (an older catalog) or the guidance's own: no limit.
                max_hold_seconds: u32::try_from(tp.max_hold_seconds)
                    .ok()
                    .filter(|s| *s > 0 && *s < guidance.max_duration_seconds),
                therapist_only: tp.therapist_only.then(|| tp.therapist_only_note.clone()),
            };
            Ok((id, info))
        })
        .collect::<Result<_, String>>()?;
    let tools = s
        .tools
        .iter()
        .map(|t| strip(&t.name, names::TOOL).to_owned())
        .collect();
    let regions = s
        .regions
        .iter()
        .map(|r| {
            (
                strip(&r.name, checkin::REGION).to_owned(),
                r.display_name.clone(),
            )
        })
        .collect();
    Ok(CatalogView {
        version: s.catalog_version,
        guidance,
        conditions,
        points,
        tools,
        regions,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid snapshot (also used by `catalog.rs`'s tests).
    pub(crate) fn snapshot() -> cpb::CatalogSnapshot {
        cpb::CatalogSnapshot {
            catalog_version: "v9".into(),
            guidance: Some(cpb::TechniqueGuidance {
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
                ..Default::default()
            }),
            contraindications: vec![
                cpb::Contraindication {
                    name: "contraindications/cancer".into(),
                    display_name: "Cancer".into(),
                    kind: cpb::ContraindicationKind::Condition as i32,
                    ..Default::default()
                },
                cpb::Contraindication {
                    name: "contraindications/pregnancy".into(),
                    display_name: "Pregnancy".into(),
                    kind: cpb::ContraindicationKind::Condition as i32,
                    effect: cpb::ScreeningEffect::Limits as i32,
                    max_pressure_until_cleared: 3,
                    excluded_tools: vec![cpb::ToolExclusion {
                        tool: "tools/gun".into(),
                        reason: "no".into(),
                    }],
                    ..Default::default()
                },
                cpb::Contraindication {
                    name: "contraindications/pulse".into(),
                    kind: cpb::ContraindicationKind::Location as i32,
                    ..Default::default()
                },
            ],
            trigger_points: vec![
                cpb::TriggerPoint {
                    name: "triggerPoints/ql".into(),
                    referrals: vec![cpb::Referral {
                        region: "regions/low_back".into(),
                        kind: 1,
                    }],
                    excluded_tools: vec![cpb::ToolExclusion {
                        tool: "tools/gun".into(),
                        reason: "no".into(),
                    }],
                    max_safe_pressure: 4,
                    max_hold_seconds: 60,
                    ..Default::default()
                },
                cpb::TriggerPoint {
                    name: "triggerPoints/levator_ani".into(),
                    therapist_only: true,
                    therapist_only_note: "Inside the pelvis.".into(),
                    ..Default::default()
                },
            ],
            tools: vec![cpb::Tool {
                name: "tools/gun".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn snapshot_to_view() {
        let v = catalog_view(snapshot()).unwrap();
        assert_eq!(v.version, "v9");
        assert_eq!(
            v.conditions.len(),
            2,
            "locations are not screening questions"
        );
        assert_eq!(v.conditions[0].id, "cancer");
        // An unset effect is read as the safe side.
        assert_eq!(v.conditions[0].effect, Effect::RulesOut);
        assert_eq!(v.conditions[0].max_pressure_until_cleared, None);
        let pregnancy = &v.conditions[1];
        assert_eq!(pregnancy.effect, Effect::Limits);
        assert_eq!(pregnancy.max_pressure_until_cleared, Some(3));
        assert!(pregnancy.excluded_tools.contains_key("gun"));
        let p = v.point("ql").unwrap();
        assert_eq!(p.max_safe_pressure, Some(4));
        assert_eq!(p.max_hold_seconds, Some(60));
        assert!(p.referral_regions.contains("low_back"));
        assert_eq!(p.therapist_only, None);
        assert!(p.excluded_tools.contains_key("gun"));
        let levator = v.point("levator_ani").unwrap();
        assert_eq!(
            levator.therapist_only.as_deref(),
            Some("Inside the pelvis.")
        );
        assert!(v.tools.contains("gun"));
        assert_eq!(v.guidance.max_sessions_per_point_per_day, 6);
    }

    #[test]
    fn bad_guidance_is_refused() {
        let mut s = snapshot();
        s.guidance = None;
        assert!(catalog_view(s).is_err());
        let mut s = snapshot();
        if let Some(g) = s.guidance.as_mut() {
            g.max_safe_pressure = 11;
        }
        assert!(catalog_view(s).is_err());
        let mut s = snapshot();
        s.trigger_points[0].max_safe_pressure = 11;
        assert!(catalog_view(s).is_err());
    }
}
