//! The acceptance table (`tests/acceptance.toml`, written with the content
//! from the sources): every query runs through find-by-pain on the embedded
//! catalog, and a few also over real gRPC.

mod common;

use knotwork_catalog::domain::model::{
    ContraindicationKind, RedFlagAction, ReferralKind, ScreeningEffect,
};
use knotwork_catalog::domain::pain::{self, PainLocation, PainQuery};
use knotwork_catalog::domain::{Catalog, Side};
use knotwork_catalog::state::EMBEDDED_CATALOG;
use knotwork_proto::catalog::v1 as pb;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    query: Vec<Query>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    name: String,
    source: String,
    regions: Vec<String>,
    #[serde(default)]
    side: Option<String>,
    #[serde(default)]
    symptoms: Vec<String>,
    expect_in_top: usize,
    expect: Vec<String>,
    #[serde(default)]
    expect_red_flags: Vec<String>,
    /// The red flag that must come first.
    #[serde(default)]
    expect_first_red_flag: Option<String>,
    /// The queried symptoms name red flags only: no ranked muscle explains
    /// them.
    #[serde(default)]
    symptoms_route_to_no_muscle: bool,
}

/// The urgency tier of a red flag action, most urgent first.
fn tier(a: RedFlagAction) -> u8 {
    match a {
        RedFlagAction::UrgentCare => 0,
        RedFlagAction::SeekMedicalAttention => 1,
        RedFlagAction::RuleOutFirst => 2,
        RedFlagAction::StopSession => 3,
    }
}

fn table() -> Table {
    toml::from_str(include_str!("acceptance.toml")).expect("acceptance.toml parses")
}

fn side(s: &Option<String>) -> Side {
    match s.as_deref() {
        Some("LEFT") => Side::Left,
        Some("RIGHT") => Side::Right,
        Some("BOTH") => Side::Both,
        None => Side::Unspecified,
        Some(other) => panic!("unknown side {other}"),
    }
}

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::from_toml(EMBEDDED_CATALOG)
            .unwrap_or_else(|e| panic!("embedded catalog invalid: {e}"))
    })
}

#[test]
fn embedded_catalog_meets_the_issue_minimums() {
    let c = catalog();
    let d = c.data();
    assert!(d.regions.len() >= 40, "regions: {}", d.regions.len());
    assert!(d.muscles.len() >= 130, "muscles: {}", d.muscles.len());
    assert!(
        d.trigger_points.len() >= 260,
        "points: {}",
        d.trigger_points.len()
    );
    for tool in [
        "fingers",
        "lacrosse_ball",
        "tennis_ball",
        "ql_claw",
        "foam_roller",
        "massage_gun",
        "back_buddy",
        "massage_therapist",
    ] {
        assert!(c.tool_index(tool).is_some(), "tool {tool}");
    }
}

#[test]
fn every_acceptance_query_ranks_as_expected() {
    let c = catalog();
    let t = table();
    assert!(t.query.len() >= 15, "only {} queries", t.query.len());
    let mut failures = Vec::new();
    for q in &t.query {
        assert!(!q.source.is_empty(), "{}: no source", q.name);
        let query = PainQuery {
            locations: q
                .regions
                .iter()
                .map(|r| PainLocation {
                    region: r.clone(),
                    side: side(&q.side),
                })
                .collect(),
            symptoms: q.symptoms.clone(),
        };
        let resolved = match pain::resolve(c, &query) {
            Ok(r) => r,
            Err(v) => {
                failures.push(format!("{}: does not resolve: {v:?}", q.name));
                continue;
            }
        };
        let answer = pain::find(c, &resolved);
        let ranked: Vec<&str> = answer
            .matches
            .iter()
            .map(|m| c.data().muscles[m.muscle].id.as_str())
            .collect();
        for e in &q.expect {
            match ranked.iter().position(|m| m == e) {
                Some(p) if p < q.expect_in_top => {}
                p => failures.push(format!(
                    "{}: {e} at {:?}, expected in top {}; ranked {:?}",
                    q.name,
                    p.map(|p| p + 1),
                    q.expect_in_top,
                    &ranked[..ranked.len().min(q.expect_in_top + 3)]
                )),
            }
        }
        let flags: Vec<&str> = answer
            .red_flags
            .iter()
            .map(|&f| c.data().red_flags[f].id.as_str())
            .collect();
        for f in &q.expect_red_flags {
            if !flags.contains(&f.as_str()) {
                failures.push(format!("{}: red flag {f} missing from {flags:?}", q.name));
            }
        }
        if let Some(f) = &q.expect_first_red_flag
            && flags.first() != Some(&f.as_str())
        {
            failures.push(format!("{}: first red flag is not {f}: {flags:?}", q.name));
        }
        // Every answer lists its red flags in tier order.
        let tiers: Vec<u8> = answer
            .red_flags
            .iter()
            .map(|&f| tier(c.data().red_flags[f].action))
            .collect();
        if !tiers.is_sorted() {
            failures.push(format!(
                "{}: red flags out of tier order: {flags:?}",
                q.name
            ));
        }
        if q.symptoms_route_to_no_muscle
            && let Some(m) = answer
                .matches
                .iter()
                .find(|m| !m.explained_symptoms.is_empty())
        {
            failures.push(format!(
                "{}: {} explains a symptom that names a red flag",
                q.name,
                c.data().muscles[m.muscle].id
            ));
        }
        // Press side follows a stated pain side.
        if let Some(s) = &q.side {
            let want = side(&Some(s.clone()));
            for m in &answer.matches {
                for p in &m.points {
                    let bilateral = c.data().trigger_points[p.point].bilateral;
                    if bilateral && p.press_side != want {
                        failures.push(format!("{}: press side {:?}", q.name, p.press_side));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn acceptance_queries_over_grpc() {
    let server = common::TestServer::start().await;
    let mut client = server.client();
    let t = table();
    for name in ["low back pain", "temple headache", "left chest pain"] {
        let q = t
            .query
            .iter()
            .find(|q| q.name == name)
            .expect("query exists");
        let req = pb::FindByPainRequest {
            locations: q
                .regions
                .iter()
                .map(|r| pb::PainLocation {
                    region: r.clone(),
                    side: match q.side.as_deref() {
                        Some("LEFT") => pb::Side::Left as i32,
                        Some("RIGHT") => pb::Side::Right as i32,
                        _ => pb::Side::Unspecified as i32,
                    },
                })
                .collect(),
            symptoms: q.symptoms.clone(),
            page_size: q.expect_in_top as i32,
            page_token: String::new(),
        };
        let resp = client.find_by_pain(req).await.unwrap().into_inner();
        let names: Vec<&str> = resp
            .matches
            .iter()
            .map(|m| m.muscle.as_ref().unwrap().name.as_str())
            .collect();
        for e in &q.expect {
            let want = format!("muscles/{e}");
            assert!(
                names.contains(&want.as_str()),
                "{name}: {want} not in {names:?}"
            );
        }
        for f in &q.expect_red_flags {
            let want = format!("redFlags/{f}");
            assert!(
                resp.red_flags.iter().any(|r| r.name == want),
                "{name}: {want} missing"
            );
        }
        assert!(!resp.catalog_version.is_empty());
        for m in &resp.matches {
            assert!(!m.trigger_points.is_empty());
            for tp in &m.trigger_points {
                assert!(!tp.reasons.is_empty());
            }
        }
    }
}

#[track_caller]
fn check_search(query: &str, within: usize, expected: &str) {
    use knotwork_catalog::domain::search::Kind;
    let c = catalog();
    let d = c.data();
    let top: Vec<String> = c
        .search(query, &[])
        .into_iter()
        .take(within)
        .map(|h| match h.kind {
            Kind::Region => format!("regions/{}", d.regions[h.index].id),
            Kind::Muscle => format!("muscles/{}", d.muscles[h.index].id),
            Kind::TriggerPoint => format!("triggerPoints/{}", d.trigger_points[h.index].id),
            Kind::Tool => format!("tools/{}", d.tools[h.index].id),
            Kind::Symptom => format!("symptoms/{}", d.symptoms[h.index].id),
        })
        .collect();
    assert!(
        top.iter().any(|t| t == expected),
        "{query}: {expected} not in {top:?}"
    );
}

#[test]
fn search_on_the_real_catalog() {
    check_search("trapezious", 1, "muscles/upper_trapezius");
    check_search("Lacrosse", 1, "tools/lacrosse_ball");
    check_search("shin pain", 1, "regions/shin");
    check_search("shin pain", 3, "muscles/tibialis_anterior");
    check_search("foam roler", 1, "tools/foam_roller");
    check_search("QL", 1, "muscles/quadratus_lumborum");
    check_search("psoas", 1, "muscles/iliopsoas");
    check_search("calf cramps", 3, "muscles/gastrocnemius");
    check_search("sciatica", 1, "symptoms/sciatica_like_pain");
    check_search("tennis elbow", 1, "regions/elbow_outer");
    check_search("sternocleidomastiod", 1, "muscles/sternocleidomastoid");
}

/// The pelvic floor is out of safe reach for self-treatment: every one of
/// its points is for a therapist only, offers nothing but a therapist, and is
/// still found by pain so people learn the likely cause.
#[test]
fn pelvic_floor_points_are_for_a_therapist_only_and_still_found() {
    let c = catalog();
    let d = c.data();
    let pelvic_floor = [
        "levator_ani",
        "coccygeus",
        "obturator_internus",
        "sphincter_ani",
        "bulbospongiosus",
        "ischiocavernosus",
    ];
    for id in pelvic_floor {
        let m = c.muscle_index(id).unwrap_or_else(|| panic!("muscle {id}"));
        assert!(!c.points_of_muscle(m).is_empty(), "{id}");
        for &p in c.points_of_muscle(m) {
            let tp = &d.trigger_points[p];
            assert!(tp.therapist_only, "{} is not therapist-only", tp.id);
            assert!(!tp.therapist_only_note.is_empty(), "{}", tp.id);
            for t in &tp.techniques {
                assert_eq!(t.tool, "massage_therapist", "{}", tp.id);
            }
        }
    }
    let query = PainQuery {
        locations: vec![PainLocation {
            region: "pelvic floor".into(),
            side: Side::Unspecified,
        }],
        symptoms: Vec::new(),
    };
    let answer = pain::find(c, &pain::resolve(c, &query).unwrap());
    let found: Vec<&str> = answer
        .matches
        .iter()
        .map(|m| d.muscles[m.muscle].id.as_str())
        .collect();
    for id in pelvic_floor.iter().filter(|id| **id != "coccygeus") {
        assert!(found.contains(id), "{id} not found in {found:?}");
    }
}

/// The safety review of the chart's own content (issue 13, item 8): each
/// finding about techniques, cautions, exclusions and mappings is one row.
mod safety_review {
    use super::*;

    fn point(id: &str) -> &'static knotwork_catalog::domain::model::TriggerPoint {
        let c = catalog();
        let i = c.point_index(id).unwrap_or_else(|| panic!("no point {id}"));
        &c.data().trigger_points[i]
    }

    fn technique(id: &str, tool: &str) -> Option<&'static str> {
        point(id)
            .techniques
            .iter()
            .find(|t| t.tool == tool)
            .map(|t| t.text.as_str())
    }

    fn excluded_tool(id: &str, tool: &str) -> bool {
        point(id).excluded_tools.iter().any(|t| t.tool == tool)
    }

    fn excluded_conditions(id: &str) -> Vec<String> {
        let c = catalog();
        let i = c.point_index(id).expect("point");
        c.point_excluded_conditions(i)
            .into_iter()
            .map(|(x, _)| x.to_owned())
            .collect()
    }

    #[track_caller]
    fn check_referral(id: &str, region: &str, kind: Option<ReferralKind>) {
        let got = point(id)
            .referrals
            .iter()
            .find(|r| r.region == region)
            .map(|r| r.kind);
        assert_eq!(got, kind, "{id} -> {region}");
    }

    #[track_caller]
    fn check_caution(id: &str, structure_word: &str) {
        assert!(
            point(id)
                .cautions
                .iter()
                .any(|x| x.structure.to_lowercase().contains(structure_word)),
            "{id}: no caution about {structure_word}"
        );
    }

    #[test]
    fn no_lacrosse_ball_on_the_floor_for_a_spine_side_point() {
        let c = catalog();
        let d = c.data();
        let mut checked = 0;
        for t in &d.trigger_points {
            let area = c
                .region_index(&t.region)
                .map(|r| d.regions[r].area.as_str());
            if area != Some("Low back") {
                continue;
            }
            if let Some(text) = technique(&t.id, "lacrosse_ball") {
                let lower = text.to_lowercase();
                assert!(
                    lower.contains("wall")
                        && !lower.contains("lie on")
                        && !lower.contains("or lie"),
                    "{}: {text}",
                    t.id
                );
                checked += 1;
            }
        }
        assert!(checked >= 6, "only {checked} low back points checked");
    }

    #[test]
    fn technique_fixes() {
        // Fingers only beside the popliteal artery and the tibial nerve.
        let knee: Vec<&str> = point("gastrocnemius_knee")
            .techniques
            .iter()
            .map(|t| t.tool.as_str())
            .collect();
        assert_eq!(knee, ["fingers"]);
        for tool in ["lacrosse_ball", "massage_gun", "foam_roller"] {
            assert!(excluded_tool("gastrocnemius_knee", tool), "{tool}");
        }
        check_caution("gastrocnemius_knee", "tibial nerve");
        // The psoas: straight down, then outward; never in toward the aorta;
        // short holds on the belly.
        let psoas = point("iliopsoas_psoas");
        assert!(psoas.location.contains("straight down"));
        assert!(
            !psoas
                .location
                .contains("gently down and in toward the spine")
        );
        let fingers = technique("iliopsoas_psoas", "fingers").expect("fingers");
        assert!(fingers.contains("60 seconds at most"), "{fingers}");
        // No massage gun over the sciatic nerve or the radial groove.
        for id in [
            "gluteus_maximus",
            "triceps_long_head",
            "adductor_magnus_upper",
        ] {
            assert!(excluded_tool(id, "massage_gun"), "{id}");
            assert!(technique(id, "massage_gun").is_none(), "{id}");
        }
        // The adductor magnus takes the adductor longus' artery exclusions.
        for id in ["adductor_magnus", "adductor_magnus_upper"] {
            let x = excluded_conditions(id);
            for cond in ["aneurysm", "atherosclerosis"] {
                assert!(x.iter().any(|c| c == cond), "{id}: {cond}");
            }
        }
        check_caution("adductor_magnus_upper", "sciatic");
        // Cautions for nodes, the facial artery and the nerves behind the SCM.
        check_caution("scalenes", "lymph nodes above the collarbone");
        for id in ["masseter_superficial", "masseter_deep"] {
            check_caution(id, "facial artery");
            check_caution(id, "lymph nodes under the jaw");
        }
        check_caution("levator_scapulae_neck", "nerves behind the scm");
    }

    #[test]
    fn the_neck_the_face_and_the_belly_have_a_lower_pressure_ceiling() {
        let c = catalog();
        let d = c.data();
        let g = d.guidance.max_safe_pressure;
        for id in [
            "sternocleidomastoid_sternal",
            "scalenes",
            "levator_scapulae_neck",
            "suboccipitals",
            "masseter_superficial",
            "temporalis",
            "iliopsoas_psoas",
            "rectus_abdominis_upper",
            "rectus_abdominis_lower",
        ] {
            let i = c.point_index(id).expect("point");
            assert!(c.point_max_pressure(i) < g, "{id}");
        }
        let ql = c.point_index("quadratus_lumborum_superficial").expect("ql");
        assert_eq!(c.point_max_pressure(ql), g);
    }

    #[test]
    fn mapping_fixes() {
        use ReferralKind::*;
        check_referral("supraspinatus", "elbow_outer", Some(Primary));
        check_referral("subscapularis", "wrist", Some(Primary));
        check_referral(
            "infraspinatus_upper",
            "between_shoulder_blades",
            Some(Primary),
        );
        check_referral("serratus_anterior", "shoulder_blade", Some(Primary));
        check_referral("serratus_anterior", "fingers", Some(Spillover));
        check_referral("upper_trapezius_1", "ear", Some(Spillover));
        check_referral("upper_trapezius_1", "back_of_head", Some(Primary));
        // soleus_upper keeps point 2's place with its own referral; the
        // sacrum belongs to a point of its own.
        check_referral("soleus_upper", "sacrum", None);
        check_referral("soleus_upper", "calf", Some(Primary));
        check_referral("soleus_sacral", "sacrum", Some(Primary));
        // The adductor magnus in two: groin and thigh, then the pelvis.
        check_referral("adductor_magnus", "pelvis", None);
        check_referral("adductor_magnus", "groin", Some(Primary));
        check_referral("adductor_magnus_upper", "pelvis", Some(Primary));
    }

    /// The widely documented massage cautions as screening conditions, each
    /// with its source, its effect and the limits it brings.
    #[test]
    fn screening_conditions_limit_what_they_concern() {
        let c = catalog();
        let d = c.data();
        let cond = |id: &str| {
            d.contraindications
                .iter()
                .find(|x| x.id == id)
                .unwrap_or_else(|| panic!("no condition {id}"))
        };
        // The seed's seven and fever rule massage out until cleared.
        for id in [
            "aneurysm",
            "atherosclerosis",
            "cancer",
            "congestive_heart_failure",
            "coronary_artery_disease",
            "peritonitis",
            "polycystic_kidney_disease",
            "fever",
        ] {
            assert_eq!(cond(id).effect, ScreeningEffect::RulesOut, "{id}");
        }
        // The rest advise a provider before firm pressure.
        for id in [
            "pregnancy",
            "blood_thinners",
            "osteoporosis",
            "blood_clot_history",
            "implanted_device",
            "recent_surgery",
            "diabetic_neuropathy",
            "lymphoedema",
            "abdominal_hernia",
            "skin_infection",
            "other_serious_condition",
        ] {
            let x = cond(id);
            assert_eq!(x.kind, ContraindicationKind::Condition, "{id}");
            assert_eq!(x.effect, ScreeningEffect::Limits, "{id}");
            let p = x.max_pressure_until_cleared.expect("a ceiling");
            assert!(p < d.guidance.target_pressure, "{id}: {p}");
            assert!(!x.sources.is_empty(), "{id}");
            assert!(x.guidance.contains("before firm pressure"), "{id}");
        }
        // Each limits the points and tools it concerns.
        let rules_out = |point: &str, condition: &str| {
            assert!(
                excluded_conditions(point).iter().any(|c| c == condition),
                "{condition} should rule out {point}"
            );
        };
        rules_out("rectus_abdominis_lower", "pregnancy");
        rules_out("iliopsoas_psoas", "pregnancy");
        rules_out("adductor_longus", "pregnancy");
        rules_out("pectoralis_major_clavicular", "implanted_device");
        rules_out("serratus_anterior", "osteoporosis");
        rules_out("gastrocnemius_medial", "blood_clot_history");
        rules_out("abductor_hallucis", "diabetic_neuropathy");
        rules_out("quadratus_plantae", "diabetic_neuropathy");
        rules_out("subscapularis", "lymphoedema");
        rules_out("iliopsoas_iliacus", "abdominal_hernia");
        let tool_out = |condition: &str, tool: &str| {
            assert!(
                cond(condition)
                    .excluded_tools
                    .iter()
                    .any(|t| t.tool == tool),
                "{condition} should rule out {tool}"
            );
        };
        tool_out("blood_thinners", "massage_gun");
        tool_out("implanted_device", "massage_gun");
        tool_out("osteoporosis", "foam_roller");
        tool_out("lymphoedema", "massage_gun");
        tool_out("diabetic_neuropathy", "golf_ball");
        // Red flags carry their sources too.
        for f in &d.red_flags {
            assert!(!f.sources.is_empty(), "{}", f.id);
        }
    }
}
