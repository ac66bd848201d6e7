//! The `canopy` application: CLI commands, adapters for git, GitHub and Gerrit, the durable
//! store, the webhook server and the outbox. The only crate of the workspace that does I/O.
#![forbid(unsafe_code)]

pub mod app;
pub mod backfill;
pub mod bot_command;
pub mod carbon;
pub mod channels;
pub mod ci_insights;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod digest;
pub mod gerrit;
pub mod git;
pub mod github;
pub mod inbox;
pub mod logging;
pub mod messages;
pub mod normalize;
pub mod outbox;
pub mod prometheus;
pub mod react;
pub mod repo_config;
pub mod repo_config_refresh;
pub mod report;
pub mod secrets;
pub mod server;
pub mod store;
pub mod ttm_service;
pub mod wiring;

/// The whole program: parse the command line, set up logging, run the subcommand, and turn
/// an error into a one-line message on stderr with exit code 2. Shared by the `canopy` binary
/// and the end-to-end tests' copy of it.
pub fn main_entry() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    logging::init(
        cli.verbose + cli.command.default_verbosity(),
        cli.log_format,
    );
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "reading X: no such file".
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
