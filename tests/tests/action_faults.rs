//! Faults between the bot and GitHub, in-process on a manual clock (or the system's where the
//! test is about waiting as long as GitHub asks): server errors, rate limits, timeouts, lost
//! responses and crashes between sending and recording still end in one sticky comment, and
//! what cannot be delivered goes to the dead-letter list with its reason.

use std::time::Duration;

use axum::http::Method;
use canopy_e2e::fake_github::{FakeGitHub, Fault};
use canopy_e2e::github_bot::{
    MARKER, REPO, TOKEN, github_server, github_server_on, pr_with_a_job, sticky_count,
};
use canopy_e2e::harness::{Harness, TestClock};
use canopy_e2e::{list_json, run_canopy, stdout_ok};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

async fn one_comment_despite(fault: Fault) -> (FakeGitHub, Vec<std::time::Instant>) {
    one_comment_despite_on(fault, TestClock::manual_now()).await
}

/// The same on a given clock (the system's, for tests of waiting as long as GitHub asks).
async fn one_comment_despite_on(
    fault: Fault,
    clock: TestClock,
) -> (FakeGitHub, Vec<std::time::Instant>) {
    let fake = FakeGitHub::start(TOKEN).await;
    fake.fault(Some(Method::POST), "/issues/7/comments", fault);
    let s = github_server_on(&fake, "", clock).await;
    pr_with_a_job(&s).await;
    s.settle().await;
    assert!(
        fake.wait_for(Duration::from_secs(15), |m| !m.comments.is_empty())
            .await,
        "no comment in the end"
    );
    s.settle().await;
    assert_eq!(sticky_count(&fake), 1, "{:?}", fake.comments(REPO, 7));
    let posts = fake
        .model
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.at)
        .collect();
    drop(s);
    (fake, posts)
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (_, posts) = one_comment_despite(Fault::Status(502, "Bad Gateway")).await;
    assert_eq!(posts.len(), 2);
}

#[tokio::test]
async fn secondary_rate_limits_wait_for_retry_after() {
    let (_, posts) = one_comment_despite_on(
        Fault::StatusHeaders(
            403,
            vec![("retry-after", "1".into())],
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        ),
        TestClock::System,
    )
    .await;
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1] - posts[0] >= Duration::from_millis(950),
        "waited only {:?}",
        posts[1] - posts[0]
    );
}

#[tokio::test]
async fn too_many_requests_wait_for_retry_after() {
    let (_, posts) = one_comment_despite_on(
        Fault::StatusHeaders(429, vec![("retry-after", "1".into())], ""),
        TestClock::System,
    )
    .await;
    assert!(posts[1] - posts[0] >= Duration::from_millis(950));
}

#[tokio::test]
async fn timeouts_and_resets_are_retried() {
    one_comment_despite(Fault::Delay(Duration::from_secs(3))).await;
    one_comment_despite(Fault::Reset).await;
}

#[tokio::test]
async fn a_lost_response_does_not_duplicate_the_comment() {
    // GitHub created the comment but Canopy saw a 500: the retry finds it.
    let (fake, posts) = one_comment_despite(Fault::ApplyThenFail).await;
    assert_eq!(posts.len(), 1, "no second POST");
    assert_eq!(fake.comments(REPO, 7).len(), 1);
}

#[tokio::test]
async fn a_crash_between_sent_and_recorded_does_not_duplicate_the_comment() {
    let fake = FakeGitHub::start(TOKEN).await;
    fake.fault(
        Some(Method::POST),
        "/issues/7/comments",
        Fault::ApplyThenHang(Duration::from_secs(30)),
    );
    let mut s = github_server(&fake, "").await;
    pr_with_a_job(&s).await;
    // The comment exists on GitHub, Canopy is waiting for the answer: stop it now (the
    // request in hand is abandoned, as in a crash).
    assert!(fake.wait_for(Duration::from_secs(10), |m| m.hung).await);
    s.restart().await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| m
            .requests
            .iter()
            .filter(|r| r.path.contains("/issues/7/comments") && r.method == "GET")
            .count()
            >= 2)
            .await
    );
    s.settle().await;
    assert_eq!(fake.comments(REPO, 7).len(), 1);
    assert_eq!(
        fake.mutations()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1
    );
}

#[tokio::test]
async fn duplicates_left_by_a_late_request_are_removed() {
    let fake = FakeGitHub::start(TOKEN).await;
    {
        let mut m = fake.model.lock().unwrap();
        for id in [1, 2] {
            m.comments.entry((REPO.to_string(), 7)).or_default().push(
                canopy_e2e::fake_github::Comment {
                    id,
                    body: format!("{MARKER}\nold {id}"),
                    user: "canopy[bot]".into(),
                },
            );
        }
    }
    let s = github_server(&fake, "").await;
    pr_with_a_job(&s).await;
    let ok = fake
        .wait_for(Duration::from_secs(10), |m| {
            m.comments[&(REPO.to_string(), 7)].len() == 1
        })
        .await;
    assert!(ok, "{:#?}", fake.mutations());
    s.settle().await;
    let c = fake.comments(REPO, 7);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].id, 1, "the first is kept and edited");
    assert!(c[0].body.contains("CI energy"));
}

fn dead_items(store: &std::path::Path) -> Vec<serde_json::Value> {
    list_json(
        BIN,
        &["outbox", "list"],
        store.to_str().unwrap(),
        &["--dead"],
    )
}

/// A fake GitHub that answers the next `times` comment posts on PR #7 with `status` and
/// `body`, and the bot after PR #7's story up to its first CI job.
async fn comment_posts_failing(
    times: usize,
    status: u16,
    body: &'static str,
) -> (FakeGitHub, Harness) {
    let fake = FakeGitHub::start(TOKEN).await;
    for _ in 0..times {
        fake.fault(
            Some(Method::POST),
            "/issues/7/comments",
            Fault::Status(status, body),
        );
    }
    let s = github_server(&fake, "").await;
    pr_with_a_job(&s).await;
    s.settle().await;
    (fake, s)
}

/// Stops the bot; its store's directory and the dead letters in it.
async fn stop_and_read_dead(s: &mut Harness) -> (std::path::PathBuf, Vec<serde_json::Value>) {
    let store = s.store().to_path_buf();
    s.stop().await;
    let dead = dead_items(&store);
    (store, dead)
}

#[tokio::test]
async fn permanent_failures_and_exhausted_retries_go_to_the_dead_letter_list() {
    let (fake, mut s) = comment_posts_failing(1, 404, "{\"message\":\"Not Found\"}").await;
    s.settle().await;
    let (store, dead) = stop_and_read_dead(&mut s).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("HTTP 404"),
        "{}",
        dead[0]
    );
    assert_eq!(dead[0]["attempts"], 1, "a 404 is not retried");
    // Retried by hand after the cause is fixed, it goes through.
    let out = run_canopy(
        BIN,
        &[
            "outbox",
            "retry",
            "--store",
            store.to_str().unwrap(),
            dead[0]["id"].as_str().unwrap(),
        ],
    );
    stdout_ok(&out);
    s.restart().await;
    // `outbox retry` made it due at the wall clock's now.
    s.catch_up_with_wall_clock();
    s.settle().await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.comments.is_empty())
            .await
    );
    s.stop().await;
    assert!(dead_items(&store).is_empty());

    // Server errors beyond max_attempts.
    let (fake, mut s) = comment_posts_failing(10, 500, "boom").await;
    assert!(
        fake.wait_for(Duration::from_secs(15), |m| m
            .requests
            .iter()
            .filter(|r| r.method == "POST")
            .count()
            >= 6)
            .await
    );
    s.settle().await;
    let (_, dead) = stop_and_read_dead(&mut s).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 6);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("HTTP 500"));
    assert!(fake.comments(REPO, 7).is_empty());
}
