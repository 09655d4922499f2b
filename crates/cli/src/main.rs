//! `knotwork`: Knotwork for people.
//!
//! `knotwork up` runs catalog, session and gateway in one process on loopback
//! with embedded defaults (three calls of the services' own `run` seams). The
//! other subcommands (`commands/`) are a client that talks to the gateway
//! only, the way an app does, and reaches every public call; `output.rs`
//! prints tables, colour (terminals only) and proto3 JSON (`--json`),
//! `connect.rs` resolves the gateway and the caller's token, and
//! `credentials.rs` keeps the token `knotwork login` stores, and `oidc.rs`
//! signs in with an OpenID provider (device grant) and renews that token.

#![forbid(unsafe_code)]

mod commands;
mod connect;
mod credentials;
mod oidc;
mod output;
mod up;

use clap::{Parser, Subcommand};

/// Knotwork: trigger point self-care, from the command line.
#[derive(Debug, Parser)]
#[command(name = "knotwork", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: connect::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run all three services in one process (Ctrl-C stops them cleanly).
    #[command(display_order = 1)]
    Up(up::UpArgs),
    #[command(flatten)]
    Client(commands::Client),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Client(command) => commands::run(connect::Ctx::new(cli.global), command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let label = output::paint(output::style::DANGER, "error:");
            anstream::eprintln!("{label} {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `knotwork sessions | head` closes stdout early; `println!` then panics
/// with a broken pipe. Exit quietly instead, as other command line tools do
/// (141 is 128 + SIGPIPE, what a shell reports for them).
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.to_string();
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own consistency checks (unique argument names, `requires`
    /// targets that exist), which otherwise fail only when run.
    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
