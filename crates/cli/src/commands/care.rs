//! Working safely: tools, guides, the technique guidance, contraindications,
//! red flags and symptoms, sources, and the catalog's version and snapshot
//! (the `CatalogService` calls `catalog.rs` does not make). No sign-in needed.

use anyhow::bail;
use knotwork_proto::catalog::v1 as cat;

use super::catalog::{NameArg, PageArgs, never_with_lines, next_page, opt_full, show_guides};
use super::names::Names;
use crate::connect::{Ctx, Reply, full};
use crate::output::{
    align_right, paint, painted, print_lines, print_table, short, style, table, title, width, word,
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
        print_table(&t);
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
        println!("{}", g.summary);
        for s in &g.sections {
            println!();
            anstream::println!("{}", paint(style::HEADING, &s.heading));
            println!("{}", s.text);
        }
        println!();
        let sources: Vec<&str> = g.sources.iter().map(|x| short(x)).collect();
        anstream::println!(
            "{}",
            paint(
                style::DIM,
                format!("Sources: {} (knotwork sources)", sources.join(", "))
            )
        );
    })
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
        println!("{}", t.description);
        println!("How to use: {}", t.how_to_use);
        println!(
            "Portability: {}{}",
            word(t.portability().as_str_name(), "PORTABILITY_"),
            if t.requires_partner {
                "; needs a partner"
            } else {
                ""
            }
        );
        show_guides(&t.guides);
    })
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
        print_table(&t);
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
        print_table(&t);
    })
}

/// Prints the technique guidance.
pub fn show_guidance(g: &cat::TechniqueGuidance) {
    anstream::println!("{}", paint(style::HEADING, "Technique guidance"));
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
            "{}-{} a day (at most {})",
            g.recommended_sessions_per_day_min,
            g.max_sessions_per_point_per_day,
            g.max_sessions_per_point_per_day
        ),
    ]);
    t.add_row(vec![
        "expect change in".to_owned(),
        format!("{} days", g.expected_improvement_days),
    ]);
    // The header row of this key/value table is empty: print the rows only.
    for line in t.to_string().lines().skip(1) {
        println!("{}", line.trim_end());
    }
    println!("{}", g.summary);
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
        print_table(&t);
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
        print_table(&t);
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
        print_table(&t);
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
