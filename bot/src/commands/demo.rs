//! `canopy demo`: the main job end to end on the embedded store, with no credentials. It reads
//! the Canopy repository itself (or a path given) into a temporary store and prints the report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::analyze::{AnalyzeArgs, ReportFormat, analyze, render_markdown};

/// Arguments of `canopy demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Repository to analyse [default: the Canopy checkout this binary was built from, or the
    /// repository containing the current directory].
    pub path: Option<PathBuf>,
}

/// Finds the repository to analyse: the path given, the current directory's repository, or the
/// source checkout the binary was built from.
fn demo_repository(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = path {
        return Ok(p);
    }
    let candidates = [
        std::env::current_dir().ok(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf),
    ];
    for c in candidates.into_iter().flatten() {
        if let Ok(repo) = gix::discover(&c) {
            let dir = repo
                .workdir()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| repo.git_dir().to_path_buf());
            return Ok(dir);
        }
    }
    anyhow::bail!(
        "no git repository found here or at the Canopy source checkout; run `canopy demo PATH`"
    )
}

/// Runs `canopy demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let name = if args.path.is_none() {
        Some("canopy".to_string())
    } else {
        None
    };
    let repo = demo_repository(args.path)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Canopy demo: reading the history of {} into a temporary store.\n",
        repo.display()
    )?;
    let report = analyze(&AnalyzeArgs {
        git: repo.clone(),
        since: None,
        until: None,
        format: ReportFormat::Md,
        repo: name,
        store: None,
        rev: "HEAD".into(),
        jobs: None,
        weeks: 12,
    })
    .with_context(|| format!("analysing {}", repo.display()))?;
    write!(out, "{}", render_markdown(&report, 12))?;
    writeln!(
        out,
        "\n# Webhooks: GitHub and Gerrit events through the real server\n"
    )?;
    out.flush()?;
    let webhooks = super::demo_webhooks::run().context("running the webhook demo")?;
    write!(out, "{webhooks}")?;
    Ok(ExitCode::SUCCESS)
}
