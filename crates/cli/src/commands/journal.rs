//! The journal: logging sessions (one or a batch), reading them, exporting
//! and deleting the person's data. `profile.rs`, `progress.rs`, `guide.rs`,
//! `holds.rs`, `checkin.rs` and `plan.rs` make the other `SessionService`
//! calls. Needs a token.

use std::io::Read as _;
use std::path::PathBuf;

use anstyle::Style;
use anyhow::{Context as _, bail};
use knotwork_proto::session::v1 as ses;

use super::catalog::parse_side;
use super::names::Names;
use crate::connect::{Ctx, Reply, explain, full};
use crate::output::{
    self, Painter, align_right, paint, print_table, print_warnings, short, style, table, word,
    wrap, wrapped_lines,
};

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

/// The lines `knotwork log-batch` prints at `width` columns: each item
/// stored, with its warnings, or refused, with why and the fields at fault,
/// wrapped beneath it.
fn batch_lines(results: &[ses::BatchLogResult], width: usize, paint: Painter) -> Vec<String> {
    let plain = Style::new();
    let mut lines = Vec::new();
    for r in results {
        match &r.outcome {
            Some(ses::batch_log_result::Outcome::Session(s)) => {
                lines.push(format!(
                    "#{} {} {} on {}{}",
                    r.index,
                    paint(style::GOOD, "logged"),
                    s.name,
                    short(&s.trigger_point),
                    if r.replayed { " (replayed)" } else { "" }
                ));
                lines.extend(output::warning_lines(&s.warnings, width, paint));
            }
            Some(ses::batch_log_result::Outcome::Error(e)) => {
                let code = crate::connect::code_name(tonic::Code::from(e.code));
                // Only "refused" is in colour: the lead is wrapped as plain
                // words, then that word painted on its line.
                let lead = format!("#{} refused {code}:", r.index);
                let refused = paint(style::DANGER, "refused");
                lines.extend(wrap(0, &lead, &e.message, width).iter().map(|line| {
                    line.render(|part| part.replacen("refused", &refused, 1), str::to_owned)
                }));
                for v in &e.field_violations {
                    lines.extend(wrapped_lines(
                        4,
                        (plain, &format!("field {}:", v.field)),
                        (plain, &v.description),
                        width,
                        paint,
                    ));
                }
            }
            None => lines.push(format!("#{} no outcome", r.index)),
        }
    }
    lines
}

/// The sessions as a table, points and tools by `names`.
pub(super) fn sessions_table(sessions: &[ses::SessionRecord], names: &Names) {
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
            names.of(&s.trigger_point),
            names.of(&s.tool),
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
        .reply()?;
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
        .reply()?;
    let failed = resp
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Some(ses::batch_log_result::Outcome::Error(_))))
        .count();
    ctx.out.show(&resp, |resp| {
        output::print_lines(batch_lines(&resp.results, output::width(), output::painted));
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
        .reply()?;
    let names = Names::for_points(ctx, resp.session.iter().map(|s| &s.trigger_point)).await;
    ctx.out.show(&resp, |resp| {
        let Some(s) = &resp.session else { return };
        sessions_table(std::slice::from_ref(s), &names);
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
        .reply()?;
    let names = Names::for_points(ctx, resp.sessions.iter().map(|s| &s.trigger_point)).await;
    ctx.out.show(&resp, |resp| {
        if resp.sessions.is_empty() {
            println!("no sessions yet");
            return;
        }
        sessions_table(&resp.sessions, &names);
        if !resp.next_page_token.is_empty() {
            println!("more: --page-token {}", resp.next_page_token);
        }
    })
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
        .reply()?;
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
        .reply()?;
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
    use crate::output::bracketed;

    #[test]
    fn a_batch_wraps_its_warnings_and_refusals_beneath_each_item() {
        use ses::batch_log_result::Outcome;
        let logged = ses::SessionRecord {
            name: "sessions/s1".into(),
            trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
            warnings: vec![ses::SafetyWarning {
                severity: ses::WarningSeverity::MedicalAttention as i32,
                message: "Sharp pain is a warning sign, not a trigger point. Stop and seek \
                          medical attention."
                    .into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let field = |field: &str, description: &str| ses::FieldViolation {
            field: field.into(),
            description: description.into(),
        };
        let refused = ses::ItemError {
            code: tonic::Code::InvalidArgument as i32,
            message: "invalid argument: requests[1].session.pressure: must be between 0 and 10; \
                      requests[1].session.duration_seconds: must be between 10 and 600"
                .into(),
            field_violations: vec![
                field("requests[1].session.pressure", "must be between 0 and 10"),
                field(
                    "requests[1].session.duration_seconds",
                    "must be between 10 and 600 seconds, the time a point may be held in one \
                     session",
                ),
            ],
            ..Default::default()
        };
        let results = [
            ses::BatchLogResult {
                index: 0,
                outcome: Some(Outcome::Session(logged)),
                replayed: false,
            },
            ses::BatchLogResult {
                index: 1,
                outcome: Some(Outcome::Error(refused)),
                replayed: false,
            },
            ses::BatchLogResult {
                index: 2,
                outcome: None,
                replayed: false,
            },
        ];
        assert_eq!(
            batch_lines(&results, 80, bracketed),
            [
                "#0 [logged] sessions/s1 on quadratus_lumborum_superficial",
                "[!! SEEK MEDICAL ATTENTION:] [Sharp pain is a warning sign, not a trigger point.]",
                "  [Stop and seek medical attention.]",
                "#1 [refused] INVALID_ARGUMENT: invalid argument: requests[1].session.pressure:",
                "  must be between 0 and 10; requests[1].session.duration_seconds: must be",
                "  between 10 and 600",
                "    field requests[1].session.pressure: must be between 0 and 10",
                "    field requests[1].session.duration_seconds: must be between 10 and 600",
                "      seconds, the time a point may be held in one session",
                "#2 no outcome",
            ]
        );
    }

    #[test]
    fn qualities() {
        assert_eq!(parse_quality(" Dull\n").unwrap(), ses::PainQuality::Dull);
        assert_eq!(parse_quality("sharp").unwrap(), ses::PainQuality::Sharp);
        assert!(parse_quality("stabbing").is_err());
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
