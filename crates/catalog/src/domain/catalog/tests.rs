use super::*;
use crate::domain::fixture;

/// Applies `(from, to)` replacements to the fixture (each must occur) and
/// expects a problem naming `entry` whose message contains `needle`.
#[track_caller]
fn check(edits: &[(&str, &str)], entry: &str, needle: &str) {
    let mut text = fixture::TOML.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "fixture lacks {from:?}");
        text = text.replacen(from, to, 1);
    }
    let err = match Catalog::from_toml(&text) {
        Ok(_) => panic!("accepted, expected {entry}: {needle}"),
        Err(e) => e,
    };
    let problems = err.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.entry.contains(entry) && p.message.contains(needle)),
        "expected {entry}: {needle}, got {problems:?}"
    );
    // The top-level message names the entry too (what the operator sees).
    assert!(err.to_string().contains(entry), "{err}");
}

#[test]
fn fixture_is_valid_and_indexed() {
    let c = fixture::catalog();
    assert_eq!(c.version().len(), 64);
    let ql = c.muscle_index("quadratus_lumborum").unwrap();
    assert_eq!(c.points_of_muscle(ql).len(), 2);
    let claw = c.tool_index("ql_claw").unwrap();
    assert_eq!(c.muscles_for_tool(claw), &[ql]);
    let gun = c.tool_index("massage_gun").unwrap();
    let tib = c.muscle_index("tibialis_anterior").unwrap();
    // Excluded on the SCM and psoas, a technique only on tibialis.
    assert_eq!(c.muscles_for_tool(gun), &[tib]);
}

#[test]
fn version_ignores_formatting_but_not_content() {
    let a = fixture::catalog();
    let b = Catalog::from_toml(&format!("# a comment\n{}", fixture::TOML)).unwrap();
    assert_eq!(a.version(), b.version());
    let c = Catalog::from_toml(&fixture::TOML.replace("About 5 of 10.", "About 5/10.")).unwrap();
    assert_ne!(a.version(), c.version());
    let d = Catalog::from_canonical(&a.canonical()).unwrap();
    assert_eq!(a.version(), d.version());
}

/// A guide on the fixture's claw, appended to the fixture text.
const GUIDE: &str = "\n[[guides]]\nid = \"claw\"\ntitle = \"Claw\"\nsummary = \"Lie on it.\"\ntools = [\"ql_claw\"]\nsources = [\"travell_simons\"]\n[[guides.sections]]\nheading = \"Place\"\ntext = \"In the flank.\"\n";

#[track_caller]
fn check_guide(edits: &[(&str, &str)], needle: Option<&str>) {
    let mut guide = GUIDE.to_owned();
    for (from, to) in edits {
        assert!(guide.contains(from), "guide lacks {from:?}");
        guide = guide.replacen(from, to, 1);
    }
    match (Catalog::from_files(fixture::TOML, &guide), needle) {
        (Ok(_), None) => {}
        (Ok(_), Some(n)) => panic!("accepted, expected {n}"),
        (Err(e), None) => panic!("refused: {e}"),
        (Err(e), Some(n)) => assert!(
            e.problems()
                .iter()
                .any(|p| p.entry.starts_with("guides[") && p.message.contains(n))
                || e.to_string().contains(n),
            "expected {n}, got {e}"
        ),
    }
}

#[test]
fn guide_validation_table() {
    check_guide(&[], None);
    check_guide(
        &[("[\"ql_claw\"]", "[\"ql_clawz\"]")],
        Some("unknown tool \"ql_clawz\""),
    );
    check_guide(
        &[("[\"travell_simons\"]", "[\"nobody\"]")],
        Some("unknown source \"nobody\""),
    );
    check_guide(
        &[("[\"travell_simons\"]", "[]")],
        Some("at least one source"),
    );
    check_guide(
        &[("text = \"In the flank.\"", "text = \" \"")],
        Some("sections[0].text"),
    );
    check_guide(
        &[("id = \"claw\"", "id = \"Claw\"")],
        Some("lower_snake_case"),
    );
    check_guide(&[("title", "titel")], Some("guides file"));
}

#[test]
fn guides_are_linked_and_hashed() {
    let plain = fixture::catalog();
    let with = Catalog::from_files(fixture::TOML, GUIDE).unwrap();
    // Guides are content: they change the version, and survive the store.
    assert_ne!(plain.version(), with.version());
    let back = Catalog::from_canonical(&with.canonical()).unwrap();
    assert_eq!(back.version(), with.version());
    assert_eq!(back.data().guides.len(), 1);
    // No guides: the canonical form (so the version) is what it was.
    assert_eq!(
        Catalog::from_files(fixture::TOML, "").unwrap().version(),
        plain.version()
    );
    let g = with.guide_index("claw").unwrap();
    let claw = with.tool_index("ql_claw").unwrap();
    assert_eq!(with.guides_of_tool(claw), &[g]);
    for (i, t) in with.data().trigger_points.iter().enumerate() {
        let uses = t.techniques.iter().any(|x| x.tool == "ql_claw");
        assert_eq!(with.guides_of_point(i).contains(&g), uses, "{}", t.id);
    }
}

#[test]
fn validation_table() {
    check(
        &[("id = \"piriformis_1\"", "id = \"gluteus_minimus_1\"")],
        "trigger_points[gluteus_minimus_1]",
        "duplicate id",
    );
    check(
        &[("id = \"shin\"", "id = \"Shin\"")],
        "regions[Shin]",
        "lower_snake_case",
    );
    check(
        &[("muscle = \"piriformis\"", "muscle = \"piriformiss\"")],
        "trigger_points[piriformis_1]",
        "unknown muscle \"piriformiss\"",
    );
    check(
        &[("region = \"shin\"\n", "region = \"shinn\"\n")],
        "muscles[tibialis_anterior]",
        "unknown region \"shinn\"",
    );
    check(
        &[(
            "{ region = \"shin\", kind = \"PRIMARY\" }",
            "{ region = \"calf\", kind = \"PRIMARY\" }",
        )],
        "trigger_points[tibialis_anterior_1]",
        "unknown region \"calf\"",
    );
    check(
        &[("x = 0.42, y = 0.75", "x = 0.42, y = 1.75")],
        "trigger_points[tibialis_anterior_1]",
        "outside 0..1",
    );
    check(
        &[("x = 0.42, y = 0.75", "x = -0.1, y = 0.75")],
        "trigger_points[tibialis_anterior_1]",
        "outside 0..1",
    );
    check(
        &[("x = 0.42, y = 0.75", "x = 0.62, y = 0.75")],
        "trigger_points[tibialis_anterior_1]",
        "left side",
    );
    check(
        &[(
            "techniques = [{ tool = \"lacrosse_ball\", text = \"Lean into a door frame.\" }]",
            "techniques = []",
        )],
        "trigger_points[pectoralis_major_1]",
        "at least one technique",
    );
    check(
        &[(
            "techniques = [{ tool = \"fingers\", text = \"Small circles.\" }]",
            "techniques = [{ tool = \"thumb\", text = \"Small circles.\" }]",
        )],
        "trigger_points[temporalis_1]",
        "unknown tool \"thumb\"",
    );
    check(
        &[(
            "excluded_tools = [{ tool = \"massage_gun\", reason = \"Arteries and nerves lie close.\" }]",
            "excluded_tools = [{ tool = \"fingers\", reason = \"x\" }]",
        )],
        "trigger_points[sternocleidomastoid_1]",
        "both a technique and excluded",
    );
    check(
        &[(
            "condition = \"aneurysm\", reason = \"The carotid",
            "condition = \"pulse\", reason = \"The carotid",
        )],
        "trigger_points[sternocleidomastoid_1]",
        "LOCATION",
    );
    check(
        &[(
            "condition = \"aneurysm\", reason = \"The carotid",
            "condition = \"stroke\", reason = \"The carotid",
        )],
        "trigger_points[sternocleidomastoid_1]",
        "unknown contraindication",
    );
    check(
        &[("area = \"Legs\"", "area = \"Lower legs\"")],
        "regions[shin]",
        "area \"Lower legs\"",
    );
    check(
        &[(
            "red_flags = [\"sharp_pain\", \"possible_cardiac\"]",
            "red_flags = [\"sharp_pain\", \"heart\"]",
        )],
        "regions[chest]",
        "unknown red flag \"heart\"",
    );
    check(
        &[("synonyms = [\"pecs\"]", "synonyms = [\"lumbar\"]")],
        "regions[low_back]",
        "already names region \"chest\"",
    );
    check(
        &[("synonyms = [\"numb\"]", "synonyms = [\"ache\"]")],
        "symptoms[numbness]",
        "already names symptom \"pain\"",
    );
    check(
        &[(
            "symptoms = [\"pain\", \"tingling\"]",
            "symptoms = [\"pain\", \"burning\"]",
        )],
        "trigger_points[piriformis_1]",
        "unknown symptom \"burning\"",
    );
    check(
        &[(
            "referrals = [{ region = \"shin\", kind = \"PRIMARY\" }]",
            "referrals = [{ region = \"shin\", kind = \"SPILLOVER\" }]",
        )],
        "trigger_points[tibialis_anterior_1]",
        "PRIMARY",
    );
    check(
        &[(
            "referrals = [{ region = \"shin\", kind = \"PRIMARY\" }]",
            "referrals = []",
        )],
        "trigger_points[tibialis_anterior_1]",
        "at least one referral",
    );
    check(
        &[(
            "screening_question = \"Have you been diagnosed with an aneurysm?\"\n",
            "",
        )],
        "contraindications[aneurysm]",
        "screening_question",
    );
    check(
        &[("target_pressure = 5", "target_pressure = 9")],
        "guidance",
        "pressures",
    );
    check(
        &[("min_duration_seconds = 180", "min_duration_seconds = 400")],
        "guidance",
        "durations",
    );
    check(
        &[(
            "sources = [\"travell_simons\"]\n\n[[symptoms]]",
            "sources = [\"davies\"]\n\n[[symptoms]]",
        )],
        "guidance",
        "unknown source \"davies\"",
    );
    check(
        &[("muscle = \"temporalis\"", "muscle = \"upper_trapezius\"")],
        "muscles[temporalis]",
        "no trigger points",
    );
    // A therapist-only point says why and offers no self-treatment.
    let therapist = (
        "x = 0.42, y = 0.75 }\nbilateral = true\n",
        "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only = true\ntherapist_only_note = \"Inside the pelvis.\"\n",
    );
    check(
        &[therapist],
        "trigger_points[tibialis_anterior_1]",
        "tool \"fingers\"; only CLINIC tools",
    );
    check(
        &[(
            "x = 0.42, y = 0.75 }\nbilateral = true\n",
            "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only = true\n",
        )],
        "trigger_points[tibialis_anterior_1]",
        "therapist_only_note must not be empty",
    );
    check(
        &[(
            "x = 0.42, y = 0.75 }\nbilateral = true\n",
            "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only_note = \"Why.\"\n",
        )],
        "trigger_points[tibialis_anterior_1]",
        "therapist_only is not",
    );
    // Unknown fields are denied, and the message names the key.
    check(
        &[(
            "bilateral = true\nreferrals = [{ region = \"shin\"",
            "bilateral = true\ncolour = \"red\"\nreferrals = [{ region = \"shin\"",
        )],
        "file",
        "colour",
    );
    check(
        &[("action = \"URGENT_CARE\"", "action = \"PANIC\"")],
        "file",
        "PANIC",
    );
}

#[test]
fn a_therapist_only_point_with_clinic_tools_is_valid() {
    let text = fixture::TOML
        .replace("portability = \"BAG\"", "portability = \"CLINIC\"")
        .replace(
            "x = 0.42, y = 0.75 }\nbilateral = true\n",
            "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only = true\ntherapist_only_note = \"Out of reach.\"\n",
        )
        .replace(
            "techniques = [{ tool = \"fingers\", text = \"Press beside the bone.\" }, ",
            "techniques = [",
        );
    let c = Catalog::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    let i = c.point_index("tibialis_anterior_1").unwrap();
    let p = &c.data().trigger_points[i];
    assert!(p.therapist_only);
    assert_eq!(p.therapist_only_note, "Out of reach.");
    // Points that do not set it are self-treatable.
    let j = c.point_index("piriformis_1").unwrap();
    assert!(!c.data().trigger_points[j].therapist_only);
}

#[test]
fn safety_content_validation_table() {
    // Every rule carries its source.
    check(
        &[(
            "action = \"URGENT_CARE\"\nsources = [\"travell_simons\"]",
            "action = \"URGENT_CARE\"",
        )],
        "red_flags[possible_cardiac]",
        "at least one source",
    );
    check(
        &[(
            "guidance = \"Never press on a pulse.\"\nsources = [\"travell_simons\"]",
            "guidance = \"Never press on a pulse.\"",
        )],
        "contraindications[pulse]",
        "at least one source",
    );
    // A symptom's red flags must exist.
    check(
        &[(
            "red_flags = [\"possible_cardiac\"]\n",
            "red_flags = [\"heart\"]\n",
        )],
        "symptoms[breathlessness]",
        "unknown red flag \"heart\"",
    );
    // A LIMITS condition advises a provider before firm pressure...
    check(
        &[("max_pressure_until_cleared = 3\n", "")],
        "contraindications[pregnancy]",
        "needs max_pressure_until_cleared",
    );
    // ...with a ceiling no higher than the target pressure.
    check(
        &[(
            "max_pressure_until_cleared = 3",
            "max_pressure_until_cleared = 6",
        )],
        "contraindications[pregnancy]",
        "must be 1..=5",
    );
    check(
        &[(
            "screening_question = \"Have you been diagnosed with an aneurysm?\"\n",
            "screening_question = \"Have you been diagnosed with an aneurysm?\"\nmax_pressure_until_cleared = 3\n",
        )],
        "contraindications[aneurysm]",
        "only applies to a LIMITS condition",
    );
    check(
        &[(
            "guidance = \"Never press on a pulse.\"",
            "guidance = \"Never press on a pulse.\"\neffect = \"LIMITS\"",
        )],
        "contraindications[pulse]",
        "LOCATION takes no effect or limits",
    );
    check(
        &[("[{ id = \"groin\", reason", "[{ id = \"grion\", reason")],
        "contraindications[pregnancy]",
        "excluded_regions refers to unknown region \"grion\"",
    );
    check(
        &[(
            "excluded_regions = [{ id = \"groin\"",
            "excluded_points = [{ id = \"psoas_9\"",
        )],
        "contraindications[pregnancy]",
        "excluded_points refers to unknown trigger point \"psoas_9\"",
    );
    check(
        &[(
            "[{ tool = \"massage_gun\", reason = \"No percussion in pregnancy.\" }]",
            "[{ tool = \"gun\", reason = \"No percussion in pregnancy.\" }]",
        )],
        "contraindications[pregnancy]",
        "excluded_tools refers to unknown tool \"gun\"",
    );
    check(
        &[(
            "reason = \"The groin and belly are off limits in pregnancy.\"",
            "reason = \" \"",
        )],
        "contraindications[pregnancy]",
        "excluded_regions.reason must not be empty",
    );
    // A region's ceiling is below the guidance's, never above.
    check(
        &[("max_safe_pressure = 4", "max_safe_pressure = 8")],
        "regions[neck_side]",
        "must be 1..=7",
    );
    // A hold limit is shorter than the guidance's longest hold.
    check(
        &[("max_hold_seconds = 60", "max_hold_seconds = 300")],
        "regions[groin]",
        "max_hold_seconds 300 must be 10..300",
    );
    check(
        &[("max_hold_seconds = 60", "max_hold_seconds = 0")],
        "regions[groin]",
        "max_hold_seconds 0 must be 10..300",
    );
    check(
        &[("effect = \"LIMITS\"", "effect = \"SOMETIMES\"")],
        "file",
        "SOMETIMES",
    );
}

#[test]
fn condition_limits_fold_onto_points_and_ceilings_onto_places() {
    let c = fixture::catalog();
    let d = c.data();
    // The pregnancy's region limit (groin) reaches the point lying there,
    // beside the point's own excluded conditions.
    let psoas = c.point_index("iliopsoas_1").unwrap();
    let ids: Vec<&str> = c
        .point_excluded_conditions(psoas)
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert!(ids.contains(&"pregnancy"), "{ids:?}");
    assert!(ids.contains(&"aneurysm"), "{ids:?}");
    // A point elsewhere is not touched.
    let tib = c.point_index("tibialis_anterior_1").unwrap();
    assert!(
        !c.point_excluded_conditions(tib)
            .iter()
            .any(|(id, _)| *id == "pregnancy")
    );
    // The side of the neck has a ceiling of 4; the shin the guidance's 7.
    let scm = c.point_index("sternocleidomastoid_1").unwrap();
    assert_eq!(c.point_max_pressure(scm), 4);
    assert_eq!(c.point_max_pressure(tib), d.guidance.max_safe_pressure);
    // The groin's hold limit reaches the point lying there; the shin
    // keeps the guidance's longest hold.
    assert_eq!(c.point_max_hold(psoas), 60);
    assert_eq!(c.point_max_hold(tib), d.guidance.max_duration_seconds);
}

#[test]
fn many_problems_are_all_reported() {
    let text = fixture::TOML
        .replace("muscle = \"piriformis\"", "muscle = \"nope\"")
        .replace("x = 0.42, y = 0.75", "x = 2.0, y = 0.75");
    let problems = Catalog::from_toml(&text).unwrap_err().problems();
    assert!(problems.len() >= 2, "{problems:?}");
}
