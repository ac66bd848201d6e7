//! Checks of the PostgreSQL store alone: migrations, compression, errors, old schemas.

use super::*;

#[test]
pub(super) fn postgres_migrations_apply_once_even_when_run_concurrently() {
    let db = canopy_e2e::pg::fresh_database();
    let err = PgStore::open(&db.options())
        .err()
        .expect("an unmigrated store is refused");
    assert!(
        matches!(err, StoreError::NotMigrated { found: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("canopy migrate"), "{err}");
    let applied: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PgStore::open_and_migrate(&db.options()).unwrap().1))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        applied.iter().filter(|a| !a.is_empty()).count(),
        1,
        "{applied:?}"
    );
    let store = PgStore::open(&db.options()).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        Some(canopy_store::postgres::SCHEMA_VERSION)
    );
    assert!(store.migrate().unwrap().is_empty());
}

#[test]
pub(super) fn postgres_stores_delivery_bodies_lz4_compressed() {
    let db = canopy_e2e::pg::fresh_database();
    let (store, _) = PgStore::open_and_migrate(&db.options()).unwrap();
    let mut d = delivery("big", "o/r", "2026-01-01T10:00:00Z");
    // A webhook-sized body: compressible JSON well over the 2 KB at which PostgreSQL compresses.
    d.body = format!(
        r#"{{"repository":{{"full_name":"o/r"}},"pad":"{}"}}"#,
        "abc".repeat(10_000)
    )
    .into_bytes();
    assert!(matches!(
        apply(&store, WriteOp::Receive(d.clone())),
        WriteOutcome::Received { .. }
    ));
    assert_eq!(
        db.psql("SELECT pg_column_compression(body) FROM deliveries WHERE id = 'big'"),
        "lz4"
    );
    assert_eq!(
        canopy_store::InboxStore::delivery_body(&store, Platform::Github, "big").unwrap(),
        Some(d.body)
    );
}

#[test]
pub(super) fn postgres_wrong_password_and_newer_schema_are_clear_errors() {
    let db = canopy_e2e::pg::fresh_database();
    let mut wrong = db.options();
    wrong.password = Some("not-it".into());
    let err = PgStore::open(&wrong).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{msg}");
    assert!(
        msg.contains("password authentication failed") && !msg.contains("not-it"),
        "{msg}"
    );
    let (store, _) = PgStore::open_and_migrate(&db.options()).unwrap();
    use canopy_store::MetaStore;
    store.put_meta("x", b"y").unwrap();
    drop(store);
    // A newer canopy migrated it further: this one refuses it.
    db.psql("INSERT INTO canopy_migrations (version, name) VALUES (99, 'future')");
    let err = PgStore::open(&db.options()).err().expect("refused");
    assert!(
        matches!(err, StoreError::Incompatible { found: 99, .. }),
        "{err}"
    );
    let err = PgStore::open_and_migrate(&db.options())
        .err()
        .expect("refused");
    assert!(
        matches!(err, StoreError::Incompatible { found: 99, .. }),
        "{err}"
    );
}

#[test]
pub(super) fn postgres_schema_1_events_get_their_kinds_and_job_keys_when_migrated() {
    use std::io::Write;
    let db = canopy_e2e::pg::fresh_database();
    // A database as schema version 1 left it, with events in its JSON form.
    let sql = schema_1_with_events();
    let mut psql = std::process::Command::new("psql")
        .args([&db.url, "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"])
        .env("PGPASSWORD", canopy_e2e::pg::PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    psql.stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    canopy_e2e::stdout_ok(&psql.wait_with_output().unwrap());
    let err = PgStore::open(&db.options())
        .err()
        .expect("schema 1 is refused");
    assert!(
        matches!(err, StoreError::NotMigrated { found: 1, .. }),
        "{err}"
    );
    let (store, applied) = PgStore::open_and_migrate(&db.options()).unwrap();
    assert_eq!(applied, vec![2, 3, 4]);
    let s: &dyn Store = &store;
    assert_eq!(s.change_of_sha("o/r", "aaa").unwrap(), Some(7));
    assert_eq!(
        scanned_ids(&|v| s.scan_sha_jobs("o/r", "bbb", v).unwrap()),
        ["ci:2", "ci:3", "ci:5"]
    );
    assert_eq!(
        scanned_ids(&|v| s.scan_job("o/r", "tempest (check)", v).unwrap()),
        ["ci:1", "ci:2"]
    );
    assert_eq!(
        scanned_ids(&|v| s.scan_job("o/r", "odd\0name", v).unwrap()),
        ["ci:5"]
    );
    summaries_agree_with_a_scan(s, "o/r");
}

/// The SQL that makes a database as schema version 1 left it, holding the indexed events and a
/// job whose name has a NUL (as an old store may hold), in their JSON form.
pub(super) fn schema_1_with_events() -> String {
    let (_, _, initial) = canopy_store::postgres::MIGRATIONS[0];
    let mut sql = String::from(initial);
    sql.push_str("CREATE TABLE canopy_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n");
    sql.push_str("INSERT INTO canopy_migrations (version, name) VALUES (1, 'initial');\n");
    let mut events = indexed_events();
    // A job whose name has a NUL, as an old store may hold.
    events.push(job_at("ci:5", "odd\0name", None, None, "bbb", 6));
    for e in &events {
        let json = serde_json::to_string(e).unwrap().replace('\'', "''");
        sql.push_str(&format!(
            "INSERT INTO events (repo, id, at_ms, change_number, head_sha, data) VALUES ('{}', '{}', {}, {}, {}, convert_to('{}', 'UTF8'));\n",
            e.repo,
            e.id,
            e.at_millis(),
            e.change_number().map_or("NULL".to_string(), |n| n.to_string()),
            e.head_sha().map_or("NULL".to_string(), |h| format!("'{h}'")),
            json,
        ));
    }
    sql
}
