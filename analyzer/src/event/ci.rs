//! CI events: a finished job, its measured energy, and a request to run CI again.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;

/// Result of a CI job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiResult {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Cancelled or aborted.
    Cancelled,
    /// Skipped.
    Skipped,
    /// Timed out.
    TimedOut,
    /// Infrastructure error, unstable, or any other non-pass outcome.
    Error,
}

/// A finished CI job (GitHub Actions job/check run, Zuul job, Jenkins build).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiJobEvent {
    /// Job name.
    pub name: String,
    /// CI system (`github-actions`, `zuul`, `jenkins`, or a status context's app).
    pub system: String,
    /// Pipeline (Zuul `check`/`gate`, or the GitHub workflow name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// How long it ran, in seconds.
    pub duration_secs: u64,
    /// Runner label (GitHub) or node label (Zuul).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// The machine or pod it ran on (GitHub's runner name), where the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Outcome.
    pub result: CiResult,
    /// Whether the job votes (false for Zuul's "(non-voting)" jobs).
    pub voting: bool,
    /// PR or change number it ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
    /// Gerrit patchset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Commit it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// Run identifier (GitHub workflow run id, Zuul build uuid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Attempt number (1 for the first run).
    #[serde(default = "one")]
    pub attempt: u32,
    /// When the job started, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<FixedOffset>>,
    /// Link to the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CiJobEvent {
    /// A voting first attempt with its name, CI system, duration and result, and nothing else
    /// known (set the other fields with struct update syntax).
    pub fn new(
        name: impl Into<String>,
        system: impl Into<String>,
        duration_secs: u64,
        result: CiResult,
    ) -> CiJobEvent {
        CiJobEvent {
            name: name.into(),
            system: system.into(),
            pipeline: None,
            duration_secs,
            runner: None,
            host: None,
            result,
            voting: true,
            change: None,
            patchset: None,
            head_sha: None,
            run_id: None,
            attempt: 1,
            started_at: None,
            url: None,
        }
    }

    /// The job's name with its pipeline (`tempest (check)`): runs of the same key are runs of
    /// the same job, for stopping points and per-job indexes.
    pub fn job_key(&self) -> String {
        match &self.pipeline {
            Some(p) if !p.is_empty() => format!("{} ({p})", self.name),
            _ => self.name.clone(),
        }
    }
}

fn one() -> u32 {
    1
}

/// The measured energy of a finished CI job, from the exporter of the runner it ran on (Kepler,
/// Scaphandre, RAPL via Prometheus), or why there is none; recorded beside the job, whose
/// estimate stays what is shown when the measurement failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyMeasuredEvent {
    /// Id of the job's `ci_job_finished` event (same repository).
    pub job_id: String,
    /// Job name.
    pub name: String,
    /// The runner profile (configuration key) whose source was queried.
    pub source: String,
    /// PR or change number of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
    /// Gerrit patchset of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Commit the job ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// 1 for the first try, 2 for the retry.
    pub attempt: u32,
    /// What came of it.
    pub outcome: MeasureOutcome,
}

/// The result of measuring a job's energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MeasureOutcome {
    /// Measured.
    Measured {
        /// Energy, joules.
        joules: f64,
        /// Series summed.
        series: usize,
        /// Share of the job's window the samples cover.
        coverage: f64,
    },
    /// No usable measurement: the estimate stands.
    Unmeasured {
        /// Why, in words.
        reason: String,
        /// When the one retry is due, if one will be made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
}

impl MeasureOutcome {
    /// Energy in kWh when measured.
    pub fn kwh(&self) -> Option<f64> {
        match self {
            MeasureOutcome::Measured { joules, .. } => Some(joules / 3.6e6),
            MeasureOutcome::Unmeasured { .. } => None,
        }
    }
}

/// A request to run CI again (GitHub re-run, Gerrit `recheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerunEvent {
    /// PR or change number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
    /// Gerrit patchset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Job or check name, when a single job is rerun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Run identifier to rerun (GitHub workflow run id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Commit the rerun is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// Who asked.
    pub requested_by: Actor,
}
