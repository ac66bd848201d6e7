//! Layer 6, the `canopy` program: the command line (one module per subcommand) and the wiring
//! that builds the layers below from the configuration file and the environment — the only
//! place that reads credentials from the environment and names the store backend. The serve
//! command and the end-to-end harness assemble the running bot with the same [`assemble::bot`].
#![forbid(unsafe_code)]

pub mod assemble;
pub mod cli;
pub mod commands;
pub mod logging;
pub mod store_location;
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
