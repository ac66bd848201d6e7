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
    let (others, ours) = match verbose {
        0 => ("warn", None),
        1 => ("warn", Some("info")),
        2 => ("info", Some("debug")),
        _ => ("debug", Some("trace")),
    };
    let default = match ours {
        None => others.to_string(),
        Some(level) => {
            let crates: Vec<String> = CRATES.iter().map(|c| format!("{c}={level}")).collect();
            format!("{others},{}", crates.join(","))
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
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
