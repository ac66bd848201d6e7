//! Which CI reruns are critical (run at once) and which may wait for a greener window; every
//! decision carries its reason, which the comment shows.

use serde::Serialize;

/// What is known about a rerun request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RerunFacts {
    /// Jobs involved (names), when known.
    pub jobs: Vec<String>,
    /// Pipeline (Zuul: check, gate, periodic…; GitHub: the workflow name).
    pub pipeline: Option<String>,
    /// Whether every job involved is non-voting (Zuul) or not a required check (GitHub).
    pub all_non_voting: bool,
    /// Whether any job involved is a required check.
    pub required: bool,
    /// Target branch of the change.
    pub branch: Option<String>,
    /// Labels (GitHub) or hashtags/topics (Gerrit) of the change.
    pub labels: Vec<String>,
    /// Draft or work in progress.
    pub draft: bool,
    /// The change is in a merge queue.
    pub in_merge_queue: bool,
    /// Every job involved touches documentation only.
    pub docs_only: bool,
    /// Every job involved already passed on the same commit.
    pub passed_on_same_commit: bool,
}

/// A repository's rules (the `[reruns]` settings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RerunRules {
    /// Jobs that are always critical (exact names or `*` globs).
    pub critical_jobs: Vec<String>,
    /// Pipelines whose jobs are critical.
    pub critical_pipelines: Vec<String>,
    /// Branches whose changes are critical (globs).
    pub critical_branches: Vec<String>,
    /// Labels that make a change critical.
    pub critical_labels: Vec<String>,
}

/// The decision and its reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criticality {
    /// Whether the rerun must run at once.
    pub critical: bool,
    /// Why, e.g. "non-voting job".
    pub reason: String,
}

fn decide(critical: bool, reason: impl Into<String>) -> Criticality {
    Criticality {
        critical,
        reason: reason.into(),
    }
}

/// Classifies a rerun. Critical rules win over non-critical ones; a rerun that matches neither
/// is critical, because someone may be waiting for it to merge.
pub fn classify(f: &RerunFacts, rules: &RerunRules) -> Criticality {
    if let Some(job) = f
        .jobs
        .iter()
        .find(|j| rules.critical_jobs.iter().any(|g| glob(g, j)))
    {
        return decide(true, format!("{job} is configured as critical"));
    }
    if let Some(p) = &f.pipeline
        && rules
            .critical_pipelines
            .iter()
            .any(|c| c.eq_ignore_ascii_case(p))
    {
        return decide(true, format!("{p} pipeline"));
    }
    if f.required {
        return decide(true, "required check");
    }
    if let Some(b) = &f.branch
        && rules.critical_branches.iter().any(|g| glob(g, b))
    {
        return decide(true, format!("targets release branch {b}"));
    }
    if let Some(l) = f.labels.iter().find(|l| {
        rules
            .critical_labels
            .iter()
            .any(|c| c.eq_ignore_ascii_case(l))
    }) {
        return decide(true, format!("labelled {l}"));
    }
    if f.in_merge_queue {
        return decide(true, "change is in the merge queue");
    }
    if f.all_non_voting && !f.jobs.is_empty() {
        return decide(false, "non-voting job");
    }
    if f.pipeline
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("periodic") || p.starts_with("periodic"))
    {
        return decide(false, "periodic job");
    }
    if f.docs_only {
        return decide(false, "documentation-only job");
    }
    if f.draft {
        return decide(false, "draft or work-in-progress change");
    }
    if f.passed_on_same_commit {
        return decide(false, "the job already passed on this commit");
    }
    decide(
        true,
        "a voting job on an open change; someone may be waiting for it",
    )
}

/// Matches `*` wildcards (any run of characters), case-sensitively.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RerunRules {
        RerunRules {
            critical_jobs: vec!["security-*".into()],
            critical_pipelines: vec!["gate".into()],
            critical_branches: vec!["release/*".into(), "stable/*".into()],
            critical_labels: vec!["security".into()],
        }
    }

    fn facts() -> RerunFacts {
        RerunFacts {
            jobs: vec!["docs-build".into()],
            pipeline: Some("check".into()),
            all_non_voting: true,
            branch: Some("main".into()),
            ..RerunFacts::default()
        }
    }

    #[test]
    fn every_rule_decides_with_its_reason() {
        let r = rules();
        assert_eq!(classify(&facts(), &r), decide(false, "non-voting job"));
        let cases: Vec<(RerunFacts, bool, &str)> = vec![
            (
                RerunFacts {
                    pipeline: Some("gate".into()),
                    ..facts()
                },
                true,
                "gate pipeline",
            ),
            (
                RerunFacts {
                    jobs: vec!["security-scan".into()],
                    ..facts()
                },
                true,
                "security-scan is configured as critical",
            ),
            (
                RerunFacts {
                    required: true,
                    all_non_voting: false,
                    ..facts()
                },
                true,
                "required check",
            ),
            (
                RerunFacts {
                    branch: Some("stable/2026.1".into()),
                    ..facts()
                },
                true,
                "targets release branch stable/2026.1",
            ),
            (
                RerunFacts {
                    labels: vec!["Security".into()],
                    ..facts()
                },
                true,
                "labelled Security",
            ),
            (
                RerunFacts {
                    in_merge_queue: true,
                    ..facts()
                },
                true,
                "change is in the merge queue",
            ),
            (
                RerunFacts {
                    all_non_voting: false,
                    pipeline: Some("periodic-weekly".into()),
                    ..facts()
                },
                false,
                "periodic job",
            ),
            (
                RerunFacts {
                    all_non_voting: false,
                    docs_only: true,
                    ..facts()
                },
                false,
                "documentation-only job",
            ),
            (
                RerunFacts {
                    all_non_voting: false,
                    draft: true,
                    ..facts()
                },
                false,
                "draft or work-in-progress change",
            ),
            (
                RerunFacts {
                    all_non_voting: false,
                    passed_on_same_commit: true,
                    ..facts()
                },
                false,
                "the job already passed on this commit",
            ),
            (
                RerunFacts {
                    all_non_voting: false,
                    ..facts()
                },
                true,
                "a voting job on an open change; someone may be waiting for it",
            ),
        ];
        for (f, critical, reason) in cases {
            assert_eq!(classify(&f, &r), decide(critical, reason), "{f:?}");
        }
    }

    #[test]
    fn globs_match_stars_anywhere() {
        assert!(glob("release/*", "release/1.2"));
        assert!(!glob("release/*", "main"));
        assert!(glob("*-docs-*", "tox-docs-py3"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
        assert!(glob("a*b*c", "aXXbYYc") && !glob("a*b*c", "aXXcYYb"));
    }
}
