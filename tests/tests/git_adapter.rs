//! The git adapter against repositories these tests build: exact line counts, missing blobs,
//! malformed identities, shallow and partial clones, incremental runs.

use std::path::{Path, PathBuf};

use canopy_analyzer::EventKind;
use canopy_analyzer::event::{CommitEvent, FileStatus};
use canopy_e2e::{TestRepo, git};
use canopy_forge::git::{self, GitError, IngestOptions, IngestReport, Renames};
use canopy_store::{RedbStore, TimeRange, repo_events};

/// Options for the repository `r` at `rev` with `jobs` workers and git's rename detection.
fn options(rev: &str, jobs: usize) -> IngestOptions {
    IngestOptions {
        repo_name: "r".into(),
        rev: rev.into(),
        jobs,
        renames: Renames::default(),
    }
}

fn ingest(path: &Path, store: &RedbStore) -> IngestReport {
    let opts = options("HEAD", 2);
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
    let (_dir, store) = fresh_store();
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
    let (_dir, store) = fresh_store();
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
    let (_dir, store) = fresh_store();
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
    let (_dst, clone) = clone_of(&src, &["--depth", "2", "--no-single-branch"], "clone");
    let (_dir, store) = fresh_store();
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
    let (_dst, partial) = clone_of(&src, &["--bare", "--filter=blob:none"], "partial.git");
    let (_dir, store) = fresh_store();
    let rep = ingest(&partial, &store);
    assert_eq!(rep.commits_new, 6);
    assert!(rep.unreadable_objects > 0);
    assert!(rep.commits_with_unreadable_objects > 0);
}

#[test]
fn a_second_run_reads_only_new_commits() {
    let r = sample_history();
    let (_dir, store) = fresh_store();
    assert_eq!(ingest(r.path(), &store).commits_new, 6);
    let again = ingest(r.path(), &store);
    assert_eq!((again.commits_new, again.commits_walked), (0, 0));
    let third = ingest_a_new_commit(&r, &store);
    assert_eq!((third.commits_new, third.commits_walked), (1, 1));
}

#[test]
fn a_run_on_an_older_tip_is_extended_by_the_next_one() {
    let r = sample_history();
    let (_dir, store) = fresh_store();
    let opts = options("HEAD~2", 1);
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
    let (_dir, store) = fresh_store();
    ingest(r.path(), &store);
    store.put_meta("git_tips:r", b"[]").unwrap();
    let rep = ingest_a_new_commit(&r, &store);
    assert_eq!((rep.commits_new, rep.commits_already_stored), (1, 6));
}

#[test]
fn not_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(store_dir.path()).unwrap();
    let opts = options("HEAD", 1);
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

/// An empty store in a temporary directory (kept while the directory lives).
fn fresh_store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (dir, store)
}

/// Commits one new file on top of `r`.
/// Commits a new file on top of the sample history (stored before), ingests again and checks
/// that the store then holds all 7 commits; returns the second run's report.
fn ingest_a_new_commit(r: &TestRepo, store: &RedbStore) -> IngestReport {
    r.write("new.txt", b"x\n");
    r.commit("Ada", "ada@example.org", "2024-03-11T10:00:00+01:00", "new");
    let rep = ingest(r.path(), store);
    assert_eq!(commits(store).len(), 7);
    rep
}

/// `git clone -q` of `src` with `args` into `name` in a new temporary directory (returned
/// with the clone's path: the clone lives as long as the directory).
fn clone_of(src: &TestRepo, args: &[&str], name: &str) -> (tempfile::TempDir, PathBuf) {
    let dst = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.path().display());
    let mut all = vec!["clone", "-q"];
    all.extend_from_slice(args);
    all.extend([url.as_str(), name]);
    git(dst.path(), &all);
    let path = dst.path().join(name);
    (dst, path)
}

fn ingest_with(path: &Path, renames: Renames) -> Vec<CommitEvent> {
    let (_dir, store) = fresh_store();
    let opts = IngestOptions {
        renames,
        ..options("HEAD", 1)
    };
    git::ingest(path, &opts, &store, &|_| {}).expect("ingest");
    commits(&store)
}

/// Lines of a file: `n` distinct lines with a tag, so files differ in known places.
fn lines(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("{tag} line {i}\n")).collect()
}

/// Replaces lines `edits` of `text` with new content.
fn edit(text: &str, edits: &[usize]) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if edits.contains(&i) {
                format!("{l} edited\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Asserts that every commit's (lines added, deleted, files) equals `git log --numstat` with
/// the same rename options.
fn assert_matches_git(r: &TestRepo, ours: &[CommitEvent], git_options: &[&str]) {
    for (id, added, deleted, files) in r.git_numstat_with(git_options) {
        let c = ours.iter().find(|c| c.sha == id).expect("every commit");
        assert_eq!(
            (c.lines_added(), c.lines_deleted(), c.files.len()),
            (added, deleted, files),
            "commit {id} ({}) with {git_options:?}",
            c.subject
        );
    }
}

/// A history with the kinds of moves the rename tracker must recognise.
fn moves_history() -> TestRepo {
    let r = TestRepo::new();
    r.write("src/engine.rs", lines("engine", 40).as_bytes())
        .write("src/pure.rs", lines("pure", 30).as_bytes())
        .write("src/half.rs", lines("half", 20).as_bytes())
        .write("src/base.rs", lines("base", 30).as_bytes());
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-04T10:00:00+00:00",
        "root",
    );
    // Moved and edited (4 of 40 lines), a pure rename, and a move that changes 10 of 20 lines
    // (about 40% similar: a rename only below the default threshold).
    r.remove("src/engine.rs").write(
        "core/engine.rs",
        edit(&lines("engine", 40), &[3, 10, 20, 30]).as_bytes(),
    );
    r.remove("src/pure.rs")
        .write("core/pure.rs", lines("pure", 30).as_bytes());
    r.remove("src/half.rs").write(
        "core/half.rs",
        edit(&lines("half", 20), &(0..10).collect::<Vec<_>>()).as_bytes(),
    );
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-05T10:00:00+00:00",
        "move",
    );
    // A copy of a file modified in the same commit.
    r.write("src/base.rs", edit(&lines("base", 30), &[0]).as_bytes())
        .write("src/copy.rs", edit(&lines("base", 30), &[5, 6]).as_bytes());
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-06T10:00:00+00:00",
        "copy",
    );
    r
}

#[test]
fn a_moved_and_edited_file_counts_only_its_edited_lines() {
    let r = moves_history();
    let ours = ingest_with(r.path(), Renames::default());
    let moved = ours.iter().find(|c| c.subject == "move").unwrap();
    let file = |p: &str| moved.files.iter().find(|f| f.path == p).cloned();
    let engine = file("core/engine.rs").expect("renamed file");
    assert_eq!((engine.added, engine.deleted), (4, 4));
    assert_eq!(engine.renamed_from.as_deref(), Some("src/engine.rs"));
    let pure = file("core/pure.rs").expect("pure rename");
    assert_eq!((pure.added, pure.deleted), (0, 0));
    assert_eq!(pure.renamed_from.as_deref(), Some("src/pure.rs"));
    // 40% similar is below git's 50%: a deletion and an addition.
    assert!(file("src/half.rs").is_some() && file("core/half.rs").unwrap().renamed_from.is_none());
    assert!(file("src/engine.rs").is_none() && file("src/pure.rs").is_none());
    assert_matches_git(&r, &ours, &["--find-renames=50%"]);
}

#[test]
fn the_similarity_threshold_decides_what_is_a_rename() {
    let r = moves_history();
    let moved = |renames: Renames| {
        let ours = ingest_with(r.path(), renames);
        let c = ours.into_iter().find(|c| c.subject == "move").unwrap();
        (c.lines_added(), c.lines_deleted(), c.files.len())
    };
    // 30%: the 40%-similar file is a rename too (10 lines edited each way).
    let at = |p: u8| Renames {
        rename_percent: p,
        ..Renames::default()
    };
    assert_eq!(moved(at(30)), (4 + 10, 4 + 10, 3));
    // Default 50%: engine and pure are renames, half is deleted and re-added.
    assert_eq!(moved(at(50)), (4 + 20, 4 + 20, 4));
    // 95%: only the pure rename is (engine is 90% similar).
    assert_eq!(moved(at(95)), (40 + 20, 40 + 20, 5));
    // 100% = exact renames only; 0 = no detection at all.
    assert_eq!(moved(Renames::exact()), (40 + 20, 40 + 20, 5));
    assert_eq!(moved(Renames::off()), (40 + 30 + 20, 40 + 30 + 20, 6));
    for (renames, options) in [
        (at(30), "--find-renames=30%"),
        (at(95), "--find-renames=95%"),
        (Renames::exact(), "--find-renames=100%"),
        (Renames::off(), "--no-renames"),
    ] {
        assert_matches_git(&r, &ingest_with(r.path(), renames), &[options]);
    }
}

#[test]
fn copies_are_found_only_when_asked_for() {
    let r = moves_history();
    let copy = |renames: Renames| {
        ingest_with(r.path(), renames)
            .into_iter()
            .find(|c| c.subject == "copy")
            .unwrap()
    };
    let off = copy(Renames::default());
    assert_eq!((off.lines_added(), off.lines_deleted()), (1 + 30, 1));
    let with_copies = Renames {
        copy_percent: 50,
        ..Renames::default()
    };
    let on = copy(with_copies);
    let c = on.files.iter().find(|f| f.path == "src/copy.rs").unwrap();
    assert_eq!(c.copied_from.as_deref(), Some("src/base.rs"));
    assert_eq!((c.added, c.deleted), (2, 2));
    assert_matches_git(
        &r,
        &ingest_with(r.path(), with_copies),
        &["--find-renames=50%", "--find-copies=50%"],
    );
}

#[test]
fn a_store_refuses_to_mix_rename_settings() {
    let r = moves_history();
    let (_dir, store) = fresh_store();
    let mut opts = options("HEAD", 1);
    git::ingest(r.path(), &opts, &store, &|_| {}).unwrap();
    opts.renames = Renames::exact();
    let err = git::ingest(r.path(), &opts, &store, &|_| {}).unwrap_err();
    assert!(matches!(err, GitError::RenamesChanged { .. }), "{err}");
    assert!(err.to_string().contains("--find-renames=50%"), "{err}");
}

/// A small deterministic generator (xorshift), so the large edits below are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn large_edits_are_counted_with_gits_own_cut_offs() {
    // Edits large enough that git's diff stops searching for the shortest edit (cost above
    // 256 and the square root of the file's length) and settles for a longer one: counts must
    // still be git's, line for line. Lines are drawn from a vocabulary small enough that most
    // lines also occur in the other version (so they take part in the search) and, in the
    // last file, that some are frequent enough for git to discard them.
    let r = TestRepo::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut files: Vec<Vec<String>> = Vec::new();
    let shapes = [(1500, 150), (3000, 300), (5000, 2000), (3000, 20)];
    for (f, (n, vocab)) in shapes.iter().enumerate() {
        let text: Vec<String> = (0..*n)
            .map(|_| format!("v{}\n", rng.next(*vocab)))
            .collect();
        r.write(&format!("f{f}.txt"), text.concat().as_bytes());
        files.push(text);
    }
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-04T10:00:00+00:00",
        "root",
    );
    for round in 0..3u64 {
        for (f, text) in files.iter_mut().enumerate() {
            let vocab = shapes[f].1;
            let edits = text.len() / 4 + 300 * round as usize;
            for _ in 0..edits {
                let at = rng.next(text.len() as u64 + 1) as usize;
                match rng.next(3) {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 if at < text.len() => text[at] = format!("v{}\n", rng.next(vocab)),
                    _ => text.insert(at, format!("v{}\n", rng.next(vocab))),
                }
            }
            r.write(&format!("f{f}.txt"), text.concat().as_bytes());
        }
        r.commit(
            "Ada",
            "ada@example.org",
            &format!("2024-03-0{}T10:00:00+00:00", 5 + round),
            &format!("round {round}"),
        );
    }
    let ours = ingest_with(r.path(), Renames::default());
    assert_matches_git(&r, &ours, &["--find-renames=50%"]);
}
