use super::*;

fn delivery(id: &str, body: &[u8]) -> Delivery {
    Delivery {
        platform: Platform::Github,
        id: id.into(),
        event: "pull_request".into(),
        received_at: "2026-12-01T10:00:00.123456789Z".parse().unwrap(),
        body: body.to_vec(),
    }
}

fn ids(found: &[Journaled]) -> Vec<(u64, String)> {
    found.iter().map(|(s, d)| (*s, d.id.clone())).collect()
}

fn pairs(list: &[(u64, &str)]) -> Vec<(u64, String)> {
    list.iter().map(|(s, i)| (*s, i.to_string())).collect()
}

#[test]
fn groups_come_back_whole_and_a_torn_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, found) = Journal::open(dir.path()).unwrap();
    assert!(found.is_empty());
    let big = b"{\"x\":1}".repeat(3000);
    j.append(vec![(1, delivery("a", b"{}")), (2, delivery("b", &big))])
        .unwrap();
    j.append(vec![(3, delivery("c", b"{\"c\":3}"))]).unwrap();
    let whole = j.active_bytes();
    j.append(vec![(4, delivery("d", &big))]).unwrap();
    drop(j);
    let path = dir.path().join(JOURNAL_FILES[0]);
    let (_, found) = Journal::open(dir.path()).unwrap();
    assert_eq!(
        ids(&found),
        pairs(&[(1, "a"), (2, "b"), (3, "c"), (4, "d")])
    );
    assert_eq!(found[1].1, delivery("b", &big));
    // The last group torn anywhere (a crash during its write): the groups before it stay.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    for cut in [whole + 3, whole + 20, whole + 5000] {
        file.set_len(cut).unwrap();
        let (_, found) = Journal::open(dir.path()).unwrap();
        assert_eq!(ids(&found).len(), 3, "cut at {cut}");
    }
    // A damaged byte inside the last whole group: its checksum fails, it and all after go.
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, whole - 2).unwrap();
    file.write_all_at(&[byte[0] ^ 0xff], whole - 2).unwrap();
    let (_, found) = Journal::open(dir.path()).unwrap();
    assert_eq!(ids(&found), pairs(&[(1, "a"), (2, "b")]));
}

#[test]
fn appends_move_to_the_other_file_during_a_durable_fold_and_a_reused_file_ends_where_its_new_generation_ends()
 {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path()).unwrap();
    for n in 0..5 {
        j.append(vec![(n, delivery(&format!("old{n}"), &[b'x'; 300]))])
            .unwrap();
    }
    let taken = j.take(true);
    assert_eq!(taken.deliveries.len(), 5);
    assert_eq!(j.active_bytes(), 0, "appends go to the other, empty file");
    j.append(vec![(5, delivery("during", b"{}"))]).unwrap();
    assert!(
        j.holds(Platform::Github, "old1"),
        "still in the journal until written"
    );
    j.done(taken, true, true);
    assert!(!j.holds(Platform::Github, "old1"));
    assert!(j.holds(Platform::Github, "during"));
    // The first file is free again; the next durable fold moves back to it.
    let taken = j.take(true);
    j.append(vec![(10, delivery("new", b"{}"))]).unwrap();
    drop(taken);
    drop(j);
    // The first file's old groups lie after the new one; they belong to an older generation.
    let (_, found) = Journal::open(dir.path()).unwrap();
    assert_eq!(ids(&found), pairs(&[(5, "during"), (10, "new")]));
}

#[test]
fn a_file_is_not_reused_before_a_durable_commit_and_a_failed_fold_gives_its_deliveries_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path()).unwrap();
    j.append(vec![(1, delivery("a", b"{}"))]).unwrap();
    let taken = j.take(false);
    j.done(taken, true, false);
    assert!(!j.holds(Platform::Github, "a") && !j.has_pending());
    assert!(j.has_light(), "in redb, not durably");
    assert!(j.active_bytes() > 0, "not reused before a durable commit");
    j.append(vec![(2, delivery("b", b"{}"))]).unwrap();
    let taken = j.take(true);
    j.done(taken, false, true);
    assert!(j.has_pending() && j.holds(Platform::Github, "b"));
    let taken = j.take(true);
    assert_eq!(ids(&taken.deliveries), pairs(&[(2, "b")]));
    j.done(taken, true, true);
    assert!(!j.has_light() && !j.has_pending());
}

#[test]
fn a_group_of_more_records_than_one_vectored_write_takes_comes_back_whole() {
    // 700 records are 1,400 slices, more than a single writev accepts (1,024): the write goes on
    // where the previous call stopped. Empty bodies give empty slices.
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path()).unwrap();
    let group: Vec<Journaled> = (0..700u64)
        .map(|i| {
            let body = format!("{{\"n\":{i}}}").repeat((i % 7) as usize);
            (i + 1, delivery(&format!("d{i}"), body.as_bytes()))
        })
        .collect();
    j.append(group.clone()).unwrap();
    j.append(vec![(701, delivery("last", b"{}"))]).unwrap();
    drop(j);
    let (_, found) = Journal::open(dir.path()).unwrap();
    assert_eq!(found.len(), 701);
    assert_eq!(&found[..700], &group[..]);
    assert_eq!(found[700].1.id, "last");
}
