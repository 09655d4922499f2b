//! The person's own data: every `SessionService` call except the guided
//! session (see `guide.rs`). Needs a token.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;

use super::catalog::parse_side;
use super::names::Names;
use crate::connect::{Ctx, explain, full};
use crate::output::{
    self, align_right, paint, print_table, print_warnings, short, style, table, word,
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

/// Options of `knotwork log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The trigger point worked, e.g. `quadratus_lumborum_superficial`.
    #[arg(long)]
    pub point: String,
    /// The tool used, e.g. `lacrosse_ball`.
    #[arg(long)]
    pub tool: String,
    /// Side: left, right or both.
    #[arg(long, default_value = "both")]
    pub side: String,
    /// Pressure used, 0-10.
    #[arg(long, default_value_t = 5)]
    pub pressure: i32,
    /// Time on the point, in seconds.
    #[arg(long, default_value_t = 240)]
    pub duration: i32,
    /// Tenderness before, 0-10.
    #[arg(long)]
    pub before: Option<i32>,
    /// Tenderness after, 0-10.
    #[arg(long)]
    pub after: Option<i32>,
    /// How the pain felt: dull, aching, burning, tingling, sharp.
    #[arg(long, value_parser = parse_quality)]
    pub quality: Option<ses::PainQuality>,
    /// The pain gets worse with activity such as eating or walking.
    #[arg(long)]
    pub worse_with_activity: bool,
    /// The pain got worse with the massage.
    #[arg(long)]
    pub worse_with_massage: bool,
    /// A local twitch response was felt.
    #[arg(long)]
    pub twitch: bool,
    /// When it was done (RFC 3339, e.g. 2026-11-27T08:30:00Z); now when not given.
    #[arg(long)]
    pub at: Option<String>,
    /// Free notes.
    #[arg(long, default_value = "")]
    pub notes: String,
    /// The guided session it completes, `guidedSessions/ID`.
    #[arg(long, default_value = "")]
    pub guided_session: String,
    /// Idempotency key; a fresh one when not given.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Options of `knotwork log-batch`.
#[derive(Debug, clap::Args)]
pub struct LogBatchArgs {
    /// A file holding a BatchLogSessionsRequest in proto3 JSON
    /// (`{"requests":[{"requestId":..,"session":{..}}]}`); `-` reads stdin.
    pub file: PathBuf,
}

/// Options of `knotwork session`.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// The session, `sessions/ID` or `ID`.
    pub name: String,
}

/// Options of `knotwork sessions`.
#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// Only sessions on this trigger point.
    #[arg(long)]
    pub point: Option<String>,
    /// Only sessions done at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only sessions done before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Most sessions to show.
    #[arg(long, default_value_t = 20)]
    pub limit: i32,
    /// Continue from a previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

/// Options of `knotwork progress`.
#[derive(Debug, clap::Args)]
pub struct ProgressArgs {
    /// Only this trigger point (with its day by day numbers).
    #[arg(long)]
    pub point: Option<String>,
    /// Days of history to include; the server's default when not given.
    #[arg(long, default_value_t = 0)]
    pub days: i32,
}

/// Options of `knotwork day`.
#[derive(Debug, clap::Args)]
pub struct DayArgs {
    /// The local date, YYYY-MM-DD; today in your time zone when not given.
    #[arg(default_value = "")]
    pub date: String,
}

/// Options of `knotwork export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write the export (proto3 JSON) to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Options of `knotwork delete-my-data`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Yes, delete my profile, screening and every session: this cannot be undone.
    #[arg(long)]
    pub yes: bool,
}

/// Parses a pain quality word.
pub fn parse_quality(text: &str) -> anyhow::Result<ses::PainQuality> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "dull" => ses::PainQuality::Dull,
        "aching" | "ache" => ses::PainQuality::Aching,
        "burning" => ses::PainQuality::Burning,
        "tingling" => ses::PainQuality::Tingling,
        "sharp" => ses::PainQuality::Sharp,
        "numbness" | "numb" => ses::PainQuality::Numbness,
        "electric" | "shooting" => ses::PainQuality::Electric,
        other => {
            bail!(
                "unknown pain quality {other:?}: use dull, aching, burning, tingling, numbness, electric or sharp"
            )
        }
    })
}

/// Parses an RFC 3339 time.
fn parse_time(text: &str) -> anyhow::Result<prost_types::Timestamp> {
    text.parse::<prost_types::Timestamp>()
        .map_err(|e| anyhow::anyhow!("{text:?} is not an RFC 3339 time: {e}"))
}

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

fn tenderness(before: Option<i32>, after: Option<i32>) -> String {
    let t = |v: Option<i32>| v.map_or("-".to_owned(), |v| v.to_string());
    if before.is_none() && after.is_none() {
        String::new()
    } else {
        format!("{} -> {}", t(before), t(after))
    }
}

/// Prints one stored session with its warnings.
pub fn show_logged(resp: &ses::LogSessionResponse) {
    let Some(s) = &resp.session else { return };
    let what = if resp.replayed {
        "already logged:"
    } else {
        "logged"
    };
    anstream::println!(
        "{} {} on {} ({}){}{}",
        paint(style::GOOD, what),
        s.name,
        short(&s.trigger_point),
        s.local_date,
        if s.origin() == ses::SessionOrigin::Guided {
            ", guided"
        } else {
            ""
        },
        if resp.replayed { " (replayed)" } else { "" }
    );
    print_warnings(&s.warnings);
}

fn sessions_table(sessions: &[ses::SessionRecord]) {
    let mut t = table(&[
        "date",
        "trigger point",
        "tool",
        "side",
        "pressure",
        "time",
        "tenderness",
        "name",
    ]);
    for s in sessions {
        t.add_row(vec![
            s.local_date.clone(),
            short(&s.trigger_point).to_owned(),
            short(&s.tool).to_owned(),
            word(s.side().as_str_name(), "SIDE_"),
            s.pressure.to_string(),
            format!("{}s", s.duration_seconds),
            tenderness(s.tenderness_before, s.tenderness_after),
            s.name.clone(),
        ]);
    }
    align_right(&mut t, &[4, 5]);
    print_table(&t);
}

fn show_profile(p: &ses::Profile) {
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
    let tools: Vec<_> = p.tools.iter().map(|t| short(t)).collect();
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
                .map_err(explain)?
                .into_inner();
            ctx.out.show(&resp, |resp| {
                if let Some(p) = &resp.profile {
                    show_profile(p);
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
                .map_err(explain)?
                .into_inner();
            ctx.out.show(&resp, |resp| {
                if let Some(p) = &resp.profile {
                    show_profile(p);
                }
            })
        }
    }
}

fn show_screening(s: &ses::Screening, names: &Names) {
    let status = word(s.status().as_str_name(), "SCREENING_STATUS_");
    let styled = match s.status() {
        ses::ScreeningStatus::Cleared => paint(style::GOOD, &status),
        ses::ScreeningStatus::Contraindicated => paint(style::DANGER, &status),
        _ => paint(style::CAUTION, &status),
    };
    anstream::println!("screening status: {styled}");
    for b in &s.blocking {
        anstream::println!(
            "  {} {}",
            paint(
                style::DANGER,
                "rules self-massage out until a provider clears it:"
            ),
            names.of(b)
        );
    }
    if !s.missing.is_empty() {
        println!("  not answered yet: {}", names.list(&s.missing));
    }
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
        .map_err(explain)?
        .into_inner()
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
            .map_err(explain)?
            .into_inner();
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
            print_table(&t);
            println!(
                "Answer with --none-apply, adding --yes NAME for each that applies \
                 (and --cleared NAME=YYYY-MM-DD for one a provider has cleared)."
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
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, |resp| {
        if let Some(s) = &resp.screening {
            show_screening(s, &names);
        }
    })
}

/// `knotwork log`.
pub async fn log(ctx: &Ctx, args: LogArgs) -> anyhow::Result<()> {
    let record = ses::SessionRecord {
        trigger_point: full("triggerPoints", &args.point),
        tool: full("tools", &args.tool),
        side: parse_side(&args.side)? as i32,
        pressure: args.pressure,
        duration_seconds: args.duration,
        tenderness_before: args.before,
        tenderness_after: args.after,
        pain_quality: args.quality.unwrap_or(ses::PainQuality::Unspecified) as i32,
        worse_with_activity: args.worse_with_activity,
        worse_with_massage: args.worse_with_massage,
        twitch_response: args.twitch,
        notes: args.notes,
        perform_time: Some(match &args.at {
            Some(at) => parse_time(at)?,
            None => now(),
        }),
        guided_session: args.guided_session,
        ..Default::default()
    };
    let req = ses::LogSessionRequest {
        request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        session: Some(record),
    };
    let resp = ctx
        .session()
        .await?
        .log_session(ctx.request(req)?)
        .await
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, show_logged)
}

/// `knotwork log-batch`.
pub async fn log_batch(ctx: &Ctx, args: LogBatchArgs) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let req: ses::BatchLogSessionsRequest = output::from_json(&text)?;
    let resp = ctx
        .session()
        .await?
        .batch_log_sessions(ctx.request(req)?)
        .await
        .map_err(explain)?
        .into_inner();
    let failed = resp
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Some(ses::batch_log_result::Outcome::Error(_))))
        .count();
    ctx.out.show(&resp, |resp| {
        for r in &resp.results {
            match &r.outcome {
                Some(ses::batch_log_result::Outcome::Session(s)) => {
                    anstream::println!(
                        "#{} {} {} on {}{}",
                        r.index,
                        paint(style::GOOD, "logged"),
                        s.name,
                        short(&s.trigger_point),
                        if r.replayed { " (replayed)" } else { "" }
                    );
                    print_warnings(&s.warnings);
                }
                Some(ses::batch_log_result::Outcome::Error(e)) => {
                    let code = crate::connect::code_name(tonic::Code::from(e.code));
                    anstream::println!(
                        "#{} {} {code}: {}",
                        r.index,
                        paint(style::DANGER, "refused"),
                        e.message
                    );
                    for v in &e.field_violations {
                        println!("    field {}: {}", v.field, v.description);
                    }
                }
                None => println!("#{} no outcome", r.index),
            }
        }
    })?;
    if failed > 0 {
        bail!(
            "{failed} of {} sessions were not logged",
            resp.results.len()
        );
    }
    Ok(())
}

/// `knotwork session`.
pub async fn session(ctx: &Ctx, args: SessionArgs) -> anyhow::Result<()> {
    let resp = ctx
        .session()
        .await?
        .get_session(ctx.request(ses::GetSessionRequest {
            name: full("sessions", &args.name),
        })?)
        .await
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, |resp| {
        let Some(s) = &resp.session else { return };
        sessions_table(std::slice::from_ref(s));
        if s.pain_quality() != ses::PainQuality::Unspecified {
            println!(
                "felt {}",
                word(s.pain_quality().as_str_name(), "PAIN_QUALITY_")
            );
        }
        if !s.notes.is_empty() {
            println!("notes: {}", s.notes);
        }
        print_warnings(&s.warnings);
    })
}

/// `knotwork sessions`.
pub async fn sessions(ctx: &Ctx, args: SessionsArgs) -> anyhow::Result<()> {
    let req = ses::ListSessionsRequest {
        start_time: args.since.as_deref().map(parse_time).transpose()?,
        end_time: args.until.as_deref().map(parse_time).transpose()?,
        trigger_point: args
            .point
            .as_deref()
            .map(|p| full("triggerPoints", p))
            .unwrap_or_default(),
        page_size: args.limit,
        page_token: args.page_token,
    };
    let resp = ctx
        .session()
        .await?
        .list_sessions(ctx.request(req)?)
        .await
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, |resp| {
        if resp.sessions.is_empty() {
            println!("no sessions yet");
            return;
        }
        sessions_table(&resp.sessions);
        if !resp.next_page_token.is_empty() {
            println!("more: --page-token {}", resp.next_page_token);
        }
    })
}

/// Prints progress per point (and the days, for one point).
pub fn show_progress(progress: &[ses::PointProgress], days: bool) {
    if progress.is_empty() {
        println!("no progress yet: log a session first");
        return;
    }
    let mut t = table(&["trigger point", "status", "trend/day", "sessions", "advice"]);
    for p in progress {
        // Plain text: styles inside a cell would skew the column widths.
        let status = word(p.status().as_str_name(), "PROGRESS_STATUS_");
        t.add_row(vec![
            short(&p.trigger_point).to_owned(),
            status,
            format!("{:+.2}", p.tenderness_trend_per_day),
            p.sessions_in_window.to_string(),
            p.advice.clone(),
        ]);
    }
    align_right(&mut t, &[2, 3]);
    print_table(&t);
    if days {
        for p in progress {
            let mut t = table(&["date", "sessions", "before", "after", "time"]);
            let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
            for d in &p.days {
                t.add_row(vec![
                    d.local_date.clone(),
                    d.session_count.to_string(),
                    f(d.mean_tenderness_before),
                    f(d.mean_tenderness_after),
                    format!("{}s", d.total_duration_seconds),
                ]);
            }
            align_right(&mut t, &[1, 2, 3, 4]);
            println!();
            anstream::println!("{}", paint(style::HEADING, short(&p.trigger_point)));
            print_table(&t);
        }
    }
}

/// `knotwork progress`.
pub async fn progress(ctx: &Ctx, args: ProgressArgs) -> anyhow::Result<()> {
    let one = args.point.is_some();
    let req = ses::ListProgressRequest {
        trigger_point: args
            .point
            .as_deref()
            .map(|p| full("triggerPoints", p))
            .unwrap_or_default(),
        days: args.days,
    };
    let resp = ctx
        .session()
        .await?
        .list_progress(ctx.request(req)?)
        .await
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, |resp| {
        if let Some(a) = &resp.adherence {
            show_adherence(a);
            println!();
        }
        show_progress(&resp.progress, one);
    })
}

/// Prints the streak and the week's adherence in two lines.
pub fn show_adherence(a: &ses::Adherence) {
    let streak = match (a.streak_days, a.streak_includes_today) {
        (0, _) => "no streak yet: one session today starts one".to_owned(),
        (n, true) => format!("{n} day{} in a row, today included", plural(n)),
        (n, false) => format!(
            "{n} day{} in a row: a session today keeps it going",
            plural(n)
        ),
    };
    anstream::println!("{}  {streak}", paint(style::HEADING, "streak"));
    anstream::println!(
        "{}    {} of {} planned sessions ({}%), {} of 7 days active ({} to {})",
        paint(style::HEADING, "week"),
        a.week_sessions_done,
        a.week_sessions_planned,
        a.week_percent,
        a.week_active_days,
        a.week_start_date,
        a.week_end_date
    );
}

fn plural(n: i32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Prints a day: sessions, then what is still allowed per point.
pub fn show_day(day: &ses::GetDayResponse) {
    anstream::println!(
        "{}",
        paint(
            style::HEADING,
            format!("{} ({})", day.local_date, day.time_zone)
        )
    );
    if day.sessions.is_empty() {
        println!("no sessions this day");
    } else {
        sessions_table(&day.sessions);
        let minutes = day.total_duration_seconds / 60;
        if day.sessions_truncated {
            println!(
                "the first {} of {} sessions ({minutes} min on points); \
                 `knotwork sessions` lists them all",
                day.sessions.len(),
                day.total_sessions
            );
        } else {
            println!("{} sessions, {minutes} min on points", day.total_sessions);
        }
    }
    if !day.allowances.is_empty() {
        println!();
        let mut t = table(&["trigger point", "done", "left", "next allowed"]);
        for a in &day.allowances {
            t.add_row(vec![
                short(&a.trigger_point).to_owned(),
                a.sessions_done.to_string(),
                a.sessions_remaining.to_string(),
                a.next_allowed_local_time.clone(),
            ]);
        }
        align_right(&mut t, &[1, 2]);
        print_table(&t);
    }
}

/// `knotwork day`.
pub async fn day(ctx: &Ctx, args: DayArgs) -> anyhow::Result<()> {
    let resp = ctx
        .session()
        .await?
        .get_day(ctx.request(ses::GetDayRequest {
            local_date: args.date,
            max_sessions: 0,
        })?)
        .await
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, show_day)
}

/// `knotwork export`: always JSON (it is a data export), to stdout or a file.
/// Read with StreamExportUserData, so no message size limit bounds how much
/// can be exported; the parts are merged into one export.
pub async fn export(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<()> {
    use prost::Message as _;
    let mut parts = ctx
        .session()
        .await?
        .stream_export_user_data(ctx.request(ses::StreamExportUserDataRequest {})?)
        .await
        .map_err(explain)?
        .into_inner();
    let mut whole = ses::UserDataExport::default();
    while let Some(msg) = parts.message().await.map_err(explain)? {
        if let Some(part) = msg.part {
            whole.merge(part.encode_to_vec().as_slice())?;
        }
    }
    let resp = ses::ExportUserDataResponse {
        export: Some(whole),
    };
    let text = serde_json::to_string_pretty(&output::to_json(&resp)?)?;
    match args.output {
        None => println!("{text}"),
        Some(path) => {
            std::fs::write(&path, format!("{text}\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            let e = resp.export.unwrap_or_default();
            eprintln!(
                "exported {} sessions and {} guided sessions to {}",
                e.sessions.len(),
                e.guided_sessions.len(),
                path.display()
            );
        }
    }
    Ok(())
}

/// `knotwork delete-my-data`.
pub async fn delete(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<()> {
    if !args.yes {
        bail!(
            "this deletes your profile, screening and every session, and cannot be undone; \
             pass --yes to confirm (`knotwork export` first keeps a copy)"
        );
    }
    let resp = ctx
        .session()
        .await?
        .delete_user_data(ctx.request(ses::DeleteUserDataRequest { confirm: true })?)
        .await
        .map_err(explain)?
        .into_inner();
    ctx.out.show(&resp, |resp| {
        println!(
            "deleted {} sessions, {} guided sessions, your profile and your screening",
            resp.sessions_deleted, resp.guided_sessions_deleted
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualities() {
        assert_eq!(parse_quality(" Dull\n").unwrap(), ses::PainQuality::Dull);
        assert_eq!(parse_quality("sharp").unwrap(), ses::PainQuality::Sharp);
        assert!(parse_quality("stabbing").is_err());
    }

    #[test]
    fn cleared_needs_a_date() {
        assert_eq!(
            parse_cleared("pregnancy=2026-01-31").unwrap(),
            ("pregnancy".to_owned(), "2026-01-31".to_owned())
        );
        assert!(parse_cleared("pregnancy").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2026-11-27T08:30:00Z").unwrap().seconds,
            1_795_768_200
        );
        assert!(parse_time("yesterday").is_err());
    }
}
