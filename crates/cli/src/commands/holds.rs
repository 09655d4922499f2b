//! Holds and journal corrections: `knotwork holds`, `knotwork release-hold`,
//! `knotwork edit-session`, `knotwork delete-session` (ListHolds,
//! ReleaseHold, UpdateSession, DeleteSession). Needs a token.

use anstyle::Style;
use anyhow::bail;
use knotwork_proto::session::v1 as ses;

use super::catalog::parse_side;
use super::journal::parse_quality;
use super::names::Names;
use crate::connect::{Ctx, Reply, full};
use crate::output::{
    Painter, paint, painted, print_lines, print_warnings, short, style, width, word, wrapped_lines,
};

/// Options of `knotwork holds`.
#[derive(Debug, clap::Args)]
pub struct HoldsArgs {
    /// Also list holds already released.
    #[arg(long)]
    pub all: bool,
}

/// Options of `knotwork release-hold`.
#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// A point of the held muscle, e.g. `quadratus_lumborum_superficial`.
    pub point: String,
    /// The date a medical provider checked it, YYYY-MM-DD.
    #[arg(long)]
    pub checked: String,
    /// Confirms that a medical provider has checked it.
    #[arg(long)]
    pub provider_checked: bool,
}

/// Options of `knotwork edit-session`: only the fields given change.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The session, `sessions/ID` or `ID`.
    pub name: String,
    /// The trigger point worked.
    #[arg(long)]
    pub point: Option<String>,
    /// The tool used.
    #[arg(long)]
    pub tool: Option<String>,
    /// Side: left, right or both.
    #[arg(long)]
    pub side: Option<String>,
    /// Pressure used, 0-10.
    #[arg(long)]
    pub pressure: Option<i32>,
    /// Time on the point, in seconds.
    #[arg(long)]
    pub duration: Option<i32>,
    /// Tenderness before, 0-10.
    #[arg(long)]
    pub before: Option<i32>,
    /// Tenderness after, 0-10.
    #[arg(long)]
    pub tenderness: Option<i32>,
    /// How it felt: dull, aching, burning, tingling, numbness, electric, sharp.
    #[arg(long, value_parser = parse_quality)]
    pub quality: Option<ses::PainQuality>,
    /// Worse with activity: true or false.
    #[arg(long)]
    pub worse_with_activity: Option<bool>,
    /// Worse with the massage: true or false.
    #[arg(long)]
    pub worse_with_massage: Option<bool>,
    /// A twitch response was felt: true or false.
    #[arg(long)]
    pub twitch: Option<bool>,
    /// Free notes.
    #[arg(long)]
    pub notes: Option<String>,
}

/// Options of `knotwork delete-session`.
#[derive(Debug, clap::Args)]
pub struct DeleteSessionArgs {
    /// The session, `sessions/ID` or `ID`.
    pub name: String,
}

/// Prints holds as a short list: what, since when, why, what to do.
pub fn print_holds(holds: &[ses::Hold], names: &Names) {
    print_lines(hold_lines(holds, names, width(), painted));
}

/// The lines of `print_holds` at `width` columns: each hold's why and advice
/// two columns in beneath it, wrapped. The release command stays on one
/// line, whole, so that it can be copied.
fn hold_lines(holds: &[ses::Hold], names: &Names, width: usize, paint: Painter) -> Vec<String> {
    if holds.is_empty() {
        return vec!["No point is on hold.".to_owned()];
    }
    let plain = Style::new();
    let mut lines = Vec::new();
    for h in holds {
        let state = if h.active {
            paint(style::DANGER, "ON HOLD")
        } else {
            paint(
                style::GOOD,
                &format!("released (checked {})", h.provider_checked_date),
            )
        };
        lines.push(format!(
            "{state}  {} ({})  since {}",
            paint(style::HEADING, &names.of(&h.trigger_point)),
            names.of(&h.muscle),
            h.since_local_time
        ));
        lines.extend(wrapped_lines(
            2,
            (plain, "why:"),
            (plain, &h.why),
            width,
            paint,
        ));
        lines.extend(wrapped_lines(
            2,
            (plain, ""),
            (plain, &h.advice),
            width,
            paint,
        ));
        if h.active {
            lines.push(format!(
                "  {}",
                paint(
                    style::DIM,
                    &format!(
                        "after a provider's check: knotwork release-hold {} --provider-checked --checked YYYY-MM-DD",
                        short(&h.trigger_point)
                    )
                )
            ));
        }
    }
    lines
}

/// `knotwork holds`.
pub async fn holds(ctx: &Ctx, args: HoldsArgs) -> anyhow::Result<()> {
    let resp = ctx
        .session()
        .await?
        .list_holds(ctx.request(ses::ListHoldsRequest {
            include_released: args.all,
        })?)
        .await
        .reply()?;
    let names = Names::for_points(ctx, resp.holds.iter().map(|h| &h.trigger_point)).await;
    ctx.out.show(&resp, |r| print_holds(&r.holds, &names))
}

/// `knotwork release-hold`.
pub async fn release(ctx: &Ctx, args: ReleaseArgs) -> anyhow::Result<()> {
    if !args.provider_checked {
        bail!(
            "a hold is released only after a medical provider has checked it: pass --provider-checked with --checked YYYY-MM-DD"
        );
    }
    let resp = ctx
        .session()
        .await?
        .release_hold(ctx.request(ses::ReleaseHoldRequest {
            trigger_point: full("triggerPoints", &args.point),
            provider_checked: true,
            checked_date: args.checked,
        })?)
        .await
        .reply()?;
    let names = Names::for_points(ctx, resp.holds.iter().map(|h| &h.trigger_point)).await;
    ctx.out.show(&resp, |r| print_holds(&r.holds, &names))
}

/// The session fields and the update mask an `edit-session` names.
fn edit_request(args: EditArgs) -> anyhow::Result<ses::UpdateSessionRequest> {
    let mut s = ses::SessionRecord {
        name: full("sessions", &args.name),
        ..Default::default()
    };
    let mut paths = Vec::new();
    let mut set = |path: &str| paths.push(path.to_owned());
    if let Some(p) = args.point {
        s.trigger_point = full("triggerPoints", &p);
        set("trigger_point");
    }
    if let Some(t) = args.tool {
        s.tool = full("tools", &t);
        set("tool");
    }
    if let Some(side) = args.side {
        s.side = parse_side(&side)? as i32;
        set("side");
    }
    if let Some(v) = args.pressure {
        s.pressure = v;
        set("pressure");
    }
    if let Some(v) = args.duration {
        s.duration_seconds = v;
        set("duration_seconds");
    }
    if let Some(v) = args.before {
        s.tenderness_before = Some(v);
        set("tenderness_before");
    }
    if let Some(v) = args.tenderness {
        s.tenderness_after = Some(v);
        set("tenderness_after");
    }
    if let Some(q) = args.quality {
        s.pain_quality = q as i32;
        set("pain_quality");
    }
    if let Some(v) = args.worse_with_activity {
        s.worse_with_activity = v;
        set("worse_with_activity");
    }
    if let Some(v) = args.worse_with_massage {
        s.worse_with_massage = v;
        set("worse_with_massage");
    }
    if let Some(v) = args.twitch {
        s.twitch_response = v;
        set("twitch_response");
    }
    if let Some(v) = args.notes {
        s.notes = v;
        set("notes");
    }
    if paths.is_empty() {
        bail!("nothing to change: pass at least one field, e.g. --quality dull");
    }
    Ok(ses::UpdateSessionRequest {
        session: Some(s),
        update_mask: Some(prost_types::FieldMask { paths }),
    })
}

/// `knotwork edit-session`.
pub async fn edit(ctx: &Ctx, args: EditArgs) -> anyhow::Result<()> {
    let req = edit_request(args)?;
    let resp = ctx
        .session()
        .await?
        .update_session(ctx.request(req)?)
        .await
        .reply()?;
    ctx.out.show(&resp, |r| {
        let Some(s) = &r.session else { return };
        anstream::println!("{} {}", paint(style::GOOD, "Corrected"), corrected(s));
        print_warnings(&s.warnings);
    })
}

/// What `edit-session` says of the corrected session: its name, point and
/// day, and how the pain felt when the session says.
fn corrected(s: &ses::SessionRecord) -> String {
    let mut line = format!(
        "{} on {} ({})",
        s.name,
        short(&s.trigger_point),
        s.local_date
    );
    if s.pain_quality() != ses::PainQuality::Unspecified {
        line.push_str(", felt ");
        line.push_str(&word(s.pain_quality().as_str_name(), "PAIN_QUALITY_"));
    }
    line
}

/// `knotwork delete-session`.
pub async fn delete(ctx: &Ctx, args: DeleteSessionArgs) -> anyhow::Result<()> {
    let name = full("sessions", &args.name);
    let resp = ctx
        .session()
        .await?
        .delete_session(ctx.request(ses::DeleteSessionRequest { name: name.clone() })?)
        .await
        .reply()?;
    ctx.out.show(&resp, |r| {
        if r.deleted {
            println!("Deleted {name}. Holds it caused stay until a provider has checked them.");
        } else {
            println!("{name} was already gone.");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::bracketed;

    fn args(name: &str) -> EditArgs {
        EditArgs {
            name: name.into(),
            point: None,
            tool: None,
            side: None,
            pressure: None,
            duration: None,
            before: None,
            tenderness: None,
            quality: None,
            worse_with_activity: None,
            worse_with_massage: None,
            twitch: None,
            notes: None,
        }
    }

    #[test]
    fn a_hold_wraps_its_why_and_advice_beneath_it() {
        let names = Names::from_pairs([
            (
                "triggerPoints/quadratus_lumborum_superficial",
                "QL superficial point",
            ),
            ("muscles/quadratus_lumborum", "Quadratus lumborum"),
        ]);
        let hold = ses::Hold {
            trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
            muscle: "muscles/quadratus_lumborum".into(),
            why: "Sharp pain was reported on this point on 2026-12-04: sharp pain is a warning \
                  sign, not a trigger point."
                .into(),
            advice: "Stop self-treatment of this muscle until a medical provider has checked it. \
                     When they have, record the date of the check to release the hold."
                .into(),
            since_local_time: "2026-12-04 18:20".into(),
            active: true,
            ..Default::default()
        };
        assert_eq!(
            hold_lines(std::slice::from_ref(&hold), &names, 80, bracketed),
            [
                "[ON HOLD]  [QL superficial point] (Quadratus lumborum)  since 2026-12-04 18:20",
                "  why: Sharp pain was reported on this point on 2026-12-04: sharp pain is a",
                "    warning sign, not a trigger point.",
                "  Stop self-treatment of this muscle until a medical provider has checked it.",
                "    When they have, record the date of the check to release the hold.",
                // The command stays whole, to be copied.
                "  [after a provider's check: knotwork release-hold quadratus_lumborum_superficial --provider-checked --checked YYYY-MM-DD]",
            ]
        );
        assert_eq!(
            hold_lines(&[], &names, 80, bracketed),
            ["No point is on hold."]
        );
    }

    #[test]
    fn a_correction_names_the_feel_only_when_recorded() {
        let mut s = ses::SessionRecord {
            name: "sessions/s1".into(),
            trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
            local_date: "2026-12-04".into(),
            ..Default::default()
        };
        let plain = corrected(&s);
        assert!(plain.starts_with("sessions/s1 on "), "{plain}");
        assert!(plain.ends_with("(2026-12-04)"), "{plain}");
        assert!(!plain.contains("unspecified"), "{plain}");
        s.set_pain_quality(ses::PainQuality::Dull);
        assert_eq!(corrected(&s), format!("{plain}, felt dull"));
    }

    #[test]
    fn edits_name_only_the_fields_given() {
        assert!(edit_request(args("s1")).is_err());
        let mut a = args("s1");
        a.quality = Some(ses::PainQuality::Dull);
        a.worse_with_massage = Some(false);
        let r = edit_request(a).unwrap();
        assert_eq!(r.session.as_ref().unwrap().name, "sessions/s1");
        assert_eq!(
            r.update_mask.unwrap().paths,
            ["pain_quality", "worse_with_massage"]
        );
    }
}
