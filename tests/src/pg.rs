//! A throw-away PostgreSQL cluster for tests: `initdb` and `pg_ctl` on a free loopback port in
//! a temporary directory, started once per test binary (the first test that asks starts it),
//! with a fresh database per test. A watchdog process stops the cluster and removes its
//! directory when the test process exits, however it exits.
//!
//! The server binaries are looked for in `CANOPY_PG_BIN`, `/usr/lib/postgresql/*/bin` (newest
//! first) and `PATH`. `initdb` refuses to run as root, so as root the cluster runs as the
//! `postgres` user (`runuser`). When the binaries are missing the test fails, saying how to
//! install them: no test skips because the database is absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use canopy_store::PgOptions;

use crate::free_port;

/// The role tests connect as.
pub const USER: &str = "canopy";
/// Its password (connections over TCP need it: scram-sha-256).
pub const PASSWORD: &str = "canopy-test-password";

/// A running cluster.
pub struct Cluster {
    /// Loopback port it listens on.
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    next: AtomicUsize,
}

/// A fresh database in the cluster.
#[derive(Debug, Clone)]
pub struct Database {
    /// `postgres://canopy@127.0.0.1:PORT/NAME` (no password).
    pub url: String,
    /// Its name.
    pub name: String,
}

impl Database {
    /// Store options with the password passed separately.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            password: Some(PASSWORD.into()),
            ..PgOptions::new(self.url.clone())
        }
    }

    /// Runs one SQL statement with `psql` (no psqlrc, unaligned tuples only), panicking with
    /// psql's error when it fails; returns what it printed, trimmed.
    pub fn psql(&self, sql: &str) -> String {
        let out = std::process::Command::new("psql")
            .args([&self.url, "-XAtc", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("psql");
        crate::stdout_ok(&out).trim().to_string()
    }
}

/// The cluster of this test binary, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("{e}")))
}

/// A fresh, empty database in this binary's cluster.
pub fn fresh_database() -> Database {
    cluster().create_database()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The directory holding `initdb`, `pg_ctl` and `createdb`.
fn find_bin() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("CANOPY_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
    }
    Err(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in CANOPY_PG_BIN, \
         /usr/lib/postgresql/*/bin or PATH: install them (Debian: apt-get install postgresql; \
         .ci/run does this) — the PostgreSQL tests cannot run without them"
            .into(),
    )
}

/// A fresh directory for one cluster with its password file, owned by `postgres` when we are
/// root (the server refuses to run as root).
fn cluster_dir(as_postgres: bool) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix("canopy-pg-")
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| format!("creating the cluster's directory: {e}"))?
        .keep();
    std::fs::write(dir.join("pw"), PASSWORD).map_err(|e| e.to_string())?;
    if as_postgres {
        let ok = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "running as root, the test cluster must run as the `postgres` user, but \
                 `chown postgres: {}` failed (does the user exist? the Debian postgresql \
                 package creates it)",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let as_postgres = is_root();
        let mut c = Cluster {
            port: 0,
            bin: find_bin()?,
            dir: cluster_dir(as_postgres)?,
            as_postgres,
            next: AtomicUsize::new(0),
        };
        let pwfile = c.dir.join("pw");
        c.run(
            "initdb",
            &[
                "-D",
                &c.data(),
                "-U",
                USER,
                &format!("--pwfile={}", pwfile.display()),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        c.watchdog();
        c.listen()?;
        Ok(c)
    }

    /// Starts the server on a free loopback port (three tries: another process may take the
    /// port between choosing and binding it).
    fn listen(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..3 {
            self.port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB",
                self.port,
                self.dir.display()
            );
            let log = self.dir.join("log").display().to_string();
            let data = self.data();
            let args = [
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &opts, "start",
            ];
            match self.run("pg_ctl", &args) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        Err(format!(
            "the test PostgreSQL cluster did not start: {last}\n{log}"
        ))
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// A command running a server binary (as `postgres` when we are root).
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(program)
            .args(args)
            .output()
            .map_err(|e| format!("running {program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Stops the cluster and removes its directory once this process has exited.
    fn watchdog(&self) {
        let stop = if self.as_postgres {
            format!(
                "runuser -u postgres -- {}/pg_ctl -D {} -m immediate stop",
                self.bin.display(),
                self.data()
            )
        } else {
            format!(
                "{}/pg_ctl -D {} -m immediate stop",
                self.bin.display(),
                self.data()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let spawned = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            panic!("cannot start the test cluster's watchdog: {e}");
        }
    }

    /// A fresh database.
    pub fn create_database(&self) -> Database {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        let out = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                &name,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("running createdb");
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Database {
            url: format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port),
            name,
        }
    }

    /// The cluster's directory (its log is `log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
