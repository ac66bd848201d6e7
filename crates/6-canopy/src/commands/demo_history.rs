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
use canopy_core::{Delivery, ManualClock, WriteOp};
use canopy_synth::Org;

use canopy_service::config::Config;

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

/// Stores every webhook delivery of `org` in the inbox of the store at `store_dir` and processes
/// them with the real normaliser and reactor, the clock standing at the end of the history.
/// Before the last moment's deliveries (the open PR's rerun request) the time-to-merge models
/// are trained on the history so far, as `canopy serve` does on its schedule, so the reactor
/// predicts with them.
pub fn replay_webhooks(org: &Org, store_dir: &Path, loaded: &mut Loaded) -> anyhow::Result<()> {
    let store = wiring::open_store(store_dir)?;
    let (earlier, last): (Vec<_>, Vec<_>) = org
        .deliveries()
        .into_iter()
        .map(|d| Delivery {
            platform: Platform::Github,
            id: d.id,
            event: d.event.to_string(),
            received_at: d.at,
            body: d.body,
        })
        .partition(|d| d.received_at < org.now);
    loaded.deliveries = earlier.len() + last.len();
    let cfg = Config::default();
    let normalizer = wiring::normalizer(&cfg);
    let clock = ManualClock::new(org.now);
    for (i, batch) in [earlier, last].into_iter().enumerate() {
        if i == 1 {
            for t in canopy_service::ttm::train_all(store.as_ref(), TTM_MIN_REPO, org.now)? {
                loaded.trained.push(match t.outcome {
                    Ok(m) => format!("{}: trained on {} merged changes", t.repo, m.n_merged),
                    Err(e) => format!("{}: not trained: {e}", t.repo),
                });
            }
        }
        store.apply_writes(batch.into_iter().map(WriteOp::Receive).collect())?;
        // A fresh reactor, as after a restart: it reads the models trained just now.
        let (reactor, _) = wiring::reactor(&cfg);
        let drained = canopy_server::pool::drain_blocking(
            store.as_ref(),
            &normalizer,
            &reactor,
            &clock,
            None,
        )?;
        loaded.processed += drained.processed;
        loaded.ignored += drained.ignored;
        loaded.quarantined += drained.quarantined;
    }
    Ok(())
}

/// What Canopy would post on `target` (`owner/name#n`): the actions waiting in the outbox of
/// the store at `store_dir` (nothing is sent without credentials), with their texts quoted.
pub fn outbox_for(store_dir: &Path, target: &str) -> anyhow::Result<String> {
    let store = wiring::open_store(store_dir)?;
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
