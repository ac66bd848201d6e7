//! `canopy replay`: feed saved webhook payloads through the same inbox and normalisation path
//! the server uses, into a store — for backfill, debugging and the demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_analyzer::Platform;
use canopy_forge::github::event::GithubEvent;
use canopy_store::Location;
use sha2::{Digest, Sha256};

use super::inbox::parse_platform;
use crate::wiring;
use canopy_core::{Clock, SystemClock};
use canopy_core::{Delivery, WriteOp, WriteOutcome};
use canopy_server::http::gerrit_delivery_id;
use canopy_server::pool::drain_blocking;
use canopy_service::config::Config;

/// Arguments of `canopy replay`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "GitHub files are raw payloads. The event name comes from --event, else from a sidecar file \
FILE.headers holding the request's headers (`X-GitHub-Event: pull_request`, optionally `X-GitHub-Delivery: <id>`), \
else from the file name's first part (`pull_request.opened.json`). Gerrit files hold one stream-events JSON object \
each (pretty-printed is fine). Directories are read in file-name order."
)]
pub struct ReplayArgs {
    /// Payload files or directories of them.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Platform that produced the payloads.
    #[arg(long, value_parser = parse_platform)]
    pub platform: Platform,
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// GitHub event name for every file (overrides sidecars and file names).
    #[arg(long)]
    pub event: Option<String>,
    /// Server configuration (Gerrit host name and CI accounts, repository defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the actions Canopy would take, one JSON line each, instead of queueing them.
    #[arg(long)]
    pub dry_run: bool,
}

/// Files under the given paths, directories expanded in name order.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "json"))
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The headers saved next to a payload, if any.
fn sidecar(file: &Path, name: &str) -> Option<String> {
    let mut side = file.as_os_str().to_owned();
    side.push(".headers");
    let text = std::fs::read_to_string(PathBuf::from(side)).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Builds the delivery a GitHub payload file stands for.
pub fn github_delivery(
    file: &Path,
    body: Vec<u8>,
    event: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Delivery> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let event = event
        .map(str::to_string)
        .or_else(|| sidecar(file, "X-GitHub-Event"))
        .or_else(|| {
            let first = name.split('.').next().unwrap_or("");
            GithubEvent::from_name(first).map(|e| e.as_str().to_string())
        })
        .with_context(|| {
            format!("{}: no event name; pass --event, add {name}.headers, or name the file <event>.<action>.json", file.display())
        })?;
    let id = sidecar(file, "X-GitHub-Delivery").unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(event.as_bytes());
        h.update(b"\0");
        h.update(&body);
        format!("replay-{}", &hex::encode(h.finalize())[..32])
    });
    Ok(Delivery {
        platform: Platform::Github,
        id,
        event,
        received_at: now,
        body,
    })
}

/// Builds the delivery a Gerrit event file stands for.
pub fn gerrit_delivery(body: Vec<u8>, now: chrono::DateTime<chrono::Utc>) -> Delivery {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let event =
        serde_json::from_slice::<T>(&canopy_forge::gerrit::lenient::strip_trailing_commas(&body))
            .ok()
            .and_then(|t| t.kind)
            .unwrap_or_else(|| "unknown".into());
    Delivery {
        platform: Platform::Gerrit,
        id: gerrit_delivery_id(&body),
        event,
        received_at: now,
        body,
    }
}

/// The deliveries the files stand for, to store.
fn receive_all(
    args: &ReplayArgs,
    files: &[PathBuf],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<WriteOp>> {
    let mut ops = Vec::with_capacity(files.len());
    for f in files {
        let body = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let d = match args.platform {
            Platform::Github => github_delivery(f, body, args.event.as_deref(), now)?,
            Platform::Gerrit => gerrit_delivery(body, now),
            Platform::Git => anyhow::bail!("git histories are read with `canopy analyze --git`"),
        };
        ops.push(WriteOp::Receive(d));
    }
    Ok(ops)
}

/// Runs `canopy replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let files = collect_files(&args.paths)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no payload files found in the paths given"
    );
    let (loc, store) =
        crate::store_location::open(args.store.as_ref(), crate::store_location::Migrate::Yes)?;
    let clock = SystemClock;
    let now = clock.now();
    let outcomes = store.apply_writes(receive_all(&args, &files, now)?)?;
    let new = outcomes
        .iter()
        .filter(|o| matches!(o, WriteOutcome::Received { .. }))
        .count();
    let normalizer = wiring::normalizer(&cfg);
    let (reactor, _) = wiring::reactor(&cfg);
    let regions = wiring::grid_providers(&cfg, &|k: &str| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })?;
    canopy_service::carbon::load_offline(&reactor.grid, store.as_ref(), &regions, now)?;
    let mut actions = 0usize;
    // As the outbox does, an action identical to the last one for the same id is not repeated.
    let mut last: std::collections::HashMap<String, canopy_core::Action> =
        std::collections::HashMap::new();
    let mut print = |e: &canopy_core::Enqueue| {
        if last.get(&e.id) == Some(&e.action) {
            return;
        }
        let once = e.mode == canopy_core::EnqueueMode::Once && last.contains_key(&e.id);
        last.insert(e.id.clone(), e.action.clone());
        if once {
            return;
        }
        actions += 1;
        let due = (e.due_at > now + chrono::Duration::seconds(1)).then_some(e.due_at);
        println!("{}", e.action.dry_run_line(&e.id, due));
    };
    let sink: Option<&mut dyn FnMut(&canopy_core::Enqueue)> =
        if args.dry_run { Some(&mut print) } else { None };
    let drained = drain_blocking(store.as_ref(), &normalizer, &reactor, &clock, sink)?;
    let (processed, ignored, quarantined) =
        (drained.processed, drained.ignored, drained.quarantined);
    // In a dry run stdout carries only the actions; the summary goes to stderr.
    let say = |line: String| {
        if args.dry_run {
            eprintln!("{line}")
        } else {
            println!("{line}")
        }
    };
    say(format!(
        "replayed {} file(s): {new} new deliveries, {} already stored; processed {processed}, ignored {ignored}, quarantined {quarantined}",
        files.len(),
        files.len() - new
    ));
    if quarantined > 0 {
        say(format!(
            "see `canopy inbox list --quarantined --store {}` for the errors",
            loc
        ));
    }
    if args.dry_run {
        say(format!(
            "{actions} action(s) printed, none performed or queued"
        ));
    }
    Ok(ExitCode::SUCCESS)
}
