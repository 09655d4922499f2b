//! The chart: FindByPain, search, trigger points, muscles and regions
//! (`care.rs` makes the other `CatalogService` calls). No sign-in needed.

use anstyle::Style;
use anyhow::{Context, bail};
use knotwork_proto::catalog::v1 as cat;

use super::names::Names;
use crate::connect::{Ctx, Reply, full};
use crate::output::{
    Painter, align_right, paint, painted, paragraph_lines, print_lines, print_red_flags,
    print_table, short, style, table, title, width, word, wrapped_lines,
};

/// A single resource name or id.
#[derive(Debug, clap::Args)]
pub struct NameArg {
    /// The id (e.g. `trapezius`) or the full name (e.g. `muscles/trapezius`).
    pub name: String,
}

/// Options of `knotwork search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to look for, e.g. "trapezius", "lacrosse", "shin pain".
    pub query: String,
    /// Only these kinds: region, muscle, trigger-point, tool, symptom.
    #[arg(long = "kind", value_parser = parse_kind)]
    pub kinds: Vec<cat::ResourceKind>,
    /// Most results.
    #[arg(long, default_value_t = 10)]
    pub limit: i32,
    /// Continue from a previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

/// Options of `knotwork pain`.
#[derive(Debug, clap::Args)]
pub struct PainArgs {
    /// Where it hurts, e.g. "low back", "left:chest", "right:temple".
    #[arg(required = true)]
    pub regions: Vec<String>,
    /// Symptoms, e.g. "headache", "tingling".
    #[arg(long = "symptom")]
    pub symptoms: Vec<String>,
    /// Most muscles to show.
    #[arg(long, default_value_t = 8)]
    pub limit: i32,
    /// Continue from a previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Show every red flag in full, not only the urgent ones.
    #[arg(long)]
    pub flags: bool,
}

/// Options of `knotwork point`.
#[derive(Debug, clap::Args)]
pub struct PointArgs {
    /// One or more trigger points, e.g. `quadratus_lumborum_superficial`.
    #[arg(required = true)]
    pub points: Vec<String>,
    /// Also write the point's referral picture (GetTriggerPointPicture) to
    /// this SVG file; `-` writes it to standard output instead of the point.
    /// One point only.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
    /// The side the picture shows: right, left or both (the default).
    #[arg(long, value_name = "SIDE", requires = "svg")]
    pub side: Option<String>,
}

/// The paging options of a list command.
#[derive(Debug, clap::Args)]
pub struct PageArgs {
    /// Page size.
    #[arg(long, default_value_t = 50)]
    pub limit: i32,
    /// Continue from a previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

/// Options of `knotwork points`.
#[derive(Debug, clap::Args)]
pub struct PointsArgs {
    /// Only points in this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Only points of this muscle.
    #[arg(long)]
    pub muscle: Option<String>,
    /// Only points this tool works on.
    #[arg(long)]
    pub tool: Option<String>,
    /// Paging.
    #[command(flatten)]
    pub page: PageArgs,
}

/// Options of `knotwork muscles`.
#[derive(Debug, clap::Args)]
pub struct MusclesArgs {
    /// Only muscles in this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Only muscles this tool suits.
    #[arg(long)]
    pub tool: Option<String>,
    /// Paging.
    #[command(flatten)]
    pub page: PageArgs,
}

/// Options of `knotwork regions`.
#[derive(Debug, clap::Args)]
pub struct RegionsArgs {
    /// Only regions on this view: front or back.
    #[arg(long, value_parser = parse_view)]
    pub view: Option<cat::BodyView>,
    /// Only regions in this area, e.g. "back".
    #[arg(long, default_value = "")]
    pub area: String,
    /// Page size.
    #[arg(long, default_value_t = 100)]
    pub limit: i32,
    /// Continue from a previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

/// Parses a side: left, right, both, midline.
pub fn parse_side(text: &str) -> anyhow::Result<cat::Side> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "left" | "l" => cat::Side::Left,
        "right" | "r" => cat::Side::Right,
        "both" | "b" => cat::Side::Both,
        "midline" | "middle" => cat::Side::Midline,
        other => bail!("unknown side {other:?}: use left, right, both or midline"),
    })
}

fn parse_view(text: &str) -> anyhow::Result<cat::BodyView> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "front" => cat::BodyView::Front,
        "back" => cat::BodyView::Back,
        other => bail!("unknown view {other:?}: use front or back"),
    })
}

fn parse_kind(text: &str) -> anyhow::Result<cat::ResourceKind> {
    Ok(match text.to_ascii_lowercase().replace('_', "-").as_str() {
        "region" => cat::ResourceKind::Region,
        "muscle" => cat::ResourceKind::Muscle,
        "trigger-point" | "point" => cat::ResourceKind::TriggerPoint,
        "tool" => cat::ResourceKind::Tool,
        "symptom" => cat::ResourceKind::Symptom,
        other => {
            bail!("unknown kind {other:?}: use region, muscle, trigger-point, tool or symptom")
        }
    })
}

/// Pain locations from `[side:]region` words.
pub fn parse_locations(regions: &[String]) -> anyhow::Result<Vec<cat::PainLocation>> {
    regions
        .iter()
        .map(|text| {
            let (side, region) = match text.split_once(':') {
                Some((side, region)) => (parse_side(side)?, region.to_owned()),
                None => (cat::Side::Unspecified, text.clone()),
            };
            Ok(cat::PainLocation {
                region,
                side: side as i32,
            })
        })
        .collect()
}

pub(super) fn opt_full(collection: &str, id: &Option<String>) -> String {
    id.as_deref()
        .map(|i| full(collection, i))
        .unwrap_or_default()
}

pub(super) fn next_page(token: &str) {
    if !token.is_empty() {
        anstream::println!(
            "{}",
            paint(style::DIM, format!("more: --page-token {token}"))
        );
    }
}

/// `knotwork pain`.
pub async fn pain(ctx: &Ctx, args: PainArgs) -> anyhow::Result<()> {
    let req = cat::FindByPainRequest {
        locations: parse_locations(&args.regions)?,
        symptoms: args.symptoms,
        page_size: args.limit,
        page_token: args.page_token,
    };
    let resp = ctx.catalog().await?.find_by_pain(req).await.reply()?;
    let all_flags = args.flags;
    ctx.out.show(&resp, |resp| {
        print_red_flags(&resp.red_flags, all_flags);
        anstream::println!(
            "{}",
            paint(
                style::HEADING,
                "Possible sources (not a diagnosis), best first:"
            )
        );
        let mut t = table(&["#", "muscle", "trigger point", "press", "why"]);
        for (i, m) in resp.matches.iter().enumerate() {
            let muscle = m.muscle.as_ref().map(|m| m.display_name.as_str());
            for (j, tp) in m.trigger_points.iter().enumerate() {
                let Some(p) = &tp.trigger_point else { continue };
                let why: Vec<_> = tp.reasons.iter().map(|r| r.text.as_str()).collect();
                t.add_row(vec![
                    if j == 0 {
                        format!("{}", i + 1)
                    } else {
                        String::new()
                    },
                    if j == 0 {
                        muscle.unwrap_or("?").to_owned()
                    } else {
                        String::new()
                    },
                    short(&p.name).to_owned(),
                    if p.therapist_only {
                        "therapist only".to_owned()
                    } else {
                        word(tp.press_side().as_str_name(), "SIDE_")
                    },
                    why.join("; "),
                ]);
            }
        }
        align_right(&mut t, &[0]);
        print_table(&t);
        next_page(&resp.next_page_token);
    })
}

/// `knotwork search`.
pub async fn search(ctx: &Ctx, args: SearchArgs) -> anyhow::Result<()> {
    let req = cat::SearchRequest {
        query: args.query,
        kinds: args.kinds.into_iter().map(|k| k as i32).collect(),
        page_size: args.limit,
        page_token: args.page_token,
    };
    let resp = ctx.catalog().await?.search(req).await.reply()?;
    ctx.out.show(&resp, |resp| {
        if resp.results.is_empty() {
            println!("nothing found");
            return;
        }
        let mut t = table(&["kind", "name", "display name", "matched"]);
        for r in &resp.results {
            t.add_row(vec![
                word(r.kind().as_str_name(), "RESOURCE_KIND_"),
                r.resource.clone(),
                r.display_name.clone(),
                r.matched_text.clone(),
            ]);
        }
        print_table(&t);
        next_page(&resp.next_page_token);
    })
}

fn show_point(tp: &cat::TriggerPoint, names: &Names) {
    print_lines(point_lines(tp, names, width(), painted));
}

/// The lines of `show_point` at `width` columns: the heading, then each
/// fact, caution and exclusion wrapped beneath its label, then the guides.
fn point_lines(tp: &cat::TriggerPoint, names: &Names, width: usize, paint: Painter) -> Vec<String> {
    let plain = Style::new();
    // The heading stays one line, as `title` prints the other resources'.
    let mut lines = vec![format!(
        "{} {}",
        paint(style::HEADING, &tp.display_name),
        paint(style::DIM, &format!("({}, {})", tp.name, short(&tp.muscle)))
    )];
    let mut note = |lead: (Style, &str), text: &str| {
        lines.extend(wrapped_lines(0, lead, (plain, text), width, paint));
    };
    note((plain, "Where:"), &tp.location_description);
    if tp.therapist_only {
        note(
            (style::DANGER, "For a therapist only:"),
            &tp.therapist_only_note,
        );
    }
    if !tp.symptoms.is_empty() {
        note((plain, "Symptoms:"), &names.list(&tp.symptoms));
    }
    for c in &tp.cautions {
        note(
            (style::CAUTION, &format!("Caution ({}):", c.structure)),
            &c.text,
        );
    }
    for t in &tp.techniques {
        note(
            (plain, &format!("With {}:", names.of(&t.tool))),
            &t.instructions,
        );
    }
    // A therapist-only point excludes every self-treatment tool; the line
    // above already says so, once.
    if !tp.therapist_only {
        lines.extend(never_with_lines(&tp.excluded_tools, names, width, paint));
    }
    for x in &tp.excluded_conditions {
        lines.extend(wrapped_lines(
            0,
            (
                style::CAUTION,
                &format!("Not with {}:", names.of(&x.contraindication)),
            ),
            (plain, &x.reason),
            width,
            paint,
        ));
    }
    lines.extend(guides_lines(&tp.guides, width, paint));
    lines
}

/// The tools that must never be used on a point, each with why, wrapped
/// beneath "Never with" and its name in the danger style.
pub(super) fn never_with_lines(
    excluded: &[cat::ToolExclusion],
    names: &Names,
    width: usize,
    paint: Painter,
) -> Vec<String> {
    excluded
        .iter()
        .flat_map(|x| {
            wrapped_lines(
                0,
                (style::DANGER, &format!("Never with {}:", names.of(&x.tool))),
                (Style::new(), &x.reason),
                width,
                paint,
            )
        })
        .collect()
}

/// `knotwork point`: GetTriggerPoint for one, BatchGetTriggerPoints for several.
pub async fn point(ctx: &Ctx, args: PointArgs) -> anyhow::Result<()> {
    let mut client = ctx.catalog().await?;
    let names: Vec<String> = args
        .points
        .iter()
        .map(|p| full("triggerPoints", p))
        .collect();
    if let Some(path) = &args.svg {
        let [name] = names.as_slice() else {
            bail!("--svg draws one trigger point: name only one");
        };
        let side = match &args.side {
            Some(s) => parse_side(s)?,
            None => cat::Side::Both,
        };
        let picture = client
            .get_trigger_point_picture(cat::GetTriggerPointPictureRequest {
                name: name.clone(),
                side: side as i32,
            })
            .await
            .reply()?;
        if path.as_os_str() == "-" {
            anstream::print!("{}", picture.svg);
            return Ok(());
        }
        std::fs::write(path, picture.svg.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !ctx.out.json {
            eprintln!(
                "Wrote the referral picture to {} (catalog {}).",
                path.display(),
                &picture.catalog_version[..picture.catalog_version.len().min(12)]
            );
        }
    }
    let display = if ctx.out.json {
        Names::default()
    } else {
        let mut display = Names::load(ctx, &[]).await;
        display.add_symptoms(ctx).await;
        display
    };
    if let [name] = names.as_slice() {
        let resp = client
            .get_trigger_point(cat::GetTriggerPointRequest { name: name.clone() })
            .await
            .reply()?;
        return ctx.out.show(&resp, |resp| {
            if let Some(tp) = &resp.trigger_point {
                show_point(tp, &display);
            }
        });
    }
    let resp = client
        .batch_get_trigger_points(cat::BatchGetTriggerPointsRequest { names })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        for (i, tp) in resp.trigger_points.iter().enumerate() {
            if i > 0 {
                println!();
            }
            show_point(tp, &display);
        }
    })
}

/// `knotwork points`.
pub async fn points(ctx: &Ctx, args: PointsArgs) -> anyhow::Result<()> {
    let req = cat::ListTriggerPointsRequest {
        region: opt_full("regions", &args.region),
        muscle: opt_full("muscles", &args.muscle),
        tool: opt_full("tools", &args.tool),
        page_size: args.page.limit,
        page_token: args.page.page_token,
    };
    let resp = ctx
        .catalog()
        .await?
        .list_trigger_points(req)
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["trigger point", "display name", "muscle", "region"]);
        for p in &resp.trigger_points {
            t.add_row(vec![
                short(&p.name),
                &p.display_name,
                short(&p.muscle),
                short(&p.region),
            ]);
        }
        print_table(&t);
        next_page(&resp.next_page_token);
    })
}

/// `knotwork muscle`.
pub async fn muscle(ctx: &Ctx, args: NameArg) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_muscle(cat::GetMuscleRequest {
            name: full("muscles", &args.name),
        })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let Some(m) = &resp.muscle else { return };
        title(&m.display_name, &m.name);
        print_lines(muscle_lines(m, width(), painted));
    })
}

/// The lines of `knotwork muscle` under the title at `width` columns: the
/// description as a paragraph; the other names, the actions and the trigger
/// points wrapped beneath their labels.
fn muscle_lines(m: &cat::Muscle, width: usize, paint: Painter) -> Vec<String> {
    let plain = Style::new();
    let labelled =
        |label: &str, text: &str| wrapped_lines(0, (plain, label), (plain, text), width, paint);
    let mut lines = Vec::new();
    if !m.aliases.is_empty() {
        lines.extend(labelled("Also called:", &m.aliases.join(", ")));
    }
    lines.push(format!("Region: {}", short(&m.region)));
    lines.extend(paragraph_lines(0, (plain, &m.description), width, paint));
    if !m.actions.is_empty() {
        lines.extend(labelled("Actions:", &m.actions.join("; ")));
    }
    let points: Vec<_> = m.trigger_points.iter().map(|p| short(p)).collect();
    lines.extend(labelled("Trigger points:", &points.join(", ")));
    lines
}

/// `knotwork muscles`.
pub async fn muscles(ctx: &Ctx, args: MusclesArgs) -> anyhow::Result<()> {
    let req = cat::ListMusclesRequest {
        region: opt_full("regions", &args.region),
        tool: opt_full("tools", &args.tool),
        page_size: args.page.limit,
        page_token: args.page.page_token,
    };
    let resp = ctx.catalog().await?.list_muscles(req).await.reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["muscle", "display name", "region", "points"]);
        for m in &resp.muscles {
            t.add_row(vec![
                short(&m.name).to_owned(),
                m.display_name.clone(),
                short(&m.region).to_owned(),
                m.trigger_points.len().to_string(),
            ]);
        }
        align_right(&mut t, &[3]);
        print_table(&t);
        next_page(&resp.next_page_token);
    })
}

/// `knotwork region`.
pub async fn region(ctx: &Ctx, args: NameArg) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_region(cat::GetRegionRequest {
            name: full("regions", &args.name),
        })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let Some(r) = &resp.region else { return };
        title(&r.display_name, &r.name);
        println!(
            "View: {}, area: {}{}",
            word(r.view().as_str_name(), "BODY_VIEW_"),
            r.area,
            if r.lateral { ", left/right" } else { "" }
        );
        if !r.synonyms.is_empty() {
            println!("Also: {}", r.synonyms.join(", "));
        }
        for f in &r.red_flags {
            println!("Red flag: {}", short(f));
        }
    })
}

/// `knotwork regions`.
pub async fn regions(ctx: &Ctx, args: RegionsArgs) -> anyhow::Result<()> {
    let req = cat::ListRegionsRequest {
        view: args.view.unwrap_or(cat::BodyView::Unspecified) as i32,
        area: args.area,
        page_size: args.limit,
        page_token: args.page_token,
    };
    let resp = ctx.catalog().await?.list_regions(req).await.reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["region", "display name", "view", "area", "sided"]);
        for r in &resp.regions {
            t.add_row(vec![
                short(&r.name).to_owned(),
                r.display_name.clone(),
                word(r.view().as_str_name(), "BODY_VIEW_"),
                r.area.clone(),
                if r.lateral { "yes" } else { "" }.to_owned(),
            ]);
        }
        print_table(&t);
        next_page(&resp.next_page_token);
    })
}

/// The "read first" line linking guides (`knotwork guide-text ID`).
pub(super) fn show_guides(guides: &[String]) {
    print_lines(guides_lines(guides, width(), painted));
}

/// The lines of `show_guides` at `width` columns: the guides' ids wrapped
/// between them, each whole.
fn guides_lines(guides: &[String], width: usize, paint: Painter) -> Vec<String> {
    if guides.is_empty() {
        return Vec::new();
    }
    let ids: Vec<&str> = guides.iter().map(|g| short(g)).collect();
    wrapped_lines(
        0,
        (Style::new(), &format!("Guides: {}", ids.join(", "))),
        (style::DIM, "(knotwork guide-text ID)"),
        width,
        paint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::bracketed;

    #[test]
    fn a_point_wraps_each_fact_beneath_its_label() {
        let names = Names::from_pairs([
            ("tools/lacrosse_ball", "Lacrosse ball"),
            ("tools/partner", "A partner's hands"),
            ("symptoms/cramps", "Cramps"),
            (
                "contraindications/congestive_heart_failure",
                "Congestive heart failure",
            ),
        ]);
        let mut tp = cat::TriggerPoint {
            name: "triggerPoints/gastrocnemius_medial".into(),
            muscle: "muscles/gastrocnemius".into(),
            display_name: "Gastrocnemius inner head point".into(),
            location_description: "In the upper inner calf, about a hand-width below the back \
                                   crease of the knee, on the inner bulge of the calf muscle."
                .into(),
            // Display names, and an id with spaces when the catalog lacks one.
            symptoms: vec!["symptoms/cramps".into(), "symptoms/deep_ache".into()],
            cautions: vec![cat::Caution {
                structure: "Deep veins".into(),
                text: "Never massage a calf that is swollen, warm, red or unusually painful; \
                       a blood clot must be ruled out first."
                    .into(),
                ..Default::default()
            }],
            techniques: vec![cat::Technique {
                tool: "tools/lacrosse_ball".into(),
                instructions: "Sit on the floor with the ball under the calf; cross the other \
                               leg on top to add weight and hold, or roll a few centimetres."
                    .into(),
            }],
            excluded_tools: vec![cat::ToolExclusion {
                tool: "tools/partner".into(),
                reason: "Only you can feel an organ-like or pulsing sensation in time; do it \
                         yourself with fingertips or see a therapist."
                    .into(),
            }],
            excluded_conditions: vec![cat::ConditionExclusion {
                contraindication: "contraindications/congestive_heart_failure".into(),
                reason: "Working swollen calves pushes fluid back toward a struggling heart; \
                         needs specific medical approval."
                    .into(),
            }],
            guides: [
                "find_a_knot",
                "pressure_five_of_ten",
                "hold_or_stroke",
                "referred_pain",
                "when_to_stop",
                "tool_ball",
            ]
            .iter()
            .map(|g| format!("guides/{g}"))
            .collect(),
            ..Default::default()
        };
        assert_eq!(
            point_lines(&tp, &names, 80, bracketed),
            [
                "[Gastrocnemius inner head point] [(triggerPoints/gastrocnemius_medial, gastrocnemius)]",
                "Where: In the upper inner calf, about a hand-width below the back crease of the",
                "  knee, on the inner bulge of the calf muscle.",
                "Symptoms: Cramps, deep ache",
                "[Caution (Deep veins):] Never massage a calf that is swollen, warm, red or",
                "  unusually painful; a blood clot must be ruled out first.",
                "With Lacrosse ball: Sit on the floor with the ball under the calf; cross the",
                "  other leg on top to add weight and hold, or roll a few centimetres.",
                "[Never with A partner's hands:] Only you can feel an organ-like or pulsing",
                "  sensation in time; do it yourself with fingertips or see a therapist.",
                "[Not with Congestive heart failure:] Working swollen calves pushes fluid back",
                "  toward a struggling heart; needs specific medical approval.",
                "Guides: find_a_knot, pressure_five_of_ten, hold_or_stroke, referred_pain,",
                "  when_to_stop, tool_ball [(knotwork guide-text ID)]",
            ]
        );
        // A therapist-only point says so, wrapped, and names no tool as
        // excluded: the note already rules them all out.
        tp.therapist_only = true;
        tp.therapist_only_note = "This muscle lies inside the pelvis and can only be reached \
                                  internally. Only a trained pelvic health physiotherapist or \
                                  doctor should work it."
            .into();
        let lines = point_lines(&tp, &names, 80, bracketed);
        assert_eq!(
            lines[3..6],
            [
                "[For a therapist only:] This muscle lies inside the pelvis and can only be reached",
                "  internally. Only a trained pelvic health physiotherapist or doctor should work",
                "  it.",
            ]
        );
        assert!(
            !lines.iter().any(|l| l.contains("Never with")),
            "{lines:#?}"
        );
    }

    #[test]
    fn a_muscle_wraps_its_description_and_actions() {
        let m = cat::Muscle {
            region: "regions/lower_abdomen".into(),
            aliases: vec!["psoas".into(), "hip flexor".into()],
            description: "The main hip flexor, made of the psoas, which runs from the lumbar \
                          spine through the back of the abdomen, and the iliacus, which lines \
                          the inside of the pelvic bowl."
                .into(),
            actions: vec![
                "Lifts the thigh toward the trunk".into(),
                "Bends the trunk forward from lying".into(),
                "Helps hold the lumbar spine when standing".into(),
            ],
            trigger_points: vec![
                "triggerPoints/iliopsoas_psoas".into(),
                "triggerPoints/iliopsoas_iliacus".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            muscle_lines(&m, 80, bracketed),
            [
                "Also called: psoas, hip flexor",
                "Region: lower_abdomen",
                "The main hip flexor, made of the psoas, which runs from the lumbar spine through",
                "the back of the abdomen, and the iliacus, which lines the inside of the pelvic",
                "bowl.",
                "Actions: Lifts the thigh toward the trunk; Bends the trunk forward from lying;",
                "  Helps hold the lumbar spine when standing",
                "Trigger points: iliopsoas_psoas, iliopsoas_iliacus",
            ]
        );
        // Narrower, the trigger points wrap beneath their label too.
        let narrow = muscle_lines(&m, 40, bracketed);
        assert_eq!(
            narrow[narrow.len() - 2..],
            ["Trigger points: iliopsoas_psoas,", "  iliopsoas_iliacus"]
        );
        assert!(narrow.iter().all(|l| l.len() <= 40), "{narrow:#?}");
    }

    #[test]
    fn locations_take_an_optional_side() {
        let l = parse_locations(&["low back".into(), "left:chest".into()]).unwrap();
        assert_eq!(l[0].region, "low back");
        assert_eq!(l[0].side, cat::Side::Unspecified as i32);
        assert_eq!(l[1].region, "chest");
        assert_eq!(l[1].side, cat::Side::Left as i32);
        assert!(parse_locations(&["up:chest".into()]).is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(
            parse_kind("trigger_point").unwrap(),
            cat::ResourceKind::TriggerPoint
        );
        assert!(parse_kind("bone").is_err());
        assert_eq!(parse_view("Back").unwrap(), cat::BodyView::Back);
    }
}
