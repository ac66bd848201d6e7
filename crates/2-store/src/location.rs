//! Where a store is, as given on a command line or in a configuration file: a directory (the
//! embedded redb store) or a PostgreSQL URL (`postgres://USER@HOST:PORT/DB`).

use std::path::PathBuf;

/// A store's location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory holding the embedded store (created if missing).
    Dir(PathBuf),
    /// A PostgreSQL connection URL (it may carry a password: never print it, use `Display`).
    Postgres(String),
}

impl Location {
    /// Whether several processes may use the store at once.
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Location, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty store location: give a directory or a postgres:// URL".into());
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Location::Postgres(s.to_string()));
        }
        if lower.contains("://") {
            return Err(format!(
                "unsupported store URL {:?}: use a directory or a postgres:// URL",
                s.split("://").next().unwrap_or_default()
            ));
        }
        Ok(Location::Dir(PathBuf::from(s)))
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        match p.to_str().map(str::parse::<Location>) {
            Some(Ok(l)) => l,
            _ => Location::Dir(p),
        }
    }
}

/// The directory, or the URL without its password.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&crate::postgres::redact(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_directories_are_told_apart_and_passwords_never_shown() {
        let l: Location = "postgres://canopy:s3cret@db:5433/canopy".parse().unwrap();
        assert!(l.is_shared());
        assert_eq!(l.to_string(), "postgres://canopy@db:5433/canopy");
        assert!(!format!("{l:?}").contains("s3cret"));
        let d: Location = "/var/lib/canopy".parse().unwrap();
        assert_eq!(d, Location::Dir("/var/lib/canopy".into()));
        assert!(
            "mysql://x"
                .parse::<Location>()
                .unwrap_err()
                .contains("mysql")
        );
        assert!("".parse::<Location>().is_err());
        assert_eq!(
            Location::from(PathBuf::from("postgresql://u@h/d")),
            Location::Postgres("postgresql://u@h/d".into())
        );
    }
}
