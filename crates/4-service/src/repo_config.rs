//! Per-repository settings: `.github/canopy.toml` in the repository, else `canopy.toml` in the
//! organisation's `.github` repository, else the server's `[defaults]`. Unknown keys and bad
//! values are errors that name the key; a refresh that fails keeps the last good settings.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// Settings of one repository (or an organisation's or the server's defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepoConfig {
    /// The sticky comment.
    pub comment: CommentConfig,
    /// Who counts as a maintainer for commands.
    pub maintainers: MaintainersConfig,
    /// CI energy and carbon.
    pub carbon: CarbonConfig,
    /// Runner or node profiles by label (self-hosted runners, Zuul node labels).
    pub runners: BTreeMap<String, RunnerConfig>,
    /// Which reruns may be deferred.
    pub reruns: RerunConfig,
    /// Privacy thresholds.
    pub privacy: PrivacyConfig,
    /// The weekly maintainer digest.
    pub digest: DigestSchedule,
}

/// `[digest]`: when the weekly digest is made and where it is posted on the platform (the
/// server's `[digest]` adds file, webhook and email channels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestSchedule {
    /// Cron expression (5 fields, e.g. `0 9 * * MON`); empty means no scheduled digest.
    /// Default empty.
    pub schedule: String,
    /// IANA time zone the schedule is read in. Default `UTC`.
    pub timezone: String,
    /// Open a weekly issue with the digest (GitHub repositories). Default true.
    pub issue: bool,
    /// Labels of that issue. Default `["canopy-digest"]`.
    pub labels: Vec<String>,
    /// Repository the issue is opened in. Default: the repository itself; an organisation's
    /// digest (`[digest.orgs.<org>]` in the server file) needs one, e.g. `acme/.github`.
    pub issue_repo: Option<String>,
    /// Post each digest as a comment on this issue (e.g. a pinned "Weekly digest" issue)
    /// instead of opening a new issue every week. Default none.
    pub pinned_issue: Option<u64>,
}

impl Default for DigestSchedule {
    fn default() -> Self {
        DigestSchedule {
            schedule: String::new(),
            timezone: "UTC".into(),
            issue: true,
            labels: vec!["canopy-digest".into()],
            issue_repo: None,
            pinned_issue: None,
        }
    }
}

impl DigestSchedule {
    /// The parsed schedule and time zone, `Ok(None)` when no schedule is set.
    pub fn parsed(&self) -> Result<Option<(croner::Cron, chrono_tz::Tz)>, ConfigError> {
        if self.schedule.trim().is_empty() {
            return Ok(None);
        }
        let cron: croner::Cron = self.schedule.trim().parse().map_err(|e| {
            ConfigError(format!(
                "digest.schedule: {:?} is not a cron expression ({e}); e.g. \"0 9 * * MON\"",
                self.schedule
            ))
        })?;
        let tz: chrono_tz::Tz = self.timezone.trim().parse().map_err(|_| {
            ConfigError(format!(
                "digest.timezone: {:?} is not an IANA time zone like Europe/Berlin",
                self.timezone
            ))
        })?;
        Ok(Some((cron, tz)))
    }
}

/// `[comment]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommentConfig {
    /// Sections shown: any of `ttm`, `energy`, `rerun`, `status`. Default: all.
    pub sections: Vec<String>,
    /// UTC hours during which Canopy does not create or edit comments, e.g. `"22:00-07:00"`;
    /// updates wait until the end of the quiet period. Default: none.
    pub quiet_hours: Option<String>,
}

impl Default for CommentConfig {
    fn default() -> Self {
        CommentConfig {
            sections: vec![
                "ttm".into(),
                "energy".into(),
                "rerun".into(),
                "status".into(),
            ],
            quiet_hours: None,
        }
    }
}

/// `[maintainers]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintainersConfig {
    /// GitHub `author_association` values treated as maintainers. Default: OWNER, MEMBER,
    /// COLLABORATOR.
    pub associations: Vec<String>,
    /// Extra maintainers by login (GitHub) or username (Gerrit).
    pub users: Vec<String>,
}

impl Default for MaintainersConfig {
    fn default() -> Self {
        MaintainersConfig {
            associations: vec!["OWNER".into(), "MEMBER".into(), "COLLABORATOR".into()],
            users: vec![],
        }
    }
}

/// `[carbon]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarbonConfig {
    /// Grid region for intensity data (a name the server's carbon provider knows). Default:
    /// none, which uses `intensity_g_per_kwh`.
    pub region: Option<String>,
    /// Intensity used when no provider data applies, gCO2e/kWh. Default 475, the world average
    /// (IEA 2019, as used by CodeCarbon).
    pub intensity_g_per_kwh: f64,
    /// CPU utilisation assumed for jobs, 0–1. Default 0.5.
    pub utilisation: f64,
}

impl Default for CarbonConfig {
    fn default() -> Self {
        CarbonConfig {
            region: None,
            intensity_g_per_kwh: 475.0,
            utilisation: canopy_models::energy::DEFAULT_UTILISATION,
        }
    }
}

/// `[runners.<label>]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, GB.
    pub memory_gb: f64,
    /// Power per core at full load (TDP per core), W. Default 12 (Green Algorithms, unknown CPU).
    #[serde(default = "default_watts_per_core")]
    pub watts_per_core: f64,
    /// Data-centre PUE. Default 1.56 (Green Algorithms, unknown data centre).
    #[serde(default = "default_pue")]
    pub pue: f64,
}

fn default_watts_per_core() -> f64 {
    canopy_models::energy::GA_DEFAULT_W_PER_CORE
}

fn default_pue() -> f64 {
    canopy_models::energy::GA_UNKNOWN_PUE
}

/// `[reruns]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RerunConfig {
    /// Defer non-critical reruns without asking. Default false.
    pub auto_defer: bool,
    /// Default deadline for `/canopy defer` without `by`, e.g. `"12h"`. Default 12h.
    pub default_deadline: String,
    /// Jobs that are always critical (exact names or `*` globs).
    pub critical_jobs: Vec<String>,
    /// Pipelines whose jobs are critical. Default `["gate"]`.
    pub critical_pipelines: Vec<String>,
    /// Branches whose changes are critical (globs). Default `["release/*", "stable/*"]`.
    pub critical_branches: Vec<String>,
    /// Labels that make a change critical. Default `["security"]`.
    pub critical_labels: Vec<String>,
    /// Smallest saving (percent of the rerun's emissions) worth suggesting a later window.
    /// Default 10.
    pub min_savings_pct: f64,
}

impl Default for RerunConfig {
    fn default() -> Self {
        RerunConfig {
            auto_defer: false,
            default_deadline: "12h".into(),
            critical_jobs: vec![],
            critical_pipelines: vec!["gate".into()],
            critical_branches: vec!["release/*".into(), "stable/*".into()],
            critical_labels: vec!["security".into()],
            min_savings_pct: 10.0,
        }
    }
}

/// `[privacy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Smallest group shown in aggregates. Default 5; never below 2.
    pub k: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig { k: 5 }
    }
}

/// Known section names.
pub const SECTIONS: [&str; 4] = ["ttm", "energy", "rerun", "status"];

/// Why a settings file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl RepoConfig {
    /// Parses and validates a settings file; errors name the key.
    pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
        let cfg: RepoConfig =
            toml::from_str(text).map_err(|e| ConfigError(e.to_string().trim().to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        for s in &self.comment.sections {
            if !SECTIONS.contains(&s.as_str()) {
                return err(format!(
                    "comment.sections: unknown section {s:?}; known: {}",
                    SECTIONS.join(", ")
                ));
            }
        }
        if let Some(q) = &self.comment.quiet_hours
            && parse_quiet_hours(q).is_none()
        {
            return err(format!(
                "comment.quiet_hours: {q:?} is not HH:MM-HH:MM (UTC)"
            ));
        }
        let c = &self.carbon;
        if !(0.0..=2000.0).contains(&c.intensity_g_per_kwh) {
            return err(format!(
                "carbon.intensity_g_per_kwh: {} is outside 0–2000",
                c.intensity_g_per_kwh
            ));
        }
        if !(0.0..=1.0).contains(&c.utilisation) {
            return err(format!(
                "carbon.utilisation: {} is outside 0–1",
                c.utilisation
            ));
        }
        for (label, r) in &self.runners {
            if r.vcpus == 0
                || r.memory_gb < 0.0
                || r.watts_per_core <= 0.0
                || !(1.0..=3.0).contains(&r.pue)
            {
                return err(format!(
                    "runners.{label}: vcpus must be positive, memory_gb ≥ 0, watts_per_core > 0, pue within 1–3"
                ));
            }
        }
        if crate::bot_command::parse_deadline(
            &self.reruns.default_deadline,
            chrono::DateTime::UNIX_EPOCH,
        )
        .is_err()
        {
            return err(format!(
                "reruns.default_deadline: {:?} is not a duration like 12h",
                self.reruns.default_deadline
            ));
        }
        if self.privacy.k < 2 {
            return err(format!(
                "privacy.k: {} is below the minimum of 2",
                self.privacy.k
            ));
        }
        self.digest.parsed()?;
        Ok(())
    }

    /// Whether a section is shown.
    pub fn section_on(&self, name: &str) -> bool {
        self.comment.sections.iter().any(|s| s == name)
    }
}

/// Parses `HH:MM-HH:MM` into (start, end) UTC times; the period may wrap past midnight.
pub fn parse_quiet_hours(s: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = s.split_once('-')?;
    Some((
        NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?,
        NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?,
    ))
}

/// Settings of every repository, refreshed in the background; the reactor only reads them.
#[derive(Debug, Default)]
pub struct RepoConfigs {
    defaults: std::sync::RwLock<RepoConfig>,
    per_repo: std::sync::RwLock<std::collections::HashMap<String, RepoConfig>>,
}

impl RepoConfigs {
    /// Settings with the server's defaults only.
    pub fn with_defaults(defaults: RepoConfig) -> RepoConfigs {
        RepoConfigs {
            defaults: std::sync::RwLock::new(defaults),
            per_repo: std::sync::RwLock::default(),
        }
    }

    /// The settings in force for a repository.
    pub fn get(&self, repo: &str) -> RepoConfig {
        if let Ok(m) = self.per_repo.read()
            && let Some(c) = m.get(repo)
        {
            return c.clone();
        }
        self.defaults.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Replaces a repository's settings (after a successful refresh).
    pub fn set(&self, repo: &str, cfg: RepoConfig) {
        if let Ok(mut m) = self.per_repo.write() {
            m.insert(repo.to_string(), cfg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_field_naming_errors() {
        assert_eq!(RepoConfig::parse("").unwrap(), RepoConfig::default());
        let c = RepoConfig::parse("[comment]\nsections = [\"energy\"]\n[privacy]\nk = 7\n[runners.ubuntu-jammy-8]\nvcpus = 8\nmemory_gb = 8.0\n").unwrap();
        assert!(c.section_on("energy") && !c.section_on("ttm"));
        assert_eq!(c.runners["ubuntu-jammy-8"].pue, 1.56);
        for (text, key) in [
            ("[comment]\nsectionz = []\n", "sectionz"),
            ("[comment]\nsections = [\"weather\"]\n", "comment.sections"),
            ("[comment]\nquiet_hours = \"late\"\n", "comment.quiet_hours"),
            ("[privacy]\nk = 1\n", "privacy.k"),
            ("[digest]\nschedule = \"every monday\"\n", "digest.schedule"),
            (
                "[digest]\nschedule = \"0 9 * * MON\"\ntimezone = \"Mars/Olympus\"\n",
                "digest.timezone",
            ),
            ("[carbon]\nutilisation = 1.5\n", "carbon.utilisation"),
            (
                "[reruns]\ndefault_deadline = \"soon\"\n",
                "reruns.default_deadline",
            ),
            ("[runners.x]\nvcpus = 0\nmemory_gb = 1.0\n", "runners.x"),
            ("[privacy]\nk = \"five\"\n", "k"),
        ] {
            let e = RepoConfig::parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text:?} → {e}");
        }
        assert!(parse_quiet_hours("22:00-07:00").is_some());
    }
}
