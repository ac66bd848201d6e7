//! Areas of a repository: the units a person switches between when their work moves from one
//! part of the code to another, at a granularity the repository itself shows (docs/metrics.md,
//! "areas"). Found from the file changes of its history:
//!
//! 1. Every **package** is an area: a directory with a Cargo, npm, Python, Go, Maven, Gradle,
//!    Composer or Mix manifest (other than the repository root).
//! 2. The rest is split by **directories** where the history branches: starting from the whole
//!    repository, the area with the most file changes is replaced by its subdirectories (the
//!    files directly in it stay one area) while it holds more than [`DOMINANT_SHARE`] of all
//!    changes or fewer than [`MIN_AREAS`] areas hold [`MEANINGFUL_SHARE`] each. Code under one
//!    top-level folder is thus split where it branches (`nova/compute`, `nova/virt`, …), a
//!    `src/main/java/org/x` chain is followed down to where it forks, and a package holding most
//!    of the history is split in turn.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// Share of a repository's file changes from which an area counts as meaningful.
pub const MEANINGFUL_SHARE: f64 = 0.05;
/// Share of a repository's file changes above which one area is too coarse and is split.
pub const DOMINANT_SHARE: f64 = 0.5;
/// Meaningful areas a granularity must show.
pub const MIN_AREAS: usize = 3;
/// Splits tried at most (a bound on pathological trees).
const MAX_SPLITS: usize = 64;

/// Files whose directory is a package root.
const MANIFESTS: [&str; 11] = [
    "Cargo.toml",
    "package.json",
    "pyproject.toml",
    "setup.py",
    "go.mod",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "composer.json",
    "mix.exs",
    "setup.cfg",
];

/// The directory of a path (`""` for files at the root).
pub fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Whether `dir` is `area` or lies below it (`""` is the root, above everything).
fn within(dir: &str, area: &str) -> bool {
    area.is_empty()
        || dir == area
        || (dir.len() > area.len() && dir.starts_with(area) && dir.as_bytes()[area.len()] == b'/')
}

/// One area and its share of the history's file changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaShare {
    /// The area's directory (`.` for the repository root).
    pub area: String,
    /// Its share of file changes (0–1, rounded to 4 places).
    pub share: f64,
    /// Whether it is a package (a directory with a manifest).
    pub package: bool,
}

/// Counts file changes per directory and finds the repository's areas.
#[derive(Debug, Default, Clone)]
pub struct AreaFinder {
    dirs: HashMap<String, u64>,
    manifests: BTreeSet<String>,
}

impl AreaFinder {
    /// Counts one file change at `path`.
    pub fn add_path(&mut self, path: &str) {
        let dir = dir_of(path);
        match self.dirs.get_mut(dir) {
            Some(n) => *n += 1,
            None => {
                self.dirs.insert(dir.to_string(), 1);
            }
        }
        let name = &path[path.rfind('/').map_or(0, |i| i + 1)..];
        if MANIFESTS.contains(&name) {
            self.manifests.insert(dir.to_string());
        }
    }

    /// The areas: packages, then directories split where the history branches.
    pub fn finish(&self) -> Areas {
        let total: u64 = self.dirs.values().sum();
        let mut areas: BTreeSet<String> = self.manifests.clone();
        areas.insert(String::new());
        if total == 0 {
            return Areas::new(areas, &self.manifests, BTreeMap::new());
        }
        for _ in 0..MAX_SPLITS {
            let counts = self.counts(&areas);
            let meaningful = counts
                .values()
                .filter(|n| share(**n, total) >= MEANINGFUL_SHARE)
                .count();
            let Some((largest, n)) = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            else {
                break;
            };
            if share(*n, total) <= DOMINANT_SHARE && meaningful >= MIN_AREAS {
                break;
            }
            let children = self.children(largest, &areas);
            if children.is_empty() {
                break;
            }
            areas.extend(children);
        }
        let counts = self.counts(&areas);
        Areas::new(areas, &self.manifests, counts)
    }

    /// File changes per area, each directory counted in the deepest area containing it.
    fn counts(&self, areas: &BTreeSet<String>) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for (dir, n) in &self.dirs {
            *out.entry(deepest(areas, dir).to_string()).or_default() += n;
        }
        out
    }

    /// The immediate subdirectories of `area` that hold changes and are not areas yet.
    fn children(&self, area: &str, areas: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for dir in self.dirs.keys() {
            if dir == area || !within(dir, area) || deepest(areas, dir) != area {
                continue;
            }
            let rest = if area.is_empty() {
                dir.as_str()
            } else {
                &dir[area.len() + 1..]
            };
            let first = rest.split('/').next().unwrap_or(rest);
            let child = if area.is_empty() {
                first.to_string()
            } else {
                format!("{area}/{first}")
            };
            out.insert(child);
        }
        out
    }
}

fn share(n: u64, total: u64) -> f64 {
    n as f64 / total as f64
}

/// The deepest of `areas` containing `dir` (the root `""` when none does).
fn deepest<'a>(areas: &'a BTreeSet<String>, dir: &str) -> &'a str {
    // Walk up from the directory itself: at most one lookup per path component.
    let mut d = dir;
    loop {
        if let Some(a) = areas.get(d) {
            return a;
        }
        match d.rfind('/') {
            Some(i) => d = &d[..i],
            None if d.is_empty() => return "",
            None => d = "",
        }
    }
}

/// A repository's areas: maps a file path to the area it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Areas {
    areas: BTreeSet<String>,
    shares: Vec<AreaShare>,
}

impl Areas {
    fn new(
        areas: BTreeSet<String>,
        packages: &BTreeSet<String>,
        counts: BTreeMap<String, u64>,
    ) -> Areas {
        let total: u64 = counts.values().sum();
        let mut shares: Vec<AreaShare> = counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(a, n)| AreaShare {
                package: !a.is_empty() && packages.contains(&a),
                area: if a.is_empty() { ".".into() } else { a },
                share: (share(n, total.max(1)) * 10_000.0).round() / 10_000.0,
            })
            .collect();
        shares.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.area.cmp(&b.area)));
        Areas { areas, shares }
    }

    /// The area of a file path (`.` for paths outside every area).
    pub fn area_of<'a>(&'a self, path: &str) -> &'a str {
        match deepest(&self.areas, dir_of(path)) {
            "" => ".",
            a => a,
        }
    }

    /// Areas with changes, largest share first.
    pub fn shares(&self) -> &[AreaShare] {
        &self.shares
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finder(paths: &[(&str, usize)]) -> AreaFinder {
        let mut f = AreaFinder::default();
        for (p, n) in paths {
            for _ in 0..*n {
                f.add_path(p);
            }
        }
        f
    }

    #[test]
    fn code_under_one_folder_is_split_where_it_branches() {
        let f = finder(&[
            ("nova/compute/manager.py", 30),
            ("nova/virt/driver.py", 25),
            ("nova/tests/unit/compute/test_manager.py", 20),
            ("nova/tests/unit/virt/test_driver.py", 15),
            ("nova/utils.py", 5),
            ("README.rst", 5),
        ]);
        let a = f.finish();
        assert_eq!(a.area_of("nova/compute/api.py"), "nova/compute");
        assert_eq!(a.area_of("nova/virt/libvirt/driver.py"), "nova/virt");
        assert_eq!(a.area_of("nova/tests/unit/virt/x.py"), "nova/tests");
        assert_eq!(a.area_of("nova/utils.py"), "nova");
        assert_eq!(a.area_of("README.rst"), ".");
        assert_eq!(a.area_of("newdir/file"), ".");
        assert_eq!(a.shares()[0].area, "nova/tests");
    }

    #[test]
    fn a_single_chain_is_followed_to_its_fork() {
        let f = finder(&[
            ("src/main/java/org/x/a/A.java", 10),
            ("src/main/java/org/x/b/B.java", 10),
            ("src/main/java/org/x/c/C.java", 10),
        ]);
        let a = f.finish();
        assert_eq!(
            a.area_of("src/main/java/org/x/b/B.java"),
            "src/main/java/org/x/b"
        );
    }

    #[test]
    fn packages_are_areas_and_a_dominant_one_is_split() {
        let f = finder(&[
            ("Cargo.toml", 1),
            ("crates/core/Cargo.toml", 1),
            ("crates/core/src/lib.rs", 30),
            ("crates/ignore/Cargo.toml", 1),
            ("crates/ignore/src/walk.rs", 40),
            ("crates/cli/Cargo.toml", 1),
            ("crates/cli/src/lib.rs", 25),
            ("docs/metrics.md", 5),
        ]);
        let a = f.finish();
        assert_eq!(a.area_of("crates/ignore/src/dir.rs"), "crates/ignore");
        assert_eq!(a.area_of("docs/metrics.md"), ".");
        assert!(
            a.shares()
                .iter()
                .any(|s| s.area == "crates/cli" && s.package)
        );
        // One package holding most of the history is split where it branches.
        let f = finder(&[
            ("a/Cargo.toml", 1),
            ("a/src/x/lib.rs", 50),
            ("a/src/y/lib.rs", 40),
            ("b/Cargo.toml", 1),
            ("b/lib.rs", 6),
            ("c/Cargo.toml", 1),
            ("c/lib.rs", 6),
        ]);
        let a = f.finish();
        assert_eq!(a.area_of("a/src/x/lib.rs"), "a/src/x");
        assert_eq!(a.area_of("b/lib.rs"), "b");
    }

    #[test]
    fn an_empty_history_has_one_area() {
        let a = AreaFinder::default().finish();
        assert_eq!(a.area_of("x/y"), ".");
        assert!(a.shares().is_empty());
    }
}
