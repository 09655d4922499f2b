//! The profile (time zone, tools, waking hours) and the screening. Needs a
//! token.

use anstyle::Style;
use anyhow::{Context as _, bail};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;

use super::names::Names;
use crate::connect::{Ctx, Reply, full};
use crate::output::{
    Painter, painted, print_fitted_table, print_lines, print_wrapped, short, style, table, width,
    word, wrapped_lines,
};

/// Options of `knotwork profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub action: Option<ProfileAction>,
}

/// `knotwork profile set`.
#[derive(Debug, clap::Subcommand)]
pub enum ProfileAction {
    /// Change your time zone and/or the tools you own (only what you pass).
    Set {
        /// Your IANA time zone, e.g. Europe/Berlin (days and limits follow it).
        #[arg(long)]
        time_zone: Option<String>,
        /// The tools you own, comma separated (replaces the list; "" clears it).
        #[arg(long, value_delimiter = ',')]
        tools: Option<Vec<String>>,
        /// When you usually wake up, HH:MM ("" for the default, 07:00): the
        /// day's suggested session times start after it.
        #[arg(long)]
        wake: Option<String>,
        /// When you usually go to sleep, HH:MM ("" for the default, 22:00).
        #[arg(long)]
        sleep: Option<String>,
    },
}

/// Options of `knotwork screening`.
#[derive(Debug, clap::Args)]
pub struct ScreeningArgs {
    /// Answer "no" to every question not given with `--yes`.
    #[arg(long)]
    pub none_apply: bool,
    /// A condition you have, e.g. `--yes cancer`.
    #[arg(long = "yes")]
    pub present: Vec<String>,
    /// A condition a medical provider has cleared, with the date:
    /// `--cleared pregnancy=2026-01-31` (implies `--yes` for it).
    #[arg(long = "cleared", value_parser = parse_cleared)]
    pub cleared: Vec<(String, String)>,
}

fn parse_cleared(text: &str) -> anyhow::Result<(String, String)> {
    let (name, date) = text
        .split_once('=')
        .context("use NAME=YYYY-MM-DD, e.g. pregnancy=2026-01-31")?;
    Ok((name.to_owned(), date.to_owned()))
}

/// Prints a profile; tools by name, each with the id `--tools` takes.
fn show_profile(p: &ses::Profile, names: &Names) {
    let or = |v: &str, default: &'static str| -> String {
        if v.is_empty() {
            format!("{default} (default)")
        } else {
            v.to_owned()
        }
    };
    println!(
        "awake      {} to {}",
        or(&p.wake_time, "07:00"),
        or(&p.sleep_time, "22:00")
    );
    println!(
        "time zone  {}",
        if p.time_zone.is_empty() {
            "UTC (not set)"
        } else {
            &p.time_zone
        }
    );
    let tools: Vec<_> = p
        .tools
        .iter()
        .map(|t| format!("{} ({})", names.of(t), short(t)))
        .collect();
    println!(
        "tools      {}",
        if tools.is_empty() {
            "none yet (`knotwork profile set --tools ...`)".to_owned()
        } else {
            tools.join(", ")
        }
    );
}

/// `knotwork profile` and `knotwork profile set`.
pub async fn profile(ctx: &Ctx, args: ProfileArgs) -> anyhow::Result<()> {
    let mut client = ctx.session().await?;
    match args.action {
        None => {
            let resp = client
                .get_profile(ctx.request(ses::GetProfileRequest {})?)
                .await
                .reply()?;
            let names = tool_names(ctx).await;
            ctx.out.show(&resp, |resp| {
                if let Some(p) = &resp.profile {
                    show_profile(p, &names);
                }
            })
        }
        Some(ProfileAction::Set {
            time_zone,
            tools,
            wake,
            sleep,
        }) => {
            let mut paths = Vec::new();
            if wake.is_some() {
                paths.push("wake_time".to_owned());
            }
            if sleep.is_some() {
                paths.push("sleep_time".to_owned());
            }
            if time_zone.is_some() {
                paths.push("time_zone".to_owned());
            }
            if tools.is_some() {
                paths.push("tools".to_owned());
            }
            if paths.is_empty() {
                bail!("nothing to change: pass --time-zone, --tools, --wake or --sleep");
            }
            let profile = ses::Profile {
                time_zone: time_zone.unwrap_or_default(),
                tools: tools
                    .unwrap_or_default()
                    .iter()
                    .filter(|t| !t.is_empty())
                    .map(|t| full("tools", t))
                    .collect(),
                wake_time: wake.unwrap_or_default(),
                sleep_time: sleep.unwrap_or_default(),
                ..Default::default()
            };
            let resp = client
                .update_profile(ctx.request(ses::UpdateProfileRequest {
                    profile: Some(profile),
                    update_mask: Some(prost_types::FieldMask { paths }),
                })?)
                .await
                .reply()?;
            let names = tool_names(ctx).await;
            ctx.out.show(&resp, |resp| {
                if let Some(p) = &resp.profile {
                    show_profile(p, &names);
                }
            })
        }
    }
}

/// The tools' names, for a human answer (none fetched for JSON).
async fn tool_names(ctx: &Ctx) -> Names {
    if ctx.out.json {
        Names::default()
    } else {
        Names::load(ctx, &[]).await
    }
}

fn show_screening(s: &ses::Screening, names: &Names) {
    print_lines(screening_lines(s, names, width(), painted));
}

/// The lines of `show_screening` at `width` columns: the status, then each
/// condition that rules self-massage out and the conditions not answered
/// yet, two columns in and wrapped beneath their label.
fn screening_lines(s: &ses::Screening, names: &Names, width: usize, paint: Painter) -> Vec<String> {
    let status = word(s.status().as_str_name(), "SCREENING_STATUS_");
    let styled = match s.status() {
        ses::ScreeningStatus::Cleared => style::GOOD,
        ses::ScreeningStatus::Contraindicated => style::DANGER,
        _ => style::CAUTION,
    };
    let plain = Style::new();
    let mut lines = wrapped_lines(
        0,
        (plain, "screening status:"),
        (styled, &status),
        width,
        paint,
    );
    for b in &s.blocking {
        lines.extend(wrapped_lines(
            2,
            (
                style::DANGER,
                "rules self-massage out until a provider clears it:",
            ),
            (plain, &names.of(b)),
            width,
            paint,
        ));
    }
    if !s.missing.is_empty() {
        lines.extend(wrapped_lines(
            2,
            (plain, "not answered yet:"),
            (plain, &names.list(&s.missing)),
            width,
            paint,
        ));
    }
    lines
}

/// `knotwork screening`: shows the status and the questions; with answers,
/// submits them.
pub async fn screening(ctx: &Ctx, args: ScreeningArgs) -> anyhow::Result<()> {
    let ch = ctx.channel().await?;
    let mut session = ses::session_service_client::SessionServiceClient::new(ch.clone());
    let mut catalog = cat::catalog_service_client::CatalogServiceClient::new(ch);
    let conditions = catalog
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .reply()?
        .contraindications;
    let names = Names::from_pairs(
        conditions
            .iter()
            .map(|c| (c.name.as_str(), c.display_name.as_str())),
    );
    if !args.none_apply && args.present.is_empty() && args.cleared.is_empty() {
        let resp = session
            .get_screening(ctx.request(ses::GetScreeningRequest {})?)
            .await
            .reply()?;
        return ctx.out.show(&resp, |resp| {
            if let Some(s) = &resp.screening {
                show_screening(s, &names);
            }
            println!();
            let mut t = table(&["name", "question"]);
            for c in &conditions {
                t.add_row(vec![
                    short(&c.name).to_owned(),
                    c.screening_question.clone(),
                ]);
            }
            print_fitted_table(&t, &[0]);
            print_wrapped(
                0,
                (Style::new(), ""),
                (
                    Style::new(),
                    "Answer with --none-apply, adding --yes NAME for each that applies \
                     (and --cleared NAME=YYYY-MM-DD for one a provider has cleared).",
                ),
            );
        });
    }
    let known = |p: &str| {
        conditions
            .iter()
            .any(|c| short(&c.name) == p || c.name == p)
    };
    for p in args
        .present
        .iter()
        .chain(args.cleared.iter().map(|(n, _)| n))
    {
        if !known(p) {
            bail!(
                "{p:?} is not a screening condition (see `knotwork contraindications --kind condition`)"
            );
        }
    }
    let answers = conditions
        .iter()
        .map(|c| {
            let is = |p: &String| p == short(&c.name) || *p == c.name;
            let cleared = args.cleared.iter().find(|(n, _)| is(n));
            ses::ScreeningAnswer {
                contraindication: c.name.clone(),
                present: args.present.iter().any(is) || cleared.is_some(),
                cleared_by_provider: cleared.is_some(),
                cleared_date: cleared.map(|(_, d)| d.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let resp = session
        .submit_screening(ctx.request(ses::SubmitScreeningRequest { answers })?)
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        if let Some(s) = &resp.screening {
            show_screening(s, &names);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::bracketed;

    /// The screening's conditions, as the catalog names them.
    const CONDITIONS: &[(&str, &str)] = &[
        ("aneurysm", "Aneurysm"),
        ("atherosclerosis", "Atherosclerosis"),
        ("cancer", "Cancer"),
        ("congestive_heart_failure", "Congestive heart failure"),
        ("coronary_artery_disease", "Coronary artery disease"),
        ("peritonitis", "Peritonitis"),
        ("polycystic_kidney_disease", "Polycystic kidney disease"),
        ("fever", "Fever or an acute infection"),
        ("pregnancy", "Pregnancy"),
        ("blood_thinners", "Blood thinners or a bleeding disorder"),
        ("osteoporosis", "Osteoporosis or fragile bones"),
        ("blood_clot_history", "A past blood clot or varicose veins"),
        (
            "implanted_device",
            "A pacemaker, port or other implanted device",
        ),
        ("recent_surgery", "Recent surgery or a serious injury"),
        ("diabetic_neuropathy", "Diabetic nerve damage in the feet"),
        ("lymphoedema", "Lymphoedema"),
        ("abdominal_hernia", "An abdominal or groin hernia"),
        (
            "skin_infection",
            "A skin infection, open wound or spreading rash",
        ),
        (
            "other_serious_condition",
            "Another serious medical condition",
        ),
    ];

    #[test]
    fn the_screening_wraps_beneath_its_labels() {
        let name = |id: &str| format!("contraindications/{id}");
        let names: Vec<(String, &str)> = CONDITIONS
            .iter()
            .map(|(id, display)| (name(id), *display))
            .collect();
        let names = Names::from_pairs(names.iter().map(|(n, d)| (n.as_str(), *d)));
        let screening = ses::Screening {
            status: ses::ScreeningStatus::Contraindicated as i32,
            blocking: vec![name("implanted_device")],
            // Nothing answered: every condition is missing, 513 characters.
            missing: CONDITIONS.iter().map(|(id, _)| name(id)).collect(),
            ..Default::default()
        };
        assert_eq!(
            screening_lines(&screening, &names, 80, bracketed),
            [
                "screening status: [contraindicated]",
                "  [rules self-massage out until a provider clears it:] A pacemaker, port or other",
                "    implanted device",
                "  not answered yet: Aneurysm, Atherosclerosis, Cancer, Congestive heart failure,",
                "    Coronary artery disease, Peritonitis, Polycystic kidney disease, Fever or an",
                "    acute infection, Pregnancy, Blood thinners or a bleeding disorder,",
                "    Osteoporosis or fragile bones, A past blood clot or varicose veins, A",
                "    pacemaker, port or other implanted device, Recent surgery or a serious",
                "    injury, Diabetic nerve damage in the feet, Lymphoedema, An abdominal or",
                "    groin hernia, A skin infection, open wound or spreading rash, Another",
                "    serious medical condition",
            ]
        );
        // Unwrapped, each line is the line it always was.
        let lines = screening_lines(&screening, &names, usize::MAX, bracketed);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            format!("  not answered yet: {}", names.list(&screening.missing))
        );
    }

    #[test]
    fn cleared_needs_a_date() {
        assert_eq!(
            parse_cleared("pregnancy=2026-01-31").unwrap(),
            ("pregnancy".to_owned(), "2026-01-31".to_owned())
        );
        assert!(parse_cleared("pregnancy").is_err());
    }
}
