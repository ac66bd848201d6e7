//! `canopy demo`: the main job end to end on the embedded store, with no credentials. By
//! default it runs on a bundled team history (generated, deterministic: fifteen people, two
//! repositories, nine months; see `demo_history`); with `--git PATH` (or `PATH`) it reads that
//! clone instead, and without a path in a Canopy checkout, Canopy's own history.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::analyze::{AnalyzeArgs, ReportFormat, analyze, analyze_in, render_markdown};
use super::demo_digest::{DigestAndReport, digest_and_report};
use super::demo_facts::{self, DigestFacts, Summary};
use super::demo_history::Loaded;
use super::demo_progress::Progress;
use canopy_analyzer::identity::Identities;
use canopy_forge::git;
use canopy_service::carbon::RegionData;
use canopy_synth::grid::Grid;

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
    /// Output format: the story in Markdown, or (bundled history only) its figures as one JSON
    /// object (`weeks`, `people`, `ttm`, `energy`, `rerun_advice`, `defer`, `burnout_team`,
    /// `burnout_me`, `digest`, `report`; see docs/demo.md).
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Length of the bundled team history in weeks (at least 8). A shorter history runs
    /// faster; below about 39 weeks a repository has fewer than 200 merged changes, so the
    /// time-to-merge model is trained on both repositories together.
    #[arg(long, default_value_t = 39, value_parser = clap::value_parser!(u32).range(8..=520),
          conflicts_with_all = ["git", "path", "own"])]
    pub weeks: u32,
    /// Seed of every random choice in the bundled team history.
    #[arg(long, default_value_t = 2026, conflicts_with_all = ["git", "path", "own"])]
    pub seed: u64,
}

impl DemoArgs {
    /// The generator configuration of the bundled team history these arguments ask for.
    fn history(&self) -> canopy_synth::Config {
        canopy_synth::Config {
            seed: self.seed,
            weeks: self.weeks,
            ..canopy_synth::Config::default()
        }
    }
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

/// `canopy analyze`'s defaults for the clone at `git` named `repo`, with `weeks` weekly rows and
/// no store of its own.
fn analyze_args(git: PathBuf, repo: Option<String>, weeks: usize) -> AnalyzeArgs {
    AnalyzeArgs {
        git,
        since: None,
        until: None,
        format: ReportFormat::Md,
        repo,
        store: None,
        rev: "HEAD".into(),
        jobs: None,
        weeks,
        find_renames: git::renames::DEFAULT_RENAME_PERCENT,
        find_copies: 0,
        rename_limit: git::renames::DEFAULT_RENAME_LIMIT,
    }
}

/// Runs `canopy demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let history = args.history();
    let path = args.git.or(args.path);
    if path.is_none() && !args.own {
        return bundled(args.format, &history);
    }
    anyhow::ensure!(
        args.format == ReportFormat::Md,
        "--format json is for the bundled team history only; for a clone use `canopy analyze --git PATH --format json`"
    );
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
        store: Some(canopy_store::Location::Dir(store_dir.clone())),
        ..analyze_args(repo.clone(), name, 12)
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
    let store = crate::wiring::open_store(&store_dir)?;
    let d = digest_and_report(
        store.as_ref(),
        &store_dir.join("pseudonym.key"),
        &report.repo,
        None,
        &Identities::default(),
        &mut Progress::new(Box::new(std::io::sink())),
    )?;
    writeln!(
        out,
        "\n# Weekly digest of the latest week (as the GitHub issue would show it)\n\n{}",
        d.markdown
    )?;
    d.write_report(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

/// The demo on the bundled team history: its git histories and webhooks loaded into one
/// temporary store, then the weekly reports, what Canopy would post on the open PR, its rerun
/// advice and `/canopy defer`, the burnout view, the latest week's digest and a
/// privacy-reviewed report; as a story in Markdown, or its figures as one JSON object.
fn bundled(format: ReportFormat, history: &canopy_synth::Config) -> anyhow::Result<ExitCode> {
    if format == ReportFormat::Json {
        let summary = story(history, &mut std::io::sink(), &mut Progress::stderr())?;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        story(
            history,
            &mut std::io::stdout().lock(),
            &mut Progress::stderr(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the bundled demo on the history `history` generates, telling its story to `out`, and
/// returns its figures.
fn story(
    history: &canopy_synth::Config,
    out: &mut dyn Write,
    p: &mut Progress<'_>,
) -> anyhow::Result<Summary> {
    let org = canopy_synth::generate(history);
    let grid = canopy_synth::grid::grid(&org);
    p.done("generated the team history");
    writeln!(
        out,
        "Canopy demo on a bundled team history: {} people (and a dependency bot) in two repositories, {} to {}. Every name in it is invented; nothing below names anyone.\n",
        org.humans().count(),
        org.config.start,
        org.now.date_naive()
    )?;
    let tmp = tempfile::tempdir().context("creating the demo's temporary directory")?;
    let store_dir = tmp.path().join("store");
    // One store for the whole demo, a scratch one: it is deleted at the end.
    let store = crate::wiring::open_scratch_store(&store_dir)?;
    let store = store.as_ref();
    let (mut loaded, reports) = analyze_repositories(&org, tmp.path(), store, p)?;
    let weeks = reports.iter().map(|r| r.weeks.len()).sum();
    for r in &reports {
        writeln!(out, "# {}\n", r.repo)?;
        write!(out, "{}", render_markdown(r, 8))?;
        writeln!(out)?;
    }
    out.flush()?;
    webhooks_section(&org, store, &grid, &mut loaded, out, p)?;
    let shown = showcase_section(&org, store, &grid, &mut loaded, out, p)?;
    let (burnout_team, burnout_me, people, ids) =
        burnout_section(&org, store, &shown.repo, shown.number, out, p)?;
    let key = store_dir.join("pseudonym.key");
    let (d, page) = digest_section(store, &key, &shown.repo, &shown.region, &ids, out, p)?;
    p.finish();
    Ok(Summary {
        weeks,
        people,
        ttm: shown.ttm,
        energy: shown.energy,
        rerun_advice: shown.rerun_advice,
        defer: shown.defer.map(|(_, s)| s).unwrap_or_default(),
        burnout_team,
        burnout_me,
        digest: DigestFacts {
            week: d.week,
            opened: d.opened,
            merged: d.merged,
            reviews: d.reviews,
            html_path: page.display().to_string(),
        },
        report: d.report,
    })
}

/// The webhooks section: the history's deliveries replayed through the inbox, the normaliser
/// and the reactor, the time-to-merge models trained, and what Canopy would post on the
/// showcase PR.
fn webhooks_section(
    org: &canopy_synth::Org,
    store: &dyn canopy_store::Store,
    grid: &Grid,
    loaded: &mut Loaded,
    out: &mut dyn Write,
    p: &mut Progress<'_>,
) -> anyhow::Result<()> {
    super::demo_history::replay_webhooks(org, store, Some(grid), loaded, p)?;
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
    let posts = super::demo_history::outbox_for(store, &showcase)?;
    writeln!(
        out,
        "## What Canopy would post on {showcase} (an open PR)\n\n{posts}"
    )?;
    p.done("read the outbox");
    Ok(())
}

/// What the demo shows of its open showcase PR: the prediction, the CI footprint, the rerun
/// advice and what `/canopy defer` scheduled.
struct Showcase {
    repo: String,
    number: u64,
    region: RegionData,
    ttm: Option<demo_facts::Ttm>,
    energy: demo_facts::Energy,
    rerun_advice: Option<demo_facts::RerunAdvice>,
    defer: Option<(chrono::DateTime<chrono::Utc>, Vec<demo_facts::Scheduled>)>,
}

/// The showcase PR's prediction, footprint and rerun advice; then its author answers the
/// advice with `/canopy defer`, two minutes later, and the greener-rerun section is written.
fn showcase_section(
    org: &canopy_synth::Org,
    store: &dyn canopy_store::Store,
    grid: &Grid,
    loaded: &mut Loaded,
    out: &mut dyn Write,
    p: &mut Progress<'_>,
) -> anyhow::Result<Showcase> {
    let (repo, number) = (org.showcase.repo.clone(), org.showcase.number);
    let showcase = format!("{repo}#{number}");
    let cfg = super::demo_history::demo_config(Some(grid)).defaults;
    let region = super::demo_history::region_data(grid, org.now)?;
    let h = demo_facts::history(store, &repo, number)?;
    let ttm = demo_facts::ttm(store, &h, &repo, number)?;
    let energy = demo_facts::energy(&h, &cfg, Some(&region));
    let rerun_advice = demo_facts::rerun_advice(&h, &cfg, Some(&region));
    p.done("read the open PR's prediction, footprint and rerun advice");
    let defer = match canopy_synth::github::showcase_comment(
        org,
        "/canopy defer",
        chrono::Duration::minutes(2),
    ) {
        Some(d) => {
            let at = d.at;
            super::demo_history::deliver(store, d, Some(grid), loaded)?;
            Some((at, demo_facts::scheduled(store, &showcase)?))
        }
        None => None,
    };
    p.done("answered `/canopy defer`");
    write_rerun(out, &energy, rerun_advice.as_ref(), defer.as_ref())?;
    Ok(Showcase {
        repo,
        number,
        region,
        ttm,
        energy,
        rerun_advice,
        defer,
    })
}

/// The burnout section: the team view in groups of at least five who opted in, and the
/// showcase PR author's own view. Returns both, the number of people and the identities.
fn burnout_section(
    org: &canopy_synth::Org,
    store: &dyn canopy_store::Store,
    repo: &str,
    number: u64,
    out: &mut dyn Write,
    p: &mut Progress<'_>,
) -> anyhow::Result<(
    demo_facts::BurnoutTeam,
    demo_facts::BurnoutMe,
    usize,
    Identities,
)> {
    let author = org
        .changes
        .iter()
        .find(|c| c.number == number && org.repos[c.repo].full_name == repo)
        .map(|c| format!("github:{}", org.people[c.author].login))
        .context("the demo PR's author")?;
    let ids = demo_facts::identities(org);
    let (team, me, team_text, me_text, people) = demo_facts::burnout(store, &ids, &author)?;
    p.done("computed the burnout view");
    writeln!(
        out,
        "# Burnout risk\n\nMaintainers see the team only in groups of at least 5 people who opted in (`canopy burnout team`):\n\n{team_text}\nThe demo PR's author opted in; this is their own view (`canopy burnout me`), which Canopy shows to them alone:\n\n{me_text}"
    )?;
    Ok((team, me, people, ids))
}

/// The digest section (Markdown in the story, HTML beside it in a directory that outlives the
/// demo's temporary store) and the report section. Returns the digest and the HTML's path.
fn digest_section(
    store: &dyn canopy_store::Store,
    key: &Path,
    repo: &str,
    region: &RegionData,
    ids: &Identities,
    out: &mut dyn Write,
    p: &mut Progress<'_>,
) -> anyhow::Result<(DigestAndReport, PathBuf)> {
    let d = digest_and_report(store, key, repo, Some(region), ids, p)?;
    writeln!(
        out,
        "\n# Weekly digest of {repo} for the latest week (as the GitHub issue would show it)\n\n{}",
        d.markdown
    )?;
    let dir = std::env::temp_dir().join(format!("canopy-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let page = dir.join("digest.html");
    std::fs::write(&page, &d.html).with_context(|| format!("writing {}", page.display()))?;
    writeln!(
        out,
        "The same digest as an HTML page with SVG charts: {}\n",
        page.display()
    )?;
    d.write_report(out)?;
    Ok((d, page))
}

/// The greener-rerun section: the PR's CI footprint, the advice for its rerun request and what
/// `/canopy defer` scheduled.
fn write_rerun(
    out: &mut dyn Write,
    energy: &demo_facts::Energy,
    advice: Option<&demo_facts::RerunAdvice>,
    defer: Option<&(chrono::DateTime<chrono::Utc>, Vec<demo_facts::Scheduled>)>,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "# Greener CI reruns\n\nThe PR's {} CI jobs so far used about {:.4} kWh, {:.2} gCO2e (grid: {}).\n",
        energy.jobs, energy.kwh, energy.gco2e, energy.grid
    )?;
    let Some(a) = advice else {
        writeln!(
            out,
            "Its rerun request has no greener window before its deadline in the grid data.\n"
        )?;
        return Ok(());
    };
    writeln!(
        out,
        "Its author asked for a rerun of {} at {}, when the grid was at {} gCO2e/kWh. {} ({}). The greenest start before the deadline ({}) is {}, at {:.0} gCO2e/kWh: {:.0}% less CO2e.\n",
        a.jobs.join(", "),
        a.requested,
        a.now_gco2e_per_kwh
            .map_or("unknown".into(), |g| format!("{g:.0}")),
        if a.critical {
            "The job is critical, so it is never deferred"
        } else {
            "The job is not critical"
        },
        a.why,
        a.deadline,
        a.start,
        a.best_gco2e_per_kwh,
        a.saving_share * 100.0
    )?;
    if let Some((at, items)) = defer {
        writeln!(
            out,
            "At {} the author comments `/canopy defer`; Canopy puts in its durable outbox:\n",
            demo_facts::rfc3339(*at)
        )?;
        if items.is_empty() {
            writeln!(out, "- nothing (see its reply on the PR)")?;
        }
        for i in items {
            writeln!(out, "- `{}` due {}", i.action, i.due)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Each bundled repository rebuilt with git fast-import under `tmp` and analysed into
/// `store`.
fn analyze_repositories(
    org: &canopy_synth::Org,
    tmp: &Path,
    store: &dyn canopy_store::Store,
    p: &mut Progress<'_>,
) -> anyhow::Result<(
    super::demo_history::Loaded,
    Vec<super::analyze::AnalyzeOutput>,
)> {
    let mut loaded = super::demo_history::Loaded::default();
    let mut reports = Vec::new();
    for i in 0..org.repos.len() {
        let name = org.repos[i].full_name.clone();
        let git = super::demo_history::rebuild_repository(org, i, tmp)?;
        p.done(&format!("rebuilt {name} with git fast-import"));
        let report = analyze_in(store, &analyze_args(git.clone(), Some(name.clone()), 8))
            .with_context(|| format!("analysing {name}"))?;
        p.done(&format!("read {name}'s git history"));
        reports.push(report);
        loaded.repos.push((name, git));
    }
    Ok((loaded, reports))
}
