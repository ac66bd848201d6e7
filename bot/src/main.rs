//! The `canopy` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = canopy_bot::cli::Cli::parse();
    canopy_bot::logging::init(cli.verbose, cli.log_format);
    match canopy_bot::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "reading X: no such file".
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
