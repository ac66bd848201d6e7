//! Acting on GitHub and Gerrit through the bot in-process (the harness: the real router,
//! pool and outbox worker on a manual clock) against fake servers:
//! one sticky comment edited as a PR evolves, one Gerrit message per patchset, commands with
//! permissions, GitHub App authentication, and faults — every action delivered exactly once in
//! the end, or in the dead-letter list with its reason.

use std::time::Duration;

use axum::http::Method;
use canopy_e2e::Webhooks as _;
use canopy_e2e::fake_gerrit::FakeGerrit;
use canopy_e2e::fake_github::{FakeGitHub, Fault};
use canopy_e2e::harness::{Harness, TestClock};
use canopy_e2e::{list_json, run_canopy, stdout_ok, workspace_root};
use canopy_store::ConsentStore;

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const TOKEN: &str = "test-token";
const REPO: &str = "canopy-demo/widgets";
const MARKER: &str = "<!-- canopy:sticky -->";

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("tests/fixtures").join(dir).join(name)).expect("fixture")
}

/// A configuration pointing at the fake; `github_extra` goes into the `[github]` table.
fn github_config(fake: &FakeGitHub, github_extra: &str) -> String {
    format!(
        "[github]\napi_url = \"{}\"\ntimeout_secs = 1\n{github_extra}[outbox]\nbackoff_base_ms = 20\nmax_attempts = 6\n",
        fake.url()
    )
}

async fn github_server(fake: &FakeGitHub, extra: &str) -> Harness {
    github_server_on(fake, extra, TestClock::manual_now()).await
}

async fn github_server_on(fake: &FakeGitHub, extra: &str, clock: TestClock) -> Harness {
    Harness::start_with(
        &github_config(fake, extra),
        &[("CANOPY_GITHUB_TOKEN", TOKEN)],
        clock,
    )
    .await
}

/// Posts the GitHub fixture `name` as delivery `delivery` of `event`, which must be accepted.
async fn deliver(s: &Harness, event: &str, delivery: &str, name: &str) {
    let status = s.github(event, delivery, &fixture("github", name)).await;
    assert_eq!(status, 202, "{event} delivery {delivery} ({name})");
}

/// Posts the PR #7 story up to its first CI job (which ran on the head pushed by `synchronize`).
async fn pr_with_a_job(s: &Harness) {
    deliver(s, "pull_request", "d-open", "pull_request.opened.json").await;
    deliver(s, "pull_request", "d-sync", "pull_request.synchronize.json").await;
    deliver(s, "workflow_job", "d-job1", "workflow_job.completed.json").await;
}

fn sticky_count(fake: &FakeGitHub) -> usize {
    fake.comments(REPO, 7)
        .iter()
        .filter(|c| c.body.contains(MARKER))
        .count()
}

#[tokio::test]
async fn a_pr_gets_one_comment_edited_as_it_evolves() {
    let fake = FakeGitHub::start(TOKEN).await;
    let s = github_server(&fake, "").await;
    pr_with_a_job(&s).await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.comments.is_empty())
            .await
    );
    deliver(
        &s,
        "workflow_job",
        "d-job2",
        "workflow_job.completed.lint.json",
    )
    .await;
    deliver(
        &s,
        "pull_request",
        "d-merge",
        "pull_request.closed.merged.json",
    )
    .await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| m
            .comments
            .get(&(REPO.to_string(), 7))
            .is_some_and(|c| c.iter().any(|c| c.body.contains("Merged"))))
            .await
    );
    s.settle().await;
    let body = &fake.sole_comment(REPO, 7).body;
    assert!(body.starts_with(MARKER));
    assert!(body.contains("2 CI jobs so far"), "{body}");
    assert!(
        body.contains("Merged 1 day 23 hours after opening."),
        "{body}"
    );
    // Only comment creation and edits on PR #7, with the token, nothing else.
    let mutations = fake.mutations();
    assert_eq!(
        mutations.iter().filter(|r| r.method == "POST").count(),
        1,
        "{mutations:?}"
    );
    assert!(mutations.iter().filter(|r| r.method == "PATCH").count() >= 1);
    for r in &mutations {
        assert!(
            r.path == format!("/repos/{REPO}/issues/7/comments")
                || r.path
                    .starts_with(&format!("/repos/{REPO}/issues/comments/")),
            "unexpected request {} {}",
            r.method,
            r.path
        );
        assert_eq!(r.auth.as_deref(), Some("Bearer test-token"));
    }
    // A redelivered webhook changes nothing.
    let before = fake.mutations().len();
    deliver(
        &s,
        "pull_request",
        "d-merge-again",
        "pull_request.closed.merged.json",
    )
    .await;
    s.settle().await;
    assert_eq!(fake.mutations().len(), before);
}

#[tokio::test]
async fn a_gerrit_change_gets_one_message_per_patchset() {
    let fake = FakeGerrit::start("canopy", "gerrit-http-password").await;
    fake.model.lock().unwrap().current.insert(4711, 2);
    let cfg = format!(
        "[gerrit]\nhost = \"review.example.org\"\nurl = \"{}\"\nusername = \"canopy\"\ntimeout_secs = 1\n[outbox]\nbackoff_base_ms = 20\n",
        fake.url()
    );
    let s = Harness::start(&cfg, &[("CANOPY_GERRIT_PASSWORD", "gerrit-http-password")]).await;
    for f in [
        "01-patchset-created.json",
        "03-comment-added-zuul-check-failed.json",
    ] {
        assert_eq!(s.gerrit(&fixture("gerrit", f)).await, 202, "{f}");
    }
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.messages.is_empty())
            .await
    );
    // A second report on the same patchset, and a redelivery: nothing new to post.
    assert_eq!(
        s.gerrit(&fixture(
            "gerrit",
            "05-comment-added-zuul-check-passed.json"
        ))
        .await,
        202
    );
    assert_eq!(
        s.gerrit(&fixture(
            "gerrit",
            "03-comment-added-zuul-check-failed.json"
        ))
        .await,
        200
    );
    for f in [
        "06-patchset-created-ps2.json",
        "10-comment-added-zuul-gate.json",
    ] {
        assert_eq!(s.gerrit(&fixture("gerrit", f)).await, 202, "{f}");
    }
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| m
            .messages
            .values()
            .map(Vec::len)
            .sum::<usize>()
            >= 2)
            .await
    );
    s.settle().await;
    let msgs = fake.messages("widgets/core", 4711);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!((msgs[0].revision, msgs[1].revision), (1, 2));
    assert!(
        msgs.iter()
            .all(|m| m.tag.as_deref() == Some("autogenerated:canopy"))
    );
    assert!(
        msgs[0].message.contains("Canopy, patch set 1:") && msgs[0].message.contains("CI energy")
    );
    let reqs = fake.model.lock().unwrap().requests.clone();
    assert!(
        reqs.iter().all(|r| r.path.starts_with("/a/")
            && r.auth.as_deref().is_some_and(|a| a.starts_with("Basic ")))
    );
}

fn comment_payload(body: &str, login: &str, association: &str, id: u64) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("github", "issue_comment.created.json")).unwrap();
    v["comment"]["id"] = id.into();
    v["comment"]["body"] = body.into();
    v["comment"]["user"]["login"] = login.into();
    v["comment"]["author_association"] = association.into();
    v["sender"]["login"] = login.into();
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn commands_get_replies_with_permissions_checked() {
    let fake = FakeGitHub::start(TOKEN).await;
    let mut s = github_server(&fake, "").await;
    deliver(&s, "pull_request", "d-open", "pull_request.opened.json").await;
    let cases = [
        ("/canopy help", "ada-l", "CONTRIBUTOR", 1),
        ("```\n/canopy now\n```\nthanks!", "bob-b", "CONTRIBUTOR", 2),
        ("/canopy dance", "bob-b", "CONTRIBUTOR", 3),
        ("/canopy now", "mallory", "NONE", 4),
        ("/canopy opt-in", "bob-b", "CONTRIBUTOR", 5),
    ];
    for (body, login, assoc, id) in cases {
        let payload = comment_payload(body, login, assoc, 7_000_000 + id);
        assert_eq!(
            s.github("issue_comment", &format!("d-cmd-{id}"), &payload)
                .await,
            202
        );
    }
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| m
            .comments
            .get(&(REPO.to_string(), 7))
            .is_some_and(|c| c.len() >= 4))
            .await
    );
    // A redelivered command is not answered twice.
    let payload = comment_payload("/canopy help", "ada-l", "CONTRIBUTOR", 7_000_001);
    assert_eq!(
        s.github("issue_comment", "d-cmd-1-again", &payload).await,
        202
    );
    s.settle().await;
    let replies = fake.comments(REPO, 7);
    assert_eq!(
        replies.len(),
        4,
        "help, error, denial, opt-in; nothing for the quoted code: {replies:#?}"
    );
    assert!(
        replies
            .iter()
            .any(|c| c.body.contains("| `/canopy defer [by TIME]` |"))
    );
    assert!(
        replies
            .iter()
            .any(|c| c.body.contains("`dance` is not a Canopy command"))
    );
    assert!(replies.iter().any(|c| {
        c.body
            .contains("@mallory, `/canopy now` is for the author, maintainers")
    }));
    assert!(
        replies
            .iter()
            .any(|c| c.body.contains("@bob-b, you are now opted in"))
    );
    // The consent is recorded in the store.
    s.stop().await;
    let st = canopy_store::RedbStore::open(s.store()).unwrap();
    let consents = st.consents().unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(
        (consents[0].actor_key.as_str(), consents[0].opted_in),
        ("github:bob-b", true)
    );
}

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

#[tokio::test]
async fn permanent_failures_and_exhausted_retries_go_to_the_dead_letter_list() {
    let fake = FakeGitHub::start(TOKEN).await;
    fake.fault(
        Some(Method::POST),
        "/issues/7/comments",
        Fault::Status(404, "{\"message\":\"Not Found\"}"),
    );
    let mut s = github_server(&fake, "").await;
    pr_with_a_job(&s).await;
    s.settle().await;
    s.settle().await;
    let store = s.store().to_path_buf();
    s.stop().await;
    let dead = dead_items(&store);
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
    let fake = FakeGitHub::start(TOKEN).await;
    for _ in 0..10 {
        fake.fault(
            Some(Method::POST),
            "/issues/7/comments",
            Fault::Status(500, "boom"),
        );
    }
    let mut s = github_server(&fake, "").await;
    pr_with_a_job(&s).await;
    s.settle().await;
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
    let store = s.store().to_path_buf();
    s.stop().await;
    let dead = dead_items(&store);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 6);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("HTTP 500"));
    assert!(fake.comments(REPO, 7).is_empty());
}

#[tokio::test]
async fn a_github_app_authenticates_with_installation_tokens_refreshed_before_expiry() {
    let fake = FakeGitHub::start("no-personal-token").await;
    {
        let mut m = fake.model.lock().unwrap();
        m.app_id = Some(424242);
        // Tokens that octocrab must replace 30 s before expiry: valid for 300 ms.
        m.token_lifetime = chrono::Duration::milliseconds(30_300);
    }
    let key = workspace_root().join("tests/fixtures/github-app-test-key.pem");
    let cfg = format!(
        "[github]\napi_url = \"{}\"\napp_id = 424242\ntimeout_secs = 2\n[outbox]\nbackoff_base_ms = 20\n",
        fake.url()
    );
    let s = Harness::start(
        &cfg,
        &[("CANOPY_GITHUB_APP_KEY_FILE", key.to_str().unwrap())],
    )
    .await;
    pr_with_a_job(&s).await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.comments.is_empty())
            .await
    );
    // Past the first token's 300 ms, so the next action needs a new one.
    tokio::time::sleep(Duration::from_millis(400)).await;
    deliver(
        &s,
        "pull_request",
        "d-merge",
        "pull_request.closed.merged.json",
    )
    .await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| m.comments
            [&(REPO.to_string(), 7)][0]
            .body
            .contains("Merged"))
            .await
    );
    let m = fake.model.lock().unwrap();
    assert!(m.tokens_issued >= 2, "the expiring token was replaced");
    let inst = m
        .requests
        .iter()
        .find(|r| r.path.ends_with("/installation"))
        .unwrap();
    assert!(
        inst.auth.as_deref().unwrap().starts_with("Bearer ey"),
        "JWT for the App endpoint"
    );
    for r in m.requests.iter().filter(|r| r.path.contains("/issues/")) {
        assert!(
            r.auth
                .as_deref()
                .unwrap()
                .contains("ghs_installation_token_"),
            "{:?}",
            r.auth
        );
    }
}

#[tokio::test]
async fn repository_settings_are_read_from_the_repository_and_the_last_good_ones_kept() {
    let fake = FakeGitHub::start(TOKEN).await;
    let file = (REPO.to_string(), ".github/canopy.toml".to_string());
    fake.model
        .lock()
        .unwrap()
        .files
        .insert(file.clone(), "[comment]\nsections = [\"status\"]\n".into());
    let s = github_server(&fake, "settings_refresh_secs = 1\n").await;
    let reads = |m: &canopy_e2e::fake_github::Model| {
        m.requests
            .iter()
            .filter(|r| r.path.contains("/contents/.github/canopy.toml"))
            .count()
    };
    deliver(&s, "pull_request", "d-open", "pull_request.opened.json").await;
    // The refresher's next turn (every second) reads the newly known repository's settings.
    s.settle().await;
    s.advance(chrono::Duration::seconds(1)).await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| reads(m) >= 1)
            .await,
        "settings read once the repository is known"
    );
    s.settle().await;
    // Energy is switched off by the repository: a CI job changes nothing visible.
    deliver(
        &s,
        "pull_request",
        "d-sync",
        "pull_request.synchronize.json",
    )
    .await;
    deliver(&s, "workflow_job", "d-job", "workflow_job.completed.json").await;
    s.settle().await;
    assert!(fake.comments(REPO, 7).is_empty());
    // An invalid file: the last good settings stay in force.
    fake.model
        .lock()
        .unwrap()
        .files
        .insert(file, "[comment]\nsectionz = 1\n".into());
    let before = reads(&fake.model.lock().unwrap());
    s.advance(chrono::Duration::seconds(1)).await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| reads(m) > before)
            .await
    );
    deliver(
        &s,
        "pull_request",
        "d-merge",
        "pull_request.closed.merged.json",
    )
    .await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.comments.is_empty())
            .await
    );
    let body = &fake.comments(REPO, 7)[0].body;
    assert!(
        body.contains("**Status.** Merged") && !body.contains("CI energy"),
        "{body}"
    );
}

#[tokio::test]
async fn settings_fall_back_to_the_organisation_then_the_defaults() {
    use canopy_forge::github::client::{GitHubAuth, GitHubClient};
    use canopy_service::repo_config::RepoConfig;
    use canopy_service::repo_config_refresh::{Refresh, Source, fetch};
    let fake = FakeGitHub::start(TOKEN).await;
    fake.model.lock().unwrap().files.insert(
        ("canopy-demo/.github".into(), "canopy.toml".into()),
        "[privacy]\nk = 7\n".into(),
    );
    let client = GitHubClient::new(
        &fake.url(),
        GitHubAuth::Token(TOKEN.into()),
        Duration::from_secs(2),
        std::sync::Arc::new(canopy_core::SystemClock),
    )
    .unwrap();
    let defaults = RepoConfig::default();
    let floor = 5; // the server's default floor on k
    match fetch(&client, REPO, &defaults, floor).await.unwrap() {
        Refresh::Loaded(c, Source::Organisation) => assert_eq!(c.privacy.k(), 7),
        other => panic!("{other:?}"),
    }
    match fetch(&client, "someone-else/repo", &defaults, floor)
        .await
        .unwrap()
    {
        Refresh::Loaded(c, Source::Defaults) => {
            assert_eq!(*c, defaults.clone().within_floor(floor).unwrap());
            assert_eq!(c.privacy.k(), floor);
        }
        other => panic!("{other:?}"),
    }
    // A repository may raise k above the server's floor, never lower it.
    match fetch(&client, REPO, &defaults, 8).await.unwrap() {
        Refresh::Invalid(msg) => assert!(
            msg.contains("canopy-demo/.github/canopy.toml") && msg.contains("floor of 8"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    fake.model.lock().unwrap().files.insert(
        (REPO.into(), ".github/canopy.toml".into()),
        "[privacy]\nk = 1\n".into(),
    );
    match fetch(&client, REPO, &defaults, floor).await.unwrap() {
        Refresh::Invalid(msg) => assert!(
            msg.contains(".github/canopy.toml") && msg.contains("privacy.k"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
}
