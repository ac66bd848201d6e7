//! Opening a labelled GitHub issue exactly once (the weekly digest) against the fake GitHub:
//! a second call finds the first issue by its marker, and a create that GitHub applied although
//! the answer was an error is not repeated by the retry.

use std::time::Duration;

use axum::http::Method;
use canopy_e2e::fake_github::{FakeGitHub, Fault};
use canopy_forge::github::client::{GitHubAuth, GitHubClient};

const TOKEN: &str = "t";
const REPO: &str = "canopy-demo/widgets";
const MARKER: &str = "<!-- canopy:digest 2025-W23 -->";
const TITLE: &str = "Canopy weekly digest, 2025-W23";

fn client(fake: &FakeGitHub) -> GitHubClient {
    GitHubClient::new(
        &fake.url(),
        GitHubAuth::Token(TOKEN.into()),
        Duration::from_secs(2),
        std::sync::Arc::new(canopy_core::SystemClock),
    )
    .expect("client")
}

/// The first label has a space and a colon, so the list filter must be percent-encoded.
fn labels() -> Vec<String> {
    vec!["canopy: digest".to_string(), "weekly".to_string()]
}

fn body() -> String {
    format!("{MARKER}\nThis week: 3 PRs merged.")
}

/// POSTs that created an issue.
fn issue_posts(fake: &FakeGitHub) -> usize {
    fake.mutations()
        .iter()
        .filter(|r| r.method == "POST" && r.path == format!("/repos/{REPO}/issues"))
        .count()
}

#[tokio::test]
async fn a_second_call_finds_the_issue_instead_of_opening_another() {
    let fake = FakeGitHub::start(TOKEN).await;
    let gh = client(&fake);
    let first = gh
        .create_issue_once(REPO, TITLE, &body(), &labels(), MARKER)
        .await
        .expect("first call");
    let second = gh
        .create_issue_once(REPO, TITLE, &body(), &labels(), MARKER)
        .await
        .expect("second call");
    assert_eq!(first, second);
    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].number, first);
    assert_eq!(issues[0].title, TITLE);
    assert_eq!(issues[0].labels, labels());
    assert!(issues[0].body.contains(MARKER));
    assert_eq!(issue_posts(&fake), 1);
    // Both calls listed by the first label, percent-encoded.
    let lists: Vec<String> = fake
        .model
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with(&format!("/repos/{REPO}/issues?")))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(
        lists
            .iter()
            .all(|p| p.contains("labels=canopy%3A%20digest")),
        "{lists:?}"
    );
}

#[tokio::test]
async fn a_retry_after_a_create_that_was_applied_but_failed_opens_nothing_more() {
    let fake = FakeGitHub::start(TOKEN).await;
    let gh = client(&fake);
    fake.fault(
        Some(Method::POST),
        "/repos/canopy-demo/widgets/issues",
        Fault::ApplyThenFail,
    );
    let err = gh
        .create_issue_once(REPO, TITLE, &body(), &labels(), MARKER)
        .await
        .expect_err("the fake answers 500");
    assert!(err.transient, "{err:?}");
    assert_eq!(fake.issues(REPO).len(), 1, "the create was applied");
    let number = gh
        .create_issue_once(REPO, TITLE, &body(), &labels(), MARKER)
        .await
        .expect("retry");
    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].number, number);
    assert_eq!(issues[0].title, TITLE);
    assert_eq!(issues[0].labels, labels());
    assert_eq!(issue_posts(&fake), 1);
}

#[tokio::test]
async fn other_labels_and_other_markers_do_not_count() {
    let fake = FakeGitHub::start(TOKEN).await;
    let gh = client(&fake);
    let last_week = gh
        .create_issue_once(
            REPO,
            "Canopy weekly digest, 2025-W22",
            "<!-- canopy:digest 2025-W22 -->",
            &labels(),
            "<!-- canopy:digest 2025-W22 -->",
        )
        .await
        .expect("last week");
    let unlabelled = gh
        .create_issue_once(REPO, "Something else", &body(), &[], "<!-- other -->")
        .await
        .expect("unlabelled");
    let this_week = gh
        .create_issue_once(REPO, TITLE, &body(), &labels(), MARKER)
        .await
        .expect("this week");
    assert_eq!(
        (last_week, unlabelled, this_week),
        (1, 2, 3),
        "{:?}",
        fake.issues(REPO)
    );
    // Without labels every issue is listed: the first with the marker (the unlabelled one).
    let again = gh
        .create_issue_once(REPO, TITLE, &body(), &[], MARKER)
        .await
        .expect("again");
    assert_eq!(again, 2);
    assert_eq!(fake.issues(REPO).len(), 3);
}
