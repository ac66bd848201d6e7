//! A GitHub bot in the in-process harness against the fake GitHub, and PR #7's story: the
//! helpers of the action tests (`actions.rs`, `action_faults.rs`).

use crate::Webhooks as _;
use crate::fake_github::FakeGitHub;
use crate::harness::{Harness, TestClock};

/// The fake GitHub's token.
pub const TOKEN: &str = "test-token";
/// The fixtures' repository.
pub const REPO: &str = "canopy-demo/widgets";
/// The marker of Canopy's sticky comment.
pub const MARKER: &str = "<!-- canopy:sticky -->";

pub use crate::fixture_bytes as fixture;

/// A configuration pointing at the fake; `github_extra` goes into the `[github]` table.
pub fn github_config(fake: &FakeGitHub, github_extra: &str) -> String {
    format!(
        "[github]\napi_url = \"{}\"\ntimeout_secs = 1\n{github_extra}[outbox]\nbackoff_base_ms = 20\nmax_attempts = 6\n",
        fake.url()
    )
}

/// The bot on a manual clock, configured for the fake.
pub async fn github_server(fake: &FakeGitHub, extra: &str) -> Harness {
    github_server_on(fake, extra, TestClock::manual_now()).await
}

/// The bot on `clock`, configured for the fake.
pub async fn github_server_on(fake: &FakeGitHub, extra: &str, clock: TestClock) -> Harness {
    Harness::start_with(
        &github_config(fake, extra),
        &[("CANOPY_GITHUB_TOKEN", TOKEN)],
        clock,
    )
    .await
}

/// Posts the GitHub fixture `name` as delivery `delivery` of `event`, which must be accepted.
pub async fn deliver(s: &Harness, event: &str, delivery: &str, name: &str) {
    let status = s.github(event, delivery, &fixture("github", name)).await;
    assert_eq!(status, 202, "{event} delivery {delivery} ({name})");
}

/// Posts the PR #7 story up to its first CI job (which ran on the head pushed by `synchronize`).
pub async fn pr_with_a_job(s: &Harness) {
    deliver(s, "pull_request", "d-open", "pull_request.opened.json").await;
    deliver(s, "pull_request", "d-sync", "pull_request.synchronize.json").await;
    deliver(s, "workflow_job", "d-job1", "workflow_job.completed.json").await;
}

/// How many sticky comments PR #7 has.
pub fn sticky_count(fake: &FakeGitHub) -> usize {
    fake.comments(REPO, 7)
        .iter()
        .filter(|c| c.body.contains(MARKER))
        .count()
}
