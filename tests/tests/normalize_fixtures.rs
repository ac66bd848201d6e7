//! Every fixture (real-format GitHub and Gerrit payloads) normalises into the expected events:
//! key fields asserted explicitly, whole results snapshot-tested.

use canopy_analyzer::event::{ChangeAction, CiResult, ReviewVerdict};
use canopy_analyzer::{Event, EventKind};
use canopy_core::Normalized;
use canopy_e2e::workspace_root;
use canopy_forge::gerrit::normalize::{GerritNormalizeConfig, normalize as gerrit};
use canopy_forge::github::normalize::normalize as github;
use chrono::{DateTime, Utc};

fn received() -> DateTime<Utc> {
    "2026-11-10T12:00:00Z".parse().unwrap()
}

use canopy_e2e::fixture_bytes as fixture;

fn gh(name: &str) -> Normalized {
    let event = name.split('.').next().unwrap();
    github(event, "delivery-1", &fixture("github", name), received())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gerrit_cfg() -> GerritNormalizeConfig {
    GerritNormalizeConfig {
        host: "review.example.org".into(),
        ci_accounts: vec!["zuul".into()],
    }
}

fn gr(name: &str) -> Normalized {
    gerrit(&fixture("gerrit", name), &gerrit_cfg(), received())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only(n: &Normalized) -> &Event {
    assert_eq!(n.events.len(), 1, "{:?}", n.events);
    &n.events[0]
}

#[test]
fn pull_request_actions_map_to_change_events() {
    let cases = [
        ("pull_request.opened.json", ChangeAction::Opened),
        ("pull_request.synchronize.json", ChangeAction::Updated),
        ("pull_request.edited.json", ChangeAction::Edited),
        ("pull_request.closed.merged.json", ChangeAction::Merged),
        ("pull_request.closed.unmerged.json", ChangeAction::Closed),
        ("pull_request.reopened.json", ChangeAction::Reopened),
        (
            "pull_request.ready_for_review.json",
            ChangeAction::ReadyForReview,
        ),
        (
            "pull_request.converted_to_draft.json",
            ChangeAction::ConvertedToDraft,
        ),
        (
            "pull_request.review_requested.json",
            ChangeAction::ReviewRequested,
        ),
    ];
    for (file, action) in cases {
        let n = gh(file);
        let e = only(&n);
        assert_eq!(e.repo, "canopy-demo/widgets");
        let EventKind::Change(c) = &e.kind else {
            panic!("{file}")
        };
        assert_eq!(c.action, action, "{file}");
    }
    let n = gh("pull_request.opened.json");
    let EventKind::Change(c) = &only(&n).kind else {
        unreachable!()
    };
    assert_eq!(
        (
            c.number,
            c.size.additions,
            c.size.deletions,
            c.size.files_changed
        ),
        (7, 120, 30, 4)
    );
    assert_eq!(c.author.key, "github:ada-l");
    assert_eq!(c.labels, ["bug"]);
    assert_eq!(c.base_ref, "main");
    let n = gh("pull_request.review_requested.json");
    let EventKind::Change(c) = &only(&n).kind else {
        unreachable!()
    };
    assert_eq!(c.reviewers_requested[0].key, "github:bob-b");
    let n = gh("pull_request.closed.merged.json");
    let EventKind::Change(c) = &only(&n).kind else {
        unreachable!()
    };
    assert_eq!(c.actor.as_ref().unwrap().key, "github:cy-maint");
}

#[test]
fn reviews_and_comments() {
    let n = gh("pull_request_review.submitted.json");
    let EventKind::Review(r) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(r.verdict, ReviewVerdict::ChangesRequested);
    assert_eq!(r.change_author.as_ref().unwrap().key, "github:ada-l");
    let n = gh("pull_request_review.approved.json");
    let EventKind::Review(r) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(r.verdict, ReviewVerdict::Approved);
    let n = gh("pull_request_review_comment.created.json");
    let EventKind::Comment(c) = &only(&n).kind else {
        panic!()
    };
    assert!(c.inline && c.on_change);
    assert_eq!(c.addressee.as_ref().unwrap().key, "github:ada-l");
    let n = gh("issue_comment.on_issue.json");
    let EventKind::Comment(c) = &only(&n).kind else {
        panic!()
    };
    assert!(!c.on_change);
    assert_eq!(c.number, 5);
    let created = gh("issue_comment.created.json");
    let edited = gh("issue_comment.edited.json");
    assert_ne!(
        only(&created).id,
        only(&edited).id,
        "an edit is a new event"
    );
    let EventKind::Comment(c) = &only(&edited).kind else {
        panic!()
    };
    assert!(c.edited);
}

#[test]
fn ci_events_and_reruns() {
    let n = gh("workflow_job.completed.json");
    let EventKind::CiJobFinished(j) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(
        (j.duration_secs, j.result, j.runner.as_deref()),
        (760, CiResult::Failure, Some("ubuntu-latest"))
    );
    assert_eq!(j.pipeline.as_deref(), Some("CI"));
    // The same job's check run is not counted twice.
    assert!(gh("check_run.completed.json").events.is_empty());
    let n = gh("check_run.completed.external.json");
    let EventKind::CiJobFinished(j) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(
        (j.system.as_str(), j.duration_secs, j.change),
        ("buildkite", 1650, Some(7))
    );
    for f in [
        "check_run.rerequested.json",
        "check_suite.rerequested.json",
        "workflow_run.requested.rerun.json",
    ] {
        let n = gh(f);
        let EventKind::RerunRequested(r) = &only(&n).kind else {
            panic!("{f}")
        };
        assert_eq!(r.change, Some(7), "{f}");
        assert_eq!(r.requested_by.key, "github:ada-l", "{f}");
    }
    let n = gh("status.json");
    let EventKind::CiJobFinished(j) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(
        (j.name.as_str(), j.result),
        ("ci/external-e2e", CiResult::Failure)
    );
    for f in [
        "ping.json",
        "installation.created.json",
        "workflow_job.in_progress.json",
        "check_suite.completed.json",
        "workflow_run.completed.json",
    ] {
        let n = gh(f);
        assert!(n.events.is_empty() && n.ignored.is_some(), "{f}");
    }
    let n = gh("push.json");
    let EventKind::Push(p) = &only(&n).kind else {
        panic!()
    };
    assert_eq!((p.ref_name.as_str(), p.commits), ("refs/heads/main", 1));
}

#[test]
fn zuul_reports_become_ci_jobs_with_every_field() {
    let n = gr("03-comment-added-zuul-check-failed.json");
    assert_eq!(n.events.len(), 3);
    let jobs: Vec<_> = n
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::CiJobFinished(j) => j,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(jobs[0].name, "widgets-tox-pep8");
    assert_eq!(
        (jobs[1].result, jobs[1].duration_secs),
        (CiResult::Failure, 724)
    );
    assert_eq!(jobs[2].pipeline.as_deref(), Some("check"));
    assert!(!jobs[2].voting && jobs[0].voting);
    assert_eq!((jobs[0].change, jobs[0].patchset), (Some(4711), Some(1)));
    assert_eq!(jobs[0].run_id.as_deref(), Some("5d1c0a7e"));
    let gate = gr("10-comment-added-zuul-gate.json");
    assert!(gate.events.iter().all(
        |e| matches!(&e.kind, EventKind::CiJobFinished(j) if j.pipeline.as_deref() == Some("gate"))
    ));
}

#[test]
fn gerrit_events_map_to_changes_reviews_comments_and_reruns() {
    let n = gr("01-patchset-created.json");
    let EventKind::Change(c) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(
        (c.action, c.number, c.patchset),
        (ChangeAction::Opened, 4711, Some(1))
    );
    assert_eq!(
        (c.size.additions, c.size.deletions),
        (84, 12),
        "Gerrit's negative deletions are made positive"
    );
    assert_eq!(c.author.key, "gerrit:review.example.org/ada");
    let n = gr("06-patchset-created-ps2.json");
    let EventKind::Change(c) = &only(&n).kind else {
        panic!()
    };
    assert_eq!(c.action, ChangeAction::Updated);
    let n = gr("04-comment-added-recheck.json");
    let kinds: Vec<&str> = n.events.iter().map(Event::kind_name).collect();
    assert_eq!(kinds, ["rerun_requested", "comment"]);
    let n = gr("07-comment-added-review.json");
    let EventKind::Review(r) = &n.events[0].kind else {
        panic!()
    };
    assert_eq!(r.verdict, ReviewVerdict::Approved);
    assert_eq!(r.votes.len(), 2);
    let EventKind::Comment(c) = &n.events[1].kind else {
        panic!()
    };
    assert_eq!(c.body, "Nice, the backoff cap makes sense. Thanks!");
    for (f, action) in [
        ("02-reviewer-added.json", ChangeAction::ReviewRequested),
        ("08-wip-state-changed.json", ChangeAction::ConvertedToDraft),
        (
            "09-wip-state-changed-ready.json",
            ChangeAction::ReadyForReview,
        ),
        ("11-change-merged.json", ChangeAction::Merged),
        ("13-change-abandoned.json", ChangeAction::Closed),
        ("14-change-restored.json", ChangeAction::Reopened),
    ] {
        let n = gr(f);
        let EventKind::Change(c) = &only(&n).kind else {
            panic!("{f}")
        };
        assert_eq!(c.action, action, "{f}");
    }
    let n = gr("12-ref-updated.json");
    assert_eq!(only(&n).kind_name(), "push");
    // Gerrit 2.x shape: numbers as strings, CRVW approval code.
    let n = gr("15-comment-added-gerrit2.json");
    let EventKind::Review(r) = &n.events[0].kind else {
        panic!()
    };
    assert_eq!((r.change, r.verdict), (7385, ReviewVerdict::Approved));
    assert_eq!(r.votes[0].label, "Code-Review");
    // Trailing commas are tolerated; the type is not used.
    let n = gr("16-hashtags-changed-trailing-comma.json");
    assert!(n.events.is_empty() && n.ignored.is_some());
}

#[test]
fn redelivery_gives_identical_ids() {
    for f in [
        "pull_request.opened.json",
        "issue_comment.created.json",
        "workflow_job.completed.json",
    ] {
        let a = gh(f);
        let event = f.split('.').next().unwrap();
        let b = github(
            event,
            "another-delivery",
            &fixture("github", f),
            received() + chrono::Duration::hours(1),
        )
        .unwrap();
        assert_eq!(a.events[0].id, b.events[0].id, "{f}");
    }
    let a = gr("03-comment-added-zuul-check-failed.json");
    let b = gr("03-comment-added-zuul-check-failed.json");
    assert_eq!(
        a.events.iter().map(|e| &e.id).collect::<Vec<_>>(),
        b.events.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
}

#[test]
fn malformed_payloads_are_errors_naming_the_problem() {
    let err = github(
        "pull_request",
        "d",
        b"{\"action\": \"opened\", \"repository\": {\"full_name\": \"o/r\"}}",
        received(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("pull_request"), "{err}");
    let err = github("issue_comment", "d", b"{not json", received()).unwrap_err();
    assert!(err.to_string().contains("malformed payload"), "{err}");
    let err = gerrit(
        b"{\"type\": \"patchset-created\"}",
        &gerrit_cfg(),
        received(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("change"), "{err}");
    let err = gerrit(b"[1,2", &gerrit_cfg(), received()).unwrap_err();
    assert!(err.to_string().contains("malformed payload"), "{err}");
}

#[test]
fn snapshots_of_every_fixture() {
    let root = workspace_root().join("tests/fixtures");
    for dir in ["github", "gerrit"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let n = if dir == "github" {
                gh(&name)
            } else {
                gr(&name)
            };
            let value = serde_json::json!({ "ignored": n.ignored, "events": n.events });
            insta::assert_json_snapshot!(format!("{dir}__{name}"), value);
        }
    }
}
