//! The client subcommands, one module per area. Each talks to the gateway
//! only, the way an app does; together they reach every public call of
//! `CatalogService`, `SessionService` and `ViewService`.

mod account;
mod care;
mod catalog;
mod checkin;
mod guide;
mod holds;
mod journal;
mod names;
mod ops;
mod plan;
mod plan_notes;
mod profile;
mod progress;
mod views;

use clap::Subcommand;

use crate::connect::Ctx;

/// A client subcommand (everything but `up`).
#[derive(Debug, Subcommand)]
pub enum Client {
    // Getting started.
    /// Check the health of the gateway, the catalog and the session service.
    #[command(display_order = 10)]
    Health,
    /// Mint a development token (HS256, signed with the development secret).
    #[command(display_order = 11)]
    Token(account::TokenArgs),
    /// Sign in: a device login with an OpenID provider (--issuer, --client-id),
    /// or store a token (minted for --user, or given with --token).
    #[command(display_order = 12)]
    Login(account::LoginArgs),
    /// Forget the stored token.
    #[command(display_order = 13)]
    Logout,

    // The chart (no sign-in needed).
    /// Which trigger points can cause pain where it hurts (FindByPain).
    #[command(display_order = 20)]
    Pain(catalog::PainArgs),
    /// Search the catalog: muscles, trigger points, regions, symptoms, tools.
    #[command(display_order = 21)]
    Search(catalog::SearchArgs),
    /// Show trigger points: where to press, with what, cautions (one name:
    /// GetTriggerPoint; several: BatchGetTriggerPoints).
    #[command(display_order = 22)]
    Point(catalog::PointArgs),
    /// List trigger points, by region, muscle or tool.
    #[command(display_order = 23)]
    Points(catalog::PointsArgs),
    /// Show one muscle.
    #[command(display_order = 24)]
    Muscle(catalog::NameArg),
    /// List muscles, by region or tool.
    #[command(display_order = 25)]
    Muscles(catalog::MusclesArgs),
    /// Show one body region.
    #[command(display_order = 26)]
    Region(catalog::NameArg),
    /// List body regions (what `pain` understands).
    #[command(display_order = 27)]
    Regions(catalog::RegionsArgs),
    /// Show one tool.
    #[command(display_order = 28)]
    Tool(catalog::NameArg),
    /// List tools, optionally those suited to a muscle.
    #[command(display_order = 29)]
    Tools(care::ToolsArgs),
    /// The tools to use on a trigger point, and the ones never to use.
    #[command(display_order = 30)]
    RecommendedTools(catalog::NameArg),
    /// List the symptoms `pain --symptom` understands.
    #[command(display_order = 31)]
    Symptoms,
    /// How hard, how long, how often: the technique guidance.
    #[command(display_order = 32)]
    Guidance,
    /// Conditions and locations that rule self-massage out.
    #[command(display_order = 33)]
    Contraindications(care::ContraindicationsArgs),
    /// Signs that need a medical provider instead.
    #[command(display_order = 34)]
    RedFlags,
    /// The sources the chart is written from.
    #[command(display_order = 35)]
    Sources,
    /// The catalog version (content hash) and edition.
    #[command(display_order = 36)]
    Version,
    /// The whole chart in one response (for offline apps).
    #[command(display_order = 37)]
    Snapshot(care::SnapshotArgs),
    /// The how-to guides: finding a knot, pressure, when to stop, each tool.
    #[command(display_order = 38)]
    Guides(care::GuidesArgs),
    /// Read one guide (e.g. `guide-text find_a_knot`).
    #[command(display_order = 39)]
    GuideText(catalog::NameArg),

    // Your journal (signed in).
    /// Your screens: a relief plan for where it hurts, re-ranked for you.
    #[command(display_order = 40, alias = "relief")]
    Plan(views::PlanArgs),
    /// Today's plan: points, sessions left, suggested times, streak, week.
    #[command(display_order = 41)]
    Today(views::TodayArgs),
    /// The coming reminders (what an app schedules as notifications).
    #[command(display_order = 57)]
    Reminders(plan::RemindersArgs),
    /// The coming week's plan as an iCalendar file: `calendar > week.ics`.
    #[command(display_order = 58)]
    Calendar(plan::CalendarArgs),
    /// Your profile: time zone and owned tools (`profile set` changes them).
    #[command(display_order = 42)]
    Profile(profile::ProfileArgs),
    /// Your health screening: show it, or answer it.
    #[command(display_order = 43)]
    Screening(profile::ScreeningArgs),
    /// Run a guided session with a live countdown, then log it.
    #[command(display_order = 44)]
    Guide(guide::GuideArgs),
    /// Log a self-massage session already done.
    #[command(display_order = 45)]
    Log(journal::LogArgs),
    /// Log many sessions at once from proto3 JSON (a BatchLogSessionsRequest).
    #[command(display_order = 46)]
    LogBatch(journal::LogBatchArgs),
    /// Show one logged session.
    #[command(display_order = 47)]
    Session(journal::SessionArgs),
    /// List your logged sessions, newest first.
    #[command(display_order = 48)]
    Sessions(journal::SessionsArgs),
    /// Your progress per trigger point.
    #[command(display_order = 49)]
    Progress(progress::ProgressArgs),
    /// One local day: sessions and what is still allowed per point.
    #[command(display_order = 50)]
    Day(progress::DayArgs),
    /// Rate how much a region hurts today, 0-10 (once a day per region).
    #[command(display_order = 53)]
    CheckIn(checkin::CheckInArgs),
    /// List your pain check-ins.
    #[command(display_order = 54)]
    CheckIns(checkin::CheckInsArgs),
    /// Your pain per region over time ("low back: 6 -> 3 over 9 days").
    #[command(display_order = 55)]
    PainProgress(checkin::PainProgressArgs),
    /// A report for your clinician: `--fhir FILE` writes a FHIR R4 Bundle.
    #[command(display_order = 56)]
    Report(checkin::ReportArgs),
    /// Correct a logged session: only the fields given change.
    EditSession(holds::EditArgs),
    /// Remove one logged session (holds it caused stay).
    DeleteSession(holds::DeleteSessionArgs),
    /// Points on hold until a medical provider has checked them.
    Holds(holds::HoldsArgs),
    /// Release a hold after a medical provider checked it.
    ReleaseHold(holds::ReleaseArgs),
    /// Export all your data as JSON.
    #[command(display_order = 51)]
    Export(journal::ExportArgs),
    /// Delete all your data (needs --yes).
    #[command(display_order = 52)]
    DeleteMyData(journal::DeleteArgs),

    // Operators.
    /// Move the users whose shard changes when the session shard list changes.
    #[command(display_order = 60)]
    Reshard(ops::ReshardArgs),
    /// Copy a live session shard, consistently, while writes go on.
    #[command(display_order = 61)]
    Backup(ops::BackupArgs),
    /// Put a backup in place in a stopped session shard's data folder.
    #[command(display_order = 62)]
    Restore(ops::RestoreArgs),
}

/// Runs a client subcommand.
pub async fn run(ctx: Ctx, command: Client) -> anyhow::Result<()> {
    use Client::*;
    if !matches!(
        command,
        Token(_) | Login(_) | Logout | Backup(_) | Restore(_)
    ) {
        account::renew_stored(&ctx).await?;
    }
    match command {
        Health => ops::health(&ctx).await,
        Token(args) => account::token(&ctx, args),
        Login(args) => account::login(&ctx, args).await,
        Logout => account::logout(),
        Pain(args) => catalog::pain(&ctx, args).await,
        Search(args) => catalog::search(&ctx, args).await,
        Point(args) => catalog::point(&ctx, args).await,
        Points(args) => catalog::points(&ctx, args).await,
        Muscle(args) => catalog::muscle(&ctx, args).await,
        Muscles(args) => catalog::muscles(&ctx, args).await,
        Region(args) => catalog::region(&ctx, args).await,
        Regions(args) => catalog::regions(&ctx, args).await,
        Tool(args) => care::tool(&ctx, args).await,
        Tools(args) => care::tools(&ctx, args).await,
        RecommendedTools(args) => care::recommended_tools(&ctx, args).await,
        Symptoms => care::symptoms(&ctx).await,
        Guidance => care::guidance(&ctx).await,
        Contraindications(args) => care::contraindications(&ctx, args).await,
        RedFlags => care::red_flags(&ctx).await,
        Sources => care::sources(&ctx).await,
        Version => care::version(&ctx).await,
        Snapshot(args) => care::snapshot(&ctx, args).await,
        Guides(args) => care::guides(&ctx, args).await,
        GuideText(args) => care::guide_text(&ctx, args).await,
        Plan(args) => views::plan(&ctx, args).await,
        Today(args) => views::today(&ctx, args).await,
        Reminders(args) => plan::reminders(&ctx, args).await,
        Calendar(args) => plan::calendar(&ctx, args).await,
        Profile(args) => profile::profile(&ctx, args).await,
        Screening(args) => profile::screening(&ctx, args).await,
        Guide(args) => guide::guide(&ctx, args).await,
        Log(args) => journal::log(&ctx, args).await,
        LogBatch(args) => journal::log_batch(&ctx, args).await,
        Session(args) => journal::session(&ctx, args).await,
        Sessions(args) => journal::sessions(&ctx, args).await,
        Progress(args) => progress::progress(&ctx, args).await,
        Day(args) => progress::day(&ctx, args).await,
        Export(args) => journal::export(&ctx, args).await,
        CheckIn(args) => checkin::check_in(&ctx, args).await,
        CheckIns(args) => checkin::check_ins(&ctx, args).await,
        PainProgress(args) => checkin::pain_progress(&ctx, args).await,
        Report(args) => checkin::report(&ctx, args).await,
        EditSession(args) => holds::edit(&ctx, args).await,
        DeleteSession(args) => holds::delete(&ctx, args).await,
        Holds(args) => holds::holds(&ctx, args).await,
        ReleaseHold(args) => holds::release(&ctx, args).await,
        DeleteMyData(args) => journal::delete(&ctx, args).await,
        Reshard(args) => ops::reshard(args).await,
        Backup(args) => ops::backup(args).await,
        Restore(args) => ops::restore(args),
    }
}
