//! The real `canopy serve` as a child process: started with a configuration file and
//! environment, killed with SIGKILL, restarted on the same port and store; helpers to post
//! signed GitHub deliveries and authenticated Gerrit events to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Webhooks as _;

pub use crate::SECRET;

/// A running (or killed) server process.
pub struct ServerProcess {
    bin: String,
    /// Port it listens on.
    pub port: u16,
    /// Store directory.
    pub store: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
    extra_args: Vec<String>,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Writes `config` to a file and starts `bin serve` with it and `env`.
    pub async fn start(
        bin: &str,
        config: &str,
        env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> ServerProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg_path = dir.path().join("canopy.toml");
        std::fs::write(&cfg_path, config).expect("write config");
        let mut s = ServerProcess {
            bin: bin.to_string(),
            port: crate::free_port(),
            store: dir.path().join("store"),
            config: cfg_path,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
            _dir: dir,
        };
        s.spawn().await;
        s
    }

    async fn spawn(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--store")
            .arg(&self.store)
            .arg("--config")
            .arg(&self.config)
            .args(&self.extra_args)
            .env("CANOPY_GITHUB_WEBHOOK_SECRET", SECRET)
            .env("CANOPY_GERRIT_WEBHOOK_SECRET", SECRET)
            .env(
                "RUST_LOG",
                std::env::var("E2E_LOG").unwrap_or_else(|_| "error".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(if std::env::var("E2E_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        self.child = Some(cmd.spawn().expect("start canopy serve"));
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = client.get(format!("{}/readyz", self.url())).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("canopy serve did not become ready");
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, store and configuration.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Stops it and returns what it printed on stdout (dry-run actions).
    pub fn stop_with_stdout(&mut self) -> String {
        let Some(mut c) = self.child.take() else {
            return String::new();
        };
        // SIGTERM: the server shuts down cleanly and exits.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let out = {
            use std::io::Read;
            let mut s = String::new();
            if let Some(mut o) = c.stdout.take() {
                let _ = o.read_to_string(&mut s);
            }
            s
        };
        let _ = c.wait();
        out
    }

    /// The store path (for `canopy outbox list` and the like once stopped).
    pub fn store(&self) -> &Path {
        &self.store
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl crate::Webhooks for ServerProcess {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
