//! Progress: per point (ListProgress, with the week's adherence) and one
//! day (GetDay, with each point's allowance). Needs a token.

use knotwork_proto::session::v1 as ses;

use super::journal::sessions_table;
use super::names::Names;
use crate::connect::{Ctx, Reply, full};
use crate::output::{
    Painter, align_right, paint, painted, print_fitted_table, print_lines, print_table, style,
    table, width, word, wrapped_lines,
};

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

/// Prints progress per point (by `names`; and the days, for one point).
pub fn show_progress(progress: &[ses::PointProgress], days: bool, names: &Names) {
    if progress.is_empty() {
        println!("no progress yet: log a session first");
        return;
    }
    let mut t = table(&["trigger point", "status", "trend/day", "sessions", "advice"]);
    for p in progress {
        // Plain text: styles inside a cell would skew the column widths.
        let status = word(p.status().as_str_name(), "PROGRESS_STATUS_");
        t.add_row(vec![
            names.of(&p.trigger_point),
            status,
            format!("{:+.2}", p.tenderness_trend_per_day),
            p.sessions_in_window.to_string(),
            advice(p),
        ]);
    }
    align_right(&mut t, &[2, 3]);
    // The advice wraps; a point's name and its status stay on one line.
    print_fitted_table(&t, &[0, 1]);
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
            anstream::println!("{}", paint(style::HEADING, names.of(&p.trigger_point)));
            print_table(&t);
        }
    }
}

/// What the table says to do about a point: a held point's hold (not to be
/// worked until a provider checks it), else the progress advice.
fn advice(p: &ses::PointProgress) -> String {
    match p.hold.as_ref().filter(|h| h.active) {
        Some(h) => format!("ON HOLD: {} {}", h.why, h.advice),
        None => p.advice.clone(),
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
        .reply()?;
    let names = Names::for_points(ctx, resp.progress.iter().map(|p| &p.trigger_point)).await;
    ctx.out.show(&resp, |resp| {
        if let Some(a) = &resp.adherence {
            show_adherence(a);
            println!();
        }
        show_progress(&resp.progress, one, &names);
    })
}

/// Prints the streak and the week's adherence.
pub fn show_adherence(a: &ses::Adherence) {
    print_lines(adherence_lines(a, width(), painted));
}

/// The streak and the week's adherence at `width` columns, each beneath
/// its label.
fn adherence_lines(a: &ses::Adherence, width: usize, paint: Painter) -> Vec<String> {
    let streak = match (a.streak_days, a.streak_includes_today) {
        (0, _) => "no streak yet: one session today starts one".to_owned(),
        (n, true) => format!("{n} day{} in a row, today included", plural(n)),
        (n, false) => format!(
            "{n} day{} in a row: a session today keeps it going",
            plural(n)
        ),
    };
    let plain = anstyle::Style::new();
    let mut lines = wrapped_lines(
        0,
        (style::HEADING, "streak "),
        (plain, &streak),
        width,
        paint,
    );
    lines.extend(wrapped_lines(
        0,
        (style::HEADING, "week   "),
        (plain, &week(a)),
        width,
        paint,
    ));
    lines
}

/// The week's adherence in words. A week with nothing planned (every point
/// set aside or on hold) has no share to show: "0 of 0 (0%)" would read as
/// a failure.
fn week(a: &ses::Adherence) -> String {
    let days = format!(
        "{} of 7 days active ({} to {})",
        a.week_active_days, a.week_start_date, a.week_end_date
    );
    if a.week_sessions_planned == 0 {
        return format!("nothing planned, {days}");
    }
    format!(
        "{} of {} planned sessions ({}%), {days}",
        a.week_sessions_done, a.week_sessions_planned, a.week_percent
    )
}

fn plural(n: i32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The trigger points a day names: its sessions' and its allowances'.
pub fn day_points(day: &ses::GetDayResponse) -> impl Iterator<Item = &String> {
    day.sessions
        .iter()
        .map(|s| &s.trigger_point)
        .chain(day.allowances.iter().map(|a| &a.trigger_point))
}

/// Prints a day: sessions, then what is still allowed per point.
pub fn show_day(day: &ses::GetDayResponse, names: &Names) {
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
        sessions_table(&day.sessions, names);
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
                names.of(&a.trigger_point),
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
        .reply()?;
    let names = Names::for_points(ctx, day_points(&resp)).await;
    ctx.out.show(&resp, |day| show_day(day, &names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adherence(done: i32, planned: i32, percent: i32) -> ses::Adherence {
        ses::Adherence {
            week_sessions_done: done,
            week_sessions_planned: planned,
            week_percent: percent,
            week_active_days: 2,
            week_start_date: "2026-11-28".into(),
            week_end_date: "2026-12-04".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_week_gives_its_share_of_planned_sessions() {
        assert_eq!(
            week(&adherence(2, 6, 33)),
            "2 of 6 planned sessions (33%), 2 of 7 days active (2026-11-28 to 2026-12-04)"
        );
    }

    /// The week's line wraps beneath its label; at 80 columns (a pipe)
    /// both lines read as before.
    #[test]
    fn the_adherence_lines_wrap_beneath_their_labels() {
        let mut a = adherence(12, 18, 66);
        a.streak_days = 3;
        a.streak_includes_today = true;
        assert_eq!(
            adherence_lines(&a, 80, crate::output::bracketed),
            [
                "[streak ] 3 days in a row, today included",
                "[week   ] 12 of 18 planned sessions (66%), 2 of 7 days active (2026-11-28 to",
                "  2026-12-04)",
            ]
        );
    }

    #[test]
    fn a_held_point_shows_its_hold_instead_of_the_advice() {
        let mut p = ses::PointProgress {
            advice: "Work this point on at least 5 of every 7 days.".into(),
            ..Default::default()
        };
        assert_eq!(advice(&p), "Work this point on at least 5 of every 7 days.");
        p.hold = Some(ses::Hold {
            why: "Sharp pain was reported.".into(),
            advice: "Stop until a provider has checked it.".into(),
            active: true,
            ..Default::default()
        });
        assert_eq!(
            advice(&p),
            "ON HOLD: Sharp pain was reported. Stop until a provider has checked it."
        );
        p.hold.as_mut().unwrap().active = false;
        assert_eq!(advice(&p), "Work this point on at least 5 of every 7 days.");
    }

    #[test]
    fn a_week_with_nothing_planned_says_so() {
        assert_eq!(
            week(&adherence(0, 0, 0)),
            "nothing planned, 2 of 7 days active (2026-11-28 to 2026-12-04)"
        );
    }
}
