//! `canopy demo`: the main job end to end on the embedded store, with no credentials. By
//! default it runs on a bundled team history (generated, deterministic: fifteen people, two
//! repositories, nine months; see `demo_history`); with `--git PATH` (or `PATH`) it reads that
//! clone instead, and without a path in a Canopy checkout, Canopy's own history.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::analyze::{AnalyzeArgs, ReportFormat, analyze, render_markdown};
use canopy_forge::git;

/// Arguments of `canopy demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Analyse this git clone (work tree or bare) instead of the bundled team history.
    #[arg(long = "git", value_name = "PATH", conflicts_with = "path")]
    pub git: Option<PathBuf>,
    /// The same as `--git PATH`.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Analyse the Canopy checkout this binary was built from (or the repository containing
    /// the current directory) instead of the bundled team history.
    #[arg(long, conflicts_with_all = ["git", "path"])]
    pub own: bool,
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
    let path = args.git.or(args.path);
    if path.is_none() && !args.own {
        return bundled();
    }
    let name = if path.is_none() {
        Some("canopy".to_string())
    } else {
        None
    };
    let repo = demo_repository(path)?;
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
        store: Some(canopy_store::Location::Dir(store_dir.clone())),
        rev: "HEAD".into(),
        jobs: None,
        weeks: 12,
        find_renames: git::renames::DEFAULT_RENAME_PERCENT,
        find_copies: 0,
        rename_limit: git::renames::DEFAULT_RENAME_LIMIT,
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
    let (digest, _, report) = digest_and_report(&store_dir, &report.repo)?;
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

/// The demo on the bundled team history: its git histories and webhooks loaded into one
/// temporary store, then the weekly report, what Canopy would post on the open PR, the latest
/// week's digest and a privacy-reviewed report.
fn bundled() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let org = canopy_synth::generate(&canopy_synth::Config::default());
    writeln!(
        out,
        "Canopy demo on a bundled team history: {} people (and a dependency bot) in two repositories, {} to {}. Every name in it is invented; nothing below names anyone.\n",
        org.humans().count(),
        org.config.start,
        org.now.date_naive()
    )?;
    let tmp = tempfile::tempdir().context("creating the demo's temporary directory")?;
    let store_dir = tmp.path().join("store");
    let (mut loaded, reports) = analyze_repositories(&org, tmp.path(), &store_dir)?;
    for r in &reports {
        writeln!(out, "# {}\n", r.repo)?;
        write!(out, "{}", render_markdown(r, 8))?;
        writeln!(out)?;
    }
    out.flush()?;
    super::demo_history::replay_webhooks(&org, &store_dir, &mut loaded)?;
    writeln!(
        out,
        "# Webhooks\n\n{} GitHub deliveries went through the inbox, the normaliser and the reactor: {} processed, {} ignored, {} quarantined.\n",
        loaded.deliveries, loaded.processed, loaded.ignored, loaded.quarantined
    )?;
    writeln!(
        out,
        "Time-to-merge models trained on the history before the last moment (`canopy ttm train`):\n"
    )?;
    for t in &loaded.trained {
        writeln!(out, "- {t}")?;
    }
    writeln!(out)?;
    let showcase = format!("{}#{}", org.showcase.repo, org.showcase.number);
    let posts = super::demo_history::outbox_for(&store_dir, &showcase)?;
    writeln!(
        out,
        "## What Canopy would post on {showcase} (an open PR)\n\n{posts}"
    )?;
    let (digest, html, report) = digest_and_report(&store_dir, &org.showcase.repo)?;
    writeln!(
        out,
        "\n# Weekly digest of {} for the latest week (as the GitHub issue would show it)\n\n{digest}",
        org.showcase.repo
    )?;
    // The HTML page outlives the demo's temporary store, so it can be opened afterwards.
    let dir = std::env::temp_dir().join(format!("canopy-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let page = dir.join("digest.html");
    std::fs::write(&page, html).with_context(|| format!("writing {}", page.display()))?;
    writeln!(
        out,
        "The same digest as an HTML page with SVG charts: {}\n",
        page.display()
    )?;
    writeln!(
        out,
        "\n# Privacy-reviewed report of the last 3 months\n\n{report}"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Each bundled repository rebuilt with git fast-import under `tmp` and analysed into the
/// store at `store_dir`.
fn analyze_repositories(
    org: &canopy_synth::Org,
    tmp: &Path,
    store_dir: &Path,
) -> anyhow::Result<(
    super::demo_history::Loaded,
    Vec<super::analyze::AnalyzeOutput>,
)> {
    let mut loaded = super::demo_history::Loaded::default();
    let mut reports = Vec::new();
    for i in 0..org.repos.len() {
        let name = org.repos[i].full_name.clone();
        let git = super::demo_history::rebuild_repository(org, i, tmp)?;
        let report = analyze(&AnalyzeArgs {
            git: git.clone(),
            since: None,
            until: None,
            format: ReportFormat::Md,
            repo: Some(name.clone()),
            store: Some(canopy_store::Location::Dir(store_dir.to_path_buf())),
            rev: "HEAD".into(),
            jobs: None,
            weeks: 8,
            find_renames: git::renames::DEFAULT_RENAME_PERCENT,
            find_copies: 0,
            rename_limit: git::renames::DEFAULT_RENAME_LIMIT,
        })
        .with_context(|| format!("analysing {name}"))?;
        reports.push(report);
        loaded.repos.push((name, git));
    }
    Ok((loaded, reports))
}

/// The digest of the latest week with activity (Markdown and HTML) and a draft report of the
/// last three months, all from the demo's store.
fn digest_and_report(store_dir: &Path, repo: &str) -> anyhow::Result<(String, String, String)> {
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
    let now = canopy_core::Clock::now(&canopy_core::SystemClock);
    let (r, _) = canopy_service::report::create(store.as_ref(), &ids, &opts, now)?;
    Ok((
        built.markdown(),
        built.html()?,
        report_words(&r, start, end),
    ))
}

/// What the demo says about its draft report: cells shown and hidden, the privacy review.
fn report_words(
    r: &canopy_store::StoredReport,
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
) -> String {
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
    text
}
