//! Keeps per-repository settings fresh: reads `.github/canopy.toml` from each GitHub repository
//! Canopy has seen (else `canopy.toml` in the organisation's `.github` repository, else the
//! server's defaults), validates it, and keeps the last good settings — in memory and in the
//! store, so a restart keeps them too — when a refresh fails or a file is invalid.

use std::sync::Arc;
use std::time::Duration;

use canopy_analyzer::Platform;
use tokio::task::JoinHandle;

use crate::github::client::GitHubClient;
use crate::inbox::tokio_shutdown::Signal;
use crate::react::RepoConfigs;
use crate::repo_config::RepoConfig;
use crate::store::{EventStore, RedbStore};

/// Where a repository's settings came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `.github/canopy.toml` in the repository.
    Repository,
    /// `canopy.toml` in `<owner>/.github`.
    Organisation,
    /// Neither exists: the server's `[defaults]`.
    Defaults,
}

/// The outcome of reading one repository's settings.
#[derive(Debug)]
pub enum Refresh {
    /// Valid settings (or none to read: defaults).
    Loaded(Box<RepoConfig>, Source),
    /// A file exists but is invalid; the message names the file and the key.
    Invalid(String),
}

fn meta_key(repo: &str) -> String {
    format!("repo_config:{repo}")
}

/// Reads a repository's settings through the API.
pub async fn fetch(
    client: &GitHubClient,
    repo: &str,
    defaults: &RepoConfig,
) -> Result<Refresh, crate::outbox::ExecError> {
    if let Some(text) = client.file(repo, ".github/canopy.toml").await? {
        return Ok(match RepoConfig::parse(&text) {
            Ok(c) => Refresh::Loaded(Box::new(c), Source::Repository),
            Err(e) => Refresh::Invalid(format!("{repo}/.github/canopy.toml: {e}")),
        });
    }
    let owner = repo.split('/').next().unwrap_or(repo);
    let org_repo = format!("{owner}/.github");
    if let Some(text) = client.file(&org_repo, "canopy.toml").await? {
        return Ok(match RepoConfig::parse(&text) {
            Ok(c) => Refresh::Loaded(Box::new(c), Source::Organisation),
            Err(e) => Refresh::Invalid(format!("{org_repo}/canopy.toml: {e}")),
        });
    }
    Ok(Refresh::Loaded(
        Box::new(defaults.clone()),
        Source::Defaults,
    ))
}

/// Loads the last good settings saved in the store into the cache (at startup).
pub fn load_saved(store: &RedbStore, configs: &RepoConfigs) {
    let Ok(repos) = store.repos() else { return };
    for repo in repos {
        if let Ok(Some(bytes)) = store.get_meta(&meta_key(&repo))
            && let Ok(cfg) = serde_json::from_slice::<RepoConfig>(&bytes)
        {
            configs.set(&repo, cfg);
        }
    }
}

/// Refreshes every GitHub repository's settings now and then every `interval`.
pub fn start(
    client: Arc<GitHubClient>,
    store: Arc<RedbStore>,
    configs: Arc<RepoConfigs>,
    defaults: RepoConfig,
    interval: Duration,
    mut shutdown: Signal,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let s = store.clone();
            let repos: Vec<String> = tokio::task::spawn_blocking(move || github_repos(&s))
                .await
                .unwrap_or_default();
            for repo in repos {
                match fetch(&client, &repo, &defaults).await {
                    Ok(Refresh::Loaded(cfg, source)) => {
                        tracing::debug!(repo = %repo, ?source, "repository settings loaded");
                        if let Ok(bytes) = serde_json::to_vec(&*cfg) {
                            let s = store.clone();
                            let key = meta_key(&repo);
                            let _ =
                                tokio::task::spawn_blocking(move || s.put_meta(&key, &bytes)).await;
                        }
                        configs.set(&repo, *cfg);
                    }
                    Ok(Refresh::Invalid(message)) => {
                        tracing::warn!(repo = %repo, error = %message, "invalid repository settings; keeping the last good ones");
                    }
                    Err(e) => {
                        tracing::warn!(repo = %repo, error = %e, "cannot read repository settings; keeping the last good ones");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait() => return,
            }
        }
    })
}

/// Repositories with GitHub events.
fn github_repos(store: &RedbStore) -> Vec<String> {
    let Ok(repos) = store.repos() else {
        return Vec::new();
    };
    repos
        .into_iter()
        .filter(|r| {
            let mut github = false;
            let _ = store.scan_repo(r, crate::store::TimeRange::ALL, &mut |e| {
                github = e.platform == Platform::Github;
                std::ops::ControlFlow::Break(())
            });
            github
        })
        .collect()
}
