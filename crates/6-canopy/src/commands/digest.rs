//! `canopy digest`: one repository's weekly maintainer digest from the store, printed (Markdown,
//! JSON or HTML with charts), or queued for the configured channels with `--send`, or one
//! person's private section with `--for`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use canopy_analyzer::week::IsoWeek;
use canopy_policies::visibility::Rules;
use canopy_store::Location;

use super::burnout::{
    IdentityArgs, analysable_rows, identities, opted_in, person_of, personal_section,
};
use canopy_analyzer::identity::Identities;
use canopy_core::{Clock, SystemClock, WriteOp};
use canopy_service::config::Config;
use canopy_service::digest::Built;
use canopy_service::digest::Scope;
use canopy_service::repo_config::RepoConfig;
use canopy_store::Store;
use chrono::{DateTime, Utc};

/// How to print a digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DigestFormat {
    /// Markdown with Mermaid charts (what the GitHub issue shows).
    #[default]
    Md,
    /// The figures as one JSON object.
    Json,
    /// A self-contained HTML page with SVG charts (what files and emails carry).
    Html,
}

/// Arguments of `canopy digest`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --send nothing is sent: the digest is printed (or written with --out). \
With --send the digest's actions (GitHub issue, HTML file, email, chat webhook, as configured) are \
queued in the store's outbox and performed by `canopy serve` when it next runs; add --dry-run to \
print them as JSON lines instead. Scheduled digests are configured with [digest] schedule in a \
repository's settings (see deploy/canopy.example.toml)."
)]
pub struct DigestArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Repository (`owner/name`, Gerrit project, or the name given to `analyze --repo`).
    #[arg(long, required_unless_present = "org", conflicts_with = "org")]
    pub repo: Option<String>,
    /// Organisation: a digest over every repository `ORG/...` in the store.
    #[arg(long)]
    pub org: Option<String>,
    /// ISO week, e.g. `2026-W47`.
    #[arg(long)]
    pub week: IsoWeek,
    /// Smallest group shown in the burnout section [default: privacy.k of the settings, 5].
    #[arg(long)]
    pub k: Option<usize>,
    #[command(flatten)]
    pub ids: IdentityArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DigestFormat::Md)]
    pub format: DigestFormat,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Server configuration (repository defaults, channels, grid).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Queue the digest for the configured channels.
    #[arg(long)]
    pub send: bool,
    /// With --send: print the actions instead of queueing them.
    #[arg(long)]
    pub dry_run: bool,
    /// Print only this person's private section (their own score and reasons), if they opted
    /// in: a person id or actor key such as `github:ada-l`.
    #[arg(long = "for", value_name = "IDENTITY")]
    pub for_person: Option<String>,
}

/// Runs `canopy digest`.
pub fn run(a: DigestArgs) -> anyhow::Result<ExitCode> {
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let clock = SystemClock;
    let scope = match (&a.repo, &a.org) {
        (Some(r), _) => Scope::Repo(r.clone()),
        (None, Some(o)) => Scope::Org(o.clone()),
        (None, None) => anyhow::bail!("pass --repo R or --org ORG"),
    };
    let mut repo_cfg = cfg.defaults.clone();
    if let Scope::Org(o) = &scope
        && let Some(d) = cfg.digest.orgs.get(o)
    {
        repo_cfg.digest = d.clone();
    }
    if let Some(k) = a.k {
        anyhow::ensure!(k >= 2, "--k must be at least 2");
        repo_cfg.privacy.k = k as u32;
    }
    let ids = identities(&a.ids)?;
    if let Some(who) = &a.for_person {
        return private_section(&a, store.as_ref(), &ids, &repo_cfg, who);
    }
    let grid = match &repo_cfg.carbon.region {
        Some(r) => {
            let cache = canopy_service::carbon::IntensityCache::default();
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let regions = crate::wiring::grid_providers(&cfg, &env)?;
            canopy_service::carbon::load_offline(&cache, store.as_ref(), &regions, clock.now())?;
            cache.get(r)
        }
        None => None,
    };
    let built = canopy_service::digest::build(
        store.as_ref(),
        &scope,
        a.week,
        &repo_cfg,
        grid.as_ref(),
        &ids,
        &[],
        a.ids.meetings.as_deref(),
    )?;
    if a.send {
        return send(
            &a,
            store.as_ref(),
            &built,
            &scope,
            &repo_cfg,
            &cfg,
            clock.now(),
        );
    }
    let text = match a.format {
        DigestFormat::Json => serde_json::to_string(&built.digest)? + "\n",
        DigestFormat::Md => built.markdown(),
        DigestFormat::Html => built.html()?,
    };
    emit(&a, &text)
}

/// `--for`: one opted-in person's private section.
fn private_section(
    a: &DigestArgs,
    store: &dyn Store,
    ids: &Identities,
    repo_cfg: &RepoConfig,
    who: &str,
) -> anyhow::Result<ExitCode> {
    let person = person_of(ids, who);
    let rules = Rules::new(repo_cfg.privacy.k as usize, opted_in(store, ids, &[])?);
    let rows = if rules.analysable(&person) {
        analysable_rows(store, ids, &rules, a.ids.meetings.as_deref())?
    } else {
        Vec::new()
    };
    let text = personal_section(&rows, &rules, &person, a.week)
        .map_err(|why| anyhow::anyhow!("no private section for {who}: {why}"))?;
    emit(a, &text)
}

/// `--send`: queues the digest for every configured channel (or prints them with --dry-run).
fn send(
    a: &DigestArgs,
    store: &dyn Store,
    built: &Built,
    scope: &Scope,
    repo_cfg: &RepoConfig,
    cfg: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let platform = scope.platform(store)?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let webhook = crate::wiring::digest_webhook_configured(&env);
    let actions = canopy_service::digest::actions(
        built,
        scope,
        platform,
        repo_cfg,
        &cfg.digest,
        webhook,
        now,
    )?;
    anyhow::ensure!(
        !actions.is_empty(),
        "no channel is configured for {}: set [digest] dir, email_to or {} in the server \
         configuration (a GitHub repository also gets an issue)",
        scope.label(),
        crate::wiring::DIGEST_WEBHOOK_VAR
    );
    if a.dry_run {
        for e in &actions {
            println!("{}", e.action.dry_run_line(&e.id, None));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let n = actions.len();
    let ops = actions
        .into_iter()
        .map(|e| WriteOp::Enqueue(e, now))
        .collect();
    store.apply_writes(ops)?;
    eprintln!(
        "canopy: queued {n} digest action(s) for {} {}; `canopy serve` performs them",
        scope.label(),
        a.week
    );
    Ok(ExitCode::SUCCESS)
}

fn emit(a: &DigestArgs, text: &str) -> anyhow::Result<ExitCode> {
    match &a.out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("canopy: wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
