//! Log setup: `tracing` to stderr, human-readable or JSON. Logs carry ids as fields and never
//! secrets, payloads or comment bodies.

use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The crates whose logs `-v` turns up: the binary's and its layers'.
const CRATES: [&str; 6] = [
    "canopy",
    "canopy_core",
    "canopy_store",
    "canopy_forge",
    "canopy_service",
    "canopy_server",
];

/// Installs the global subscriber. `verbose` is the number of `-v` flags (long-running commands
/// add one so that they log at info level by default); `RUST_LOG` overrides it.
pub fn init(verbose: u8, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbose)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling `run` twice) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The filter without `RUST_LOG`: other crates at warn, ours at the level `verbose` asks for.
fn default_filter(verbose: u8) -> String {
    let (others, ours) = match verbose {
        0 => ("warn", None),
        1 => ("warn", Some("info")),
        2 => ("info", Some("debug")),
        _ => ("debug", Some("trace")),
    };
    match ours {
        None => others.to_string(),
        Some(level) => {
            let crates: Vec<String> = CRATES.iter().map(|c| format!("{c}={level}")).collect();
            format!("{others},{}", crates.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn level_of(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(args).unwrap();
        default_filter(cli.verbose + cli.command.default_verbosity())
    }

    #[test]
    fn the_server_logs_at_info_and_other_commands_at_warn_unless_asked() {
        // Info, not debug: debug writes a line per delivery processed and per store commit.
        let serve = level_of(&["canopy", "serve"]);
        assert!(
            serve.starts_with("warn,") && serve.contains("canopy_server=info"),
            "{serve}"
        );
        assert!(!serve.contains("debug"), "{serve}");
        assert!(level_of(&["canopy", "serve", "-v"]).contains("canopy_server=debug"));
        assert_eq!(level_of(&["canopy", "analyze", "--git", "."]), "warn");
        assert!(level_of(&["canopy", "-v", "analyze", "--git", "."]).contains("canopy=info"));
    }
}
