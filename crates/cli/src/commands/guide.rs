//! `knotwork guide`: a guided session in the terminal. Starts it
//! (StartGuidedSession, which applies the admission rules), follows the
//! server's cue stream (GuideSession) with a live countdown, then asks how it
//! went and logs it (LogSession).
//!
//! On a terminal the countdown redraws one line with `\r`; elsewhere every
//! update is its own line, so logs and pipes stay readable. With `--json` it
//! prints one JSON document per line: the started session, each cue, the
//! logged session.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};
use knotwork_proto::session::v1 as ses;
use tokio_stream::StreamExt as _;

use super::catalog::parse_side;
use super::journal::{parse_quality, show_logged};
use super::names::Names;
use crate::connect::{Ctx, Reply, explain, full};
use crate::output::{
    self, Painter, paint, painted, paragraph_lines, print_lines, style, warning_lines, width, word,
    wrapped_lines,
};

/// Options of `knotwork guide`.
#[derive(Debug, clap::Args)]
pub struct GuideArgs {
    /// The trigger point, e.g. `quadratus_lumborum_superficial`.
    pub point: String,
    /// The tool, e.g. `lacrosse_ball` (`knotwork recommended-tools POINT`).
    #[arg(long)]
    pub tool: String,
    /// Side: left, right or both (both: each side in turn).
    #[arg(long, default_value = "both")]
    pub side: String,
    /// Seconds per side; the guidance's minimum when not given.
    #[arg(long, default_value_t = 0)]
    pub duration: i32,
    /// Tenderness before you started, 0-10 (asked when not given and
    /// `--tenderness` is not given either).
    #[arg(long)]
    pub before: Option<i32>,
    /// Tenderness after, 0-10 (asked on stdin when not given).
    #[arg(long)]
    pub tenderness: Option<i32>,
    /// How the pain felt: dull, aching, burning, tingling, sharp (asked when
    /// not given).
    #[arg(long, value_parser = parse_quality)]
    pub quality: Option<ses::PainQuality>,
    /// The pain got worse with the massage.
    #[arg(long)]
    pub worse_with_massage: bool,
    /// A local twitch response was felt.
    #[arg(long)]
    pub twitch: bool,
    /// Free notes.
    #[arg(long, default_value = "")]
    pub notes: String,
}

/// Redraws or prints the countdown.
struct Countdown {
    live: bool,
    drawn: bool,
}

impl Countdown {
    fn tick(&mut self, c: &ses::GuideSessionResponse) {
        let line = format!(
            "  {:>2}:{:02} left  ·  {} side  ·  target {}/10",
            c.remaining_seconds / 60,
            c.remaining_seconds % 60,
            word(c.side().as_str_name(), "SIDE_"),
            c.target_pressure
        );
        if self.live {
            // Padded so a shorter line fully covers a longer one.
            print!("\r{line:<60}");
            let _ = std::io::stdout().flush();
            self.drawn = true;
        } else {
            println!("{}", line.trim_start());
        }
    }

    /// Ends the live line before a prompt is printed.
    fn clear(&mut self) {
        if self.live && self.drawn {
            print!("\r{:<60}\r", "");
            self.drawn = false;
        }
    }

    fn cue(&mut self, c: &ses::GuideSessionResponse) {
        self.clear();
        let label = word(c.cue().as_str_name(), "GUIDE_CUE_").to_uppercase();
        let label = match c.cue() {
            ses::GuideCue::Stop => paint(style::GOOD, format!("{label:>14}")),
            ses::GuideCue::SwitchSide | ses::GuideCue::Halfway => {
                paint(style::CAUTION, format!("{label:>14}"))
            }
            _ => paint(style::HEADING, format!("{label:>14}")),
        };
        anstream::println!(
            "{label}  {}  {}",
            c.message,
            paint(
                style::DIM,
                format!(
                    "({}:{:02} left)",
                    c.remaining_seconds / 60,
                    c.remaining_seconds % 60
                )
            )
        );
    }
}

/// Asks on stdin until the answer parses; `Ok(None)` for an empty answer
/// when `optional`.
fn ask<T>(
    question: &str,
    optional: bool,
    parse: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let stdin = std::io::stdin();
    loop {
        // Prompts go to stderr so stdout stays the session's record (and
        // valid JSON with `--json`).
        eprint!("{question} ");
        std::io::stderr().flush().ok();
        let mut line = String::new();
        let n = stdin.lock().read_line(&mut line).context("reading stdin")?;
        if n == 0 {
            bail!("no answer on stdin to {question:?}: pass --tenderness and --quality");
        }
        let answer = line.trim();
        if !std::io::stdin().is_terminal() {
            // Echo scripted answers so the transcript reads like a session.
            eprintln!("{answer}");
        }
        if answer.is_empty() && optional {
            return Ok(None);
        }
        match parse(answer) {
            Ok(v) => return Ok(Some(v)),
            Err(e) => anstream::eprintln!("{}", paint(style::CAUTION, e)),
        }
    }
}

fn parse_score(text: &str) -> anyhow::Result<i32> {
    match text.parse::<i32>() {
        Ok(v) if (0..=10).contains(&v) => Ok(v),
        _ => bail!("a number from 0 (none) to 10 (worst), please"),
    }
}

/// Reconnect attempts in a row before giving up.
const MAX_RECONNECTS: u32 = 6;

/// Whether a failed or ended stream is worth following again.
fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unknown
            | tonic::Code::Internal
            | tonic::Code::Aborted
            | tonic::Code::Cancelled
    )
}

/// 0.5 s, 1 s, 2 s, ... at most 8 s.
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(500 * 2u64.pow(attempt.saturating_sub(1).min(4)))
}

fn reconnect_notice(countdown: &mut Countdown, ctx: &Ctx, attempt: u32) {
    if ctx.out.json {
        return;
    }
    countdown.clear();
    anstream::eprintln!(
        "{}",
        paint(
            style::CAUTION,
            format!(
                "Connection lost; reconnecting in {:.1} s (attempt {attempt} of {MAX_RECONNECTS})...",
                backoff(attempt).as_secs_f64()
            )
        )
    );
}

/// The lines printed when a guided session starts, at `width` columns: what
/// it is (wrapped beneath its label), its id and count (dim, beneath), the
/// instructions as a paragraph, the warnings.
fn started_lines(
    g: &ses::GuidedSession,
    names: &Names,
    width: usize,
    paint: Painter,
) -> Vec<String> {
    let plain = anstyle::Style::new();
    let what = format!(
        "{} with {}, {} s per side, aim for {}/10",
        names.of(&g.trigger_point),
        names.of(&g.tool),
        g.duration_seconds,
        g.target_pressure,
    );
    let mut lines = wrapped_lines(
        0,
        (style::HEADING, "Guided session:"),
        (plain, &what),
        width,
        paint,
    );
    // Its id and count beneath, dim, at the wrapped lines' margin.
    let which = format!(
        "({}, session {} on this point today)",
        g.name, g.sessions_today
    );
    lines.extend(paragraph_lines(
        output::HANG,
        (style::DIM, &which),
        width,
        paint,
    ));
    lines.extend(paragraph_lines(0, (plain, &g.instructions), width, paint));
    lines.extend(warning_lines(&g.warnings, width, paint));
    lines
}

/// `knotwork guide`.
pub async fn guide(ctx: &Ctx, args: GuideArgs) -> anyhow::Result<()> {
    let side = parse_side(&args.side)?;
    let mut client = ctx.session().await?;
    let start = ses::StartGuidedSessionRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        trigger_point: full("triggerPoints", &args.point),
        tool: full("tools", &args.tool),
        side: side as i32,
        duration_seconds: args.duration,
    };
    let started = client
        .start_guided_session(ctx.request(start)?)
        .await
        .map_err(|status| {
            let refused = status.code() == tonic::Code::FailedPrecondition;
            let err = explain(status);
            if refused {
                err.context(paint(style::DANGER, "the guided session cannot start"))
            } else {
                err
            }
        })?
        .into_inner();
    let g = started
        .guided_session
        .clone()
        .context("the server started no session")?;
    if ctx.out.json {
        output::print_json_line(&started)?;
    } else {
        let names = Names::load(ctx, std::slice::from_ref(&g.trigger_point)).await;
        print_lines(started_lines(&g, &names, width(), painted));
    }

    let mut countdown = Countdown {
        live: output::stdout_is_terminal() && !ctx.out.json,
        drawn: false,
    };
    let mut stopped = false;
    // A dropped stream (a tunnel, a lock screen, a restarting server) is
    // followed again with backoff; the server resumes at the real elapsed
    // time.
    let mut attempt = 0u32;
    while !stopped {
        let opened = client
            .guide_session(ctx.stream_request(ses::GuideSessionRequest {
                name: g.name.clone(),
            })?)
            .await;
        let mut stream = match opened {
            Ok(s) => s.into_inner(),
            Err(status) if retryable(&status) && attempt < MAX_RECONNECTS => {
                attempt += 1;
                reconnect_notice(&mut countdown, ctx, attempt);
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(status) => return Err(explain(status)),
        };
        let mut lost = None;
        while let Some(cue) = stream.next().await {
            let cue = match cue {
                Ok(c) => c,
                Err(status) => {
                    lost = Some(status);
                    break;
                }
            };
            attempt = 0;
            if ctx.out.json {
                output::print_json_line(&cue)?;
            } else {
                if cue.resumed {
                    countdown.clear();
                    anstream::println!(
                        "{}",
                        paint(
                            style::GOOD,
                            format!(
                                "Reconnected: {}:{:02} in, continuing.",
                                cue.elapsed_seconds / 60,
                                cue.elapsed_seconds % 60
                            )
                        )
                    );
                }
                if cue.cue() == ses::GuideCue::Tick && !cue.resumed {
                    countdown.tick(&cue);
                } else {
                    countdown.cue(&cue);
                }
            }
            stopped |= cue.cue() == ses::GuideCue::Stop;
        }
        if stopped {
            break;
        }
        match lost {
            Some(status) if !retryable(&status) => return Err(explain(status)),
            _ if attempt >= MAX_RECONNECTS => break,
            _ => {
                attempt += 1;
                reconnect_notice(&mut countdown, ctx, attempt);
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    countdown.clear();
    if !stopped {
        bail!("the guide stream ended before the stop cue; the session is not logged");
    }

    // How did it go? Flags first (scripts), else ask.
    let interactive = args.tenderness.is_none();
    let before = match args.before {
        Some(b) => Some(b),
        None if interactive => ask(
            "Tenderness before you started, 0-10 (Enter to skip):",
            true,
            parse_score,
        )?,
        None => None,
    };
    let after = match args.tenderness {
        Some(t) => t,
        None => ask("Tenderness now, 0-10:", false, parse_score)?.unwrap_or_default(),
    };
    let quality = match args.quality {
        Some(q) => q,
        None => ask(
            "How did it feel? dull, aching, burning, tingling or sharp:",
            false,
            parse_quality,
        )?
        .unwrap_or(ses::PainQuality::Unspecified),
    };

    let record = ses::SessionRecord {
        trigger_point: g.trigger_point.clone(),
        tool: g.tool.clone(),
        side: if g.side == 0 { side as i32 } else { g.side },
        pressure: g.target_pressure,
        duration_seconds: g.duration_seconds,
        tenderness_before: before,
        tenderness_after: Some(after),
        pain_quality: quality as i32,
        worse_with_massage: args.worse_with_massage,
        twitch_response: args.twitch,
        notes: args.notes,
        perform_time: g
            .start_time
            .or_else(|| Some(prost_types::Timestamp::from(std::time::SystemTime::now()))),
        guided_session: g.name.clone(),
        ..Default::default()
    };
    let resp = client
        .log_session(ctx.request(ses::LogSessionRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            session: Some(record),
        })?)
        .await
        .reply()?;
    if ctx.out.json {
        output::print_json_line(&resp)
    } else {
        show_logged(&resp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use knotwork_proto::catalog::v1 as cat;

    #[test]
    fn scores() {
        assert_eq!(parse_score("0").unwrap(), 0);
        assert_eq!(parse_score("10").unwrap(), 10);
        assert!(parse_score("11").is_err());
        assert!(parse_score("-1").is_err());
        assert!(parse_score("six").is_err());
    }

    #[test]
    fn reconnects_back_off() {
        assert_eq!(backoff(1).as_millis(), 500);
        assert_eq!(backoff(2).as_millis(), 1000);
        assert_eq!(backoff(6).as_millis(), 8000);
        assert!(retryable(&tonic::Status::unavailable("gone")));
        assert!(!retryable(&tonic::Status::not_found("no")));
    }

    #[test]
    fn the_instructions_wrap_as_a_paragraph() {
        let g = ses::GuidedSession {
            name: "guidedSessions/g1".into(),
            trigger_point: "triggerPoints/gastrocnemius_medial".into(),
            tool: "tools/lacrosse_ball".into(),
            duration_seconds: 180,
            target_pressure: 5,
            sessions_today: 1,
            instructions: "Sit on the floor with the ball under the calf; cross the other leg \
                           on top to add weight and hold, or roll a few centimetres. Keep the \
                           ball off the back of the knee."
                .into(),
            warnings: vec![ses::SafetyWarning {
                severity: ses::WarningSeverity::Caution as i32,
                message: "Never massage a calf that is swollen, warm or red.".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let names = Names::from_pairs([
            ("triggerPoints/gastrocnemius_medial", "Calf point"),
            ("tools/lacrosse_ball", "Lacrosse ball"),
        ]);
        assert_eq!(
            started_lines(&g, &names, 80, output::bracketed),
            [
                "[Guided session:] Calf point with Lacrosse ball, 180 s per side, aim for 5/10",
                "  [(guidedSessions/g1, session 1 on this point today)]",
                "Sit on the floor with the ball under the calf; cross the other leg on top to add",
                "weight and hold, or roll a few centimetres. Keep the ball off the back of the",
                "knee.",
                "[! Caution:] Never massage a calf that is swollen, warm or red.",
            ]
        );
        // A real id, narrower: every line within the width.
        let mut long = g.clone();
        long.name = "guidedSessions/01a247cd-df9f-70c8-9449-71688f9e87f2".into();
        let lines = started_lines(&long, &names, 60, output::bracketed);
        assert!(
            lines.iter().all(|l| l.replace(['[', ']'], "").len() <= 60),
            "{lines:#?}"
        );
        assert_eq!(lines[1], "  side, aim for 5/10");
        assert_eq!(
            lines[2],
            "  [(guidedSessions/01a247cd-df9f-70c8-9449-71688f9e87f2,]"
        );
    }

    #[test]
    fn side_words() {
        assert_eq!(word(cat::Side::Right.as_str_name(), "SIDE_"), "right");
    }
}
