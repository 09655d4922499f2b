//! The cue schedule of a guided session: when to say what.
//!
//! The schedule is computed up front from the session's duration and side, so
//! it is tested without a clock; the service only sleeps between cues.

use super::{GuidedSession, Side};

/// Seconds between periodic TICK cues.
pub const TICK_SECONDS: u32 = 5;

/// A cue kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CueKind {
    /// Get into position.
    Start,
    /// Press to the target pressure and hold.
    PressAndHold,
    /// Periodic time update.
    Tick,
    /// Half the time is done.
    Halfway,
    /// Switch to the other side.
    SwitchSide,
    /// Time to stop.
    Stop,
}

/// One cue at a moment of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// The cue.
    pub kind: CueKind,
    /// Seconds since the start.
    pub elapsed: u32,
    /// Seconds until the stop.
    pub remaining: u32,
    /// What to do now.
    pub message: String,
    /// The side being worked.
    pub side: Side,
    /// The pressure to aim for.
    pub target_pressure: u8,
}

/// The full cue schedule, ordered by time. With `Side::Both` each side gets
/// the session's duration, with a SWITCH_SIDE cue between them.
pub fn schedule(g: &GuidedSession) -> Vec<Cue> {
    let per_side = g.duration_seconds.max(1);
    let sides: Vec<Side> = match g.side {
        Side::Both => vec![Side::Right, Side::Left],
        s => vec![s],
    };
    let total = per_side * sides.len() as u32;
    let halfway = total / 2;
    let mut cues = Vec::new();
    let mut push = |kind, elapsed: u32, side, message: String| {
        cues.push(Cue {
            kind,
            elapsed,
            remaining: total - elapsed,
            message,
            side,
            target_pressure: g.target_pressure,
        });
    };
    let first = sides[0];
    push(
        CueKind::Start,
        0,
        first,
        format!("Get into position{}.", side_words(first)),
    );
    push(
        CueKind::PressAndHold,
        0,
        first,
        format!(
            "Press to about {}/10 and hold. It should feel like a good hurt, never sharp.",
            g.target_pressure
        ),
    );
    let mut t = TICK_SECONDS;
    let mut halfway_done = false;
    let mut switch_at: Vec<(u32, Side)> = sides
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, s)| (per_side * i as u32, *s))
        .collect();
    switch_at.reverse();
    let side_at = |e: u32| sides[((e / per_side) as usize).min(sides.len() - 1)];
    // Walk the timeline, merging periodic ticks with the fixed cues.
    loop {
        let next_fixed = [
            (!halfway_done && halfway > 0).then_some(halfway),
            switch_at.last().map(|(s, _)| *s),
        ]
        .into_iter()
        .flatten()
        .min();
        let next = [Some(t).filter(|t| *t < total), next_fixed]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next else { break };
        let mut fixed_here = false;
        if Some(at) == switch_at.last().map(|(s, _)| *s) {
            let (_, side) = switch_at.pop().unwrap_or((at, first));
            fixed_here = true;
            push(
                CueKind::SwitchSide,
                at,
                side,
                format!("Switch sides: now work{}.", side_words(side)),
            );
        }
        if !halfway_done && at == halfway {
            halfway_done = true;
            fixed_here = true;
            push(
                CueKind::Halfway,
                at,
                side_at(at),
                "Halfway there. Keep breathing.".to_owned(),
            );
        }
        if at == t {
            if !fixed_here {
                push(
                    CueKind::Tick,
                    at,
                    side_at(at),
                    format!("{} seconds to go.", total - at),
                );
            }
            t += TICK_SECONDS;
        }
    }
    push(
        CueKind::Stop,
        total,
        side_at(total.saturating_sub(1)),
        "Time to stop. Release slowly and note how tender the point feels now.".to_owned(),
    );
    cues
}

/// A first attach this soon after the start begins the session at 0:00.
pub const FIRST_ATTACH_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

/// When the clock of `g` starts for a first attach at `now`: then, if the
/// attach comes within [`FIRST_ATTACH_GRACE`] of the start (the app opened
/// the stream right away), else at the start itself (a late first attach
/// never restarts at 0:00).
pub fn clock_start(g: &GuidedSession, now: jiff::Timestamp) -> jiff::Timestamp {
    if now.duration_since(g.start_time) < FIRST_ATTACH_GRACE {
        now
    } else {
        g.start_time
    }
}

/// When the clock of `g` started: the stored first attach, else its start.
pub fn clock_since(g: &GuidedSession) -> jiff::Timestamp {
    g.clock_start.unwrap_or(g.start_time)
}

/// Seconds of the session that have really passed at `now` since its clock
/// started at `since`, given how much faster than real time the guide runs
/// (`speedup`, 1 in production).
pub fn elapsed_at(since: jiff::Timestamp, now: jiff::Timestamp, speedup: u32) -> u32 {
    // Milliseconds first, so a sped-up clock (tests) is not rounded to 0.
    let millis = now.duration_since(since).as_millis().max(0);
    let secs = millis.saturating_mul(i128::from(speedup.max(1))) / 1000;
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The cues still ahead for a stream that attaches `elapsed` seconds after
/// the start (a reconnect): first where the session stands now, then the rest
/// of the schedule. At 0 it is the whole schedule; once the time is up it is
/// the STOP cue alone, so the client can still record the session.
pub fn resume(g: &GuidedSession, elapsed: u32) -> Vec<Cue> {
    let all = schedule(g);
    if elapsed == 0 {
        return all;
    }
    let total = all.last().map_or(0, |c| c.elapsed);
    if elapsed >= total {
        return all
            .into_iter()
            .filter(|c| c.kind == CueKind::Stop)
            .collect();
    }
    let now = all
        .iter()
        .rev()
        .find(|c| c.elapsed <= elapsed)
        .map_or(g.side, |c| c.side);
    let mut out = vec![Cue {
        kind: CueKind::Tick,
        elapsed,
        remaining: total - elapsed,
        message: format!(
            "Reconnected {}:{:02} in: keep pressing at about {}/10{}.",
            elapsed / 60,
            elapsed % 60,
            g.target_pressure,
            side_words(now)
        ),
        side: now,
        target_pressure: g.target_pressure,
    }];
    out.extend(all.into_iter().filter(|c| c.elapsed > elapsed));
    out
}

/// The duration to record for a session that completes a guided one: what
/// the person reports, but never more than really passed per side (ending
/// early records the real time, not the planned one); at least 1 second.
pub fn real_duration(g: &GuidedSession, reported: u32, elapsed: u32) -> u32 {
    let sides = if g.side == Side::Both { 2 } else { 1 };
    reported.min(elapsed / sides).max(1)
}

fn side_words(s: Side) -> &'static str {
    match s {
        Side::Left => " on your left side",
        Side::Right => " on your right side",
        Side::Midline => " on the midline",
        Side::Both | Side::Unspecified => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guided(side: Side, secs: u32) -> GuidedSession {
        GuidedSession {
            clock_start: None,
            id: "g".into(),
            trigger_point: "ql_superficial".into(),
            tool: "lacrosse_ball".into(),
            side,
            duration_seconds: secs,
            target_pressure: 5,
            start_time: jiff::Timestamp::UNIX_EPOCH,
            local_date: jiff::civil::date(2026, 1, 1),
            sessions_today: 1,
            warnings: vec![],
            instructions: String::new(),
        }
    }

    #[track_caller]
    fn check(side: Side, secs: u32, expected: &[(CueKind, u32)]) {
        let got: Vec<_> = schedule(&guided(side, secs))
            .iter()
            .map(|c| (c.kind, c.elapsed))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn one_side() {
        use CueKind::*;
        check(
            Side::Left,
            20,
            &[
                (Start, 0),
                (PressAndHold, 0),
                (Tick, 5),
                (Halfway, 10),
                (Tick, 15),
                (Stop, 20),
            ],
        );
        check(
            Side::Right,
            3,
            &[(Start, 0), (PressAndHold, 0), (Halfway, 1), (Stop, 3)],
        );
    }

    #[test]
    fn both_sides_switch_in_the_middle() {
        use CueKind::*;
        check(
            Side::Both,
            10,
            &[
                (Start, 0),
                (PressAndHold, 0),
                (Tick, 5),
                (SwitchSide, 10),
                (Halfway, 10),
                (Tick, 15),
                (Stop, 20),
            ],
        );
        let cues = schedule(&guided(Side::Both, 10));
        assert_eq!(cues[0].side, Side::Right);
        assert_eq!(cues.last().unwrap().side, Side::Left);
        assert_eq!(cues.last().unwrap().remaining, 0);
        assert!(cues.windows(2).all(|w| w[0].elapsed <= w[1].elapsed));
    }

    #[test]
    fn resuming_continues_at_the_elapsed_time() {
        use CueKind::*;
        let g = guided(Side::Both, 10);
        let got: Vec<_> = resume(&g, 12).iter().map(|c| (c.kind, c.elapsed)).collect();
        assert_eq!(got, [(Tick, 12), (Tick, 15), (Stop, 20)]);
        let first = &resume(&g, 12)[0];
        assert_eq!(first.remaining, 8);
        assert_eq!(first.side, Side::Left, "the second side after the switch");
        assert!(first.message.starts_with("Reconnected 0:12 in"));
        assert_eq!(resume(&g, 0), schedule(&g));
        let over: Vec<_> = resume(&g, 25).iter().map(|c| c.kind).collect();
        assert_eq!(over, [Stop]);
        assert_eq!(resume(&g, 20).len(), 1);
        let g = guided(Side::Left, 300);
        assert_eq!(resume(&g, 299)[0].remaining, 1);
    }

    #[test]
    fn real_duration_table() {
        let one = guided(Side::Left, 300);
        let both = guided(Side::Both, 300);
        assert_eq!(real_duration(&one, 300, 400), 300);
        assert_eq!(real_duration(&one, 300, 120), 120, "ended early");
        assert_eq!(real_duration(&both, 300, 120), 60, "per side");
        assert_eq!(real_duration(&one, 300, 0), 1);
        assert_eq!(real_duration(&one, 90, 120), 90);
        let mut g = guided(Side::Left, 60);
        g.start_time = "2026-03-10T12:00:00Z".parse().unwrap();
        let now = "2026-03-10T12:00:42Z".parse().unwrap();
        assert_eq!(elapsed_at(g.start_time, now, 1), 42);
        assert_eq!(elapsed_at(g.start_time, now, 10), 420);
        let before = "2026-03-10T11:00:00Z".parse().unwrap();
        assert_eq!(elapsed_at(g.start_time, before, 1), 0);
    }

    #[test]
    fn a_five_minute_session_has_regular_ticks() {
        let cues = schedule(&guided(Side::Left, 300));
        let ticks = cues.iter().filter(|c| c.kind == CueKind::Tick).count();
        assert_eq!(
            ticks,
            300 / TICK_SECONDS as usize - 2,
            "minus the halfway slot and the stop"
        );
        assert_eq!(cues.last().unwrap().kind, CueKind::Stop);
    }
}
