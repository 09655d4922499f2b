//! The gateway's composed screens: every `ViewService` call. Needs a token.

use anstyle::Style;
use knotwork_proto::gateway::v1 as gw;

use super::catalog::parse_locations;
use super::names::Names;
use super::plan_notes::plan_notes;
use super::progress::{show_day, show_progress};
use crate::connect::{Ctx, Reply};
use crate::output::{
    align_right, paint, print_red_flags, print_table, print_wrapped, short, style, table, width,
    word,
};

/// Options of `knotwork plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Where it hurts, e.g. "low back", "left:chest".
    #[arg(required = true)]
    pub regions: Vec<String>,
    /// Symptoms, e.g. "headache".
    #[arg(long = "symptom")]
    pub symptoms: Vec<String>,
    /// Most candidate muscles.
    #[arg(long, default_value_t = 5)]
    pub limit: i32,
    /// Show every red flag in full, not only the urgent ones.
    #[arg(long)]
    pub flags: bool,
}

fn print_blocks(blocks: &[gw::Block]) {
    for b in blocks {
        print_wrapped(
            0,
            (style::DANGER, &format!("blocked ({}):", b.reason)),
            (Style::new(), &b.message),
        );
    }
}

/// `knotwork plan`.
pub async fn plan(ctx: &Ctx, args: PlanArgs) -> anyhow::Result<()> {
    let req = gw::GetReliefPlanRequest {
        locations: parse_locations(&args.regions)?,
        symptoms: args.symptoms,
        max_candidates: args.limit,
    };
    let resp = ctx
        .views()
        .await?
        .get_relief_plan(ctx.request(req)?)
        .await
        .reply()?;
    let all_flags = args.flags;
    let mut names = if ctx.out.json {
        Names::default()
    } else {
        let mut points: Vec<String> = resp
            .set_aside
            .iter()
            .map(|p| p.trigger_point.clone())
            .collect();
        points.push(resp.suggested_next.clone());
        points.retain(|p| !p.is_empty());
        Names::load(ctx, &points).await
    };
    for c in &resp.candidates {
        for tpm in c.r#match.iter().flat_map(|m| &m.trigger_points) {
            if let Some(tp) = &tpm.trigger_point {
                names.insert(&tp.name, &tp.display_name);
            }
        }
    }
    ctx.out.show(&resp, |resp| {
        print_red_flags(&resp.red_flags, all_flags);
        print_blocks(&resp.blocks);
        anstream::println!(
            "{}",
            paint(
                style::HEADING,
                "Your relief plan (not a diagnosis), best first:"
            )
        );
        let mut t = table(&[
            "#",
            "muscle",
            "trigger point",
            "done today",
            "left",
            "progress",
            "with",
        ]);
        for (i, c) in resp.candidates.iter().enumerate() {
            let muscle = c
                .r#match
                .as_ref()
                .and_then(|m| m.muscle.as_ref())
                .map(|m| m.display_name.clone())
                .unwrap_or_default();
            for (j, p) in c.points.iter().enumerate() {
                let (done, left) = p.allowance.as_ref().map_or(("-".into(), "-".into()), |a| {
                    (
                        a.sessions_done.to_string(),
                        a.sessions_remaining.to_string(),
                    )
                });
                let progress = p
                    .progress
                    .as_ref()
                    .map(|p| word(p.status().as_str_name(), "PROGRESS_STATUS_"))
                    .unwrap_or_default();
                let with: Vec<_> = p.techniques.iter().map(|t| names.of(&t.tool)).collect();
                let mut point = short(&p.trigger_point).to_owned();
                point.push_str(block_mark(p));
                t.add_row(vec![
                    if j == 0 {
                        (i + 1).to_string()
                    } else {
                        String::new()
                    },
                    if j == 0 {
                        muscle.clone()
                    } else {
                        String::new()
                    },
                    point,
                    done,
                    left,
                    progress,
                    with.join(", "),
                ]);
            }
        }
        align_right(&mut t, &[0, 3, 4]);
        print_table(&t);
        let points: Vec<&gw::PlannedPoint> =
            resp.candidates.iter().flat_map(|c| &c.points).collect();
        let width = width();
        for note in plan_notes(&points, &names) {
            note.print(width);
        }
        if !resp.suggested_next.is_empty() {
            print_wrapped(
                0,
                (style::HEADING, "Next:"),
                (
                    Style::new(),
                    &format!(
                        "{} ({})",
                        names.of(&resp.suggested_next),
                        short(&resp.suggested_next)
                    ),
                ),
            );
            if !resp.suggested_next_reason.is_empty() {
                print_wrapped(
                    2,
                    (Style::new(), ""),
                    (Style::new(), &resp.suggested_next_reason),
                );
            }
        }
        print_set_aside(&resp.set_aside, &names);
    })
}

/// The mark a planned point's blocks put beside it. A block on one tool
/// (it names the tool: TOOL_EXCLUDED, or a condition ruling the tool out)
/// leaves the point to the tools listed with it; any other block, or no
/// usable tool listed, stops the point. Its notes below the table say which.
fn block_mark(p: &gw::PlannedPoint) -> &'static str {
    if p.blocks.is_empty() {
        ""
    } else if !p.techniques.is_empty() && p.blocks.iter().all(|b| !b.tool.is_empty()) {
        " (not every tool)"
    } else {
        " (blocked)"
    }
}

/// Points not recommended now, apart from the rest: why and what to do.
fn print_set_aside(points: &[gw::SetAsidePoint], names: &Names) {
    if points.is_empty() {
        return;
    }
    println!();
    anstream::println!("{}", paint(style::DANGER, "Not now:"));
    for p in points {
        let label = if p.reason == "POINT_ON_HOLD" {
            "on hold"
        } else {
            "worsening"
        };
        print_wrapped(
            2,
            (style::CAUTION, label),
            (
                Style::new(),
                &format!(
                    "{} ({}): {}",
                    names.of(&p.trigger_point),
                    short(&p.trigger_point),
                    p.message
                ),
            ),
        );
        print_wrapped(4, (Style::new(), ""), (Style::new(), &p.advice));
    }
}

/// Options of `knotwork today`.
#[derive(Debug, clap::Args)]
pub struct TodayArgs {
    /// Another local day, YYYY-MM-DD (e.g. tomorrow's plan).
    #[arg(long)]
    pub date: Option<String>,
}

/// `knotwork today`.
pub async fn today(ctx: &Ctx, args: TodayArgs) -> anyhow::Result<()> {
    let resp = ctx
        .views()
        .await?
        .get_today(ctx.request(gw::GetTodayRequest {
            local_date: args.date.unwrap_or_default(),
        })?)
        .await
        .reply()?;
    // Every point the day names, by its name.
    let points = resp
        .plan
        .iter()
        .flat_map(super::plan::plan_points)
        .chain(resp.day.iter().flat_map(super::progress::day_points))
        .chain(resp.holds.iter().map(|h| &h.trigger_point))
        .chain(resp.progress.iter().map(|p| &p.trigger_point))
        .chain(resp.set_aside.iter().map(|p| &p.trigger_point));
    let names = Names::for_points(ctx, points).await;
    ctx.out.show(&resp, |resp| {
        if let Some(s) = &resp.screening {
            let status = word(s.status().as_str_name(), "SCREENING_STATUS_");
            anstream::println!("screening: {}", paint(style::HEADING, status));
        }
        if let Some(plan) = &resp.plan {
            super::plan::show_plan(plan, &names);
            println!();
        }
        if let Some(a) = &resp.adherence {
            super::progress::show_adherence(a);
            println!();
        }
        if let Some(day) = &resp.day {
            show_day(day, &names);
        }
        if !resp.holds.is_empty() {
            println!();
            super::holds::print_holds(&resp.holds, &names);
        }
        println!();
        show_progress(&resp.progress, false, &names);
        let listed = i32::try_from(resp.progress.len()).unwrap_or(i32::MAX);
        if resp.progress_total > listed {
            println!(
                "({} more points: `knotwork progress` lists them all)",
                resp.progress_total - listed
            );
        }
        print_set_aside(&resp.set_aside, &names);
        if let Some(g) = &resp.guidance {
            let mut t = table(&["guidance", ""]);
            t.add_row(vec![
                "pressure".to_owned(),
                format!("{}/10 (at most {})", g.target_pressure, g.max_safe_pressure),
            ]);
            t.add_row(vec![
                "per point".to_owned(),
                format!(
                    "{}-{} s, up to {} a day",
                    g.min_duration_seconds,
                    g.max_duration_seconds,
                    g.max_sessions_per_point_per_day
                ),
            ]);
            align_right(&mut t, &[]);
            println!();
            print_table(&t);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planned point with `blocks` (reason, the tool it rules out) and
    /// `tools` usable techniques.
    fn point(blocks: &[(&str, &str)], tools: usize) -> gw::PlannedPoint {
        gw::PlannedPoint {
            blocks: blocks
                .iter()
                .map(|(reason, tool)| gw::Block {
                    reason: (*reason).into(),
                    message: String::new(),
                    tool: (*tool).into(),
                })
                .collect(),
            techniques: vec![Default::default(); tools],
            ..Default::default()
        }
    }

    #[test]
    fn only_a_block_that_stops_the_point_marks_it_blocked() {
        let excluded = ("TOOL_EXCLUDED", "tools/foam_roller");
        // A condition ruling out one tool everywhere (blood thinners and
        // the massage gun).
        let ruled_out = ("CONDITION_EXCLUDED", "tools/massage_gun");
        assert_eq!(block_mark(&point(&[], 1)), "");
        // Tools ruled out, another listed: the point stays workable.
        assert_eq!(block_mark(&point(&[excluded], 1)), " (not every tool)");
        assert_eq!(
            block_mark(&point(&[excluded, ruled_out], 1)),
            " (not every tool)"
        );
        // No usable tool left, or any block on the point itself.
        assert_eq!(block_mark(&point(&[excluded], 0)), " (blocked)");
        for reason in [
            "SCREENING_REQUIRED",
            "CONTRAINDICATED",
            "CONDITION_EXCLUDED",
            "DAILY_LIMIT_REACHED",
            "NO_OWNED_TOOL",
            "POINT_ON_HOLD",
        ] {
            assert_eq!(
                block_mark(&point(&[excluded, (reason, "")], 2)),
                " (blocked)"
            );
        }
    }
}
