//! How the client subcommands print: aligned tables and styled lines for
//! people, the proto3 JSON mapping of the response for scripts (`--json`).
//!
//! Colour goes through `anstream`, which writes the styles only when the
//! stream is a terminal and neither `NO_COLOR` nor `CLICOLOR=0` is set, so
//! pipes and files get plain text.

use std::io::IsTerminal as _;
use std::sync::LazyLock;

use anstyle::{AnsiColor, Style};
use anyhow::Context as _;
use comfy_table::{Cell, CellAlignment, Table};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

/// A message the CLI can print as JSON: its full protobuf name, for the
/// descriptor lookup.
pub trait Proto: prost::Message + Default + Sized {
    /// `package.Message`.
    const NAME: &'static str;
}

/// Implements [`Proto`] for generated messages: the name is built from the
/// package and the type, so it cannot drift from the type.
macro_rules! proto_names {
    ($($module:ident => $package:literal: [$($ty:ident),* $(,)?]);* $(;)?) => {
        $($(
            impl Proto for knotwork_proto::$module::v1::$ty {
                const NAME: &'static str = concat!($package, ".", stringify!($ty));
            }
        )*)*
        /// Every name above, for the test that checks them against the descriptors.
        #[cfg(test)]
        const ALL_NAMES: &[&str] = &[$($(concat!($package, ".", stringify!($ty))),*),*];
    };
}

proto_names! {
    catalog => "knotwork.catalog.v1": [
        GetCatalogVersionResponse, GetCatalogSnapshotResponse, FindByPainResponse,
        SearchResponse, GetRegionResponse, ListRegionsResponse, GetMuscleResponse,
        ListMusclesResponse, GetTriggerPointResponse, BatchGetTriggerPointsResponse,
        ListTriggerPointsResponse, GetToolResponse, ListToolsResponse,
        ListRecommendedToolsResponse, ListSymptomsResponse, GetTechniqueGuidanceResponse,
        ListContraindicationsResponse, ListRedFlagsResponse, ListSourcesResponse,
        ListGuidesResponse, GetGuideResponse,
    ];
    session => "knotwork.session.v1": [
        GetProfileResponse, UpdateProfileResponse, GetScreeningResponse,
        SubmitScreeningResponse, StartGuidedSessionResponse, GuideSessionResponse,
        LogSessionResponse, BatchLogSessionsRequest, BatchLogSessionsResponse,
        GetSessionResponse, ListSessionsResponse, ListProgressResponse, GetDayResponse,
        ExportUserDataResponse, DeleteUserDataResponse, RecordCheckInResponse,
        ListCheckInsResponse, ListRegionProgressResponse, ExportFhirBundleResponse,
        UpdateSessionResponse, DeleteSessionResponse, ListHoldsResponse, ReleaseHoldResponse,
        GetDailyPlanResponse, ListRemindersResponse, ExportCalendarResponse,
    ];
    gateway => "knotwork.gateway.v1": [GetReliefPlanResponse, GetTodayResponse];
}

/// Every Knotwork message, with the well-known types they use.
static POOL: LazyLock<Result<DescriptorPool, prost_reflect::DescriptorError>> =
    LazyLock::new(|| DescriptorPool::decode(knotwork_proto::FILE_DESCRIPTOR_SET));

fn descriptor(name: &str) -> anyhow::Result<prost_reflect::MessageDescriptor> {
    let pool = POOL
        .as_ref()
        .map_err(|e| anyhow::anyhow!("the built-in descriptors do not load: {e}"))?;
    pool.get_message_by_name(name)
        .with_context(|| format!("no descriptor for {name}"))
}

/// The proto3 JSON mapping of `message` (lowerCamelCase names, enums as
/// names, timestamps as RFC 3339), with default values included so scripts
/// always find every field.
pub fn to_json<M: Proto>(message: &M) -> anyhow::Result<serde_json::Value> {
    let mut dynamic = DynamicMessage::new(descriptor(M::NAME)?);
    dynamic
        .transcode_from(message)
        .context("re-encoding the response")?;
    let options = SerializeOptions::new().skip_default_fields(false);
    Ok(dynamic.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// Parses the proto3 JSON mapping of `M`, naming where it is wrong.
pub fn from_json<M: Proto>(text: &str) -> anyhow::Result<M> {
    let mut de = serde_json::Deserializer::from_str(text);
    let dynamic = DynamicMessage::deserialize(descriptor(M::NAME)?, &mut de)
        .with_context(|| format!("not a {} in JSON", M::NAME))?;
    de.end()
        .with_context(|| format!("not a {} in JSON", M::NAME))?;
    Ok(dynamic.transcode_to()?)
}

/// The output mode chosen on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print responses as JSON instead of tables.
    pub json: bool,
}

impl Output {
    /// Prints `message` as JSON with `--json`, else runs `human`.
    pub fn show<M: Proto>(&self, message: &M, human: impl FnOnce(&M)) -> anyhow::Result<()> {
        if self.json {
            print_json(message)
        } else {
            human(message);
            Ok(())
        }
    }
}

/// Prints the proto3 JSON of `message`, pretty, on stdout.
pub fn print_json<M: Proto>(message: &M) -> anyhow::Result<()> {
    let value = to_json(message)?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// Prints the proto3 JSON of `message` on one line (streams: one document
/// per line).
pub fn print_json_line<M: Proto>(message: &M) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(&to_json(message)?)?);
    Ok(())
}

/// Whether stdout is a terminal (live redraws instead of one line per update).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Styles used across the commands.
pub mod style {
    use super::*;

    /// Headings and names.
    pub const HEADING: Style = Style::new().bold();
    /// Quiet detail.
    pub const DIM: Style = Style::new().dimmed();
    /// Success.
    pub const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
    /// Caution.
    pub const CAUTION: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    /// Danger: seek medical attention, refusals, errors.
    pub const DANGER: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
}

/// A resource's heading line: its display name, then its name dimmed.
pub fn title(display: &str, name: &str) {
    anstream::println!(
        "{} {}",
        paint(style::HEADING, display),
        paint(style::DIM, format!("({name})"))
    );
}

/// `text` in `style` (the style is dropped when colour is off).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// A borderless table with aligned columns and upper-case headers, like
/// `kubectl get`.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(headers.iter().map(|h| Cell::new(h.to_uppercase())));
    t
}

/// Right-aligns numeric columns (by index).
pub fn align_right(t: &mut Table, columns: &[usize]) {
    for i in columns {
        if let Some(c) = t.column_mut(*i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Prints a table, trimming comfy-table's padding at line ends.
pub fn print_table(t: &Table) {
    print_lines(table_lines(t));
}

/// A table's lines as [`print_table`] prints them, for a function that
/// returns its lines (a table is never wrapped).
pub fn table_lines(t: &Table) -> Vec<String> {
    t.to_string()
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect()
}

/// Prints a table with a column of prose, fitted to the terminal's width
/// ([`fitted_table_lines`]).
pub fn print_fitted_table(t: &Table, whole: &[usize]) {
    print_lines(fitted_table_lines(t, whole, width()));
}

/// The lines of a table with a column of prose (advice, a question, a
/// summary), fitted to `width` columns: the long cells wrap within their
/// columns, short ones and the columns `whole` (ids to copy, names) keep
/// their width. A table of ids alone is printed whole by [`table_lines`].
pub fn fitted_table_lines(t: &Table, whole: &[usize], width: usize) -> Vec<String> {
    let mut t = t.clone();
    for i in whole {
        if let Some(c) = t.column_mut(*i) {
            c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
    }
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    t.set_width(u16::try_from(width).unwrap_or(u16::MAX));
    table_lines(&t)
}

/// Prints lines built by a function that returns what it prints, so that
/// tests can read them at a given width.
pub fn print_lines(lines: impl IntoIterator<Item = String>) {
    for line in lines {
        anstream::println!("{line}");
    }
}

/// How much further in than its first line a wrapped line goes on: two
/// columns, so that a continuation does not read as a line of its own, stays
/// left of the reasons indented beneath a note, and under a "- " bullet
/// lines up with the text after it.
pub const HANG: usize = 2;

/// The columns printed notes wrap at: the terminal's width when stdout is a
/// terminal, else 80 (a pipe or a file, or a terminal that does not say).
/// Only stdout is asked: `knotwork plan > notes.txt` from a wide terminal
/// still writes 80 columns, the same whoever runs it.
pub fn width() -> usize {
    if stdout_is_terminal() {
        // The terminal's size, or 80 when it does not give one.
        textwrap::termwidth()
    } else {
        80
    }
}

/// One line of a lead and its text wrapped by [`wrap`]: how many columns in
/// it starts, and its share of each (either may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedLine<'a> {
    /// Spaces before the line's first word.
    pub indent: usize,
    /// The part of the lead on this line.
    pub lead: &'a str,
    /// The part of the text on this line.
    pub text: &'a str,
}

impl WrappedLine<'_> {
    /// The line as printed: its indent, its part of the lead through
    /// `paint_lead`, a space when both parts are on it, its part of the text
    /// through `paint_text`. Each line is painted on its own, so a style
    /// never runs across a line break into the next line's indent.
    pub fn render(
        &self,
        paint_lead: impl Fn(&str) -> String,
        paint_text: impl Fn(&str) -> String,
    ) -> String {
        let mut line = " ".repeat(self.indent);
        if !self.lead.is_empty() {
            line.push_str(&paint_lead(self.lead));
        }
        if !self.lead.is_empty() && !self.text.is_empty() {
            line.push(' ');
        }
        if !self.text.is_empty() {
            line.push_str(&paint_text(self.text));
        }
        line
    }
}

/// `lead`, a space, then `text` (either may be empty), `indent` columns in
/// and wrapped at `width` columns between words, each line after the first
/// [`HANG`] columns further in so the lines read as one. A word longer than
/// a line keeps a line of its own, whole: a name or an id cut in two would
/// read as two. Widths are display columns, so accents and wide characters
/// count as they show.
///
/// The wrapping is done on the plain words and each line says which part of
/// the lead and of the text it holds, so that the lead can be painted line
/// by line (colour codes would otherwise count in the widths).
pub fn wrap<'a>(indent: usize, lead: &'a str, text: &'a str, width: usize) -> Vec<WrappedLine<'a>> {
    let sep = if lead.is_empty() || text.is_empty() {
        ""
    } else {
        " "
    };
    let whole = format!("{lead}{sep}{text}");
    let text_at = lead.len() + sep.len();
    let first = " ".repeat(indent);
    let rest = " ".repeat(indent + HANG);
    let options = wrap_options(width, &first, &rest);
    // Each wrapped line is the indent, then a run of `whole` from one word
    // to another: find where the run starts, after the previous line's.
    let part = |indent: usize, start: usize, end: usize| WrappedLine {
        indent,
        lead: &lead[start.min(lead.len())..end.min(lead.len())],
        text: &text[start.max(text_at) - text_at..end.max(text_at) - text_at],
    };
    let mut at = 0;
    let mut out = Vec::new();
    for (i, line) in textwrap::wrap(&whole, &options).iter().enumerate() {
        let indent = if i == 0 { &first } else { &rest };
        let body = line.strip_prefix(indent.as_str()).unwrap_or(line);
        let Some(start) = whole[at..].find(body).map(|p| at + p) else {
            // Never expected: the rest unwrapped rather than a word lost.
            out.push(part(indent.len(), at, whole.len()));
            break;
        };
        at = start + body.len();
        out.push(part(indent.len(), start, at));
    }
    out
}

/// The textwrap options [`wrap`] and [`paragraph_lines`] share: lines at
/// most `width` display columns, broken between words only (a name or an id
/// is never cut or hyphenated), the first line after `first` and the others
/// after `rest`.
fn wrap_options<'a>(width: usize, first: &'a str, rest: &'a str) -> textwrap::Options<'a> {
    textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
}

/// `text` in its style as prose: wrapped at `width` columns between words
/// as [`wrap`] does, but with every line `indent` columns in, since a
/// paragraph has no label for its lines to hang under. A line break in the
/// text stays one, and a blank line between paragraphs stays an empty line.
/// Each line's words are painted on their own by `paint`, the indent never.
/// Space around the text is dropped, so an empty text has no lines.
pub fn paragraph_lines(
    indent: usize,
    text: (Style, &str),
    width: usize,
    paint: Painter,
) -> Vec<String> {
    let margin = " ".repeat(indent);
    let options = wrap_options(width, &margin, &margin);
    let mut lines = Vec::new();
    for line in text.1.trim().lines() {
        if line.trim().is_empty() {
            lines.push(String::new());
            continue;
        }
        for wrapped in textwrap::wrap(line, &options) {
            let body = wrapped.strip_prefix(margin.as_str()).unwrap_or(&wrapped);
            lines.push(format!("{margin}{}", paint(text.0, body)));
        }
    }
    lines
}

/// Paints a part of a line in a style: [`painted`] when printing,
/// `bracketed` in tests, which shows where each style starts and ends.
pub type Painter = fn(Style, &str) -> String;

/// [`paint`] as a [`Painter`].
pub fn painted(style: Style, text: &str) -> String {
    paint(style, text)
}

/// A [`Painter`] for tests: a styled part in brackets, a plain one as it is.
#[cfg(test)]
pub fn bracketed(style: Style, text: &str) -> String {
    if style == Style::new() {
        text.to_owned()
    } else {
        format!("[{text}]")
    }
}

/// `lead` in its style, then `text` in its, wrapped at `width` as [`wrap`]
/// says, each line's parts painted on their own by `paint`.
pub fn wrapped_lines(
    indent: usize,
    lead: (Style, &str),
    text: (Style, &str),
    width: usize,
    paint: Painter,
) -> Vec<String> {
    wrap(indent, lead.1, text.1, width)
        .iter()
        .map(|line| line.render(|s| paint(lead.0, s), |s| paint(text.0, s)))
        .collect()
}

/// Prints `lead` in its style, then `text` in its, wrapped at [`width`] as
/// [`wrap`] says.
pub fn print_wrapped(indent: usize, lead: (Style, &str), text: (Style, &str)) {
    print_lines(wrapped_lines(indent, lead, text, width(), painted));
}

/// The last segment of a resource name: `tools/ql_claw` -> `ql_claw`.
pub fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// An enum value as a word: `SIDE_LEFT` with prefix `SIDE_` -> `left`.
pub fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_lowercase()
        .replace('_', " ")
}

/// Red flags split as the clients show them: URGENT_CARE flags, prominent,
/// and the rest, folded under one line. The API already sorts them by
/// urgency; both halves keep that order.
pub fn split_red_flags(flags: &[cat::RedFlag]) -> (Vec<&cat::RedFlag>, Vec<&cat::RedFlag>) {
    flags
        .iter()
        .partition(|f| f.action() == cat::RedFlagAction::UrgentCare)
}

/// The one line the non-urgent red flags fold under.
pub fn folded_red_flags_line(n: usize) -> String {
    let reasons = if n == 1 { "reason" } else { "reasons" };
    format!("Before you start: {n} {reasons} to see a provider first")
}

/// Prints red flags by urgency: each URGENT_CARE flag in full, in bold red;
/// the rest as one line naming them (every one in full with `all`).
pub fn print_red_flags(flags: &[cat::RedFlag], all: bool) {
    let (urgent, rest) = split_red_flags(flags);
    for f in &urgent {
        print_wrapped(
            0,
            (style::DANGER, &format!("!! URGENT: {}.", f.display_name)),
            (style::DANGER, &f.advice),
        );
    }
    if rest.is_empty() {
        return;
    }
    if all {
        print_wrapped(
            0,
            (style::CAUTION, &folded_red_flags_line(rest.len())),
            (Style::new(), ""),
        );
        for f in &rest {
            // The bullet leads in the heading style with the name: the
            // continuation lines up under the name.
            print_wrapped(
                2,
                (style::HEADING, &format!("- {}:", f.display_name)),
                (Style::new(), &f.advice),
            );
        }
    } else {
        let names: Vec<&str> = rest.iter().map(|f| f.display_name.as_str()).collect();
        print_wrapped(
            0,
            (
                style::CAUTION,
                &format!("{}:", folded_red_flags_line(rest.len())),
            ),
            (
                style::DIM,
                &format!("{} (--flags says what each means)", names.join("; ")),
            ),
        );
    }
}

/// Prints safety warnings so they cannot be missed: "seek medical
/// attention" in bold red, cautions in bold yellow.
pub fn print_warnings(warnings: &[ses::SafetyWarning]) {
    print_lines(warning_lines(warnings, width(), painted));
}

/// The lines of [`print_warnings`] at `width` columns: each warning wrapped
/// beneath its label.
pub fn warning_lines(warnings: &[ses::SafetyWarning], width: usize, paint: Painter) -> Vec<String> {
    let mut lines = Vec::new();
    for w in warnings {
        let (lead, text) = if w.medical_attention_advised
            || w.severity() == ses::WarningSeverity::MedicalAttention
        {
            ((style::DANGER, "!! SEEK MEDICAL ATTENTION:"), style::DANGER)
        } else if w.severity() == ses::WarningSeverity::Caution {
            ((style::CAUTION, "! Caution:"), Style::new())
        } else {
            ((style::DIM, "Note:"), Style::new())
        };
        lines.extend(wrapped_lines(0, lead, (text, &w.message), width, paint));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with a column of prose fits the width: the prose wraps in
    /// its column, a short column and a column kept at its content's width
    /// stay whole; a table that fits is as [`table_lines`] prints it.
    #[test]
    fn a_fitted_table_wraps_its_prose_within_its_column() {
        let mut t = table(&["name", "action", "advice"]);
        t.add_row(vec![
            "Sharp pain anywhere".to_owned(),
            "seek care".to_owned(),
            "Do not self-treat this area; have it checked by a medical provider first.".to_owned(),
        ]);
        let lines = fitted_table_lines(&t, &[0], 50);
        assert!(lines.iter().all(|l| l.chars().count() <= 50), "{lines:#?}");
        assert_eq!(lines[1], " Sharp pain anywhere  seek care  Do not");
        assert!(lines.len() > 3, "{lines:#?}");
        assert!(
            lines[2..].iter().all(|l| l.starts_with(&" ".repeat(32))),
            "{lines:#?}"
        );
        let words = |ls: &[String]| {
            ls.join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(words(&lines), words(&table_lines(&t)), "nothing lost");
        assert_eq!(fitted_table_lines(&t, &[0], 200), table_lines(&t));
    }

    #[test]
    fn red_flags_split_by_urgency_in_api_order() {
        let flag = |name: &str, action: cat::RedFlagAction| cat::RedFlag {
            name: format!("redFlags/{name}"),
            action: action as i32,
            ..Default::default()
        };
        use cat::RedFlagAction::*;
        let flags = [
            flag("cauda_equina", UrgentCare),
            flag("possible_aortic_emergency", UrgentCare),
            flag("sharp_pain", SeekMedicalAttention),
            flag("abdominal_organ_pain", RuleOutFirst),
            flag("worse_with_massage", StopSession),
        ];
        let (urgent, rest) = split_red_flags(&flags);
        let names = |v: &[&cat::RedFlag]| {
            v.iter()
                .map(|f| short(&f.name).to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&urgent),
            ["cauda_equina", "possible_aortic_emergency"]
        );
        assert_eq!(
            names(&rest),
            ["sharp_pain", "abdominal_organ_pain", "worse_with_massage"]
        );
        assert_eq!(
            folded_red_flags_line(6),
            "Before you start: 6 reasons to see a provider first"
        );
        assert_eq!(
            folded_red_flags_line(1),
            "Before you start: 1 reason to see a provider first"
        );
    }

    #[test]
    fn every_printable_message_has_a_descriptor() {
        for name in ALL_NAMES {
            assert!(descriptor(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn json_uses_the_proto3_mapping() {
        let resp = ses::GetSessionResponse {
            session: Some(ses::SessionRecord {
                name: "sessions/1".into(),
                side: cat::Side::Left as i32,
                tenderness_before: Some(0),
                perform_time: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        };
        let v = to_json(&resp).unwrap();
        let s = &v["session"];
        assert_eq!(s["name"], "sessions/1");
        assert_eq!(s["side"], "SIDE_LEFT");
        assert_eq!(s["tendernessBefore"], 0, "explicit optional zero kept");
        assert_eq!(s["performTime"], "2023-11-14T22:13:20Z");
        assert_eq!(s["pressure"], 0, "defaults are printed");
        let back: ses::GetSessionResponse = from_json(&v.to_string()).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn bad_json_is_refused() {
        assert!(from_json::<ses::BatchLogSessionsRequest>(r#"{"requests": 3}"#).is_err());
        assert!(from_json::<ses::BatchLogSessionsRequest>(r#"{"nope": []}"#).is_err());
    }

    /// `lead` and `text` wrapped at `width` from `indent`, each line with
    /// its part of the lead in brackets and of the text in braces.
    #[track_caller]
    fn check_wrap(indent: usize, lead: &str, text: &str, width: usize, expected: &[&str]) {
        let got: Vec<String> = wrap(indent, lead, text, width)
            .iter()
            .map(|l| l.render(|s| format!("[{s}]"), |s| format!("{{{s}}}")))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_line_that_fits_is_one_line() {
        check_wrap(
            0,
            "Next:",
            "Psoas point (iliopsoas_psoas)",
            80,
            &["[Next:] {Psoas point (iliopsoas_psoas)}"],
        );
        check_wrap(
            4,
            "",
            "Foam roller: never here.",
            80,
            &["    {Foam roller: never here.}"],
        );
        check_wrap(0, "Not with the gun:", "", 80, &["[Not with the gun:]"]);
        // Exactly the width still fits.
        check_wrap(2, "on hold", "Psoas", 15, &["  [on hold] {Psoas}"]);
    }

    #[test]
    fn a_long_line_wraps_between_words_beneath_itself() {
        // The lead goes on over lines, each part painted on its own line.
        check_wrap(
            0,
            "Not with the massage gun on Psoas point, Iliacus point or Piriformis point:",
            "",
            30,
            &[
                "[Not with the massage gun on]",
                "  [Psoas point, Iliacus point]",
                "  [or Piriformis point:]",
            ],
        );
        // A line holding the end of the lead and the start of the text.
        check_wrap(
            0,
            "blocked (SCREENING_REQUIRED):",
            "Answer the screening questions first.",
            39,
            &[
                "[blocked (SCREENING_REQUIRED):] {Answer}",
                "  {the screening questions first.}",
            ],
        );
        // A break right after the lead.
        check_wrap(
            0,
            "blocked (SCREENING_REQUIRED):",
            "Answer the screening first.",
            32,
            &[
                "[blocked (SCREENING_REQUIRED):]",
                "  {Answer the screening first.}",
            ],
        );
        // Indented lines go on two columns further in.
        check_wrap(
            4,
            "",
            "Massage gun: a condition you reported rules it out (Blood thinners): it bruises.",
            40,
            &[
                "    {Massage gun: a condition you}",
                "      {reported rules it out (Blood}",
                "      {thinners): it bruises.}",
            ],
        );
    }

    #[test]
    fn a_word_longer_than_a_line_stays_whole() {
        check_wrap(
            2,
            "on hold",
            "(quadratus_lumborum_superficial): sharp pain.",
            20,
            &[
                "  [on hold]",
                "    {(quadratus_lumborum_superficial):}",
                "    {sharp pain.}",
            ],
        );
    }

    #[test]
    fn widths_are_display_columns() {
        // Eleven columns, in thirteen bytes: two letters are accented.
        check_wrap(0, "Gâteaux é", "x", 11, &["[Gâteaux é] {x}"]);
        // An accent written as a combining mark takes no column of its own.
        check_wrap(0, "Cafe\u{301}", "x", 6, &["[Cafe\u{301}] {x}"]);
        // Wide characters take two columns each.
        check_wrap(0, "", "肩こり 肩こり", 8, &["{肩こり}", "  {肩こり}"]);
    }

    #[test]
    fn no_wrapped_line_is_wider_than_the_width() {
        let lead = "Before you start: 6 reasons to see a provider first:";
        let text = "Sharp or shooting pain; Pain in the belly; Worse with massage; \
                    Numbness or weakness (--flags says what each means)";
        let words = |lines: &[WrappedLine]| {
            lines
                .iter()
                .flat_map(|l| l.lead.split_whitespace().chain(l.text.split_whitespace()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for indent in [0, 2, 4] {
            for width in 1..=130 {
                let lines = wrap(indent, lead, text, width);
                for l in &lines {
                    let shown = l.render(str::to_owned, str::to_owned);
                    let one_word = shown.split_whitespace().count() == 1;
                    assert!(
                        shown.chars().count() <= width || one_word,
                        "wider than {width}: {shown:?}"
                    );
                }
                assert_eq!(words(&lines), format!("{lead} {text}"), "at {width}");
            }
        }
    }

    /// `text` as a paragraph at `width` from `indent`, in a style, so the
    /// brackets show what each line paints.
    #[track_caller]
    fn check_paragraph(indent: usize, text: &str, width: usize, expected: &[&str]) {
        assert_eq!(
            paragraph_lines(indent, (style::DIM, text), width, bracketed),
            expected
        );
    }

    #[test]
    fn a_short_paragraph_is_its_text() {
        let text = "Stop if the pain turns sharp.";
        check_paragraph(0, text, 80, &["[Stop if the pain turns sharp.]"]);
        check_paragraph(2, text, 80, &["  [Stop if the pain turns sharp.]"]);
        // Exactly the width still fits; unstyled, the line is the text.
        assert_eq!(
            paragraph_lines(0, (Style::new(), text), text.len(), painted),
            [text]
        );
        check_paragraph(0, "", 80, &[]);
    }

    #[test]
    fn a_long_paragraph_wraps_with_every_line_at_its_indent() {
        let text = "Relax the muscle, then slide your fingertips slowly across it, the way you \
                    would feel for a guitar string under a cloth.";
        check_paragraph(
            0,
            text,
            40,
            &[
                "[Relax the muscle, then slide your]",
                "[fingertips slowly across it, the way you]",
                "[would feel for a guitar string under a]",
                "[cloth.]",
            ],
        );
        check_paragraph(
            4,
            text,
            40,
            &[
                "    [Relax the muscle, then slide your]",
                "    [fingertips slowly across it, the way]",
                "    [you would feel for a guitar string]",
                "    [under a cloth.]",
            ],
        );
        // A word longer than a line keeps a line of its own, whole.
        check_paragraph(
            2,
            "Work (quadratus_lumborum_superficial) first.",
            20,
            &[
                "  [Work]",
                "  [(quadratus_lumborum_superficial)]",
                "  [first.]",
            ],
        );
    }

    #[test]
    fn a_blank_line_between_paragraphs_stays() {
        check_paragraph(
            2,
            "Ease off until you can relax.\n\nSee a provider.\nNot now.\n",
            20,
            &[
                "  [Ease off until you]",
                "  [can relax.]",
                "",
                "  [See a provider.]",
                "  [Not now.]",
            ],
        );
    }

    #[test]
    fn no_paragraph_line_is_wider_than_the_width() {
        let text = "Hold steady, moderate pressure (about 5 out of 10) on one trigger point \
                    for 3 to 5 minutes, or use short, slow strokes across it, then move on \
                    (quadratus_lumborum_superficial).";
        for indent in [0, 2, 4] {
            for width in 1..=130 {
                let lines = paragraph_lines(indent, (Style::new(), text), width, painted);
                for l in &lines {
                    let one_word = l.split_whitespace().count() == 1;
                    assert!(
                        l.chars().count() <= width || one_word,
                        "wider than {width}: {l:?}"
                    );
                    let margin = l.len() - l.trim_start().len();
                    assert_eq!(margin, indent, "at {width}: {l:?}");
                }
                let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
                assert_eq!(words.join(" "), text, "at {width}");
            }
        }
    }

    fn warning(severity: ses::WarningSeverity, message: &str) -> ses::SafetyWarning {
        ses::SafetyWarning {
            severity: severity as i32,
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_long_warning_wraps_beneath_its_label() {
        use ses::WarningSeverity::*;
        let mut advised = warning(Caution, "Numbness needs a check.");
        advised.medical_attention_advised = true;
        let warnings = [
            warning(
                MedicalAttention,
                "Sharp pain is a warning sign, not a trigger point. Stop and seek medical attention.",
            ),
            warning(
                Caution,
                "Hold this point for 90 seconds at most, not minutes: organs and large arteries \
                 lie under it. Release slowly and repeat a few short holds instead.",
            ),
            warning(Info, "Some tenderness the next day is common."),
            advised,
        ];
        assert_eq!(
            warning_lines(&warnings, 80, bracketed),
            [
                "[!! SEEK MEDICAL ATTENTION:] [Sharp pain is a warning sign, not a trigger point.]",
                "  [Stop and seek medical attention.]",
                "[! Caution:] Hold this point for 90 seconds at most, not minutes: organs and large",
                "  arteries lie under it. Release slowly and repeat a few short holds instead.",
                "[Note:] Some tenderness the next day is common.",
                "[!! SEEK MEDICAL ATTENTION:] [Numbness needs a check.]",
            ]
        );
        // Unwrapped, each warning is the line it always was, colours and all.
        let [medical, caution, note, advised] = &warnings;
        assert_eq!(
            warning_lines(&warnings, usize::MAX, painted),
            [
                format!(
                    "{} {}",
                    paint(style::DANGER, "!! SEEK MEDICAL ATTENTION:"),
                    paint(style::DANGER, &medical.message)
                ),
                format!(
                    "{} {}",
                    paint(style::CAUTION, "! Caution:"),
                    caution.message
                ),
                format!("{} {}", paint(style::DIM, "Note:"), note.message),
                format!(
                    "{} {}",
                    paint(style::DANGER, "!! SEEK MEDICAL ATTENTION:"),
                    paint(style::DANGER, &advised.message)
                ),
            ]
        );
    }

    #[test]
    fn words() {
        assert_eq!(word("SIDE_LEFT", "SIDE_"), "left");
        assert_eq!(
            word("PROGRESS_STATUS_NOT_IMPROVING", "PROGRESS_STATUS_"),
            "not improving"
        );
        assert_eq!(short("tools/ql_claw"), "ql_claw");
    }
}
