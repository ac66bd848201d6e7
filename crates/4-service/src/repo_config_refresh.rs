//! Keeps per-repository settings fresh: reads `.github/canopy.toml` from each GitHub repository
//! Canopy has seen (else `canopy.toml` in the organisation's `.github` repository, else the
//! server's defaults), validates it, and keeps the last good settings — in memory and in the
//! store, so a restart keeps them too — when a refresh fails or a file is invalid.

use std::sync::Arc;

use canopy_analyzer::Platform;
use canopy_forge::github::client::GitHubClient;
use canopy_store::{EventStore, Store, StoreError, TimeRange};

use crate::repo_config::{RepoConfig, RepoConfigs};

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
) -> Result<Refresh, canopy_core::ExecError> {
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

/// Loads the last good settings saved in the store into the cache (at startup); saved
/// settings that no longer parse are skipped, a store error is returned.
pub fn load_saved(store: &dyn Store, configs: &RepoConfigs) -> Result<(), StoreError> {
    for repo in store.repos()? {
        if let Some(bytes) = store.get_meta(&meta_key(&repo))? {
            match serde_json::from_slice::<RepoConfig>(&bytes) {
                Ok(cfg) => configs.set(&repo, cfg),
                Err(e) => {
                    tracing::warn!(repo = %repo, error = %e, "saved repository settings are unreadable; using the defaults")
                }
            }
        }
    }
    Ok(())
}

/// Reads every GitHub repository's settings once, keeping the last good ones (in memory and
/// in the store) when a file is invalid or cannot be read.
pub async fn refresh_all(
    client: &GitHubClient,
    store: &Arc<dyn Store>,
    configs: &RepoConfigs,
    defaults: &RepoConfig,
) -> Result<(), StoreError> {
    let s = store.clone();
    let repos = tokio::task::spawn_blocking(move || github_repos(s.as_ref()))
        .await
        .map_err(|e| StoreError::Db(format!("listing repositories: {e}")))??;
    for repo in repos {
        match fetch(client, &repo, defaults).await {
            Ok(Refresh::Loaded(cfg, source)) => {
                tracing::debug!(repo = %repo, ?source, "repository settings loaded");
                let bytes =
                    serde_json::to_vec(&*cfg).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let (s, key) = (store.clone(), meta_key(&repo));
                tokio::task::spawn_blocking(move || s.put_meta(&key, &bytes))
                    .await
                    .map_err(|e| StoreError::Db(format!("saving settings: {e}")))??;
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
    Ok(())
}

/// Repositories with GitHub events.
fn github_repos(store: &dyn EventStore) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for r in store.repos()? {
        let mut github = false;
        store.scan_repo(&r, TimeRange::ALL, &mut |e| {
            github = e.platform == Platform::Github;
            std::ops::ControlFlow::Break(())
        })?;
        if github {
            out.push(r);
        }
    }
    Ok(out)
}
