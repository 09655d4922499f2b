//! The daily plan's outputs beyond `today`: the coming reminders
//! (ListReminders) and the iCalendar export (ExportCalendar). Needs a token.

use std::io::Write as _;

use knotwork_proto::session::v1 as ses;

use super::names::Names;
use crate::connect::{Ctx, Reply};
use crate::output::{paint, print_table, style, table};

/// Options of `knotwork reminders`.
#[derive(Debug, clap::Args)]
pub struct RemindersArgs {
    /// How many days ahead, from now: 1-14.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=14))]
    pub days: i64,
}

/// Options of `knotwork calendar`.
#[derive(Debug, clap::Args)]
pub struct CalendarArgs {
    /// The first local day, YYYY-MM-DD (default today).
    #[arg(long)]
    pub from: Option<String>,
    /// How many days: 1-14.
    #[arg(long, default_value_t = 7)]
    pub days: i32,
}

/// Prints a day's plan: the totals, the points (by `names`), the
/// suggested times.
pub fn show_plan(plan: &ses::DailyPlan, names: &Names) {
    anstream::println!(
        "{}",
        paint(
            style::HEADING,
            format!(
                "plan for {} ({}, awake {}-{})",
                plan.local_date, plan.time_zone, plan.wake_time, plan.sleep_time
            )
        )
    );
    if plan.points.is_empty() {
        println!(
            "nothing planned: points you work join the plan for a week (`knotwork plan \"low back\"` finds some)"
        );
        print_set_aside(plan, names);
        return;
    }
    println!(
        "{} of {} planned sessions done, {} left",
        plan.sessions_done, plan.sessions_planned, plan.sessions_left
    );
    let mut t = table(&[
        "trigger point",
        "done",
        "planned",
        "left",
        "allowed",
        "status",
    ]);
    for p in &plan.points {
        let status = crate::output::word(p.status().as_str_name(), "PROGRESS_STATUS_");
        t.add_row(vec![
            names.of(&p.trigger_point),
            p.sessions_done.to_string(),
            p.sessions_planned.to_string(),
            p.sessions_left.to_string(),
            p.sessions_allowed.to_string(),
            status,
        ]);
    }
    print_table(&t);
    let listed = i32::try_from(plan.points.len()).unwrap_or(i32::MAX);
    if plan.points_total > listed {
        println!("(and {} more points)", plan.points_total - listed);
    }
    println!();
    // Plain words in the table: colour codes would count in its widths.
    let mut t = table(&["time", "", "points to work"]);
    for s in &plan.slots {
        let state = match s.state() {
            ses::SlotState::Done => "done",
            ses::SlotState::Due => "due",
            _ => "later",
        }
        .to_owned();
        let points = if s.trigger_points_left.is_empty() {
            &s.trigger_points
        } else {
            &s.trigger_points_left
        };
        t.add_row(vec![clock(&s.local_time), state, names.list(points)]);
    }
    print_table(&t);
    print_set_aside(plan, names);
}

fn print_set_aside(plan: &ses::DailyPlan, names: &Names) {
    if !plan.set_aside.is_empty() {
        anstream::println!(
            "{} {} (on hold or worsening)",
            paint(style::CAUTION, "set aside:"),
            names.list(&plan.set_aside)
        );
    }
}

/// The trigger points a day's plan names.
pub fn plan_points(plan: &ses::DailyPlan) -> impl Iterator<Item = &String> {
    plan.points
        .iter()
        .map(|p| &p.trigger_point)
        .chain(plan.slots.iter().flat_map(|s| &s.trigger_points))
        .chain(&plan.set_aside)
}

/// `HH:MM` of an RFC 3339 local time (the whole text when it is not one).
fn clock(local: &str) -> String {
    local.get(11..16).unwrap_or(local).to_owned()
}

/// `knotwork reminders`.
pub async fn reminders(ctx: &Ctx, args: RemindersArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let req = ses::ListRemindersRequest {
        start_time: Some(prost_types::Timestamp {
            seconds: now,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: now + args.days * 86_400,
            nanos: 0,
        }),
        page_size: 200,
        page_token: String::new(),
    };
    let resp = ctx
        .session()
        .await?
        .list_reminders(ctx.request(req)?)
        .await
        .reply()?;
    ctx.out.show(&resp, |resp| {
        if resp.reminders.is_empty() {
            println!(
                "no reminders: nothing planned in the next {} days",
                args.days
            );
            return;
        }
        let mut t = table(&["when", "reminder"]);
        for r in &resp.reminders {
            t.add_row(vec![
                format!("{} {}", r.local_date, clock(&r.local_time)),
                r.body.clone(),
            ]);
        }
        print_table(&t);
    })
}

/// `knotwork calendar`: the iCalendar bytes on stdout (with `--json`, the
/// response with the bytes in base64).
pub async fn calendar(ctx: &Ctx, args: CalendarArgs) -> anyhow::Result<()> {
    let req = ses::ExportCalendarRequest {
        start_date: args.from.unwrap_or_default(),
        days: args.days,
    };
    let resp = ctx
        .session()
        .await?
        .export_calendar(ctx.request(req)?)
        .await
        .reply()?;
    if ctx.out.json {
        return crate::output::print_json(&resp);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&resp.calendar)?;
    out.flush()?;
    Ok(())
}
