//! Layer 3, the adapters between the platforms and Canopy's events and actions. Inbound: the
//! GitHub and Gerrit webhook normalisers (one typed enum of GitHub events, Zuul's reports
//! parsed from Gerrit comments) turn deliveries into events, the git reader turns a local
//! history into commit events, and backfill imports history through the APIs. Outbound: the
//! GitHub (octocrab) and Gerrit REST clients perform actions and report failures as
//! [`canopy_core::ExecError`], classified for the outbox's retries. Writes go through the
//! store traits; nothing here decides what to do — that is the service layer's job.
#![forbid(unsafe_code)]

pub mod backfill;
pub mod gerrit;
pub mod git;
pub mod github;
pub mod normalize;

/// An error response of a platform's API as an [`canopy_core::ExecError`], classified by its
/// status and rate-limit headers (the same for GitHub and Gerrit).
pub(crate) fn status_error(
    what: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> canopy_core::ExecError {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    canopy_core::ExecError::from_status(what, status, header, &String::from_utf8_lossy(body), now)
}
