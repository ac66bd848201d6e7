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
    let tmp = tempfile::tempdir().context("creating the demo's temporary store")?;
    let store_dir = tmp.path().join("store");
    let report = analyze(&AnalyzeArgs {
        git: repo.clone(),
        since: None,
        until: None,
        format: ReportFormat::Md,
        repo: name,
        store: Some(store_dir.clone()),
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
    let (digest, report) = digest_and_report(&store_dir, &report.repo)?;
    writeln!(
        out,
        "\n# Weekly digest of the latest week (as the GitHub issue would show it)\n\n{digest}"
    )?;
    writeln!(
        out,
        "\n# Privacy-reviewed report of the last 3 months\n\n{report}"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The digest of the latest week with activity and a draft report of the last three months,
/// both from the demo's store.
fn digest_and_report(store_dir: &Path, repo: &str) -> anyhow::Result<(String, String)> {
    use canopy_analyzer::week::IsoWeek;
    use canopy_store::TimeRange;
    let store = crate::wiring::open_store(store_dir)?;
    let mut last = None;
    store.scan_repo(repo, TimeRange::ALL, &mut |e| {
        last = Some(e.at_utc());
        std::ops::ControlFlow::Continue(())
    })?;
    let last = last.context("the demo store has no events")?;
    let cfg = canopy_service::repo_config::RepoConfig::default();
    let ids = canopy_analyzer::identity::Identities::default();
    let built = canopy_service::digest::build(
        store.as_ref(),
        &canopy_service::digest::Scope::Repo(repo.to_string()),
        IsoWeek::of_utc(&last),
        &cfg,
        None,
        &ids,
        &[],
        None,
    )?;
    let end = last.date_naive();
    let start = end - chrono::Duration::days(91);
    let key = canopy_service::report::load_or_create_key(&store_dir.join("pseudonym.key"))?;
    let opts = canopy_service::report::Options {
        period: format!("{start}..{end}")
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
        scope: None,
        k: 5,
        min_k: 5,
        epsilon: None,
        mechanism: canopy_policies::report::Mechanism::Laplace,
        epsilon_per_period: 3.0,
        key,
        repo_defaults: cfg,
    };
    let (r, _) = canopy_service::report::create(store.as_ref(), &ids, &opts, chrono::Utc::now())?;
    let d = &r.document;
    let mut text = format!(
        "Draft {} for {} to {} (k = 5). `canopy report create --store DIR --period {}..{} --format json` makes it; a reviewer must `approve` it before `publish`.\n\n",
        r.id,
        d["period"]["start"].as_str().unwrap_or(""),
        d["period"]["end"].as_str().unwrap_or(""),
        start,
        end
    );
    let mut shown = 0;
    let mut hidden = 0;
    for t in d["tables"].as_array().into_iter().flatten() {
        for row in t["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .chain([&t["total"]])
        {
            for c in row["cells"].as_array().into_iter().flatten() {
                if c["value"].is_null() {
                    hidden += 1;
                } else {
                    shown += 1;
                }
            }
        }
    }
    text.push_str(&format!(
        "{shown} cells shown, {hidden} hidden because they count fewer than 5 people (or would reveal one that does).\n\nPrivacy review:\n"
    ));
    for rule in d["privacy_review"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "- {}: {} ({})\n",
            rule["rule"].as_str().unwrap_or(""),
            if rule["passed"] == true {
                "passed"
            } else {
                "FAILED"
            },
            rule["detail"].as_str().unwrap_or("")
        ));
    }
    Ok((built.markdown(), text))
}
