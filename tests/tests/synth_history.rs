//! The demo's generated organisation history (canopy-synth) goes through the real adapters:
//! every webhook delivery through the real GitHub normaliser without an error (nothing would be
//! quarantined), and each repository's git history, rebuilt by `git fast-import`, through the
//! real git adapter with exactly the commit ids, time zones and line counts it was generated with.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use canopy_analyzer::EventKind;
use canopy_analyzer::event::CommitEvent;
use canopy_e2e::git as run_git;
use canopy_forge::git::{self, IngestOptions};
use canopy_forge::github::normalize::normalize;
use canopy_store::{RedbStore, TimeRange, repo_events};
use canopy_synth::{Config, Org, generate};

fn org() -> &'static Org {
    static ORG: OnceLock<Org> = OnceLock::new();
    ORG.get_or_init(|| generate(&Config::default()))
}

#[test]
fn every_delivery_normalises_into_events() {
    let org = org();
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut ids = HashSet::new();
    let mut rerun_changes = 0;
    for d in org.deliveries() {
        let n = normalize(d.event, &d.id, &d.body, d.at)
            .unwrap_or_else(|e| panic!("{} {} was not accepted: {e}", d.event, d.id));
        assert!(
            n.ignored.is_none() && !n.events.is_empty(),
            "{} {} was ignored: {:?}",
            d.event,
            d.id,
            n.ignored
        );
        for e in n.events {
            assert!(
                ids.insert((e.repo.clone(), e.id.clone())),
                "two deliveries made event {} in {}",
                e.id,
                e.repo
            );
            assert!(e.at_utc() <= org.now, "{} happens after the end", e.id);
            match &e.kind {
                EventKind::CiJobFinished(j) => assert!(j.duration_secs > 0, "{}", e.id),
                EventKind::RerunRequested(r) => rerun_changes += usize::from(r.change.is_some()),
                _ => {}
            }
            *kinds.entry(e.kind_name()).or_default() += 1;
        }
    }
    for kind in [
        "change",
        "review",
        "comment",
        "ci_job_finished",
        "rerun_requested",
        "push",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 30, "{kinds:?}");
    }
    assert_eq!(
        rerun_changes, kinds["rerun_requested"],
        "every rerun names its PR"
    );
}

/// Commits reachable from `main` in the generated history.
fn reachable(org: &Org, repo: usize) -> Vec<usize> {
    let commits = &org.repos[repo].git.commits;
    let tip = org.repos[repo].main.last().expect("main has commits").1;
    let mut seen = HashSet::new();
    let mut stack = vec![tip];
    while let Some(c) = stack.pop() {
        if seen.insert(c) {
            stack.extend(commits[c].parents.iter().copied());
        }
    }
    let mut v: Vec<usize> = seen.into_iter().collect();
    v.sort_unstable();
    v
}

#[test]
fn the_git_history_reads_back_with_the_same_ids_time_zones_and_line_counts() {
    let org = org();
    for repo in 0..2 {
        let dir = tempfile::tempdir().expect("tempdir");
        run_git(dir.path(), &["init", "-q", "--bare", "-b", "main"]);
        canopy_e2e::fast_import(dir.path(), &org.fast_import(repo));
        let main = run_git(dir.path(), &["rev-parse", "refs/heads/main"]);
        let generated = &org.repos[repo].git.commits;
        let tip = org.repos[repo].main.last().expect("tip").1;
        assert_eq!(
            String::from_utf8_lossy(&main.stdout).trim(),
            generated[tip].sha
        );

        let store_dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(store_dir.path()).expect("store");
        let opts = IngestOptions {
            repo_name: org.repos[repo].full_name.clone(),
            rev: "HEAD".into(),
            jobs: 2,
            renames: git::Renames::default(),
        };
        let report = git::ingest(dir.path(), &opts, &store, &|_| {}).expect("ingest");
        let expected = reachable(org, repo);
        assert_eq!(report.commits_new as usize, expected.len());
        let read: HashMap<String, CommitEvent> =
            repo_events(&store, &org.repos[repo].full_name, TimeRange::ALL)
                .expect("scan")
                .into_iter()
                .filter_map(|e| match e.kind {
                    EventKind::Commit(c) => Some((c.sha.clone(), c)),
                    _ => None,
                })
                .collect();
        for i in expected {
            let g = &generated[i];
            let c = read
                .get(&g.sha)
                .unwrap_or_else(|| panic!("{} not read", g.sha));
            assert_eq!(c.author_time, g.author.at, "{}", g.sha);
            assert_eq!(c.author.email.as_deref(), Some(g.author.email.as_str()));
            if g.parents.len() == 1 {
                let mut stats: Vec<(&str, u32, u32)> = c
                    .files
                    .iter()
                    .map(|f| (f.path.as_str(), f.added, f.deleted))
                    .collect();
                stats.sort_unstable();
                let mut want: Vec<(&str, u32, u32)> = g
                    .stats
                    .iter()
                    .map(|f| (f.path.as_str(), f.added, f.deleted))
                    .collect();
                want.sort_unstable();
                assert_eq!(stats, want, "{}", g.sha);
            }
        }
    }
}
