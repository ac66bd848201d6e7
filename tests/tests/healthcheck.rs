//! `canopy healthcheck`, the container's HEALTHCHECK, run as its own process: exit 0 against a
//! running `canopy serve`; exit 1 with the reason on stderr against nothing listening, a server
//! that says it is not ready, and one that never answers; exit 2 for a bad URL or timeout. And
//! the container build files: `deploy/Dockerfile` runs it without a shell and copies every
//! workspace member; `.dockerignore` keeps build output and history out of the context.

use std::process::Output;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use canopy_e2e::Webhooks as _;
use canopy_e2e::server::ServerProcess;
use canopy_e2e::{run_canopy, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

/// Runs `canopy healthcheck ARGS` off the async runtime (fake servers keep answering).
async fn healthcheck(args: &[&str]) -> Output {
    let args: Vec<String> = ["healthcheck"]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_canopy(BIN, &args)
    })
    .await
    .expect("the healthcheck process ran")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_is_healthy_and_a_stopped_one_is_not() {
    let mut s = ServerProcess::start(BIN, "", &[], &[]).await;
    let url = format!("{}/readyz", s.url());
    let ok = healthcheck(&["--url", &url]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(
        stdout(&ok).starts_with(&format!("ready: {url} answered 200 in ")),
        "{}",
        stdout(&ok)
    );
    // A URL without a path asks /readyz.
    let base = healthcheck(&["--url", &s.url()]).await;
    assert_eq!(base.status.code(), Some(0), "{}", stderr(&base));
    assert!(stdout(&base).contains(&url), "{}", stdout(&base));

    // Stopped: nothing listens on the port any more.
    s.kill();
    let down = healthcheck(&["--url", &url, "--timeout", "5"]).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(stdout(&down).is_empty(), "{}", stdout(&down));
    let why = stderr(&down);
    assert!(
        why.starts_with(&format!("not ready: cannot connect to {url} (")),
        "{why}"
    );
    assert!(why.contains("is `canopy serve` running"), "{why}");
    assert_eq!(why.lines().count(), 1, "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_ready_or_does_not_answer_is_unhealthy() {
    // A server whose workers are not all running: 503 and the JSON that says so.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route(
        "/readyz",
        get(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"ready\":false,\"store_writer\":true,\n\"workers_running\":1,\"workers_expected\":2}",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://127.0.0.1:{port}/readyz");
    let busy = healthcheck(&["--url", &url]).await;
    assert_eq!(busy.status.code(), Some(1));
    assert_eq!(
        stderr(&busy),
        format!(
            "not ready: {url} answered 503 Service Unavailable: {{\"ready\":false,\"store_writer\":true, \"workers_running\":1,\"workers_expected\":2}}\n"
        )
    );

    // A server that accepts the connection and never answers: the timeout ends the check.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", silent.local_addr().unwrap());
    let started = Instant::now();
    let hung = healthcheck(&["--url", &url, "--timeout", "0.3"]).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(hung.status.code(), Some(1));
    assert_eq!(
        stderr(&hung),
        format!("not ready: {url} did not answer within 0.3 s\n")
    );
    drop(silent);
}

#[tokio::test]
async fn bad_arguments_are_named() {
    for (args, expected) in [
        (&["--url", "https://canopy/readyz"][..], "only http://"),
        (&["--url", "canopy"][..], "is not a URL"),
        (&["--timeout", "0"][..], "is not a timeout"),
    ] {
        let out = healthcheck(args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let help = healthcheck(&["--help"]).await;
    assert!(stdout(&help).contains("HEALTHCHECK"), "{}", stdout(&help));
}

#[test]
fn the_dockerfile_checks_health_without_a_shell_and_copies_every_member() {
    let read = |p: &str| std::fs::read_to_string(workspace_root().join(p)).unwrap();
    let (docker, ignore, manifest) = (
        read("deploy/Dockerfile"),
        read(".dockerignore"),
        read("Cargo.toml"),
    );
    let health: Vec<&str> = docker
        .lines()
        .skip_while(|l| !l.starts_with("HEALTHCHECK"))
        .take(2)
        .collect();
    let health = health.join(" ");
    assert!(
        health.contains(r#"CMD ["/usr/local/bin/canopy", "healthcheck""#),
        "{health}"
    );
    assert!(!health.contains("/bin/sh") && !health.contains("/dev/tcp"));

    // Sources the build stage copies (the runtime stage's COPY lines come after its FROM).
    let build_stage = docker.split("\nFROM ").nth(1).unwrap();
    let copied: Vec<&str> = build_stage
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .unwrap()
        .0;
    let members: Vec<&str> = members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.contains(&"crates/6-canopy"), "{members:?}");
    for file in ["Cargo.toml", "Cargo.lock"] {
        assert!(copied.contains(&file), "{file} is not copied: {copied:?}");
    }
    for m in &members {
        let manifest = format!("{m}/Cargo.toml");
        assert!(
            copied
                .iter()
                .any(|c| c == m || *c == manifest || m.starts_with(&format!("{c}/"))),
            "workspace member {m} is not copied by deploy/Dockerfile: {copied:?}"
        );
    }
    // Nothing copied is ignored, and build output and history never enter the context.
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for c in &copied {
        assert!(
            !patterns
                .iter()
                .any(|p| c == p || c.starts_with(&format!("{p}/"))),
            "{c} is copied but .dockerignore leaves it out"
        );
    }
    for p in [".git", "**/target"] {
        assert!(patterns.contains(&p), ".dockerignore lacks {p}");
    }
}
