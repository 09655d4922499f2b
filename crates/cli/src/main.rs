//! `knotwork`: Knotwork for people.
//!
//! `knotwork up` runs catalog, session and gateway in one process on loopback
//! with embedded defaults (three calls of the services' own `run` seams). The
//! other subcommands are a small client that talks to the gateway only, the
//! way an app does.

#![forbid(unsafe_code)]

mod client;
mod up;

use clap::{Parser, Subcommand};

/// Knotwork: trigger point self-care, from the command line.
#[derive(Debug, Parser)]
#[command(name = "knotwork", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run all three services in one process (Ctrl-C stops them cleanly).
    Up(up::UpArgs),
    /// Check the health of the gateway, the catalog and the session service.
    Health(client::Global),
    /// Mint a development token (HS256, signed with the development secret).
    Token(client::TokenArgs),
    /// Search the catalog (muscles, trigger points, regions, symptoms, tools).
    Search(client::SearchArgs),
    /// Which trigger points can cause pain where it hurts.
    Pain(client::PainArgs),
    /// Show one trigger point: where to press, with what, and cautions.
    Point(client::PointArgs),
    /// Answer the health screening questionnaire.
    Screening(client::ScreeningArgs),
    /// Log a self-massage session already done.
    Log(client::LogArgs),
    /// List your logged sessions, newest first.
    Sessions(client::SessionsArgs),
    /// Show your progress per trigger point.
    Progress(client::AuthArgs),
    /// Move the users whose shard changes when the session shard list changes.
    Reshard(client::ReshardArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Health(g) => client::health(g).await,
        Command::Token(args) => client::token(args),
        Command::Search(args) => client::search(args).await,
        Command::Pain(args) => client::pain(args).await,
        Command::Point(args) => client::point(args).await,
        Command::Screening(args) => client::screening(args).await,
        Command::Log(args) => client::log(args).await,
        Command::Sessions(args) => client::sessions(args).await,
        Command::Progress(args) => client::progress(args).await,
        Command::Reshard(args) => client::reshard(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
