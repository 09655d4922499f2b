//! The daily plan's outputs beyond `today`: the coming reminders
//! (ListReminders) and the iCalendar export (ExportCalendar). Needs a token.

use std::io::Write as _;

use anstyle::Style;

use knotwork_proto::session::v1 as ses;

use super::names::Names;
use crate::connect::{Ctx, Reply};
use crate::output::{
    Painter, painted, print_fitted_table, print_lines, style, table, table_lines, width,
    wrapped_lines,
};

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
    print_lines(plan_lines(plan, names, width(), painted));
}

/// The lines of `show_plan` at `width` columns: its sentences wrapped, its
/// tables as they are.
fn plan_lines(plan: &ses::DailyPlan, names: &Names, width: usize, paint: Painter) -> Vec<String> {
    let mut lines = vec![paint(
        style::HEADING,
        &format!(
            "plan for {} ({}, awake {}-{})",
            plan.local_date, plan.time_zone, plan.wake_time, plan.sleep_time
        ),
    )];
    if plan.points.is_empty() {
        lines.extend(wrapped_lines(
            0,
            (Style::new(), "nothing planned:"),
            (
                Style::new(),
                "points you work join the plan for a week. To find some:",
            ),
            width,
            paint,
        ));
        // A command on a line of its own, never broken: it is copied whole.
        lines.push("  knotwork plan \"low back\"".to_owned());
        lines.extend(set_aside_lines(plan, names, width, paint));
        return lines;
    }
    lines.push(format!(
        "{} of {} planned sessions done, {} left",
        plan.sessions_done, plan.sessions_planned, plan.sessions_left
    ));
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
    lines.extend(table_lines(&t));
    let listed = i32::try_from(plan.points.len()).unwrap_or(i32::MAX);
    if plan.points_total > listed {
        lines.push(format!("(and {} more points)", plan.points_total - listed));
    }
    lines.push(String::new());
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
    lines.extend(table_lines(&t));
    lines.extend(set_aside_lines(plan, names, width, paint));
    lines
}

/// The points set aside (on hold or worsening), wrapped beneath their label.
fn set_aside_lines(
    plan: &ses::DailyPlan,
    names: &Names,
    width: usize,
    paint: Painter,
) -> Vec<String> {
    if plan.set_aside.is_empty() {
        return Vec::new();
    }
    wrapped_lines(
        0,
        (style::CAUTION, "set aside:"),
        (
            Style::new(),
            &format!("{} (on hold or worsening)", names.list(&plan.set_aside)),
        ),
        width,
        paint,
    )
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
        print_fitted_table(&t, &[0]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::bracketed;

    /// Points of the low back and hip, as the catalog names them.
    fn names() -> Names {
        Names::from_pairs([
            (
                "triggerPoints/quadratus_lumborum_superficial",
                "QL superficial point",
            ),
            ("triggerPoints/quadratus_lumborum_deep", "QL deep point"),
            ("triggerPoints/iliopsoas_psoas", "Psoas point"),
            ("triggerPoints/iliopsoas_iliacus", "Iliacus point"),
            ("triggerPoints/piriformis", "Piriformis point"),
            (
                "triggerPoints/gluteus_minimus_posterior",
                "Gluteus minimus back point",
            ),
        ])
    }

    fn points(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| format!("triggerPoints/{id}")).collect()
    }

    /// A day of Europe/Berlin, waking at 07:00, with `set_aside`.
    fn day(set_aside: &[&str]) -> ses::DailyPlan {
        ses::DailyPlan {
            local_date: "2026-12-05".into(),
            time_zone: "Europe/Berlin".into(),
            wake_time: "07:00".into(),
            sleep_time: "22:00".into(),
            set_aside: points(set_aside),
            ..Default::default()
        }
    }

    const SET_ASIDE: &[&str] = &[
        "quadratus_lumborum_superficial",
        "quadratus_lumborum_deep",
        "iliopsoas_psoas",
        "iliopsoas_iliacus",
        "piriformis",
    ];

    #[test]
    fn an_empty_plan_wraps_its_sentences() {
        assert_eq!(
            plan_lines(&day(SET_ASIDE), &names(), 80, bracketed),
            [
                "[plan for 2026-12-05 (Europe/Berlin, awake 07:00-22:00)]",
                "nothing planned: points you work join the plan for a week. To find some:",
                "  knotwork plan \"low back\"",
                "[set aside:] QL superficial point, QL deep point, Psoas point, Iliacus point,",
                "  Piriformis point (on hold or worsening)",
            ]
        );
        // Unwrapped, the lines are the lines they always were.
        assert_eq!(
            plan_lines(&day(&["piriformis"]), &names(), usize::MAX, bracketed)[1..],
            [
                "nothing planned: points you work join the plan for a week. To find some:",
                "  knotwork plan \"low back\"",
                "[set aside:] Piriformis point (on hold or worsening)",
            ]
        );
    }

    #[test]
    fn a_plan_wraps_its_sentences_and_not_its_tables() {
        let mut plan = day(SET_ASIDE);
        plan.sessions_planned = 6;
        plan.sessions_left = 6;
        plan.points = vec![ses::PlanPoint {
            trigger_point: "triggerPoints/gluteus_minimus_posterior".into(),
            sessions_planned: 6,
            sessions_left: 6,
            sessions_allowed: 6,
            ..Default::default()
        }];
        // A slot naming more points than a line holds.
        plan.slots = vec![ses::PlanSlot {
            local_time: "2026-12-05T09:00:00+01:00".into(),
            trigger_points: points(&[
                "gluteus_minimus_posterior",
                "quadratus_lumborum_superficial",
                "quadratus_lumborum_deep",
                "iliopsoas_psoas",
                "iliopsoas_iliacus",
            ]),
            ..Default::default()
        }];
        assert_eq!(
            plan_lines(&plan, &names(), 80, bracketed),
            [
                "[plan for 2026-12-05 (Europe/Berlin, awake 07:00-22:00)]",
                "0 of 6 planned sessions done, 6 left",
                " TRIGGER POINT               DONE  PLANNED  LEFT  ALLOWED  STATUS",
                " Gluteus minimus back point  0     6        6     6        unspecified",
                "",
                " TIME          POINTS TO WORK",
                " 09:00  later  Gluteus minimus back point, QL superficial point, QL deep point, Psoas point, Iliacus point",
                "[set aside:] QL superficial point, QL deep point, Psoas point, Iliacus point,",
                "  Piriformis point (on hold or worsening)",
            ]
        );
    }
}
