//! The git adapter against repositories these tests build: exact line counts, missing blobs,
//! malformed identities, shallow and partial clones, incremental runs.

use std::path::Path;

use canopy_analyzer::EventKind;
use canopy_analyzer::event::{CommitEvent, FileStatus};
use canopy_e2e::{TestRepo, git};
use canopy_forge::git::{self, GitError, IngestOptions, IngestReport};
use canopy_store::{RedbStore, TimeRange, repo_events};

fn ingest(path: &Path, store: &RedbStore) -> IngestReport {
    let opts = IngestOptions {
        repo_name: "r".into(),
        rev: "HEAD".into(),
        jobs: 2,
    };
    git::ingest(path, &opts, store, &|_| {}).expect("ingest")
}

fn commits(store: &RedbStore) -> Vec<CommitEvent> {
    repo_events(store, "r", TimeRange::ALL)
        .expect("scan")
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Commit(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn sample_history() -> TestRepo {
    let r = TestRepo::new();
    r.write("src/lib.rs", b"fn a() {}\nfn b() {}\nfn c() {}\n")
        .write("README.md", b"hello\n");
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-04T10:00:00+01:00",
        "root",
    );
    r.write(
        "src/lib.rs",
        b"fn a() {}\nfn B() {}\nfn c() {}\nfn d() {}\n",
    )
    .write("docs/guide.md", b"one\ntwo\nthree")
    .write("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0binary");
    r.commit(
        "Bob",
        "bob@example.org",
        "2024-03-05T23:30:00-05:00",
        "change",
    );
    // An exact rename and a deletion.
    r.remove("docs/guide.md")
        .write("docs/manual.md", b"one\ntwo\nthree");
    r.remove("README.md");
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-09T12:00:00+01:00",
        "rename and delete",
    );
    // A side branch merged back.
    git(r.path(), &["checkout", "-q", "-b", "side"]);
    r.write("src/side.rs", b"side\n");
    r.commit(
        "Cy",
        "cy@example.org",
        "2024-03-10T09:00:00+00:00",
        "side work",
    );
    git(r.path(), &["checkout", "-q", "main"]);
    r.write("src/lib.rs", b"fn a() {}\n");
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-10T10:00:00+01:00",
        "shrink",
    );
    git(
        r.path(),
        &[
            "-c",
            "user.name=Ada",
            "-c",
            "user.email=ada@example.org",
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request #7 from cy/side",
            "side",
        ],
    );
    r
}

#[test]
fn line_counts_match_git_log_numstat_commit_by_commit() {
    let r = sample_history();
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let rep = ingest(r.path(), &store);
    assert_eq!(rep.commits_new, 6);
    assert_eq!(rep.unreadable_objects, 0);
    let ours = commits(&store);
    let theirs = r.git_numstat();
    assert_eq!(theirs.len(), 6);
    for (id, added, deleted, files) in theirs {
        let c = ours
            .iter()
            .find(|c| c.sha == id)
            .expect("every commit stored");
        assert_eq!(
            (c.lines_added(), c.lines_deleted(), c.files.len()),
            (added, deleted, files),
            "commit {id}"
        );
    }
    let binary = ours
        .iter()
        .flat_map(|c| &c.files)
        .find(|f| f.path == "logo.png")
        .unwrap();
    assert_eq!(binary.status, FileStatus::Binary);
    let merge = ours.iter().find(|c| c.is_merge()).unwrap();
    assert_eq!(merge.merged_pr, Some(7));
    assert!(merge.files.is_empty());
    // Author offsets are kept: Bob committed at 23:30 in UTC-5.
    let bob = ours
        .iter()
        .find(|c| c.author.key == "email:bob@example.org")
        .unwrap();
    assert_eq!(bob.author_time.offset().local_minus_utc(), -5 * 3600);
}

#[test]
fn a_missing_blob_is_counted_and_the_run_completes() {
    let r = TestRepo::new();
    r.write("a.txt", b"1\n");
    r.commit("Ada", "ada@example.org", "2024-03-04T10:00:00+00:00", "one");
    r.write("a.txt", b"1\n2\n").write("b.txt", b"b\n");
    r.commit("Ada", "ada@example.org", "2024-03-05T10:00:00+00:00", "two");
    let lost = r.rev_parse("HEAD:b.txt");
    r.write("a.txt", b"1\n2\n3\n");
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-06T10:00:00+00:00",
        "three",
    );
    r.delete_loose_object(&lost);
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let rep = ingest(r.path(), &store);
    assert_eq!(rep.commits_new, 3, "every commit is stored");
    assert_eq!(rep.unreadable_objects, 1);
    assert_eq!(rep.commits_with_unreadable_objects, 1);
    assert!(
        rep.warnings()
            .iter()
            .any(|w| w.contains("incomplete line statistics"))
    );
    let two = commits(&store)
        .into_iter()
        .find(|c| c.subject == "two")
        .unwrap();
    assert_eq!(two.unreadable_objects, 1);
    let b = two.files.iter().find(|f| f.path == "b.txt").unwrap();
    assert_eq!(b.status, FileStatus::Unreadable);
    // The readable file of the same commit still has its real count.
    assert_eq!(
        two.files.iter().find(|f| f.path == "a.txt").unwrap().added,
        1
    );
}

#[test]
fn malformed_identities_and_dates_are_kept_and_counted() {
    let r = TestRepo::new();
    r.write("a", b"a\n");
    let base = r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-04T10:00:00+00:00",
        "base",
    );
    let tree = r.rev_parse("HEAD^{tree}");
    let mut parent = base;
    let odd: [&[u8]; 5] = [
        b"author Tarmac <> 1316709740 +0000\ncommitter Tarmac <> 1316709740 +0000",
        b"author Name Without Email 1316709740 +0000\ncommitter X <x@example.org> 1316709740 +0000",
        b"author Zone <z@example.org> 1316709740 +9999\ncommitter Zone <z@example.org> 1316709740 +9999",
        b"author J\xf6rg <jorg@example.org> 1316709740 +0100\ncommitter J\xf6rg <jorg@example.org> 1316709740 +0100",
        b"author Never <n@example.org> 99999999999999999999 +0000\ncommitter Never <n@example.org> notadate",
    ];
    for (i, sig) in odd.iter().enumerate() {
        let mut body = format!("tree {tree}\nparent {parent}\n").into_bytes();
        body.extend_from_slice(sig);
        body.extend_from_slice(format!("\n\nodd {i}\n").as_bytes());
        parent = r.raw_commit(&body);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let rep = ingest(r.path(), &store);
    assert_eq!(rep.commits_walked, 6);
    assert_eq!(
        rep.repaired_signatures, 4,
        "Tarmac, no email, bad zone, no date"
    );
    assert_eq!(rep.undated_commits, 1);
    assert_eq!(rep.commits_new, 5);
    let stored = commits(&store);
    assert!(stored.iter().any(|c| c.author.key == "name:tarmac"));
    assert!(
        stored
            .iter()
            .any(|c| c.author.key == "email:jorg@example.org")
    );
}

#[test]
fn a_shallow_clone_reports_its_boundary() {
    let src = sample_history();
    let dst = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.path().display());
    git(
        dst.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "2",
            "--no-single-branch",
            &url,
            "clone",
        ],
    );
    let clone = dst.path().join("clone");
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let rep = ingest(&clone, &store);
    assert!(rep.shallow);
    assert!(rep.shallow_boundary_commits >= 1);
    assert_eq!(
        rep.missing_commits, 0,
        "the boundary is expected, not missing"
    );
    assert!(rep.warnings()[0].starts_with("shallow clone"));
}

#[test]
fn a_blobless_partial_clone_completes_with_unreadable_blobs_listed() {
    let src = sample_history();
    git(src.path(), &["config", "uploadpack.allowFilter", "true"]);
    let dst = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.path().display());
    git(
        dst.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--filter=blob:none",
            &url,
            "partial.git",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let rep = ingest(&dst.path().join("partial.git"), &store);
    assert_eq!(rep.commits_new, 6);
    assert!(rep.unreadable_objects > 0);
    assert!(rep.commits_with_unreadable_objects > 0);
}

#[test]
fn a_second_run_reads_only_new_commits() {
    let r = sample_history();
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(ingest(r.path(), &store).commits_new, 6);
    let again = ingest(r.path(), &store);
    assert_eq!((again.commits_new, again.commits_walked), (0, 0));
    r.write("new.txt", b"x\n");
    r.commit("Ada", "ada@example.org", "2024-03-11T10:00:00+01:00", "new");
    let third = ingest(r.path(), &store);
    assert_eq!((third.commits_new, third.commits_walked), (1, 1));
    assert_eq!(commits(&store).len(), 7);
}

#[test]
fn a_run_on_an_older_tip_is_extended_by_the_next_one() {
    let r = sample_history();
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let opts = IngestOptions {
        repo_name: "r".into(),
        rev: "HEAD~2".into(),
        jobs: 1,
    };
    git::ingest(r.path(), &opts, &store, &|_| {}).unwrap();
    let partial = commits(&store).len() as u64;
    assert!(partial < 6);
    let rep = ingest(r.path(), &store);
    assert_eq!(rep.commits_new, 6 - partial);
    assert_eq!(commits(&store).len(), 6);
}

#[test]
fn an_interrupted_run_is_completed_without_storing_twice() {
    // A run that stored its commits but stopped before recording its tip.
    use canopy_store::MetaStore;
    let r = sample_history();
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    ingest(r.path(), &store);
    store.put_meta("git_tips:r", b"[]").unwrap();
    r.write("new.txt", b"x\n");
    r.commit("Ada", "ada@example.org", "2024-03-11T10:00:00+01:00", "new");
    let rep = ingest(r.path(), &store);
    assert_eq!((rep.commits_new, rep.commits_already_stored), (1, 6));
    assert_eq!(commits(&store).len(), 7);
}

#[test]
fn not_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(store_dir.path()).unwrap();
    let opts = IngestOptions {
        repo_name: "r".into(),
        rev: "HEAD".into(),
        jobs: 1,
    };
    let err = git::ingest(dir.path(), &opts, &store, &|_| {}).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err}");
    let r = TestRepo::new();
    r.commit("Ada", "ada@example.org", "2024-03-04T10:00:00+00:00", "one");
    let bad = IngestOptions {
        rev: "no-such-branch".into(),
        ..opts
    };
    let err = git::ingest(r.path(), &bad, &store, &|_| {}).unwrap_err();
    assert!(matches!(err, GitError::BadRevision { .. }), "{err}");
}
