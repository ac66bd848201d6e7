//! The demo's bundled team history: the organisation `canopy-synth` generates (fifteen people,
//! two repositories, nine months), loaded the way real data arrives. Each repository's git
//! history is rebuilt with `git fast-import` and read by the git adapter; every webhook
//! delivery goes through the store's inbox, the real normaliser and the real reactor, with the
//! clock at the end of the history.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use canopy_analyzer::Platform;
use canopy_core::{Delivery, WriteOp};
use canopy_policies::window::Series;
use canopy_service::carbon::RegionData;
use canopy_synth::Org;
use canopy_synth::grid::Grid;

use canopy_service::config::Config;

use super::demo_progress::Progress;
use crate::wiring;

/// What loading the history did.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Bare repositories rebuilt from the generated git histories: (name, path).
    pub repos: Vec<(String, PathBuf)>,
    /// Deliveries stored in the inbox.
    pub deliveries: usize,
    /// Deliveries turned into events.
    pub processed: u64,
    /// Deliveries deliberately ignored.
    pub ignored: u64,
    /// Deliveries the normaliser could not read.
    pub quarantined: u64,
    /// What training the time-to-merge models did, per repository.
    pub trained: Vec<String>,
}

/// Rebuilds repository `index` of `org` as a bare repository under `dir` with `git fast-import`.
pub fn rebuild_repository(org: &Org, index: usize, dir: &Path) -> anyhow::Result<PathBuf> {
    let name = &org.repos[index].full_name;
    let path = dir.join(format!("{}.git", name.replace('/', "-")));
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(&path)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running git (the demo rebuilds its repositories with `git fast-import`; install git)")
    };
    let init = git(&["init", "--quiet", "--bare", "--initial-branch=main"])?.wait_with_output()?;
    anyhow::ensure!(
        init.status.success(),
        "git init failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut child = git(&["fast-import", "--quiet"])?;
    child
        .stdin
        .take()
        .context("git fast-import's input")?
        .write_all(&org.fast_import(index))
        .context("writing the history to git fast-import")?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "git fast-import failed for {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(path)
}

/// Fewest merged changes for a repository's own time-to-merge model (`canopy ttm train`'s default).
const TTM_MIN_REPO: usize = 200;

/// The demo's server configuration: the defaults, with the repositories' `carbon.region` set to
/// the bundled grid's region when there is one.
pub fn demo_config(grid: Option<&Grid>) -> Config {
    let mut cfg = Config::default();
    cfg.defaults.carbon.region = grid.map(|g| g.region.to_string());
    cfg
}

/// The bundled grid as the intensity data of its region, fetched at `now`.
pub fn region_data(grid: &Grid, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<RegionData> {
    Ok(RegionData {
        series: Series::new(grid.points.clone())
            .map_err(|e| anyhow::anyhow!("the bundled grid series: {e}"))?,
        source: grid.source.clone(),
        fetched_at: now,
        stale: None,
    })
}

/// Stores `batch` in the inbox (one transaction) and processes it with the real normaliser
/// and a fresh reactor (as after a restart: it reads the models trained so far) whose grid
/// cache holds `grid`, the clock standing at `now`: each repository's deliveries in arrival
/// order, the repositories side by side on the machine's cores (see `demo_lanes`).
fn drain(
    store: &dyn canopy_store::Store,
    batch: Vec<Delivery>,
    grid: Option<&Grid>,
    now: chrono::DateTime<chrono::Utc>,
    loaded: &mut Loaded,
) -> anyhow::Result<()> {
    let cfg = demo_config(grid);
    let normalizer = wiring::normalizer(&cfg);
    loaded.deliveries += batch.len();
    store.apply_writes(batch.iter().cloned().map(WriteOp::Receive).collect())?;
    let (reactor, _) = wiring::reactor(&cfg);
    if let Some(g) = grid {
        reactor.grid.set(g.region, region_data(g, now)?);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let drained = super::demo_lanes::process(store, &batch, &normalizer, &reactor, now, threads)?;
    // Nothing may be left behind (a delivery the lanes did not see, or one received twice).
    let left = store.queue_depth()?;
    anyhow::ensure!(left == 0, "{left} demo deliveries were left unprocessed");
    loaded.processed += drained.processed;
    loaded.ignored += drained.ignored;
    loaded.quarantined += drained.quarantined;
    Ok(())
}

fn delivery(d: canopy_synth::Delivery) -> Delivery {
    Delivery {
        platform: Platform::Github,
        id: d.id,
        event: d.event.to_string(),
        received_at: d.at,
        body: d.body,
    }
}

/// Stores every webhook delivery of `org` in the inbox of `store` and processes
/// them with the real normaliser and reactor, the clock standing at the end of the history.
/// Before the last moment's deliveries (the open PR's rerun request) the time-to-merge models
/// are trained on the history so far, as `canopy serve` does on its schedule, so the reactor
/// predicts with them.
pub fn replay_webhooks(
    org: &Org,
    store: &dyn canopy_store::Store,
    grid: Option<&Grid>,
    loaded: &mut Loaded,
    p: &mut Progress<'_>,
) -> anyhow::Result<()> {
    let (earlier, last): (Vec<_>, Vec<_>) = org
        .deliveries()
        .into_iter()
        .map(delivery)
        .partition(|d| d.received_at < org.now);
    p.done(&format!(
        "generated {} webhook deliveries",
        earlier.len() + last.len()
    ));
    drain(store, earlier, grid, org.now, loaded)?;
    p.done(&format!(
        "processed {} deliveries (inbox, normaliser, reactor)",
        loaded.deliveries
    ));
    for t in canopy_service::ttm::train_all(store, TTM_MIN_REPO, org.now)? {
        loaded.trained.push(match t.outcome {
            Ok(m) => format!("{}: trained on {} merged changes", t.repo, m.n_merged),
            Err(e) => format!("{}: not trained: {e}", t.repo),
        });
    }
    p.done("trained the time-to-merge models");
    drain(store, last, grid, org.now, loaded)?;
    p.done("processed the rerun request");
    Ok(())
}

/// Delivers one more webhook of the demo (a comment after the end of the history) and
/// processes it with the clock at its time.
pub fn deliver(
    store: &dyn canopy_store::Store,
    d: canopy_synth::Delivery,
    grid: Option<&Grid>,
    loaded: &mut Loaded,
) -> anyhow::Result<()> {
    let at = d.at;
    drain(store, vec![delivery(d)], grid, at, loaded)
}

/// What Canopy would post on `target` (`owner/name#n`): the actions waiting in the outbox of
/// `store` (nothing is sent without credentials), with their texts quoted.
pub fn outbox_for(store: &dyn canopy_store::Store, target: &str) -> anyhow::Result<String> {
    let mut all = 0usize;
    let mut mine = Vec::new();
    store.scan_outbox(false, &mut |i| {
        all += 1;
        if i.action.target() == target {
            mine.push(i);
        }
        std::ops::ControlFlow::Continue(())
    })?;
    let mut out = format!(
        "With no credentials nothing is sent: {all} actions over the whole history wait in the durable outbox (`canopy outbox list`); {} of them are for {target}.\n",
        mine.len()
    );
    for i in &mine {
        out.push_str(&format!(
            "\n{} on {}:\n\n",
            i.action.name(),
            i.action.target()
        ));
        for line in i.action.body().unwrap_or("").lines() {
            out.push_str(&format!("> {line}\n"));
        }
    }
    Ok(out)
}
