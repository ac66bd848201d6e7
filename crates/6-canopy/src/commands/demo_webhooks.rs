//! The webhook part of `canopy demo`: start the real server on loopback with a temporary
//! store, post a handful of bundled GitHub and Gerrit deliveries to it over HTTP (signed, one
//! redelivered, one forged), wait until they are processed, and summarise what was stored.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canopy_analyzer::EventKind;

use canopy_core::SystemClock;
use canopy_forge::normalize::PlatformNormalizer;
use canopy_server::app::{self, AppConfig};
use canopy_server::auth::github_signature;
use canopy_server::secrets::Secrets;
use canopy_store::{Store, TimeRange};

/// Bundled GitHub deliveries: (event, delivery id, body). PR #7's life on `canopy-demo/widgets`.
const GITHUB: [(&str, &str, &[u8]); 9] = [
    (
        "pull_request",
        "demo-1",
        include_bytes!("../../../../tests/fixtures/github/pull_request.opened.json"),
    ),
    (
        "pull_request",
        "demo-2",
        include_bytes!("../../../../tests/fixtures/github/pull_request.review_requested.json"),
    ),
    (
        "pull_request_review",
        "demo-3",
        include_bytes!("../../../../tests/fixtures/github/pull_request_review.submitted.json"),
    ),
    (
        "pull_request_review_comment",
        "demo-4",
        include_bytes!(
            "../../../../tests/fixtures/github/pull_request_review_comment.created.json"
        ),
    ),
    (
        "pull_request",
        "demo-5",
        include_bytes!("../../../../tests/fixtures/github/pull_request.synchronize.json"),
    ),
    (
        "workflow_job",
        "demo-6",
        include_bytes!("../../../../tests/fixtures/github/workflow_job.completed.json"),
    ),
    (
        "check_run",
        "demo-7",
        include_bytes!("../../../../tests/fixtures/github/check_run.rerequested.json"),
    ),
    (
        "pull_request_review",
        "demo-8",
        include_bytes!("../../../../tests/fixtures/github/pull_request_review.approved.json"),
    ),
    (
        "pull_request",
        "demo-9",
        include_bytes!("../../../../tests/fixtures/github/pull_request.closed.merged.json"),
    ),
];

/// Bundled Gerrit events: change 4711 on `widgets/core`, with Zuul reports.
const GERRIT: [&[u8]; 5] = [
    include_bytes!("../../../../tests/fixtures/gerrit/01-patchset-created.json"),
    include_bytes!("../../../../tests/fixtures/gerrit/03-comment-added-zuul-check-failed.json"),
    include_bytes!("../../../../tests/fixtures/gerrit/04-comment-added-recheck.json"),
    include_bytes!("../../../../tests/fixtures/gerrit/07-comment-added-review.json"),
    include_bytes!("../../../../tests/fixtures/gerrit/11-change-merged.json"),
];

/// Runs the webhook demo and returns its Markdown report.
pub fn run() -> anyhow::Result<String> {
    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let store = crate::wiring::open_store(dir.path())?;
    let secret = format!("demo-{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut out = String::new();
    runtime.block_on(post_all(store.clone(), &secret, &mut out))?;
    summarise(store.as_ref(), &mut out)?;
    actions(store.as_ref(), &mut out)?;
    Ok(out)
}

/// What Canopy would post: the outbox, with the texts of the sticky comment and Gerrit message.
fn actions(store: &dyn Store, out: &mut String) -> anyhow::Result<()> {
    let mut items = Vec::new();
    store.scan_outbox(false, &mut |i| {
        items.push(i);
        ControlFlow::Continue(())
    })?;
    let _ = writeln!(
        out,
        "\n## What Canopy would post\n\nWith no credentials nothing is sent: {} actions wait in the durable outbox (`canopy outbox list`).\n",
        items.len()
    );
    for i in &items {
        let _ = writeln!(out, "- {} on {}", i.action.name(), i.action.target());
    }
    for i in items
        .iter()
        .filter(|i| i.id.starts_with("sticky:") || i.id.starts_with("patchset:"))
    {
        if let Some(body) = i.action.body() {
            let _ = writeln!(out, "\n{} on {}:\n", i.action.name(), i.action.target());
            for line in body.lines() {
                let _ = writeln!(out, "> {line}");
            }
        }
    }
    Ok(())
}

async fn post_all(store: Arc<dyn Store>, secret: &str, out: &mut String) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let running = app::start(
        listener,
        store,
        Arc::new(PlatformNormalizer::default()),
        Arc::new(SystemClock),
        AppConfig {
            // The real reactor decides what to post; with no executor (no credentials) the
            // actions stay in the outbox, where the demo shows them.
            reactor: Arc::new(canopy_service::react::Reactor::new(Arc::new(
                canopy_service::repo_config::RepoConfigs::default(),
            ))),
            ..AppConfig::intake(
                Secrets::new([secret.to_string()]),
                Secrets::new([secret.to_string()]),
            )
        },
    )?;
    let base = format!("http://{}", running.addr);
    let _ = writeln!(
        out,
        "Started `canopy serve` in-process on {base} with a temporary store.\n"
    );
    let client = reqwest::Client::new();
    let post = |event: &str, id: &str, body: &[u8], key: &str| {
        client
            .post(format!("{base}/webhooks/github"))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", id)
            .header("X-Hub-Signature-256", github_signature(key, body))
            .body(body.to_vec())
            .send()
    };
    let mut status: BTreeMap<u16, usize> = BTreeMap::new();
    for (event, id, body) in GITHUB {
        let resp = post(event, id, body, secret).await?;
        *status.entry(resp.status().as_u16()).or_default() += 1;
    }
    // GitHub redelivers the first one; a forger sends one with a wrong signature.
    let (event, id, body) = GITHUB[0];
    let again = post(event, id, body, secret).await?;
    let forged = post(event, "forged-1", body, "not-the-secret").await?;
    for body in GERRIT {
        let resp = client
            .post(format!("{base}/webhooks/gerrit"))
            .basic_auth("gerrit", Some(secret))
            .body(body.to_vec())
            .send()
            .await?;
        *status.entry(resp.status().as_u16()).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "Posted {} GitHub deliveries (signed) and {} Gerrit events (basic auth): {}.",
        GITHUB.len(),
        GERRIT.len(),
        status
            .iter()
            .map(|(s, n)| format!("{n} answered HTTP {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "Redelivering `{id}` answered HTTP {} (stored once); a forged signature answered HTTP {} (nothing stored).\n",
        again.status().as_u16(),
        forged.status().as_u16()
    );
    let idle = running.wait_idle(Duration::from_secs(10)).await;
    anyhow::ensure!(idle, "the demo deliveries were not processed within 10 s");
    running.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

fn summarise(store: &dyn Store, out: &mut String) -> anyhow::Result<()> {
    let mut kinds: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut jobs = Vec::new();
    for repo in store.repos()? {
        store.scan_repo(&repo, TimeRange::ALL, &mut |e| {
            *kinds
                .entry((e.platform.to_string(), e.kind_name().to_string()))
                .or_default() += 1;
            if let EventKind::CiJobFinished(j) = &e.kind {
                jobs.push(format!(
                    "- {} `{}` on {}: {:?}, {} s{}{}",
                    j.system,
                    j.name,
                    j.change
                        .map(|c| format!("change {c}"))
                        .unwrap_or_else(|| e.repo.clone()),
                    j.result,
                    j.duration_secs,
                    j.pipeline
                        .as_deref()
                        .map(|p| format!(", {p} pipeline"))
                        .unwrap_or_default(),
                    if j.voting { "" } else { ", non-voting" }
                ));
            }
            ControlFlow::Continue(())
        })?;
    }
    let total: usize = kinds.values().sum();
    let _ = writeln!(out, "The worker pool turned them into {total} events:\n");
    let _ = writeln!(out, "| platform | kind | events |\n|---|---|---:|");
    for ((p, k), n) in &kinds {
        let _ = writeln!(out, "| {p} | {k} | {n} |");
    }
    let _ = writeln!(
        out,
        "\nCI jobs read from GitHub Actions and from Zuul's report comments:\n"
    );
    for j in jobs {
        let _ = writeln!(out, "{j}");
    }
    Ok(())
}
