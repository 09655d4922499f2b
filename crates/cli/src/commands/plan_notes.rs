//! The notes below the plan table of `knotwork plan` (`views.rs` prints
//! them): why a point is blocked or may not be worked with some tools, each
//! reason several points share said once, wrapped at the terminal's width.

use anstyle::Style;
use knotwork_proto::gateway::v1 as gw;

use super::names::Names;
use crate::output::{paint, style, wrap};

/// How a line of the notes below the plan table reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    /// The point cannot be worked now: in the danger style.
    Stop,
    /// Tools the point must not be worked with while another owned tool is
    /// left: in the caution style.
    NotWith,
    /// Why a tool is ruled out, indented beneath the line naming it: plain.
    Why,
}

impl Tone {
    /// The style of the line's lead (a `Why` line has none).
    fn style(self) -> Style {
        match self {
            Tone::Stop => style::DANGER,
            Tone::NotWith => style::CAUTION,
            Tone::Why => Style::new(),
        }
    }

    /// How many columns in the line starts: a `Why` line sits beneath the
    /// line naming its tool.
    fn indent(self) -> usize {
        match self {
            Tone::Stop | Tone::NotWith => 0,
            Tone::Why => 4,
        }
    }
}

/// A note below the plan table: its lead in the tone's style, then plain
/// text, wrapped at the terminal's width.
#[derive(Debug)]
pub(super) struct Note {
    tone: Tone,
    lead: String,
    text: String,
}

impl Note {
    /// The note's lines as printed at `width` columns (`output::wrap`: the
    /// lines after the first a little further in), the lead's part of each
    /// passed through `paint_lead` (brackets in tests).
    fn render(&self, width: usize, paint_lead: impl Fn(&str) -> String) -> Vec<String> {
        wrap(self.tone.indent(), &self.lead, &self.text, width)
            .iter()
            .map(|line| line.render(&paint_lead, str::to_owned))
            .collect()
    }

    pub(super) fn print(&self, width: usize) {
        let style = self.tone.style();
        for line in self.render(width, |lead| paint(style, lead)) {
            anstream::println!("{line}");
        }
    }
}

/// The notes below the plan table: first each reason that several points
/// share, said once; then each point's own notes (`block_notes`).
///
/// A tool block is shared when two or more of the plan's points carry the
/// same one: the same tool, reason and message (a screening condition that
/// rules a tool out puts the same block on every point where the tool
/// would serve). The message is compared whole, never read. Shared blocks
/// that cover the same points make one group, headed by the tools they rule
/// out and where: "on any of these points" only when the group covers every
/// point of the plan, else the points it covers by name, so that a reason
/// said once never seems to hold where the gateway did not give it. With one
/// point, or no block on two points, the notes are each point's alone.
pub(super) fn plan_notes(points: &[&gw::PlannedPoint], names: &Names) -> Vec<Note> {
    let shared = shared_blocks(points);
    let keys: Vec<BlockKey> = shared.iter().map(|(b, _)| key(b)).collect();
    let mut notes = Vec::new();
    for (covered, blocks) in shared_groups(&shared) {
        notes.extend(shared_notes(points, &covered, &blocks, names));
    }
    for p in points {
        notes.extend(block_notes(p, &keys, names));
    }
    notes
}

/// What tells two blocks apart: the tool, the reason and the message.
type BlockKey<'a> = (&'a str, &'a str, &'a str);

fn key(b: &gw::Block) -> BlockKey<'_> {
    (&b.tool, &b.reason, &b.message)
}

/// The tool blocks that two or more of `points` carry, each once with the
/// places in `points` of the points carrying it, in the order they first
/// appear.
fn shared_blocks<'a>(points: &[&'a gw::PlannedPoint]) -> Vec<(&'a gw::Block, Vec<usize>)> {
    let mut seen: Vec<(&gw::Block, Vec<usize>)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        for b in p.blocks.iter().filter(|b| !b.tool.is_empty()) {
            match seen.iter_mut().find(|(s, _)| key(s) == key(b)) {
                Some((_, on)) if !on.contains(&i) => on.push(i),
                Some(_) => {}
                None => seen.push((b, vec![i])),
            }
        }
    }
    seen.retain(|(_, on)| on.len() > 1);
    seen
}

/// Shared blocks gathered by the points they cover, in the order they first
/// appear: one group a line.
fn shared_groups<'a>(
    shared: &[(&'a gw::Block, Vec<usize>)],
) -> Vec<(Vec<usize>, Vec<&'a gw::Block>)> {
    let mut groups: Vec<(Vec<usize>, Vec<&gw::Block>)> = Vec::new();
    for (b, on) in shared {
        match groups.iter_mut().find(|(covered, _)| covered == on) {
            Some((_, blocks)) => blocks.push(b),
            None => groups.push((on.clone(), vec![b])),
        }
    }
    groups
}

/// A group of shared blocks as notes: a caution line naming the tools they
/// rule out and the points they cover ("Not with the massage gun on any of
/// these points:"), each block's message indented beneath it. The points
/// keep their own lines where they need them (`block_notes`).
fn shared_notes(
    points: &[&gw::PlannedPoint],
    covered: &[usize],
    blocks: &[&gw::Block],
    names: &Names,
) -> Vec<Note> {
    let place = if covered.len() == points.len() {
        "any of these points".to_owned()
    } else {
        let named: Vec<String> = covered
            .iter()
            .map(|&i| names.of(&points[i].trigger_point))
            .collect();
        or_list(&named)
    };
    let mut notes = vec![Note {
        tone: Tone::NotWith,
        lead: format!(
            "Not with {} on {place}:",
            or_list(&ruled_out(blocks, names))
        ),
        text: String::new(),
    }];
    notes.extend(blocks.iter().map(|b| why_note(b, names)));
    notes
}

/// A planned point's blocks as notes: each block on the point itself on a
/// line of its own, as a stop; then the blocks that each rule out one tool
/// on one line for the point ("not with the foam roller or the massage
/// gun"), each block's message indented beneath it, since the messages say
/// why and that is safety content. The tool line reads as a caution while
/// the point keeps a technique for an owned tool, and as a stop when none
/// is left, as `block_mark` marks it.
///
/// A block in `shared` was said once above (`plan_notes`): its message is
/// not repeated here. The tool line still names every tool ruled out on the
/// point, so it stays true read alone, and ends "(see above)" when all its
/// reasons are above, or "(see above for the massage gun)" naming the tools
/// with a reason above. A point whose tool blocks are all above and that
/// keeps a technique needs no tool line; one with no technique left keeps
/// its stop line.
fn block_notes(p: &gw::PlannedPoint, shared: &[BlockKey], names: &Names) -> Vec<Note> {
    let point = names.of(&p.trigger_point);
    let (tool_blocks, point_blocks): (Vec<_>, Vec<_>) =
        p.blocks.iter().partition(|b| !b.tool.is_empty());
    let mut notes: Vec<Note> = point_blocks
        .iter()
        .map(|b| Note {
            tone: Tone::Stop,
            lead: format!("{point} ({}):", b.reason),
            text: b.message.clone(),
        })
        .collect();
    let (above, own): (Vec<_>, Vec<_>) = tool_blocks.iter().partition(|b| shared.contains(&key(b)));
    if tool_blocks.is_empty() || (own.is_empty() && !p.techniques.is_empty()) {
        return notes;
    }
    notes.push(Note {
        tone: if p.techniques.is_empty() {
            Tone::Stop
        } else {
            Tone::NotWith
        },
        lead: format!(
            "{point}: not with {}",
            or_list(&ruled_out(&tool_blocks, names))
        ),
        text: see_above(&above, &own, names),
    });
    notes.extend(own.iter().map(|b| why_note(b, names)));
    notes
}

/// The tools `blocks` rule out, each in a sentence ("the foam roller") and
/// named once: a tool can be ruled out twice (excluded on the point, and by
/// a reported condition), and both reasons are kept below it.
fn ruled_out(blocks: &[&gw::Block], names: &Names) -> Vec<String> {
    let mut tools: Vec<String> = Vec::new();
    for b in blocks {
        let tool = tool_in_sentence(&names.of(&b.tool));
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    tools
}

/// What a point's tool line adds when some of its reasons were said once
/// above: "(see above)" when all were, else "(see above for the massage
/// gun)", naming the tools with a reason above; nothing when none was.
fn see_above(above: &[&gw::Block], own: &[&gw::Block], names: &Names) -> String {
    if above.is_empty() {
        String::new()
    } else if own.is_empty() {
        "(see above)".to_owned()
    } else {
        format!("(see above for {})", and_list(&ruled_out(above, names)))
    }
}

/// Why a block rules out its tool, indented beneath the line naming it.
/// The gateway leads a tool's message with its name; when it could not name
/// the tool, the name goes in front so the reasons beneath a line naming
/// several tools stay told apart.
fn why_note(b: &gw::Block, names: &Names) -> Note {
    let name = names.of(&b.tool);
    let text = if b.message.starts_with(&name) {
        b.message.clone()
    } else {
        format!("{name}: {}", b.message)
    };
    Note {
        tone: Tone::Why,
        lead: String::new(),
        text,
    }
}

/// A tool's display name inside a sentence, after "with", as the web app
/// words it: "Foam roller" -> "the foam roller", "QL Claw" -> "the QL Claw"
/// (a name with capitals of its own keeps them), "Your own knuckles or
/// elbow" -> "your own knuckles or elbow", "A partner's hands" -> "a
/// partner's hands".
fn tool_in_sentence(display: &str) -> String {
    let lower_first = |s: &str| {
        let mut chars = s.chars();
        chars.next().map_or_else(String::new, |c| {
            c.to_lowercase().chain(chars).collect::<String>()
        })
    };
    if ["A ", "An ", "Your "]
        .iter()
        .any(|p| display.starts_with(p))
    {
        return lower_first(display);
    }
    let capitals = display.chars().filter(|c| c.is_uppercase()).count();
    let first_is_capital = display.chars().next().is_some_and(char::is_uppercase);
    if first_is_capital && capitals == 1 {
        format!("the {}", lower_first(display))
    } else {
        format!("the {display}")
    }
}

/// "a", "a or b", "a, b or c".
fn or_list(items: &[String]) -> String {
    joined(items, "or")
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    joined(items, "and")
}

/// The items with commas, `last_word` before the last.
fn joined(items: &[String], last_word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {last_word} {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The psoas point with `blocks` (reason, tool, message) and `tools`
    /// usable techniques.
    fn planned(blocks: &[(&str, &str, &str)], tools: usize) -> gw::PlannedPoint {
        planned_at("iliopsoas_psoas", blocks, tools)
    }

    /// The trigger point `id` with `blocks` (reason, tool, message) and
    /// `tools` usable techniques.
    fn planned_at(id: &str, blocks: &[(&str, &str, &str)], tools: usize) -> gw::PlannedPoint {
        gw::PlannedPoint {
            trigger_point: format!("triggerPoints/{id}"),
            blocks: blocks
                .iter()
                .map(|(reason, tool, message)| gw::Block {
                    reason: (*reason).into(),
                    message: (*message).into(),
                    tool: (*tool).into(),
                })
                .collect(),
            techniques: vec![Default::default(); tools],
            ..Default::default()
        }
    }

    /// The notes of a plan of the one point `p`, each as its tone and its
    /// line with the painted part in brackets.
    #[track_caller]
    fn check(p: &gw::PlannedPoint, expected: &[(Tone, &str)]) {
        check_plan(std::slice::from_ref(p), expected);
    }

    /// The notes of a plan of `points`, as `check` gives them: what they
    /// say, a note a line however long (wrapping has tests of its own).
    #[track_caller]
    fn check_plan(points: &[gw::PlannedPoint], expected: &[(Tone, &str)]) {
        check_plan_at(usize::MAX, points, expected);
    }

    /// The notes of a plan of `points` at `width` columns, each as its tone
    /// and its lines joined by newlines, the painted part of each line in
    /// brackets.
    #[track_caller]
    fn check_plan_at(width: usize, points: &[gw::PlannedPoint], expected: &[(Tone, &str)]) {
        let got: Vec<(Tone, String)> = notes_at(width, points)
            .into_iter()
            .map(|(tone, lines)| (tone, lines.join("\n")))
            .collect();
        let expected: Vec<(Tone, String)> = expected
            .iter()
            .map(|(t, l)| (*t, (*l).to_owned()))
            .collect();
        assert_eq!(got, expected);
    }

    /// The notes of a plan of `points` at `width` columns, each as its tone
    /// and its lines, the painted part of each line in brackets.
    fn notes_at(width: usize, points: &[gw::PlannedPoint]) -> Vec<(Tone, Vec<String>)> {
        let names = Names::from_pairs([
            ("triggerPoints/iliopsoas_psoas", "Psoas point"),
            ("triggerPoints/iliopsoas_iliacus", "Iliacus point"),
            ("triggerPoints/piriformis", "Piriformis point"),
            // The back of the thigh, as the catalog names its points.
            (
                "triggerPoints/hamstrings_biceps_femoris",
                "Biceps femoris point (outer hamstring)",
            ),
            (
                "triggerPoints/hamstrings_biceps_femoris_low",
                "Biceps femoris low point (short head)",
            ),
            ("triggerPoints/hamstrings_medial", "Inner hamstring point"),
            (
                "triggerPoints/hamstrings_medial_lower",
                "Inner hamstring lower point",
            ),
            (
                "triggerPoints/gluteus_minimus_posterior",
                "Gluteus minimus back point",
            ),
            ("triggerPoints/gemelli", "Gemelli (superior and inferior)"),
            ("triggerPoints/quadratus_femoris", "Quadratus femoris"),
            ("tools/foam_roller", "Foam roller"),
            ("tools/massage_gun", "Massage gun"),
            ("tools/lacrosse_ball", "Lacrosse ball"),
        ]);
        let points: Vec<&gw::PlannedPoint> = points.iter().collect();
        plan_notes(&points, &names)
            .iter()
            .map(|n| (n.tone, n.render(width, |lead| format!("[{lead}]"))))
            .collect()
    }

    const FOAM: (&str, &str, &str) = (
        "TOOL_EXCLUDED",
        "tools/foam_roller",
        "Foam roller: never use it on this point. It presses on the organs.",
    );
    const GUN: (&str, &str, &str) = (
        "TOOL_EXCLUDED",
        "tools/massage_gun",
        "Massage gun: never use it on this point. Never percussion on the belly.",
    );
    const BALL: (&str, &str, &str) = (
        "TOOL_EXCLUDED",
        "tools/lacrosse_ball",
        "Lacrosse ball: never use it on this point. It cannot avoid the aorta.",
    );

    #[test]
    fn no_blocks_no_notes() {
        check(&planned(&[], 1), &[]);
    }

    #[test]
    fn one_ruled_out_tool_is_a_caution_with_its_reason() {
        check(
            &planned(&[FOAM], 1),
            &[
                (Tone::NotWith, "[Psoas point: not with the foam roller]"),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
            ],
        );
    }

    #[test]
    fn two_ruled_out_tools_share_one_line() {
        check(
            &planned(&[FOAM, GUN], 1),
            &[
                (
                    Tone::NotWith,
                    "[Psoas point: not with the foam roller or the massage gun]",
                ),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
                (
                    Tone::Why,
                    "    Massage gun: never use it on this point. Never percussion on the belly.",
                ),
            ],
        );
    }

    #[test]
    fn three_ruled_out_tools_share_one_line() {
        check(
            &planned(&[GUN, BALL, FOAM], 1),
            &[
                (
                    Tone::NotWith,
                    "[Psoas point: not with the massage gun, the lacrosse ball or the foam roller]",
                ),
                (
                    Tone::Why,
                    "    Massage gun: never use it on this point. Never percussion on the belly.",
                ),
                (
                    Tone::Why,
                    "    Lacrosse ball: never use it on this point. It cannot avoid the aorta.",
                ),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
            ],
        );
    }

    #[test]
    fn a_block_on_the_point_stays_a_stop_of_its_own() {
        let limit = (
            "DAILY_LIMIT_REACHED",
            "",
            "No session left on this point today.",
        );
        check(
            &planned(&[FOAM, limit], 1),
            &[
                (
                    Tone::Stop,
                    "[Psoas point (DAILY_LIMIT_REACHED):] No session left on this point today.",
                ),
                (Tone::NotWith, "[Psoas point: not with the foam roller]"),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
            ],
        );
    }

    #[test]
    fn ruled_out_tools_stop_a_point_with_no_technique_left() {
        check(
            &planned(&[FOAM], 0),
            &[
                (Tone::Stop, "[Psoas point: not with the foam roller]"),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
            ],
        );
    }

    #[test]
    fn a_tool_ruled_out_twice_is_named_once_with_both_reasons() {
        let thinners = (
            "CONDITION_EXCLUDED",
            "tools/massage_gun",
            "Massage gun: a condition you reported rules it out (Blood thinners): it bruises.",
        );
        check(
            &planned(&[GUN, thinners], 1),
            &[
                (Tone::NotWith, "[Psoas point: not with the massage gun]"),
                (
                    Tone::Why,
                    "    Massage gun: never use it on this point. Never percussion on the belly.",
                ),
                (
                    Tone::Why,
                    "    Massage gun: a condition you reported rules it out (Blood thinners): it bruises.",
                ),
            ],
        );
    }

    #[test]
    fn a_reason_that_does_not_name_its_tool_is_led_by_it() {
        // The catalog did not name the tool: the gateway's plain message,
        // and the tool's id with spaces.
        let unnamed = (
            "TOOL_EXCLUDED",
            "tools/golf_ball",
            "Never use this tool on this point.",
        );
        check(
            &planned(&[FOAM, unnamed], 1),
            &[
                (
                    Tone::NotWith,
                    "[Psoas point: not with the foam roller or the golf ball]",
                ),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
                (
                    Tone::Why,
                    "    golf ball: Never use this tool on this point.",
                ),
            ],
        );
    }

    /// A condition ruling the massage gun out, as the gateway puts it on
    /// every point where the gun would serve.
    const THINNERS: (&str, &str, &str) = (
        "CONDITION_EXCLUDED",
        "tools/massage_gun",
        "Massage gun: a condition you reported rules it out (Blood thinners): it bruises.",
    );
    /// A condition ruling the foam roller out.
    const VARICOSE: (&str, &str, &str) = (
        "CONDITION_EXCLUDED",
        "tools/foam_roller",
        "Foam roller: a condition you reported rules it out (Varicose veins): it presses.",
    );
    const THINNERS_WHY: (Tone, &str) = (
        Tone::Why,
        "    Massage gun: a condition you reported rules it out (Blood thinners): it bruises.",
    );

    #[test]
    fn a_reason_on_every_point_is_said_once() {
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[THINNERS], 1),
                planned_at("iliopsoas_iliacus", &[THINNERS], 2),
                planned_at("piriformis", &[THINNERS], 1),
            ],
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun on any of these points:]",
                ),
                THINNERS_WHY,
            ],
        );
    }

    #[test]
    fn a_point_left_with_no_technique_still_stops_below_a_shared_reason() {
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[THINNERS], 1),
                planned_at("iliopsoas_iliacus", &[THINNERS], 0),
            ],
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun on any of these points:]",
                ),
                THINNERS_WHY,
                (
                    Tone::Stop,
                    "[Iliacus point: not with the massage gun] (see above)",
                ),
            ],
        );
    }

    #[test]
    fn a_point_keeps_its_own_reason_and_names_every_tool_ruled_out() {
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[THINNERS], 1),
                planned_at("iliopsoas_iliacus", &[FOAM, THINNERS], 1),
            ],
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun on any of these points:]",
                ),
                THINNERS_WHY,
                (
                    Tone::NotWith,
                    "[Iliacus point: not with the foam roller or the massage gun] \
                     (see above for the massage gun)",
                ),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
            ],
        );
    }

    #[test]
    fn a_tool_ruled_out_above_and_on_the_point_keeps_both_reasons() {
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[THINNERS], 1),
                planned_at("iliopsoas_iliacus", &[GUN, THINNERS], 1),
            ],
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun on any of these points:]",
                ),
                THINNERS_WHY,
                (
                    Tone::NotWith,
                    "[Iliacus point: not with the massage gun] (see above for the massage gun)",
                ),
                (
                    Tone::Why,
                    "    Massage gun: never use it on this point. Never percussion on the belly.",
                ),
            ],
        );
    }

    #[test]
    fn a_reason_on_some_points_names_the_points_it_covers() {
        // The gateway gives the piriformis its own reason for the gun
        // instead: the condition's reason is not claimed for it.
        let sciatic = (
            "TOOL_EXCLUDED",
            "tools/massage_gun",
            "Massage gun: never use it on this point. The sciatic nerve runs under it.",
        );
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[THINNERS], 1),
                planned_at("iliopsoas_iliacus", &[THINNERS], 1),
                planned_at("piriformis", &[sciatic], 1),
            ],
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun on Psoas point or Iliacus point:]",
                ),
                THINNERS_WHY,
                (
                    Tone::NotWith,
                    "[Piriformis point: not with the massage gun]",
                ),
                (
                    Tone::Why,
                    "    Massage gun: never use it on this point. The sciatic nerve runs under it.",
                ),
            ],
        );
    }

    #[test]
    fn reasons_covering_the_same_points_share_a_group() {
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[THINNERS, VARICOSE], 1),
                planned_at("iliopsoas_iliacus", &[VARICOSE, THINNERS], 1),
            ],
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun or the foam roller on any of these points:]",
                ),
                THINNERS_WHY,
                (
                    Tone::Why,
                    "    Foam roller: a condition you reported rules it out (Varicose veins): it presses.",
                ),
            ],
        );
    }

    #[test]
    fn a_reason_on_one_point_of_several_stays_with_its_point() {
        // The same tool for another reason, or another tool for the same
        // reason code, is not the same block; nor is a block on the point
        // itself lifted, even on every point.
        let other = (
            "CONDITION_EXCLUDED",
            "tools/massage_gun",
            "Massage gun: a condition you reported rules it out (Pregnancy): not now.",
        );
        let limit = ("SCREENING_REQUIRED", "", "Answer the screening first.");
        check_plan(
            &[
                planned_at("iliopsoas_psoas", &[limit, THINNERS], 1),
                planned_at("iliopsoas_iliacus", &[limit, other], 1),
            ],
            &[
                (
                    Tone::Stop,
                    "[Psoas point (SCREENING_REQUIRED):] Answer the screening first.",
                ),
                (Tone::NotWith, "[Psoas point: not with the massage gun]"),
                THINNERS_WHY,
                (
                    Tone::Stop,
                    "[Iliacus point (SCREENING_REQUIRED):] Answer the screening first.",
                ),
                (Tone::NotWith, "[Iliacus point: not with the massage gun]"),
                (
                    Tone::Why,
                    "    Massage gun: a condition you reported rules it out (Pregnancy): not now.",
                ),
            ],
        );
    }

    #[test]
    fn a_reason_twice_on_one_point_is_not_shared() {
        check(
            &planned(&[THINNERS, THINNERS], 1),
            &[
                (Tone::NotWith, "[Psoas point: not with the massage gun]"),
                THINNERS_WHY,
                THINNERS_WHY,
            ],
        );
    }

    /// A plan of the back of the thigh with blood thinners reported: the
    /// condition rules the massage gun out on seven points, and the
    /// piriformis has its own reason for the gun, so the heading names the
    /// seven.
    fn thigh_back() -> Vec<gw::PlannedPoint> {
        let sciatic = (
            "TOOL_EXCLUDED",
            "tools/massage_gun",
            "Massage gun: never use it on this point. The sciatic nerve runs under it.",
        );
        let mut points: Vec<gw::PlannedPoint> = [
            "hamstrings_biceps_femoris",
            "hamstrings_biceps_femoris_low",
            "hamstrings_medial",
            "hamstrings_medial_lower",
            "gluteus_minimus_posterior",
            "gemelli",
            "quadratus_femoris",
        ]
        .iter()
        .map(|id| planned_at(id, &[THINNERS], 1))
        .collect();
        points.push(planned_at("piriformis", &[FOAM, sciatic], 1));
        points
    }

    #[test]
    fn a_long_heading_wraps_at_the_width_beneath_itself() {
        // Each line is painted on its own; the lines after the first are
        // two columns in, and a reason's four columns in go on at six.
        check_plan_at(
            80,
            &thigh_back(),
            &[
                (
                    Tone::NotWith,
                    "[Not with the massage gun on Biceps femoris point (outer hamstring), Biceps]\n  \
                     [femoris low point (short head), Inner hamstring point, Inner hamstring lower]\n  \
                     [point, Gluteus minimus back point, Gemelli (superior and inferior) or]\n  \
                     [Quadratus femoris:]",
                ),
                (
                    Tone::Why,
                    "    Massage gun: a condition you reported rules it out (Blood thinners): it\n      \
                     bruises.",
                ),
                (
                    Tone::NotWith,
                    "[Piriformis point: not with the foam roller or the massage gun]",
                ),
                (
                    Tone::Why,
                    "    Foam roller: never use it on this point. It presses on the organs.",
                ),
                (
                    Tone::Why,
                    "    Massage gun: never use it on this point. The sciatic nerve runs under it.",
                ),
            ],
        );
    }

    #[test]
    fn wrapped_notes_fit_the_width_and_lose_no_word() {
        let plain = |line: &str| line.replace(['[', ']'], "");
        let words = |notes: Vec<(Tone, Vec<String>)>| {
            notes
                .iter()
                .flat_map(|(_, lines)| {
                    lines.iter().flat_map(|l| {
                        plain(l)
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
                })
                .collect::<Vec<_>>()
        };
        let whole = words(notes_at(usize::MAX, &thigh_back()));
        for width in 10..=120 {
            let notes = notes_at(width, &thigh_back());
            for line in notes.iter().flat_map(|(_, lines)| lines) {
                let line = plain(line);
                assert!(
                    line.chars().count() <= width || line.split_whitespace().count() == 1,
                    "wider than {width}: {line:?}"
                );
            }
            assert_eq!(words(notes), whole, "at {width}");
        }
    }

    #[test]
    fn notes_that_fit_are_left_as_they_are() {
        let plans = [
            vec![planned(&[FOAM, GUN, BALL], 1)],
            vec![planned(
                &[
                    (
                        "DAILY_LIMIT_REACHED",
                        "",
                        "No session left on this point today.",
                    ),
                    FOAM,
                ],
                0,
            )],
            thigh_back(),
        ];
        for points in &plans {
            let notes = notes_at(80, points);
            let unwrapped = notes_at(usize::MAX, points);
            assert_eq!(notes.len(), unwrapped.len());
            for (note, whole) in notes.iter().zip(&unwrapped) {
                let fits = whole.1[0].replace(['[', ']'], "").chars().count() <= 80;
                if fits {
                    assert_eq!(note, whole);
                } else {
                    assert!(note.1.len() > 1, "{note:?}");
                }
            }
        }
    }

    #[test]
    fn stops_read_as_danger_and_ruled_out_tools_as_caution() {
        assert_eq!(Tone::Stop.style(), style::DANGER);
        assert_eq!(Tone::NotWith.style(), style::CAUTION);
    }

    #[test]
    fn tools_in_a_sentence() {
        let check = |display: &str, expected: &str| {
            assert_eq!(tool_in_sentence(display), expected, "{display}");
        };
        check("Foam roller", "the foam roller");
        check("QL Claw", "the QL Claw");
        check("Back Buddy (hook tool)", "the Back Buddy (hook tool)");
        check("Your own knuckles or elbow", "your own knuckles or elbow");
        check(
            "A partner's hands, knuckles, elbows or heel",
            "a partner's hands, knuckles, elbows or heel",
        );
        // A name the catalog did not give: the id with spaces.
        check("golf ball", "the golf ball");
        let list =
            |items: &[&str]| or_list(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a"]), "a");
        assert_eq!(list(&["a", "b"]), "a or b");
        assert_eq!(list(&["a", "b", "c"]), "a, b or c");
        let list =
            |items: &[&str]| and_list(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(list(&["a"]), "a");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
    }
}
