//! Consent, reports with their audit logs and budgets, and cached sentiment scores.

use super::*;

pub(super) fn consent_keeps_the_latest_record(f: &Fixture) {
    let s = f.store.as_ref();
    let consent = |opted_in, at: &str| Consent {
        actor_key: "github:ada".into(),
        opted_in,
        at: t(at),
        via: "comment".into(),
    };
    for (i, c) in [
        consent(true, "2026-01-02T00:00:00Z"),
        consent(false, "2026-01-01T00:00:00Z"), // older: ignored
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("cd{i}");
        apply(
            s,
            WriteOp::Receive(delivery(&id, "o/r", "2026-01-01T00:00:00Z")),
        );
        let op = WriteOp::Complete {
            platform: Platform::Github,
            id: id.clone(),
            events: Vec::new(),
            ignored: None,
            at: t("2026-01-03T00:00:00Z"),
            actions: Vec::new(),
            consents: vec![c],
            meta: Vec::new(),
        };
        apply(s, op);
    }
    assert_eq!(
        s.consents().unwrap(),
        vec![consent(true, "2026-01-02T00:00:00Z")]
    );
}

pub(super) fn reports_audit_logs_and_budgets(f: &Fixture) {
    let s = f.store.as_ref();
    let report = |status| StoredReport {
        id: "r-2026Q1".into(),
        status,
        document: serde_json::json!({"period": "2026-Q1", "cells": [1, 2, 3]}),
        raw: Vec::new(),
    };
    let entry = |action: &str| AuditEntry {
        at: t("2026-04-01T00:00:00Z"),
        action: action.into(),
        actor: "canopy".into(),
        detail: String::new(),
    };
    let budget = canopy_policies::privacy::Budget {
        allowed: 1.0,
        spent: 0.25,
    };
    s.save_report(
        &report(ReportStatus::Draft),
        &entry("created"),
        Some(("dp-budget:2026-Q1", &budget)),
    )
    .unwrap();
    s.audit_append("r-2026Q1", &entry("approval_refused"))
        .unwrap();
    s.save_report(&report(ReportStatus::Approved), &entry("approved"), None)
        .unwrap();
    assert_eq!(
        s.report("r-2026Q1").unwrap(),
        Some(report(ReportStatus::Approved))
    );
    assert_eq!(s.report("nope").unwrap(), None);
    assert_eq!(s.reports().unwrap().len(), 1);
    let log: Vec<String> = s
        .audit("r-2026Q1")
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(log, ["created", "approval_refused", "approved"]);
    assert_eq!(s.budget("dp-budget:2026-Q1").unwrap(), Some(budget));
    assert_eq!(s.budget("dp-budget:2026-Q2").unwrap(), None);
}

pub(super) fn sentiment_scores_are_cached_per_model_and_comment(f: &Fixture) {
    let s = f.store.as_ref();
    let score = |negative, uncivil| CachedScore { negative, uncivil };
    let keys = [
        ("acme/widgets", "c1"),
        ("acme/widgets", "c2"),
        ("acme/gears", "c1"),
        ("acme/widgets", "nul\0id"),
    ];
    assert_eq!(s.cached_scores("m1", &keys).unwrap(), vec![None; 4]);
    s.put_scores(
        "m1",
        &[
            (keys[0], score(0.25, false)),
            (keys[2], score(0.9, true)),
            (keys[3], score(0.5, false)),
            // The last score of a comment given twice wins.
            (keys[0], score(0.125, false)),
        ],
    )
    .unwrap();
    let want = vec![
        Some(score(0.125, false)),
        None,
        Some(score(0.9, true)),
        Some(score(0.5, false)),
    ];
    assert_eq!(s.cached_scores("m1", &keys).unwrap(), want);
    // Exact values (the digest must read back what it computed), in the order asked.
    let reversed: Vec<_> = keys.iter().rev().copied().collect();
    let back = s.cached_scores("m1", &reversed).unwrap();
    assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
    // Another model sees nothing; a replica sees what was committed; a new score replaces.
    assert_eq!(s.cached_scores("m2", &keys).unwrap(), vec![None; 4]);
    s.put_scores("m2", &[(keys[1], score(0.3333333333333333, true))])
        .unwrap();
    s.put_scores("m1", &[(keys[2], score(0.1, false))]).unwrap();
    let r = (f.replica)();
    assert_eq!(
        r.cached_scores("m1", &keys[2..3]).unwrap(),
        vec![Some(score(0.1, false))]
    );
    assert_eq!(s.drop_scores_except("m2").unwrap(), 3);
    assert_eq!(s.cached_scores("m1", &keys).unwrap(), vec![None; 4]);
    assert_eq!(
        s.cached_scores("m2", &keys).unwrap(),
        vec![None, Some(score(0.3333333333333333, true)), None, None]
    );
    assert_eq!(s.drop_scores_except("m2").unwrap(), 0);
    // Many comments at once (several statements on PostgreSQL).
    let ids: Vec<String> = (0..12_000).map(|i| format!("e{i}")).collect();
    let many: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                ("big/repo", id.as_str()),
                score(i as f64 / 12_000.0, i % 7 == 0),
            )
        })
        .collect();
    s.put_scores("m2", &many).unwrap();
    let asked: Vec<_> = many.iter().map(|(k, _)| *k).collect();
    let got = s.cached_scores("m2", &asked).unwrap();
    assert!(
        got.iter()
            .zip(&many)
            .all(|(g, (_, w))| g.as_ref() == Some(w))
    );
}

// PostgreSQL only: the schema's life.
