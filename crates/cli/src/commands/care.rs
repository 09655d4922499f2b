//! Working safely: tools, guides, the technique guidance, contraindications,
//! red flags and symptoms, sources, and the catalog's version and snapshot
//! (the `CatalogService` calls `catalog.rs` does not make). No sign-in needed.

use anstyle::Style;
use anyhow::bail;
use knotwork_proto::catalog::v1 as cat;

use super::catalog::{NameArg, PageArgs, never_with_lines, next_page, opt_full, show_guides};
use super::names::Names;
use crate::connect::{Ctx, Reply, full};
use crate::output::{
    Painter, align_right, fitted_table_lines, painted, paragraph_lines, print_fitted_table,
    print_lines, print_table, short, style, table, title, width, word, wrapped_lines,
};

/// Options of `knotwork tools`.
#[derive(Debug, clap::Args)]
pub struct ToolsArgs {
    /// Only tools suited to this muscle.
    #[arg(long)]
    pub muscle: Option<String>,
    /// Paging.
    #[command(flatten)]
    pub page: PageArgs,
}

/// Options of `knotwork guides`.
#[derive(Debug, clap::Args)]
pub struct GuidesArgs {
    /// Only guides teaching this tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// Paging.
    #[command(flatten)]
    pub page: PageArgs,
}

/// Options of `knotwork contraindications`.
#[derive(Debug, clap::Args)]
pub struct ContraindicationsArgs {
    /// Only this kind: condition or location.
    #[arg(long, value_parser = parse_contraindication_kind)]
    pub kind: Option<cat::ContraindicationKind>,
}

/// Options of `knotwork snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// The version you have: answers "not modified" when it is current.
    #[arg(long, default_value = "")]
    pub if_none_match: String,
}

fn parse_contraindication_kind(text: &str) -> anyhow::Result<cat::ContraindicationKind> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "condition" => cat::ContraindicationKind::Condition,
        "location" => cat::ContraindicationKind::Location,
        other => bail!("unknown kind {other:?}: use condition or location"),
    })
}

/// `knotwork guides`.
pub async fn guides(ctx: &Ctx, args: GuidesArgs) -> anyhow::Result<()> {
    let req = cat::ListGuidesRequest {
        tool: opt_full("tools", &args.tool),
        page_size: args.page.limit,
        page_token: args.page.page_token,
    };
    let resp = ctx.catalog().await?.list_guides(req).await.reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["guide", "title", "summary"]);
        for g in &resp.guides {
            t.add_row(vec![
                short(&g.name).to_owned(),
                g.title.clone(),
                g.summary.clone(),
            ]);
        }
        print_fitted_table(&t, &[0]);
        next_page(&resp.next_page_token);
    })
}

/// `knotwork guide-text`: one guide, to read.
pub async fn guide_text(ctx: &Ctx, args: NameArg) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_guide(cat::GetGuideRequest {
            name: full("guides", &args.name),
        })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let Some(g) = &resp.guide else { return };
        title(&g.title, &g.name);
        print_lines(guide_text_lines(g, width(), painted));
    })
}

/// The lines of `knotwork guide-text` under the title at `width` columns:
/// the summary and each section's text wrapped as paragraphs, then the
/// sources.
fn guide_text_lines(g: &cat::Guide, width: usize, paint: Painter) -> Vec<String> {
    let plain = Style::new();
    let mut lines = paragraph_lines(0, (plain, &g.summary), width, paint);
    for s in &g.sections {
        lines.push(String::new());
        lines.push(paint(style::HEADING, &s.heading));
        lines.extend(paragraph_lines(0, (plain, &s.text), width, paint));
    }
    lines.push(String::new());
    let sources: Vec<&str> = g.sources.iter().map(|x| short(x)).collect();
    lines.push(paint(
        style::DIM,
        &format!("Sources: {} (knotwork sources)", sources.join(", ")),
    ));
    lines
}

/// `knotwork tool`.
pub async fn tool(ctx: &Ctx, args: NameArg) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_tool(cat::GetToolRequest {
            name: full("tools", &args.name),
        })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let Some(t) = &resp.tool else { return };
        title(&t.display_name, &t.name);
        print_lines(tool_lines(t, width(), painted));
        show_guides(&t.guides);
    })
}

/// The lines of `knotwork tool` between the title and the guides at `width`
/// columns: the description as a paragraph, how to use it wrapped beneath
/// its label, the portability.
fn tool_lines(t: &cat::Tool, width: usize, paint: Painter) -> Vec<String> {
    let plain = Style::new();
    let mut lines = paragraph_lines(0, (plain, &t.description), width, paint);
    lines.extend(wrapped_lines(
        0,
        (plain, "How to use:"),
        (plain, &t.how_to_use),
        width,
        paint,
    ));
    lines.push(format!(
        "Portability: {}{}",
        word(t.portability().as_str_name(), "PORTABILITY_"),
        if t.requires_partner {
            "; needs a partner"
        } else {
            ""
        }
    ));
    lines
}

/// `knotwork tools`.
pub async fn tools(ctx: &Ctx, args: ToolsArgs) -> anyhow::Result<()> {
    let req = cat::ListToolsRequest {
        muscle: opt_full("muscles", &args.muscle),
        page_size: args.page.limit,
        page_token: args.page.page_token,
    };
    let resp = ctx.catalog().await?.list_tools(req).await.reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["tool", "display name", "portability", "partner"]);
        for tool in &resp.tools {
            t.add_row(vec![
                short(&tool.name).to_owned(),
                tool.display_name.clone(),
                word(tool.portability().as_str_name(), "PORTABILITY_"),
                if tool.requires_partner { "yes" } else { "" }.to_owned(),
            ]);
        }
        print_table(&t);
        next_page(&resp.next_page_token);
    })
}

/// `knotwork recommended-tools`.
pub async fn recommended_tools(ctx: &Ctx, args: NameArg) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .list_recommended_tools(cat::ListRecommendedToolsRequest {
            trigger_point: full("triggerPoints", &args.name),
        })
        .await
        .reply()?;
    let mut display = Names::default();
    for r in &resp.recommended {
        if let Some(t) = &r.tool {
            display.insert(&t.name, &t.display_name);
        }
    }
    if !ctx.out.json && !resp.excluded.is_empty() {
        display = Names::load(ctx, &[]).await;
    }
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["tool", "how"]);
        for r in &resp.recommended {
            let name = r
                .tool
                .as_ref()
                .map(|t| display.of(&t.name))
                .unwrap_or_else(|| "?".into());
            t.add_row(vec![name, r.instructions.clone()]);
        }
        print_fitted_table(&t, &[0]);
        print_lines(never_with_lines(&resp.excluded, &display, width(), painted));
    })
}

/// `knotwork symptoms`.
pub async fn symptoms(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .list_symptoms(cat::ListSymptomsRequest {})
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["symptom", "display name", "also"]);
        for s in &resp.symptoms {
            t.add_row(vec![
                short(&s.name).to_owned(),
                s.display_name.clone(),
                s.synonyms.join(", "),
            ]);
        }
        print_fitted_table(&t, &[0, 1]);
    })
}

/// Prints the technique guidance.
pub fn show_guidance(g: &cat::TechniqueGuidance) {
    print_lines(guidance_lines(g, width(), painted));
}

/// The lines of [`show_guidance`] at `width` columns: the heading, the
/// numbers as a table (never wrapped), the summary as a paragraph.
fn guidance_lines(g: &cat::TechniqueGuidance, width: usize, paint: Painter) -> Vec<String> {
    let mut lines = vec![paint(style::HEADING, "Technique guidance")];
    let mut t = table(&["", ""]);
    t.add_row(vec![
        "pressure".to_owned(),
        format!(
            "aim for {}/10, never above {}/10: {}",
            g.target_pressure, g.max_safe_pressure, g.pressure_description
        ),
    ]);
    t.add_row(vec![
        "time per point".to_owned(),
        format!("{}-{} s", g.min_duration_seconds, g.max_duration_seconds),
    ]);
    t.add_row(vec![
        "sessions per point".to_owned(),
        format!(
            "at least {} a day, at most {}",
            g.recommended_sessions_per_day_min, g.max_sessions_per_point_per_day
        ),
    ]);
    t.add_row(vec![
        "expect change in".to_owned(),
        format!("{} days", g.expected_improvement_days),
    ]);
    // The header row of this key/value table is empty: print the rows only.
    lines.extend(fitted_table_lines(&t, &[0], width).into_iter().skip(1));
    lines.extend(paragraph_lines(0, (Style::new(), &g.summary), width, paint));
    lines
}

/// `knotwork guidance`.
pub async fn guidance(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_technique_guidance(cat::GetTechniqueGuidanceRequest {})
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        if let Some(g) = &resp.guidance {
            show_guidance(g);
        }
    })
}

/// `knotwork contraindications`.
pub async fn contraindications(ctx: &Ctx, args: ContraindicationsArgs) -> anyhow::Result<()> {
    let kind = args.kind.unwrap_or(cat::ContraindicationKind::Unspecified);
    let resp = ctx
        .catalog()
        .await?
        .list_contraindications(cat::ListContraindicationsRequest { kind: kind as i32 })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["contraindication", "kind", "question"]);
        for c in &resp.contraindications {
            t.add_row(vec![
                short(&c.name).to_owned(),
                word(c.kind().as_str_name(), "CONTRAINDICATION_KIND_"),
                if c.screening_question.is_empty() {
                    c.display_name.clone()
                } else {
                    c.screening_question.clone()
                },
            ]);
        }
        print_fitted_table(&t, &[0, 1]);
    })
}

/// `knotwork red-flags`.
pub async fn red_flags(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .list_red_flags(cat::ListRedFlagsRequest {})
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["red flag", "action", "advice"]);
        for f in &resp.red_flags {
            t.add_row(vec![
                f.display_name.clone(),
                word(f.action().as_str_name(), "RED_FLAG_ACTION_"),
                f.advice.clone(),
            ]);
        }
        print_fitted_table(&t, &[1]);
    })
}

/// `knotwork sources`.
pub async fn sources(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .list_sources(cat::ListSourcesRequest {})
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let mut t = table(&["source", "title", "authors", "year"]);
        for s in &resp.sources {
            t.add_row(vec![
                short(&s.name).to_owned(),
                s.title.clone(),
                s.authors.clone(),
                s.year.to_string(),
            ]);
        }
        print_fitted_table(&t, &[0, 3]);
    })
}

/// `knotwork version`.
pub async fn version(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        println!("catalog {} ({})", resp.catalog_version, resp.edition);
    })
}

/// `knotwork snapshot`: counts for people, everything with `--json`.
pub async fn snapshot(ctx: &Ctx, args: SnapshotArgs) -> anyhow::Result<()> {
    let resp = ctx
        .catalog()
        .await?
        .get_catalog_snapshot(cat::GetCatalogSnapshotRequest {
            if_none_match: args.if_none_match,
        })
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        if resp.not_modified {
            println!("not modified: {} is current", resp.catalog_version);
            return;
        }
        let Some(s) = &resp.snapshot else { return };
        println!("catalog {} ({})", s.catalog_version, s.edition);
        let mut t = table(&["what", "count"]);
        for (what, n) in [
            ("regions", s.regions.len()),
            ("muscles", s.muscles.len()),
            ("trigger points", s.trigger_points.len()),
            ("tools", s.tools.len()),
            ("symptoms", s.symptoms.len()),
            ("contraindications", s.contraindications.len()),
            ("red flags", s.red_flags.len()),
            ("sources", s.sources.len()),
        ] {
            t.add_row(vec![what.to_owned(), n.to_string()]);
        }
        align_right(&mut t, &[1]);
        print_table(&t);
        println!("(--json prints the whole snapshot)");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::bracketed;

    #[test]
    fn a_guide_wraps_its_summary_and_sections_as_paragraphs() {
        let g = cat::Guide {
            name: "guides/find_a_knot".into(),
            summary: "Feel for a firm band in the muscle, then for one spot on it that is far \
                      more tender than the rest and may twitch or send pain elsewhere."
                .into(),
            sections: vec![
                cat::GuideSection {
                    heading: "Find the taut band".into(),
                    text: "Relax the muscle, then slide your fingertips slowly across it, the \
                           way you would feel for a guitar string under a cloth."
                        .into(),
                },
                cat::GuideSection {
                    heading: "A twitch is a bonus, not a test".into(),
                    text: "It helps confirm the spot.\n\nYou do not need it.".into(),
                },
            ],
            sources: vec!["sources/travell_simons".into(), "sources/davies".into()],
            ..Default::default()
        };
        assert_eq!(
            guide_text_lines(&g, 80, bracketed),
            [
                "Feel for a firm band in the muscle, then for one spot on it that is far more",
                "tender than the rest and may twitch or send pain elsewhere.",
                "",
                "[Find the taut band]",
                "Relax the muscle, then slide your fingertips slowly across it, the way you would",
                "feel for a guitar string under a cloth.",
                "",
                "[A twitch is a bonus, not a test]",
                "It helps confirm the spot.",
                "",
                "You do not need it.",
                "",
                "[Sources: travell_simons, davies (knotwork sources)]",
            ]
        );
    }

    #[test]
    fn a_tool_wraps_its_description_and_how_to_use() {
        let t = cat::Tool {
            description: "A firm rubber ball about 6 cm across. Gives deep, focused pressure \
                          against a wall or the floor."
                .into(),
            how_to_use: "Put the ball between the muscle and a wall (gentler, easier to control) \
                         or the floor (stronger). Lean in until you feel about 5 out of 10, \
                         hold, or roll slowly a few centimetres over the spot."
                .into(),
            portability: cat::Portability::Pocket as i32,
            requires_partner: true,
            ..Default::default()
        };
        // The description is prose, its lines level; "How to use:" is a
        // label, its text hanging beneath it.
        assert_eq!(
            tool_lines(&t, 80, bracketed),
            [
                "A firm rubber ball about 6 cm across. Gives deep, focused pressure against a",
                "wall or the floor.",
                "How to use: Put the ball between the muscle and a wall (gentler, easier to",
                "  control) or the floor (stronger). Lean in until you feel about 5 out of 10,",
                "  hold, or roll slowly a few centimetres over the spot.",
                "Portability: pocket; needs a partner",
            ]
        );
    }

    #[test]
    fn the_guidance_summary_wraps_under_its_table() {
        let g = cat::TechniqueGuidance {
            target_pressure: 5,
            max_safe_pressure: 7,
            min_duration_seconds: 180,
            max_duration_seconds: 300,
            max_sessions_per_point_per_day: 6,
            recommended_sessions_per_day_min: 3,
            expected_improvement_days: 7,
            pressure_description: "Aim for about 5 out of 10.".into(),
            summary: "Hold steady, moderate pressure (about 5 out of 10) on one trigger point \
                      for 3 to 5 minutes, or use short, slow strokes across it, then move on. \
                      Short sessions spread through the day work better than one long, hard \
                      session."
                .into(),
            ..Default::default()
        };
        assert_eq!(
            guidance_lines(&g, 80, bracketed),
            [
                "[Technique guidance]",
                " pressure            aim for 5/10, never above 7/10: Aim for about 5 out of 10.",
                " time per point      180-300 s",
                " sessions per point  at least 3 a day, at most 6",
                " expect change in    7 days",
                "Hold steady, moderate pressure (about 5 out of 10) on one trigger point for 3 to",
                "5 minutes, or use short, slow strokes across it, then move on. Short sessions",
                "spread through the day work better than one long, hard session.",
            ]
        );
    }
}
