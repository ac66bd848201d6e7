//! Webhook secrets: read from an environment variable or a file named by one, never from the
//! command line, never logged. Several secrets may be accepted at once, for rotation.

use std::fmt;
use std::path::Path;

use anyhow::Context;

/// A set of accepted secrets. `Debug` never prints them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} configured)", self.0.len())
    }
}

impl Secrets {
    /// Secrets from a list (empty entries dropped).
    pub fn new(list: impl IntoIterator<Item = String>) -> Self {
        Secrets(
            list.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// No secret configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The accepted secrets (current first, then older ones during rotation).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Reads `VAR` (secrets separated by commas or newlines) or the file named by `VAR_FILE`
    /// (one secret per line). `get` is the environment lookup, passed in for testability.
    pub fn from_env(var: &str, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Secrets> {
        let file_var = format!("{var}_FILE");
        let mut list = Vec::new();
        if let Some(v) = get(var) {
            list.extend(v.split([',', '\n']).map(str::to_string));
        }
        if let Some(path) = get(&file_var) {
            let text = std::fs::read_to_string(Path::new(&path))
                .with_context(|| format!("reading the secret file named by {file_var} ({path})"))?;
            list.extend(text.lines().map(str::to_string));
        }
        Ok(Secrets::new(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_and_files_and_never_prints_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "old-secret\n\nnew-secret\n").unwrap();
        let f = file.to_str().unwrap().to_string();
        let env = |k: &str| match k {
            "X" => Some("a,b".to_string()),
            "X_FILE" => Some(f.clone()),
            _ => None,
        };
        let s = Secrets::from_env("X", env).unwrap();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            ["a", "b", "old-secret", "new-secret"]
        );
        assert_eq!(format!("{s:?}"), "Secrets(4 configured)");
        let missing = |k: &str| (k == "Y_FILE").then(|| "/no/such/file".to_string());
        let err = Secrets::from_env("Y", missing).unwrap_err();
        assert!(format!("{err:#}").contains("Y_FILE"));
    }
}
