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
pub mod measured;
pub mod normalize;

/// A response of a platform's API: `Ok` for a 2xx status, otherwise its error as an
/// [`canopy_core::ExecError`], classified by its status and rate-limit headers (the same for
/// GitHub and Gerrit).
pub(crate) fn check_status(
    what: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), canopy_core::ExecError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Err(canopy_core::ExecError::from_status(
        what,
        status,
        header,
        &String::from_utf8_lossy(body),
        now,
    ))
}

/// Percent-encodes a path segment or query value (everything but RFC 3986's unreserved
/// characters), the same for GitHub and Gerrit.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("widgets/core"), "widgets%2Fcore");
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("dep s:é"), "dep%20s%3A%C3%A9");
    }
}
