//! `canopy report`: privacy-reviewed aggregate reports. `create` writes a draft with its
//! machine-checked privacy review, `approve` (a configured reviewer) is required before
//! `publish` releases it; every step is in the report's audit log in the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use canopy_core::{Clock, SystemClock};
use canopy_store::Location;

use super::burnout::identities;
use canopy_policies::report::Mechanism;
use canopy_service::config::Config;
use canopy_service::report::{self, Options, Period};
use canopy_store::{AuditEntry, ReportStatus, Store, StoredReport};

/// Arguments of `canopy report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ReportCommand,
}

/// Report formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportOut {
    /// One JSON object with `id`, the tables and `privacy_review`.
    #[default]
    Json,
    /// `table,row,column,value,status` rows, then the review.
    Csv,
    /// A self-contained HTML page.
    Html,
}

/// Differential-privacy noise mechanisms offered by `report create --noise`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NoiseKind {
    /// Laplace noise: pure epsilon-differential privacy.
    #[default]
    Laplace,
    /// Gaussian noise: (epsilon, delta)-differential privacy.
    Gaussian,
}

/// Subcommands of `canopy report`.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Make a draft report of a period and print it with its privacy review.
    Create(CreateArgs),
    /// Approve a draft whose privacy review passed (a reviewer named in reports.reviewers).
    Approve(ApproveArgs),
    /// Release an approved report.
    Publish(PublishArgs),
    /// Print a stored report.
    Show(ShowArgs),
    /// List stored reports with their status.
    List(StoreArg),
    /// Print a report's audit log as JSON lines.
    Audit(ShowArgs),
}

/// `--store DIR`.
#[derive(Debug, clap::Args)]
pub struct StoreArg {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
}

/// Arguments of `canopy report create`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every table cell counts people under keyed pseudonyms (HMAC-SHA256; the key \
is reports.key_file, default <store>/pseudonym.key for a store directory (a PostgreSQL store needs reports.key_file), created on first use; replace the file to rotate). \
Cells counting fewer than k people are suppressed, with complementary suppression against the totals. \
With --epsilon, counts get Laplace noise (or, with --noise gaussian, Gaussian noise with --delta) \
and the epsilon is charged to the quarter's budget (reports.epsilon_per_period). The draft can be approved only if every rule of its privacy_review passed."
)]
pub struct CreateArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Period: START..END (days included, e.g. 2026-07-01..2026-09-30), 2026-Q3, 2026-07 or 2026.
    #[arg(long)]
    pub period: Period,
    /// Organisation (repositories ORG/...) or one repository [default: the whole store].
    #[arg(long)]
    pub scope: Option<String>,
    /// Smallest group a cell may count [default: reports.min_k, 5]. A smaller k makes a
    /// draft that fails review.
    #[arg(long)]
    pub k: Option<u64>,
    /// Add noise with this epsilon to the counts (differential privacy).
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Noise mechanism, with --epsilon: laplace (pure epsilon-DP) or gaussian ((epsilon,
    /// delta)-DP, lighter tails; needs at most 1 epsilon per noised cell).
    #[arg(long, value_enum, default_value_t = NoiseKind::Laplace, requires = "epsilon")]
    pub noise: NoiseKind,
    /// Delta of Gaussian noise (probability the epsilon guarantee fails), between 0 and 1
    /// [default: 1e-6].
    #[arg(long, requires = "epsilon")]
    pub delta: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportOut::Json)]
    pub format: ReportOut,
    /// Server configuration ([reports], runner profiles in [defaults]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub ids: super::burnout::IdentityArgs,
}

/// Arguments of `canopy report approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// Report id.
    pub id: String,
    /// Reviewer's name (must be listed in reports.reviewers).
    #[arg(long)]
    pub reviewer: String,
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Server configuration naming the reviewers.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// Arguments of `canopy report publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Report id.
    pub id: String,
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportOut::Json)]
    pub format: ReportOut,
    /// Write the released report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `canopy report show` and `audit`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Report id.
    pub id: String,
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Output format (show only).
    #[arg(long, value_enum, default_value_t = ReportOut::Json)]
    pub format: ReportOut,
}

/// Runs `canopy report`.
pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ReportCommand::Create(c) => create(c),
        ReportCommand::Approve(c) => approve(c),
        ReportCommand::Publish(c) => publish(c),
        ReportCommand::Show(c) => {
            let (_, store) =
                crate::store_location::open(c.store.as_ref(), crate::store_location::Migrate::No)?;
            let r = find(store.as_ref(), &c.id)?;
            print!("{}", render(&r.document, c.format)?);
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::List(c) => {
            let (_, store) =
                crate::store_location::open(c.store.as_ref(), crate::store_location::Migrate::No)?;
            for r in store.reports()? {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": r.id,
                        "status": r.status,
                        "period": r.document["period"],
                        "scope": r.document["scope"],
                        "approvable": r.document["approvable"],
                    })
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::Audit(c) => {
            let (_, store) =
                crate::store_location::open(c.store.as_ref(), crate::store_location::Migrate::No)?;
            find(store.as_ref(), &c.id)?;
            for e in store.audit(&c.id)? {
                println!("{}", serde_json::to_string(&e)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render(doc: &serde_json::Value, f: ReportOut) -> anyhow::Result<String> {
    Ok(match f {
        ReportOut::Json => doc.to_string() + "\n",
        ReportOut::Csv => report::to_csv(doc)?,
        ReportOut::Html => report::to_html(doc),
    })
}

fn find(store: &dyn Store, id: &str) -> anyhow::Result<StoredReport> {
    store.report(id)?.with_context(|| {
        format!("no report {id} in the store (`canopy report list` shows the reports)")
    })
}

fn entry(action: &str, actor: &str, detail: impl Into<String>) -> AuditEntry {
    AuditEntry {
        at: SystemClock.now(),
        action: action.into(),
        actor: actor.into(),
        detail: detail.into(),
    }
}

/// The noise mechanism the flags ask for.
fn mechanism(noise: NoiseKind, delta: Option<f64>) -> anyhow::Result<Mechanism> {
    Ok(match (noise, delta) {
        (NoiseKind::Laplace, None) => Mechanism::Laplace,
        (NoiseKind::Laplace, Some(_)) => {
            anyhow::bail!("--delta applies only to --noise gaussian (Laplace noise has no delta)")
        }
        (NoiseKind::Gaussian, delta) => {
            let delta = delta.unwrap_or(1e-6);
            anyhow::ensure!(
                delta > 0.0 && delta < 1.0,
                "--delta must be between 0 and 1 (exclusive), e.g. 1e-6"
            );
            Mechanism::Gaussian { delta }
        }
    })
}

fn create(a: CreateArgs) -> anyhow::Result<ExitCode> {
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(e) = a.epsilon {
        anyhow::ensure!(
            e > 0.0 && e.is_finite(),
            "--epsilon must be a positive number"
        );
    }
    let mechanism = mechanism(a.noise, a.delta)?;
    let k = a.k.unwrap_or(cfg.reports.min_k);
    anyhow::ensure!(k >= 1, "--k must be at least 1");
    let (loc, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let key_path = match (&cfg.reports.key_file, &loc) {
        (Some(f), _) => f.clone(),
        (None, Location::Dir(dir)) => dir.join("pseudonym.key"),
        (None, Location::Postgres(_)) => anyhow::bail!(
            "a PostgreSQL store has no directory for the pseudonym key: set [reports] key_file \
             in the configuration (keep the key out of the database and its backups)"
        ),
    };
    let key = report::load_or_create_key(&key_path)?;
    let ids = identities(&a.ids)?;
    let opts = Options {
        period: a.period,
        scope: a.scope.clone(),
        k,
        min_k: cfg.reports.min_k,
        epsilon: a.epsilon,
        mechanism,
        epsilon_per_period: cfg.reports.epsilon_per_period,
        key,
        repo_defaults: cfg.defaults.clone(),
    };
    let (r, budget) = report::create(store.as_ref(), &ids, &opts, SystemClock.now())?;
    let failed = report::failed_rules(&r);
    let budget_key = a.period.budget_key();
    store.save_report(
        &r,
        &entry(
            "created",
            "canopy",
            if failed.is_empty() {
                "privacy review passed".to_string()
            } else {
                format!("privacy review failed: {}", failed.join("; "))
            },
        ),
        budget.as_ref().map(|b| (budget_key.as_str(), b)),
    )?;
    print!("{}", render(&r.document, a.format)?);
    let (shown, cells) = cells_shown(&r.document);
    let shown = if shown == 0 {
        format!(
            "every one of its {cells} cells is hidden (each counts fewer than {k} people, or \
             would reveal one that does), so it would publish no figure; a longer period or a \
             wider scope may help"
        )
    } else {
        format!("{shown} of its {cells} cells shown")
    };
    eprintln!(
        "canopy: draft report {} stored: {shown}. {}",
        r.id,
        if failed.is_empty() {
            format!(
                "Approve it with `canopy report approve {} --reviewer NAME`.",
                r.id
            )
        } else {
            format!("It cannot be approved: {} failed.", failed.join("; "))
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Cells of a report's tables (totals included) that show a figure, exact or noised, and all
/// its cells.
fn cells_shown(document: &serde_json::Value) -> (usize, usize) {
    let tables = document["tables"].as_array().map_or(&[][..], Vec::as_slice);
    let rows = tables.iter().flat_map(|t| {
        let body = t["rows"].as_array().map_or(&[][..], Vec::as_slice);
        body.iter().chain(std::iter::once(&t["total"]))
    });
    let cells: Vec<&serde_json::Value> = rows
        .flat_map(|r| r["cells"].as_array().map_or(&[][..], Vec::as_slice))
        .collect();
    let shown = cells
        .iter()
        .filter(|c| matches!(c["status"].as_str(), Some("shown" | "noised")))
        .count();
    (shown, cells.len())
}

fn approve(a: ApproveArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&a.config)?;
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let mut r = find(store.as_ref(), &a.id)?;
    let refuse = |why: String| -> anyhow::Result<ExitCode> {
        store.audit_append(&a.id, &entry("approval_refused", &a.reviewer, why.clone()))?;
        eprintln!("error: report {} not approved: {why}", a.id);
        Ok(ExitCode::from(1))
    };
    if !cfg.reports.reviewers.iter().any(|x| x == &a.reviewer) {
        return refuse(format!(
            "{} is not a configured reviewer (reports.reviewers in {}: {})",
            a.reviewer,
            a.config.display(),
            if cfg.reports.reviewers.is_empty() {
                "none".to_string()
            } else {
                cfg.reports.reviewers.join(", ")
            }
        ));
    }
    if r.status != ReportStatus::Draft {
        return refuse(format!("it is already {:?}", r.status).to_lowercase());
    }
    let failed = report::failed_rules(&r);
    if !failed.is_empty() {
        return refuse(format!("its privacy review failed: {}", failed.join("; ")));
    }
    r.status = ReportStatus::Approved;
    r.document["status"] = serde_json::json!("approved");
    store.save_report(
        &r,
        &entry("approved", &a.reviewer, "privacy review passed"),
        None,
    )?;
    eprintln!(
        "canopy: report {} approved by {}; release it with `canopy report publish {}`",
        a.id, a.reviewer, a.id
    );
    Ok(ExitCode::SUCCESS)
}

fn publish(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let mut r = find(store.as_ref(), &a.id)?;
    if r.status == ReportStatus::Draft {
        store.audit_append(&a.id, &entry("publish_refused", "canopy", "not approved"))?;
        eprintln!(
            "error: report {} is a draft: a reviewer must approve it first (`canopy report approve {} --reviewer NAME`)",
            a.id, a.id
        );
        return Ok(ExitCode::from(1));
    }
    r.status = ReportStatus::Published;
    r.document["status"] = serde_json::json!("published");
    let text = render(&r.document, a.format)?;
    if let Some(p) = &a.out {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    store.save_report(
        &r,
        &entry(
            "published",
            "canopy",
            a.out
                .as_ref()
                .map_or("to stdout".to_string(), |p| format!("to {}", p.display())),
        ),
        None,
    )?;
    if a.out.is_none() {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
