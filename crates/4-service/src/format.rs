//! How command-line reports are printed (shared by the commands of the binary and the burnout
//! commands that live in this crate).

/// Output format of reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A readable Markdown report.
    #[default]
    Md,
    /// One JSON object with stable keys (documented with each command in docs/).
    Json,
}
