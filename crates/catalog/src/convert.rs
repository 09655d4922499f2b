//! Protobuf <-> domain. Only this file and `service.rs` know prost types.
//!
//! Every resource message is built once per catalog version
//! ([`PbCatalog::build`]); handlers clone ready messages instead of
//! converting on each request, which keeps reads close to the cost of gRPC
//! itself.

use knotwork_proto::catalog::v1 as pb;

use crate::domain::body_map::{Ellipse, ShapeSide};
use crate::domain::model::{self as m, ContraindicationKind, ReferralKind, View};
use crate::domain::names::{self, name};
use crate::domain::pain::{PainAnswer, PainLocation, PainQuery, Reason, ResolvedPain};
use crate::domain::search::{Hit, Kind};
use crate::domain::{Catalog, Side, Violation};

/// Every resource of one catalog version as ready protobuf messages, indexed
/// like the catalog's tables.
#[derive(Debug, Clone)]
pub struct PbCatalog {
    /// Regions.
    pub regions: Vec<pb::Region>,
    /// Muscles.
    pub muscles: Vec<pb::Muscle>,
    /// Trigger points.
    pub points: Vec<pb::TriggerPoint>,
    /// Tools.
    pub tools: Vec<pb::Tool>,
    /// Symptoms.
    pub symptoms: Vec<pb::Symptom>,
    /// Red flags.
    pub red_flags: Vec<pb::RedFlag>,
    /// Contraindications.
    pub contraindications: Vec<pb::Contraindication>,
    /// Sources.
    pub sources: Vec<pb::Source>,
    /// Guides.
    pub guides: Vec<pb::Guide>,
    /// The basics every point links, as resource names.
    pub basic_guides: Vec<String>,
    /// The technique guidance.
    pub guidance: pb::TechniqueGuidance,
    /// The body map.
    pub body_map: pb::BodyMap,
    /// The whole catalog.
    pub snapshot: pb::CatalogSnapshot,
}

fn names_of(collection: &str, ids: &[String]) -> Vec<String> {
    ids.iter().map(|id| name(collection, id)).collect()
}

/// The protobuf value of a view.
pub fn view(v: View) -> pb::BodyView {
    match v {
        View::Front => pb::BodyView::Front,
        View::Back => pb::BodyView::Back,
    }
}

/// The protobuf value of a referral kind.
pub fn referral_kind(k: ReferralKind) -> pb::ReferralKind {
    match k {
        ReferralKind::Primary => pb::ReferralKind::Primary,
        ReferralKind::Spillover => pb::ReferralKind::Spillover,
    }
}

/// The protobuf value of a side.
pub fn side(s: Side) -> pb::Side {
    match s {
        Side::Unspecified => pb::Side::Unspecified,
        Side::Left => pb::Side::Left,
        Side::Right => pb::Side::Right,
        Side::Both => pb::Side::Both,
        Side::Midline => pb::Side::Midline,
    }
}

fn structure_kind(k: m::StructureKind) -> pb::StructureKind {
    match k {
        m::StructureKind::Artery => pb::StructureKind::Artery,
        m::StructureKind::LymphNode => pb::StructureKind::LymphNode,
        m::StructureKind::Nerve => pb::StructureKind::Nerve,
        m::StructureKind::Bone => pb::StructureKind::Bone,
        m::StructureKind::Organ => pb::StructureKind::Organ,
        m::StructureKind::Vein => pb::StructureKind::Vein,
    }
}

fn portability(p: m::Portability) -> pb::Portability {
    match p {
        m::Portability::Pocket => pb::Portability::Pocket,
        m::Portability::Bag => pb::Portability::Bag,
        m::Portability::Home => pb::Portability::Home,
        m::Portability::Clinic => pb::Portability::Clinic,
    }
}

fn action(a: m::RedFlagAction) -> pb::RedFlagAction {
    match a {
        m::RedFlagAction::SeekMedicalAttention => pb::RedFlagAction::SeekMedicalAttention,
        m::RedFlagAction::RuleOutFirst => pb::RedFlagAction::RuleOutFirst,
        m::RedFlagAction::StopSession => pb::RedFlagAction::StopSession,
        m::RedFlagAction::UrgentCare => pb::RedFlagAction::UrgentCare,
    }
}

fn contra_kind(k: ContraindicationKind) -> pb::ContraindicationKind {
    match k {
        ContraindicationKind::Condition => pb::ContraindicationKind::Condition,
        ContraindicationKind::Location => pb::ContraindicationKind::Location,
    }
}

impl PbCatalog {
    /// Builds every message of a catalog version.
    pub fn build(c: &Catalog) -> Self {
        let d = c.data();
        let regions: Vec<pb::Region> = d
            .regions
            .iter()
            .map(|r| pb::Region {
                name: name(names::REGIONS, &r.id),
                display_name: r.name.clone(),
                view: view(r.view) as i32,
                area: r.area.clone(),
                lateral: r.lateral,
                synonyms: r.synonyms.clone(),
                red_flags: names_of(names::RED_FLAGS, &r.red_flags),
                max_safe_pressure: r.max_safe_pressure.unwrap_or_default(),
                max_hold_seconds: r.max_hold_seconds.unwrap_or_default(),
            })
            .collect();
        let muscles: Vec<pb::Muscle> = d
            .muscles
            .iter()
            .enumerate()
            .map(|(i, x)| pb::Muscle {
                name: name(names::MUSCLES, &x.id),
                display_name: x.name.clone(),
                aliases: x.aliases.clone(),
                region: name(names::REGIONS, &x.region),
                description: x.description.clone(),
                actions: x.actions.clone(),
                trigger_points: c
                    .points_of_muscle(i)
                    .iter()
                    .map(|&p| name(names::TRIGGER_POINTS, &d.trigger_points[p].id))
                    .collect(),
                sources: names_of(names::SOURCES, &x.sources),
            })
            .collect();
        let points: Vec<pb::TriggerPoint> = (0..d.trigger_points.len())
            .map(|i| trigger_point(c, i))
            .collect();
        let tools: Vec<pb::Tool> = d
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| pb::Tool {
                name: name(names::TOOLS, &t.id),
                display_name: t.name.clone(),
                portability: portability(t.portability) as i32,
                description: t.description.clone(),
                how_to_use: t.how_to_use.clone(),
                requires_partner: t.requires_partner,
                suited_muscles: c
                    .muscles_for_tool(i)
                    .iter()
                    .map(|&mi| name(names::MUSCLES, &d.muscles[mi].id))
                    .collect(),
                guides: c
                    .guides_of_tool(i)
                    .iter()
                    .map(|&g| name(names::GUIDES, &d.guides[g].id))
                    .collect(),
            })
            .collect();
        let guides: Vec<pb::Guide> = d
            .guides
            .iter()
            .map(|g| pb::Guide {
                name: name(names::GUIDES, &g.id),
                title: g.title.clone(),
                summary: g.summary.clone(),
                sections: g
                    .sections
                    .iter()
                    .map(|s| pb::GuideSection {
                        heading: s.heading.clone(),
                        text: s.text.clone(),
                    })
                    .collect(),
                tools: names_of(names::TOOLS, &g.tools),
                every_point: g.every_point,
                sources: names_of(names::SOURCES, &g.sources),
            })
            .collect();
        let basic_guides: Vec<String> = guides
            .iter()
            .filter(|g| g.every_point)
            .map(|g| g.name.clone())
            .collect();
        let symptoms: Vec<pb::Symptom> = d
            .symptoms
            .iter()
            .map(|s| pb::Symptom {
                name: name(names::SYMPTOMS, &s.id),
                display_name: s.name.clone(),
                synonyms: s.synonyms.clone(),
                red_flags: names_of(names::RED_FLAGS, &s.red_flags),
            })
            .collect();
        let red_flags: Vec<pb::RedFlag> = d
            .red_flags
            .iter()
            .map(|f| pb::RedFlag {
                name: name(names::RED_FLAGS, &f.id),
                display_name: f.name.clone(),
                description: f.description.clone(),
                advice: f.advice.clone(),
                action: action(f.action) as i32,
                sources: names_of(names::SOURCES, &f.sources),
            })
            .collect();
        let contraindications: Vec<pb::Contraindication> = d
            .contraindications
            .iter()
            .map(|x| pb::Contraindication {
                name: name(names::CONTRAINDICATIONS, &x.id),
                display_name: x.name.clone(),
                kind: contra_kind(x.kind) as i32,
                description: x.description.clone(),
                guidance: x.guidance.clone(),
                screening_question: x.screening_question.clone().unwrap_or_default(),
                sources: names_of(names::SOURCES, &x.sources),
                effect: match (x.kind, x.effect) {
                    (ContraindicationKind::Location, _) => pb::ScreeningEffect::Unspecified,
                    (_, m::ScreeningEffect::RulesOut) => pb::ScreeningEffect::RulesOut,
                    (_, m::ScreeningEffect::Limits) => pb::ScreeningEffect::Limits,
                } as i32,
                max_pressure_until_cleared: x.max_pressure_until_cleared.unwrap_or_default(),
                excluded_tools: x
                    .excluded_tools
                    .iter()
                    .map(|t| pb::ToolExclusion {
                        tool: name(names::TOOLS, &t.tool),
                        reason: t.reason.clone(),
                    })
                    .collect(),
                excluded_regions: x
                    .excluded_regions
                    .iter()
                    .map(|l| name(names::REGIONS, &l.id))
                    .collect(),
                excluded_trigger_points: x
                    .excluded_points
                    .iter()
                    .map(|l| name(names::TRIGGER_POINTS, &l.id))
                    .collect(),
            })
            .collect();
        let sources: Vec<pb::Source> = d
            .sources
            .iter()
            .map(|s| pb::Source {
                name: name(names::SOURCES, &s.id),
                title: s.title.clone(),
                authors: s.authors.clone(),
                year: s.year,
                note: s.note.clone(),
            })
            .collect();
        let g = &d.guidance;
        let guidance = pb::TechniqueGuidance {
            target_pressure: g.target_pressure,
            max_safe_pressure: g.max_safe_pressure,
            min_duration_seconds: g.min_duration_seconds,
            max_duration_seconds: g.max_duration_seconds,
            max_sessions_per_point_per_day: g.max_sessions_per_point_per_day,
            recommended_sessions_per_day_min: g.recommended_sessions_per_day_min,
            expected_improvement_days: g.expected_improvement_days,
            trend_window_days: g.trend_window_days,
            consistent_days_min: g.consistent_days_min,
            min_tenderness_change: g.min_tenderness_change,
            pressure_description: g.pressure_description.clone(),
            summary: g.summary.clone(),
            sources: names_of(names::SOURCES, &g.sources),
        };
        let body_map = body_map(c);
        let snapshot = pb::CatalogSnapshot {
            catalog_version: c.version().to_owned(),
            edition: d.meta.edition.clone(),
            regions: regions.clone(),
            muscles: muscles.clone(),
            trigger_points: points.clone(),
            tools: tools.clone(),
            symptoms: symptoms.clone(),
            guidance: Some(guidance.clone()),
            contraindications: contraindications.clone(),
            red_flags: red_flags.clone(),
            sources: sources.clone(),
            body_map: Some(body_map.clone()),
            guides: guides.clone(),
        };
        PbCatalog {
            regions,
            muscles,
            points,
            tools,
            symptoms,
            red_flags,
            contraindications,
            sources,
            guides,
            basic_guides,
            guidance,
            body_map,
            snapshot,
        }
    }
}

fn ellipse(e: Ellipse) -> pb::ChartEllipse {
    pb::ChartEllipse {
        cx: e.cx,
        cy: e.cy,
        rx: e.rx,
        ry: e.ry,
    }
}

fn vertices(points: &[[f64; 2]]) -> Vec<pb::ChartVertex> {
    points
        .iter()
        .map(|&[x, y]| pb::ChartVertex { x, y })
        .collect()
}

/// The body map's message.
fn body_map(c: &Catalog) -> pb::BodyMap {
    let map = c.body_map();
    let regions = &c.data().regions;
    pb::BodyMap {
        width: map.width,
        height: map.height,
        outlines: map
            .outlines
            .iter()
            .map(|o| pb::BodyOutline {
                view: view(o.view) as i32,
                head: Some(ellipse(o.head)),
                silhouette: vertices(&o.silhouette),
                guides: o
                    .guides
                    .iter()
                    .map(|g| pb::ChartPolyline {
                        vertices: vertices(g),
                    })
                    .collect(),
                svg_path: o.path.clone(),
            })
            .collect(),
        shapes: map
            .shapes
            .iter()
            .filter_map(|s| {
                let r = regions.get(s.region)?;
                Some(pb::RegionShape {
                    region: name(names::REGIONS, &r.id),
                    view: view(s.view) as i32,
                    side: match s.side {
                        ShapeSide::Right => pb::Side::Right,
                        ShapeSide::Left => pb::Side::Left,
                        ShapeSide::Midline => pb::Side::Midline,
                    } as i32,
                    ellipse: Some(ellipse(s.ellipse)),
                })
            })
            .collect(),
    }
}

fn trigger_point(c: &Catalog, i: usize) -> pb::TriggerPoint {
    let t = &c.data().trigger_points[i];
    pb::TriggerPoint {
        name: name(names::TRIGGER_POINTS, &t.id),
        muscle: name(names::MUSCLES, &t.muscle),
        display_name: t.name.clone(),
        region: name(names::REGIONS, &t.region),
        location_description: t.location.clone(),
        chart_point: Some(pb::ChartPoint {
            view: view(t.chart.view) as i32,
            x: t.chart.x,
            y: t.chart.y,
        }),
        bilateral: t.bilateral,
        referrals: t
            .referrals
            .iter()
            .map(|r| pb::Referral {
                region: name(names::REGIONS, &r.region),
                kind: referral_kind(r.kind) as i32,
            })
            .collect(),
        symptoms: names_of(names::SYMPTOMS, &t.symptoms),
        aggravating_factors: t.aggravated_by.clone(),
        cautions: t
            .cautions
            .iter()
            .map(|x| pb::Caution {
                kind: structure_kind(x.kind) as i32,
                structure: x.structure.clone(),
                text: x.text.clone(),
            })
            .collect(),
        techniques: t
            .techniques
            .iter()
            .map(|x| pb::Technique {
                tool: name(names::TOOLS, &x.tool),
                instructions: x.text.clone(),
            })
            .collect(),
        excluded_tools: t
            .excluded_tools
            .iter()
            .map(|x| pb::ToolExclusion {
                tool: name(names::TOOLS, &x.tool),
                reason: x.reason.clone(),
            })
            .collect(),
        excluded_conditions: c
            .point_excluded_conditions(i)
            .into_iter()
            .map(|(id, why)| pb::ConditionExclusion {
                contraindication: name(names::CONTRAINDICATIONS, id),
                reason: why.to_owned(),
            })
            .collect(),
        sources: names_of(names::SOURCES, &t.sources),
        max_safe_pressure: c.point_max_pressure(i),
        max_hold_seconds: c.point_max_hold(i),
        therapist_only: t.therapist_only,
        therapist_only_note: t.therapist_only_note.clone(),
        guides: c
            .guides_of_point(i)
            .iter()
            .map(|&g| name(names::GUIDES, &c.data().guides[g].id))
            .collect(),
    }
}

/// Reads a `Side` field: unknown numbers are refused.
fn side_from(field: &str, raw: i32) -> Result<Side, Violation> {
    match pb::Side::try_from(raw) {
        Ok(pb::Side::Unspecified) => Ok(Side::Unspecified),
        Ok(pb::Side::Left) => Ok(Side::Left),
        Ok(pb::Side::Right) => Ok(Side::Right),
        Ok(pb::Side::Both) => Ok(Side::Both),
        Ok(pb::Side::Midline) => Ok(Side::Midline),
        Err(_) => Err(Violation::new(field, format!("unknown side {raw}"))),
    }
}

/// Reads a `BodyView` filter: unspecified means none.
pub fn view_filter(field: &str, raw: i32) -> Result<Option<View>, Violation> {
    match pb::BodyView::try_from(raw) {
        Ok(pb::BodyView::Unspecified) => Ok(None),
        Ok(pb::BodyView::Front) => Ok(Some(View::Front)),
        Ok(pb::BodyView::Back) => Ok(Some(View::Back)),
        Err(_) => Err(Violation::new(field, format!("unknown view {raw}"))),
    }
}

/// Reads a contraindication kind filter: unspecified means none.
pub fn contra_kind_filter(
    field: &str,
    raw: i32,
) -> Result<Option<ContraindicationKind>, Violation> {
    match pb::ContraindicationKind::try_from(raw) {
        Ok(pb::ContraindicationKind::Unspecified) => Ok(None),
        Ok(pb::ContraindicationKind::Condition) => Ok(Some(ContraindicationKind::Condition)),
        Ok(pb::ContraindicationKind::Location) => Ok(Some(ContraindicationKind::Location)),
        Err(_) => Err(Violation::new(field, format!("unknown kind {raw}"))),
    }
}

/// Reads the kinds of a search.
pub fn kinds(raw: &[i32]) -> Result<Vec<Kind>, Vec<Violation>> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, &k) in raw.iter().enumerate() {
        match pb::ResourceKind::try_from(k) {
            Ok(pb::ResourceKind::Region) => out.push(Kind::Region),
            Ok(pb::ResourceKind::Muscle) => out.push(Kind::Muscle),
            Ok(pb::ResourceKind::TriggerPoint) => out.push(Kind::TriggerPoint),
            Ok(pb::ResourceKind::Tool) => out.push(Kind::Tool),
            Ok(pb::ResourceKind::Symptom) => out.push(Kind::Symptom),
            Ok(pb::ResourceKind::Unspecified) | Err(_) => {
                bad.push(Violation::new(
                    format!("kinds[{i}]"),
                    format!("unknown kind {k}"),
                ));
            }
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

fn resource_kind(k: Kind) -> pb::ResourceKind {
    match k {
        Kind::Region => pb::ResourceKind::Region,
        Kind::Muscle => pb::ResourceKind::Muscle,
        Kind::TriggerPoint => pb::ResourceKind::TriggerPoint,
        Kind::Tool => pb::ResourceKind::Tool,
        Kind::Symptom => pb::ResourceKind::Symptom,
    }
}

impl TryFrom<&pb::FindByPainRequest> for PainQuery {
    type Error = Vec<Violation>;

    fn try_from(r: &pb::FindByPainRequest) -> Result<Self, Self::Error> {
        let mut bad = Vec::new();
        let mut locations = Vec::with_capacity(r.locations.len());
        for (i, l) in r.locations.iter().enumerate() {
            match side_from(&format!("locations[{i}].side"), l.side) {
                Ok(side) => locations.push(PainLocation {
                    region: l.region.clone(),
                    side,
                }),
                Err(v) => bad.push(v),
            }
        }
        if bad.is_empty() {
            Ok(PainQuery {
                locations,
                symptoms: r.symptoms.clone(),
            })
        } else {
            Err(bad)
        }
    }
}

/// One search hit as a message.
pub fn search_result(p: &PbCatalog, h: &Hit) -> pb::SearchResult {
    let (resource, display_name) = match h.kind {
        Kind::Region => (&p.regions[h.index].name, &p.regions[h.index].display_name),
        Kind::Muscle => (&p.muscles[h.index].name, &p.muscles[h.index].display_name),
        Kind::TriggerPoint => (&p.points[h.index].name, &p.points[h.index].display_name),
        Kind::Tool => (&p.tools[h.index].name, &p.tools[h.index].display_name),
        Kind::Symptom => (&p.symptoms[h.index].name, &p.symptoms[h.index].display_name),
    };
    pb::SearchResult {
        resource: resource.clone(),
        kind: resource_kind(h.kind) as i32,
        display_name: display_name.clone(),
        matched_text: h.matched_text.clone(),
        score: h.score,
    }
}

/// A find-by-pain answer page as a response.
pub fn pain_response(
    c: &Catalog,
    p: &PbCatalog,
    resolved: &ResolvedPain,
    answer: &PainAnswer,
    page: &[crate::domain::pain::MuscleMatch],
    next_page_token: String,
) -> pb::FindByPainResponse {
    let mut response = pain_response_without_matches(c, p, resolved, answer, next_page_token);
    response.matches = page
        .iter()
        .map(|mm| {
            let mut m = muscle_match_shallow(c, p, mm);
            m.muscle = Some(p.muscles[mm.muscle].clone());
            for (t, pm) in m.trigger_points.iter_mut().zip(&mm.points) {
                t.trigger_point = Some(p.points[pm.point].clone());
            }
            m
        })
        .collect();
    response
}

/// One muscle match without its muscle and without its points' trigger
/// points (those are the large, ready-made parts that
/// [`crate::encoded`] writes pre-encoded); everything else is set.
pub fn muscle_match_shallow(
    c: &Catalog,
    p: &PbCatalog,
    mm: &crate::domain::pain::MuscleMatch,
) -> pb::MuscleMatch {
    let d = c.data();
    pb::MuscleMatch {
        muscle: None,
        score: mm.score,
        trigger_points: mm
            .points
            .iter()
            .map(|pm| pb::TriggerPointMatch {
                trigger_point: None,
                reasons: pm
                    .reasons
                    .iter()
                    .map(|r| match *r {
                        Reason::Region { region, kind } => pb::MatchReason {
                            region: p.regions[region].name.clone(),
                            kind: referral_kind(kind) as i32,
                            symptom: String::new(),
                            text: format!(
                                "Refers pain to the {} ({} zone)",
                                d.regions[region].name.to_lowercase(),
                                match kind {
                                    ReferralKind::Primary => "primary",
                                    ReferralKind::Spillover => "spillover",
                                }
                            ),
                        },
                        Reason::Symptom { symptom } => pb::MatchReason {
                            region: String::new(),
                            kind: pb::ReferralKind::Unspecified as i32,
                            symptom: p.symptoms[symptom].name.clone(),
                            text: format!("Can cause {}", d.symptoms[symptom].name.to_lowercase()),
                        },
                    })
                    .collect(),
                press_side: side(pm.press_side) as i32,
                score: pm.score,
            })
            .collect(),
        explained_regions: mm
            .explained_regions
            .iter()
            .map(|&r| p.regions[r].name.clone())
            .collect(),
        explained_symptoms: mm
            .explained_symptoms
            .iter()
            .map(|&s| p.symptoms[s].name.clone())
            .collect(),
        primary: mm.primary,
    }
}

/// A find-by-pain response with everything but its matches.
pub fn pain_response_without_matches(
    c: &Catalog,
    p: &PbCatalog,
    resolved: &ResolvedPain,
    answer: &PainAnswer,
    next_page_token: String,
) -> pb::FindByPainResponse {
    pb::FindByPainResponse {
        matches: Vec::new(),
        resolved_locations: resolved
            .locations
            .iter()
            .map(|l| pb::ResolvedLocation {
                input: l.input.clone(),
                region: p.regions[l.region].name.clone(),
                side: side(l.side) as i32,
            })
            .collect(),
        resolved_symptoms: resolved
            .symptoms
            .iter()
            .map(|&s| p.symptoms[s].name.clone())
            .collect(),
        red_flags: answer
            .red_flags
            .iter()
            .map(|&f| p.red_flags[f].clone())
            .collect(),
        next_page_token,
        catalog_version: c.version().to_owned(),
    }
}

#[cfg(test)]
mod tests;
