//! Zuul's report comments on Gerrit, parsed into jobs:
//!
//! ```text
//! Patch Set 3: Verified-1
//!
//! Build failed (check pipeline).  For information on how to proceed, see ...
//!
//! - openstack-tox-pep8 https://zuul.opendev.org/t/openstack/build/5d1c : SUCCESS in 3m 21s
//! - openstack-tox-py38 https://zuul.opendev.org/t/openstack/build/9e2f : FAILURE in 12m 04s
//! - zuul-build-image http://logs/f7490be/ : SUCCESS in 29m 22s (non-voting)
//! ```
//!
//! Header: `Build <word> (<pipeline> pipeline).`, or `Build <word>.`; one line per job:
//! `- <job> [<url>] : <RESULT>[ in [<N>h ][<N>m ][<N>s]][ (non-voting)]`.

use canopy_analyzer::event::CiResult;

/// A whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `succeeded`, `failed`, ...
    pub outcome: String,
    /// Pipeline (`check`, `gate`, ...), when the header names it.
    pub pipeline: Option<String>,
    /// One entry per job line.
    pub jobs: Vec<Job>,
}

/// One job line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Job name.
    pub name: String,
    /// Link to the build or its logs.
    pub url: Option<String>,
    /// Result word as written (`SUCCESS`, `POST_FAILURE`, ...).
    pub result: String,
    /// Duration in seconds, when given.
    pub duration_secs: Option<u64>,
    /// False for `(non-voting)` jobs.
    pub voting: bool,
}

impl Job {
    /// The result as a Canopy CI result.
    pub fn ci_result(&self) -> CiResult {
        match self.result.as_str() {
            "SUCCESS" => CiResult::Success,
            "FAILURE" | "POST_FAILURE" => CiResult::Failure,
            "TIMED_OUT" => CiResult::TimedOut,
            "SKIPPED" => CiResult::Skipped,
            "ABORTED" | "CANCELED" | "CANCELLED" | "DEQUEUED" => CiResult::Cancelled,
            _ => CiResult::Error,
        }
    }

    /// The build id: the last path segment of a `/build/<id>` link.
    pub fn build_id(&self) -> Option<String> {
        let url = self.url.as_deref()?;
        let rest = url.split("/build/").nth(1)?;
        let id = rest.split(['/', '?', '#']).next()?;
        (!id.is_empty()).then(|| id.to_string())
    }
}

/// Parses a Zuul report; `None` when the text is not one.
pub fn parse(message: &str) -> Option<Report> {
    let mut lines = message.lines().map(str::trim);
    let (outcome, pipeline) = lines.by_ref().find_map(parse_header)?;
    let jobs = lines
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(parse_job)
        .collect::<Vec<_>>();
    Some(Report {
        outcome,
        pipeline,
        jobs,
    })
}

fn parse_header(line: &str) -> Option<(String, Option<String>)> {
    let rest = line.strip_prefix("Build ")?;
    let word_end = rest.find(|c: char| !c.is_ascii_alphabetic())?;
    let word = &rest[..word_end];
    if word.is_empty() {
        return None;
    }
    let after = &rest[word_end..];
    if let Some(p) = after.strip_prefix(" (")
        && let Some(end) = p.find(" pipeline).")
    {
        let pipeline = &p[..end];
        if !pipeline.is_empty() && !pipeline.contains(char::is_whitespace) {
            return Some((word.to_string(), Some(pipeline.to_string())));
        }
    }
    after.starts_with('.').then(|| (word.to_string(), None))
}

fn parse_job(line: &str) -> Option<Job> {
    let (left, right) = line.rsplit_once(" : ")?;
    let mut parts = left.split_whitespace();
    let name = parts.next()?.to_string();
    let url = parts.next().map(str::to_string);
    let mut right = right.trim();
    let voting = match right.strip_suffix("(non-voting)") {
        Some(r) => {
            right = r.trim_end();
            false
        }
        None => true,
    };
    let (result, duration) = match right.split_once(" in ") {
        Some((r, d)) => (r.trim(), parse_duration(d.trim())),
        None => (right, None),
    };
    if result.is_empty() || !result.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        return None;
    }
    Some(Job {
        name,
        url,
        result: result.to_string(),
        duration_secs: duration,
        voting,
    })
}

/// Parses `1h 02m 03s`, `3m 21s`, `45s`.
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    for part in s.split_whitespace() {
        let (num, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit())?);
        let n: u64 = num.parse().ok()?;
        let secs = match unit {
            "h" => n.checked_mul(3600)?,
            "m" => n.checked_mul(60)?,
            "s" => n,
            _ => return None,
        };
        total = total.checked_add(secs)?;
        any = true;
    }
    any.then_some(total)
}

/// Whether a (human) comment asks Zuul to run the checks again: a line that is `recheck`,
/// possibly followed by a reason, as OpenStack's contributors write it.
pub fn is_recheck(comment: &str) -> bool {
    comment.lines().map(str::trim).any(|l| {
        let lower = l.to_ascii_lowercase();
        lower == "recheck" || lower.starts_with("recheck ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Patch Set 3: Verified-1\n\nBuild failed (check pipeline).  For information on how to proceed, see https://docs.opendev.org/\n\n- openstack-tox-pep8 https://zuul.opendev.org/t/openstack/build/5d1c0a : SUCCESS in 3m 21s\n- openstack-tox-py38 https://zuul.opendev.org/t/openstack/build/9e2f11 : FAILURE in 12m 04s\n- zuul-build-image http://logs/f7490be/ : SUCCESS in 29m 22s (non-voting)\n- long-job https://zuul.example/build/abc : POST_FAILURE in 1h 02m 03s\n- skipped-job : SKIPPED\n";

    #[test]
    fn parses_header_jobs_durations_and_voting() {
        let r = parse(REPORT).unwrap();
        assert_eq!(r.outcome, "failed");
        assert_eq!(r.pipeline.as_deref(), Some("check"));
        assert_eq!(r.jobs.len(), 5);
        assert_eq!(r.jobs[0].duration_secs, Some(201));
        assert_eq!(r.jobs[0].build_id().as_deref(), Some("5d1c0a"));
        assert_eq!(r.jobs[1].ci_result(), CiResult::Failure);
        assert!(!r.jobs[2].voting);
        assert_eq!(r.jobs[2].duration_secs, Some(29 * 60 + 22));
        assert_eq!(r.jobs[3].duration_secs, Some(3723));
        assert_eq!(r.jobs[3].ci_result(), CiResult::Failure);
        assert_eq!(r.jobs[4].url, None);
        assert_eq!(r.jobs[4].ci_result(), CiResult::Skipped);
    }

    #[test]
    fn header_without_pipeline_and_non_reports() {
        let r = parse("Build succeeded.\n\n- noop : SUCCESS in 0s\n").unwrap();
        assert_eq!(
            (r.outcome.as_str(), r.pipeline.as_deref()),
            ("succeeded", None)
        );
        assert_eq!(r.jobs[0].duration_secs, Some(0));
        assert!(parse("Looks good to me, but someone else must approve").is_none());
        assert!(parse("Build it again please").is_none());
        assert_eq!(parse_duration("3x"), None);
        // Found by fuzzing: absurd values must not overflow.
        assert_eq!(parse_duration("7777777777777777h"), None);
        assert_eq!(parse_duration("18446744073709551615s 1s"), None);
    }

    #[test]
    fn recheck_comments_are_recognised() {
        assert!(is_recheck("Patch Set 2:\n\nrecheck"));
        assert!(is_recheck("recheck bug 12345 (flaky volume test)"));
        assert!(!is_recheck("please do not recheck this yet, it is broken"));
        assert!(!is_recheck("rechecking the numbers"));
    }
}
