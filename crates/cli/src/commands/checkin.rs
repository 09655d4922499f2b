//! Pain check-ins: how much a region hurts today, and how that has moved.

use knotwork_proto::session::v1 as ses;

use crate::connect::{Ctx, Reply, full};
use crate::output::{
    Painter, align_right, paint, painted, paragraph_lines, print_lines, print_table, short, style,
    table, width,
};

/// Options of `knotwork check-in`.
#[derive(Debug, clap::Args)]
pub struct CheckInArgs {
    /// Where it hurts: a region id (e.g. `low_back`) or `regions/low_back`.
    pub region: String,
    /// How much it hurts today, 0 (none) to 10 (worst imaginable).
    pub score: i32,
    /// Idempotency key; a fresh one when not given.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Options of `knotwork check-ins`.
#[derive(Debug, clap::Args)]
pub struct CheckInsArgs {
    /// Only this region.
    #[arg(long)]
    pub region: Option<String>,
    /// First local day, YYYY-MM-DD (default: 90 days back).
    #[arg(long, default_value = "")]
    pub from: String,
    /// Last local day, YYYY-MM-DD (default: today).
    #[arg(long, default_value = "")]
    pub to: String,
}

/// Options of `knotwork pain-progress`.
#[derive(Debug, clap::Args)]
pub struct PainProgressArgs {
    /// Days back from today to look at; the server's default (30) when 0.
    #[arg(long, default_value_t = 0)]
    pub days: i32,
}

/// `knotwork check-in`.
pub async fn check_in(ctx: &Ctx, args: CheckInArgs) -> anyhow::Result<()> {
    let req = ses::RecordCheckInRequest {
        request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        region: full("regions", &args.region),
        score: args.score,
    };
    let resp = ctx
        .session()
        .await?
        .record_check_in(ctx.request(req)?)
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        let Some(c) = &resp.check_in else { return };
        let how = if resp.replayed {
            "already recorded"
        } else if resp.replaced {
            "replaced today's earlier check-in"
        } else {
            "recorded"
        };
        anstream::println!(
            "{} {}/10 on {} {}",
            paint(style::HEADING, short(&c.region).replace('_', " ")),
            c.score,
            c.local_date,
            paint(style::DIM, format!("({how})"))
        );
    })
}

/// `knotwork check-ins`.
pub async fn check_ins(ctx: &Ctx, args: CheckInsArgs) -> anyhow::Result<()> {
    let req = ses::ListCheckInsRequest {
        region: args
            .region
            .as_deref()
            .map(|r| full("regions", r))
            .unwrap_or_default(),
        start_date: args.from,
        end_date: args.to,
    };
    let resp = ctx
        .session()
        .await?
        .list_check_ins(ctx.request(req)?)
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        if resp.check_ins.is_empty() {
            println!("no check-ins in this range (knotwork check-in REGION SCORE)");
            return;
        }
        let mut t = table(&["day", "region", "pain"]);
        for c in &resp.check_ins {
            t.add_row(vec![
                c.local_date.clone(),
                short(&c.region).to_owned(),
                format!("{}/10", c.score),
            ]);
        }
        align_right(&mut t, &[2]);
        print_table(&t);
    })
}

/// `knotwork pain-progress`.
pub async fn pain_progress(ctx: &Ctx, args: PainProgressArgs) -> anyhow::Result<()> {
    let req = ses::ListRegionProgressRequest { days: args.days };
    let resp = ctx
        .session()
        .await?
        .list_region_progress(ctx.request(req)?)
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        if resp.regions.is_empty() {
            println!("no check-ins yet (knotwork check-in REGION SCORE)");
            return;
        }
        for r in &resp.regions {
            print_lines(region_summary_lines(r, width(), painted));
            let bars: Vec<String> = r
                .daily
                .iter()
                .map(|d| {
                    let day = d.local_date.get(5..).unwrap_or(&d.local_date);
                    let bar = "#".repeat(usize::try_from(d.score.clamp(0, 10)).unwrap_or(0));
                    format!("{day} {bar:<10} {}", d.score)
                })
                .collect();
            for b in bars {
                println!("  {b}");
            }
        }
    })
}

/// A region's summary at `width` columns, as a paragraph (the bars beneath
/// are indented, so its lines must not be), then its trend in colour: on
/// the summary's line, two columns after it, when both fit.
fn region_summary_lines(r: &ses::RegionProgress, width: usize, paint: Painter) -> Vec<String> {
    let (trend_style, trend) = if r.change < 0 {
        (style::GOOD, "better")
    } else if r.change > 0 {
        (style::CAUTION, "worse")
    } else {
        (style::DIM, "no change")
    };
    let mut lines = paragraph_lines(0, (anstyle::Style::new(), &r.summary), width, paint);
    let on_one_line = textwrap::core::display_width(&r.summary) + 2 + trend.len() <= width;
    match lines.as_mut_slice() {
        [summary] if on_one_line => {
            summary.push_str("  ");
            summary.push_str(&paint(trend_style, trend));
        }
        _ => lines.push(paint(trend_style, trend)),
    }
    lines
}

/// Options of `knotwork report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Write the report as a FHIR R4 Bundle (JSON) to this file; `-` prints it.
    #[arg(long)]
    pub fhir: std::path::PathBuf,
    /// First local day, YYYY-MM-DD (default: 90 days back).
    #[arg(long, default_value = "")]
    pub from: String,
    /// Last local day, YYYY-MM-DD (default: today).
    #[arg(long, default_value = "")]
    pub to: String,
    /// Leave the pain check-ins out.
    #[arg(long)]
    pub no_check_ins: bool,
    /// Leave the sessions out.
    #[arg(long)]
    pub no_sessions: bool,
}

/// `knotwork report --fhir FILE`: a report a clinician can read.
pub async fn report(ctx: &Ctx, args: ReportArgs) -> anyhow::Result<()> {
    let req = ses::ExportFhirBundleRequest {
        start_date: args.from,
        end_date: args.to,
        omit_check_ins: args.no_check_ins,
        omit_sessions: args.no_sessions,
    };
    let resp = ctx
        .session()
        .await?
        .export_fhir_bundle(ctx.request(req)?)
        .await
        .reply()?;
    if args.fhir.as_os_str() == "-" {
        println!("{}", resp.bundle_json);
        return Ok(());
    }
    std::fs::write(&args.fhir, &resp.bundle_json)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.fhir.display()))?;
    ctx.out.show(&resp, |resp| {
        println!(
            "wrote {} (FHIR R4 Bundle: {} pain check-ins, {} sessions)",
            args.fhir.display(),
            resp.observations,
            resp.procedures
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::bracketed;

    #[test]
    fn a_region_summary_wraps_as_a_paragraph_with_its_trend() {
        let region = |summary: &str, change: i32| ses::RegionProgress {
            summary: summary.into(),
            change,
            ..Default::default()
        };
        let check =
            |r: &ses::RegionProgress, width: usize| region_summary_lines(r, width, bracketed);
        // The trend two columns after the summary, when both fit.
        let low_back = region("low back: 6 -> 3 over 9 days", -3);
        assert_eq!(
            check(&low_back, 80),
            ["low back: 6 -> 3 over 9 days  [better]"]
        );
        assert_eq!(
            check(&low_back, 36),
            ["low back: 6 -> 3 over 9 days  [better]"]
        );
        // Else on a line of its own.
        assert_eq!(
            check(&low_back, 35),
            ["low back: 6 -> 3 over 9 days", "[better]"]
        );
        // A long summary wraps level, not hanging toward the bars beneath.
        let long = region(
            "Back of the shoulder blade and upper arm: 7 -> 7 over 12 days, \
             with check-ins on 9 of them",
            0,
        );
        assert_eq!(
            check(&long, 40),
            [
                "Back of the shoulder blade and upper",
                "arm: 7 -> 7 over 12 days, with check-ins",
                "on 9 of them",
                "[no change]",
            ]
        );
    }
}
