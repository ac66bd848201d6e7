//! Helpers shared by the end-to-end tests: git repositories built by the tests themselves (with
//! the `git` command line, isolated from the user's configuration) and a runner for the real
//! `canopy` program.

pub mod fake_gerrit;
pub mod fake_github;
pub mod fake_http;
pub mod fake_prometheus;
pub mod gerrit_bot;
pub mod github_bot;
pub mod harness;
pub mod pg;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A git repository in a temporary directory, built step by step by a test.
pub struct TestRepo {
    dir: tempfile::TempDir,
}

/// Runs `git` isolated from global and system configuration.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    git_env(dir, args, &[])
}

/// Runs `git` with extra environment variables; panics with git's stderr if it fails.
pub fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().copied())
        .output()
        .expect("the git command line must be installed to run these tests");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes a `git fast-import` stream into the repository at `dir` (isolated like [`git`]);
/// panics if git refuses it.
pub fn fast_import(dir: &Path, stream: &[u8]) {
    use std::io::Write;
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream)
        .expect("write the stream");
    assert!(child.wait().expect("fast-import").success());
}

impl TestRepo {
    /// An empty repository with `main` as its initial branch.
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        TestRepo { dir }
    }

    /// Path of the work tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating directories).
    pub fn write(&self, rel: &str, content: &[u8]) -> &Self {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
        self
    }

    /// Removes a file from the work tree.
    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.dir.path().join(rel)).expect("remove");
        self
    }

    /// Commits everything with the given author and author date (RFC 2822 or ISO 8601 with offset).
    pub fn commit(&self, author: &str, email: &str, date: &str, message: &str) -> String {
        git(self.path(), &["add", "-A"]);
        let ident = [
            ("GIT_AUTHOR_NAME", author),
            ("GIT_AUTHOR_EMAIL", email),
            ("GIT_AUTHOR_DATE", date),
            ("GIT_COMMITTER_NAME", author),
            ("GIT_COMMITTER_EMAIL", email),
            ("GIT_COMMITTER_DATE", date),
        ];
        git_env(
            self.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
            &ident,
        );
        self.head()
    }

    /// The current HEAD commit id.
    pub fn head(&self) -> String {
        self.rev_parse("HEAD")
    }

    /// Resolves a revision.
    pub fn rev_parse(&self, rev: &str) -> String {
        String::from_utf8_lossy(&git(self.path(), &["rev-parse", rev]).stdout)
            .trim()
            .to_string()
    }

    /// Writes a raw commit object (no validation, as old or broken tools produced them) and
    /// moves the current branch to it.
    pub fn raw_commit(&self, body: &[u8]) -> String {
        let file = self.dir.path().join(".git/raw-commit");
        std::fs::write(&file, body).expect("write raw commit");
        let out = git(
            self.path(),
            &[
                "hash-object",
                "-t",
                "commit",
                "--literally",
                "-w",
                file.to_str().unwrap_or_default(),
            ],
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        git(self.path(), &["update-ref", "refs/heads/main", &id]);
        id
    }

    /// Deletes the loose object file of an object, as a damaged or filtered clone lacks it.
    pub fn delete_loose_object(&self, id: &str) {
        let p = self
            .dir
            .path()
            .join(".git/objects")
            .join(&id[..2])
            .join(&id[2..]);
        std::fs::remove_file(&p).unwrap_or_else(|e| panic!("removing {}: {e}", p.display()));
    }

    /// `git log --numstat` per commit: (id, lines added, lines deleted, files), with git's
    /// default rename detection (`-M50%`), to compare with Canopy's own diffs.
    pub fn git_numstat(&self) -> Vec<(String, u64, u64, usize)> {
        self.git_numstat_with(&["--find-renames=50%"])
    }

    /// `git log --numstat` with other diff options (`-M100%`, `--no-renames`, `-C50%`…).
    pub fn git_numstat_with(&self, options: &[&str]) -> Vec<(String, u64, u64, usize)> {
        let mut args = vec!["log", "--numstat", "--format=@%H"];
        args.extend_from_slice(options);
        args.push("HEAD");
        let out = git(self.path(), &args);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut rows: Vec<(String, u64, u64, usize)> = Vec::new();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix('@') {
                rows.push((id.to_string(), 0, 0, 0));
            } else if let Some(last) = rows.last_mut() {
                let mut parts = line.split('\t');
                let (Some(a), Some(d)) = (parts.next(), parts.next()) else {
                    continue;
                };
                last.1 += a.parse::<u64>().unwrap_or(0);
                last.2 += d.parse::<u64>().unwrap_or(0);
                last.3 += 1;
            }
        }
        rows
    }
}

impl Default for TestRepo {
    fn default() -> Self {
        TestRepo::new()
    }
}

/// POSTs a GitHub delivery signed with `secret` to the bot at `base`; returns the HTTP status
/// (0 when the request itself fails), with `client` (its timeouts and connection pool).
pub async fn post_github(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> u16 {
    client
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            canopy_server::auth::github_signature(secret, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// POSTs a Gerrit event with the shared `secret` to the bot at `base`; returns the HTTP
/// status (0 when the request itself fails).
pub async fn post_gerrit(base: &str, secret: &str, body: &[u8]) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/webhooks/gerrit?token={secret}"))
        .body(body.to_vec())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Runs the canopy program at `bin` with arguments; returns its output.
pub fn run_canopy(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("running canopy")
}

/// Parses stdout as one JSON document, with a helpful panic showing stderr when it is not.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr:\n{}\nstdout:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Parses stdout as JSON lines, after checking the command succeeded (stderr in the panic).
pub fn stdout_json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout_ok(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Checks an `inbox list --format json` listing: every delivery processed in one attempt, and
/// each acknowledged one (`acked`) stored exactly once.
pub fn assert_stored_and_processed_once(
    inbox: &[serde_json::Value],
    acked: &std::collections::HashSet<String>,
) {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for d in inbox {
        let id = d["id"].as_str().expect("a delivery id");
        assert_eq!(d["state"], "processed", "{id}: {d}");
        assert_eq!(d["attempts"], 1, "{id} processed more than once: {d}");
        *seen.entry(id).or_default() += 1;
    }
    for id in acked {
        let n = seen.get(id.as_str());
        assert_eq!(n, Some(&1), "acknowledged delivery {id} stored {n:?} times");
    }
}

/// How many events of an `events list --format json` listing each delivery produced.
pub fn events_per_delivery(
    events: &[serde_json::Value],
) -> std::collections::HashMap<String, usize> {
    let mut n = std::collections::HashMap::new();
    for d in events.iter().filter_map(|e| e["delivery_id"].as_str()) {
        *n.entry(d.to_string()).or_default() += 1;
    }
    n
}

/// Webhook secret of every bot the tests start (GitHub and Gerrit).
pub const SECRET: &str = "e2e-webhook-secret";

/// A bot the tests started, listening at a base URL with [`SECRET`]: signed deliveries are
/// posted to it the same way whether it runs in-process or as a child process.
#[allow(
    async_fn_in_trait,
    reason = "the tests await these on their own runtime"
)]
pub trait Webhooks {
    /// Base URL of the running bot.
    fn url(&self) -> String;

    /// POSTs a signed GitHub delivery; returns the HTTP status.
    async fn github(&self, event: &str, delivery: &str, body: &[u8]) -> u16 {
        let client = reqwest::Client::new();
        post_github(&client, &self.url(), SECRET, event, delivery, body).await
    }

    /// POSTs a Gerrit event with the shared secret; returns the HTTP status.
    async fn gerrit(&self, body: &[u8]) -> u16 {
        post_gerrit(&self.url(), SECRET, body).await
    }
}

/// A loopback port free at the time of the call, and never handed out before in this test
/// process: the kernel may give a just-released port to the next bind, and tests running in
/// parallel (replicas, fakes, a PostgreSQL cluster) would then race for it — the loser exits
/// while the winner answers its readiness checks.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Stdout of a command that must succeed (stderr in the panic).
pub fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `canopy replay PAYLOADS --platform PLATFORM --store STORE` followed by `extra`
/// arguments; returns its output.
pub fn run_replay(
    bin: &str,
    payloads: &str,
    platform: &str,
    store: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec!["replay", payloads, "--platform", platform, "--store", store];
    args.extend_from_slice(extra);
    run_canopy(bin, &args)
}

/// Runs a listing such as `["events", "list"]` on `store` with `--format json`, followed by
/// `extra` arguments; returns its JSON lines after checking it succeeded (stderr in the panic).
pub fn list_json(
    bin: &str,
    listing: &[&str],
    store: &str,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let mut args = listing.to_vec();
    args.extend_from_slice(&["--store", store, "--format", "json"]);
    args.extend_from_slice(extra);
    stdout_json_lines(&run_canopy(bin, &args))
}

/// Replays saved GitHub payloads (a file or directory) into a store with `canopy replay`,
/// which must succeed.
pub fn replay_github(bin: &str, payloads: &Path, store: &Path) {
    stdout_ok(&run_replay(
        bin,
        payloads.to_str().expect("UTF-8 path"),
        "github",
        store.to_str().expect("UTF-8 path"),
        &[],
    ));
}

/// The bytes of the bundled fixture `tests/fixtures/<dir>/<name>`.
pub fn fixture_bytes(dir: &str, name: &str) -> Vec<u8> {
    let p = workspace_root().join("tests/fixtures").join(dir).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A bundled fixture under `tests/fixtures/<dir>/<name>`, parsed as JSON.
pub fn fixture_json(dir: &str, name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture_bytes(dir, name)).expect("fixture is JSON")
}

/// The workspace root (for tests that read the project's own files).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
