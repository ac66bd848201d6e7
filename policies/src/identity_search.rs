//! Searching a released report for raw identities. A person can be named only where the
//! report carries data: its values (strings and numbers as written) and row labels, and any key
//! that is not part of the report's format. The fixed vocabulary — the format's keys, table and
//! column names, cell and report statuses, noise mechanisms, fixed row labels — is the same
//! whoever is in the report, so it names nobody and is never searched (nor is the scope, the
//! report's subject): an author whose git name is `Name` is found where a value says `Name`,
//! not in the key `name`.

use std::collections::BTreeSet;

use canopy_analyzer::aggregate::{
    ACTIVITY_COLUMNS, ACTIVITY_TABLE, PEOPLE_COLUMN, TENURE_BANDS, TENURE_TABLE, TZ_BANDS, TZ_TABLE,
};
use serde_json::Value;

/// Label of a table's total row.
pub const TOTAL_LABEL: &str = "total";

/// Every key of the report document's format (the draft, its noise note, its review).
pub const KEYS: [&str; 33] = [
    "id",
    "status",
    "created_at",
    "period",
    "start",
    "end",
    "scope",
    "repositories",
    "k",
    "epsilon",
    "pseudonym_key_id",
    "tables",
    "name",
    "columns",
    "rows",
    "label",
    "cells",
    "value",
    "total",
    "ci",
    "jobs",
    "co2e_kg",
    "intensity_g_per_kwh",
    "noise",
    "mechanism",
    "delta",
    "people_scale",
    "activity_scale",
    "privacy_review",
    "rule",
    "passed",
    "detail",
    "approvable",
];

/// Cell statuses as serialised (`report::CellStatus`).
pub const CELL_STATUSES: [&str; 4] = ["shown", "noised", "suppressed", "complementary"];

/// A report's life: draft, approved, published.
pub const REPORT_STATUSES: [&str; 3] = ["draft", "approved", "published"];

/// Noise mechanisms as serialised (`report::Mechanism`).
pub const MECHANISMS: [&str; 2] = ["laplace", "gaussian"];

/// Whether `word`, standing under `key`, is the fixed vocabulary that the format puts there.
/// Only a whole value counts: `total` is vocabulary as a row label, `total Ada` is not, and
/// `total` is data under any key that holds data (a period, a cell). The scope is the report's
/// subject — repositories or an organisation, named by whoever makes the report, never taken
/// from the people in it — so a personal repository (`ada/tools`) does not make a report over
/// it unapprovable.
fn fixed(key: &str, word: &str) -> bool {
    match key {
        "scope" => true,
        "name" => [ACTIVITY_TABLE, TZ_TABLE, TENURE_TABLE].contains(&word),
        "columns" => word == PEOPLE_COLUMN || ACTIVITY_COLUMNS.iter().any(|(c, _)| *c == word),
        "label" => word == TOTAL_LABEL || TZ_BANDS.contains(&word) || TENURE_BANDS.contains(&word),
        "status" => CELL_STATUSES.contains(&word) || REPORT_STATUSES.contains(&word),
        "mechanism" => MECHANISMS.contains(&word),
        _ => false,
    }
}

/// Words of a text as identities are written: letters, digits and `@._+-` (so an email or a
/// login is one word, and `ada` does not match inside `canada`).
pub fn tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || "@._+-".contains(c)))
        .map(|w| w.trim_matches(|c: char| ".-_".contains(c)))
        .filter(|w| !w.is_empty())
        .collect()
}

/// A piece of a report that may name a person, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searched {
    /// The format's key it stands under (`label`, `value`, `start`, ...), or a description when
    /// that key is not the format's own (never the key itself, which may be an identity).
    pub place: String,
    /// Its text, lower-cased.
    pub text: String,
}

/// Every piece of `document` in which a person could be named: values and labels, and keys
/// outside the format; never the fixed vocabulary.
pub fn searched(document: &Value) -> Vec<Searched> {
    let mut out = Vec::new();
    walk(document, None, &mut out);
    out
}

fn walk(v: &Value, key: Option<&str>, out: &mut Vec<Searched>) {
    let place = |key: Option<&str>| match key {
        Some(k) if KEYS.contains(&k) => k.to_string(),
        Some(_) => "a value under a key outside the report's format".to_string(),
        None => "the document".to_string(),
    };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if !KEYS.contains(&k.as_str()) {
                    out.push(Searched {
                        place: "a key outside the report's format".into(),
                        text: k.to_lowercase(),
                    });
                }
                walk(v, Some(k), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, key, out)),
        Value::String(s) if key.is_some_and(|k| fixed(k, s)) => {}
        Value::String(s) => out.push(Searched {
            place: place(key),
            text: s.to_lowercase(),
        }),
        Value::Number(n) => out.push(Searched {
            place: place(key),
            text: n.to_string(),
        }),
        Value::Bool(_) | Value::Null => {}
    }
}

/// What the search found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// How many of the identities appear.
    pub identities: usize,
    /// Where they appear (see [`Searched::place`]); never the identities themselves.
    pub places: BTreeSet<String>,
}

/// Searches `document` for each identity as a sequence of whole words (case-insensitive)
/// within one value, label or foreign key. Identities shorter than 3 letters are skipped: they
/// would match counts and abbreviations, and tell too little to identify anyone.
pub fn search(identities: &[String], document: &Value) -> Found {
    let pieces = searched(document);
    let words: Vec<Vec<&str>> = pieces.iter().map(|p| tokens(&p.text)).collect();
    let mut found = Found::default();
    for identity in identities {
        let low = identity.to_lowercase();
        let t = tokens(&low);
        if t.is_empty() || t.iter().map(|w| w.chars().count()).sum::<usize>() < 3 {
            continue;
        }
        let mut hit = false;
        for (piece, w) in pieces.iter().zip(&words) {
            if w.windows(t.len()).any(|w| w == t.as_slice()) {
                hit = true;
                found.places.insert(piece.place.clone());
            }
        }
        found.identities += usize::from(hit);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        CellStatus, Mechanism, Noise, NoiseNote, PubTable, ReviewInput, RuleResult, publish, review,
    };
    use canopy_analyzer::aggregate::{CellKind, Column, RawCell, RawTable};
    use proptest::prelude::*;
    use serde_json::json;

    /// A draft laid out as `canopy report create` lays it out, with what it was made from.
    struct Draft {
        raw: Vec<RawTable>,
        tables: Vec<PubTable>,
        note: Option<NoiseNote>,
        doc: Value,
    }

    /// Monthly activity (one month per entry of `people`) and both band tables.
    fn draft(people: &[u64], noised: bool) -> Draft {
        let cell = |p: u64| RawCell {
            value: (p * 3) as f64,
            people: p,
        };
        let activity = RawTable {
            name: ACTIVITY_TABLE.into(),
            columns: ACTIVITY_COLUMNS
                .iter()
                .map(|(n, kind)| Column {
                    name: n.to_string(),
                    kind: *kind,
                })
                .collect(),
            rows: (people.iter().enumerate())
                .map(|(i, p)| (format!("2026-{:02}", i + 7), vec![cell(*p); 10]))
                .collect(),
            total: vec![cell(people.iter().sum()); 10],
        };
        let band = |name: &str, labels: &[&str]| RawTable {
            name: name.into(),
            columns: vec![Column {
                name: PEOPLE_COLUMN.into(),
                kind: CellKind::People,
            }],
            rows: (labels.iter().zip(people.iter().cycle()))
                .map(|(l, p)| (l.to_string(), vec![cell(*p)]))
                .collect(),
            total: vec![cell(people.iter().sum())],
        };
        let raw = vec![
            activity,
            band(TZ_TABLE, &TZ_BANDS),
            band(TENURE_TABLE, &TENURE_BANDS),
        ];
        let noise = noised.then_some(Noise {
            epsilon: 1.0,
            mechanism: Mechanism::Laplace,
            clip: 50,
            seed: 3,
        });
        let (tables, note) = publish(&raw, 5, noise);
        let doc = json!({
            "id": "rpt-20260701-1a2b3c4d",
            "status": "draft",
            "created_at": "2026-10-02T08:00:00Z",
            "period": { "start": "2026-07-01", "end": "2026-09-30" },
            "scope": "acme/widgets",
            "repositories": 1,
            "k": 5,
            "epsilon": noise.map(|n| n.epsilon),
            "pseudonym_key_id": "k3f9a1c",
            "tables": tables,
            "ci": { "jobs": 412, "co2e_kg": 1.25, "intensity_g_per_kwh": 300.0 },
            "noise": note,
        });
        Draft {
            raw,
            tables,
            note,
            doc,
        }
    }

    /// The review's `no_raw_identity` rule for `doc` (the draft `d`, perhaps altered).
    fn identity_rule(d: &Draft, doc: &Value, identities: &[String]) -> RuleResult {
        let rules = review(&ReviewInput {
            raw: &d.raw,
            published: &d.tables,
            document: doc,
            k: 5,
            min_k: 5,
            identities,
            key: b"0123456789abcdef",
            noise: d.note.as_ref(),
        });
        rules
            .into_iter()
            .find(|r| r.rule == "no_raw_identity")
            .expect("the review has a no_raw_identity rule")
    }

    /// Every word of the report's format, as written and capitalised, and the words of the
    /// fixed labels one by one: the names of authors that must not fail the review. Words
    /// under 3 letters are left out: the search skips such identities anyway.
    fn vocabulary_words() -> Vec<String> {
        let mut words: Vec<&str> = [ACTIVITY_TABLE, TZ_TABLE, TENURE_TABLE, PEOPLE_COLUMN]
            .into_iter()
            .chain(KEYS)
            .chain(ACTIVITY_COLUMNS.iter().map(|(c, _)| *c))
            .chain(CELL_STATUSES)
            .chain(REPORT_STATUSES)
            .chain(MECHANISMS)
            .chain([TOTAL_LABEL, "week", "count"])
            .collect();
        for label in TZ_BANDS.iter().chain(&TENURE_BANDS) {
            words.push(label);
            words.extend(tokens(label));
        }
        let mut out: Vec<String> = Vec::new();
        for w in words.into_iter().filter(|w| w.chars().count() >= 3) {
            let mut cap = w.chars();
            let cap: String = cap
                .next()
                .map(|c| c.to_uppercase().chain(cap).collect())
                .unwrap_or_default();
            out.extend([w.to_string(), cap]);
        }
        out.sort();
        out.dedup();
        out
    }

    /// JSON pointers to every scalar of `v`, and to every object.
    fn positions(v: &Value, at: &str, scalars: &mut Vec<String>, objects: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                objects.push(at.to_string());
                for (k, v) in m {
                    positions(v, &format!("{at}/{k}"), scalars, objects);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    positions(v, &format!("{at}/{i}"), scalars, objects);
                }
            }
            _ => scalars.push(at.to_string()),
        }
    }

    /// The key a pointer's value stands under (array indices skipped).
    fn key_of(pointer: &str) -> &str {
        pointer
            .rsplit('/')
            .find(|s| s.parse::<usize>().is_err())
            .unwrap_or("")
    }

    #[test]
    fn authors_named_like_fields_pass_and_the_same_names_in_a_value_fail() {
        let names: Vec<String> = vocabulary_words();
        assert!(names.iter().any(|n| n == "Name"));
        for noised in [false, true] {
            let d = draft(&[8, 3, 6], noised);
            let rule = identity_rule(&d, &d.doc, &names);
            assert!(rule.passed, "{}", rule.detail);
            assert!(rule.detail.ends_with("; 0 found"), "{}", rule.detail);
        }
        // `Name` written where data goes is found; the detail says where, not who.
        let d = draft(&[8, 3, 6], false);
        let mut doc = d.doc.clone();
        doc["tables"][0]["rows"][1]["label"] = json!("Name");
        let rule = identity_rule(&d, &doc, &["Name".into()]);
        assert!(!rule.passed);
        assert!(
            rule.detail.ends_with("; 1 found (in label)"),
            "{}",
            rule.detail
        );
        let mut doc = d.doc.clone();
        doc["ci"]["Zelda Quartz"] = json!(3);
        doc["period"]["end"] = json!("2026-09-30 zelda.quartz@mail.example");
        let rule = identity_rule(
            &d,
            &doc,
            &["Zelda Quartz".into(), "zelda.quartz@mail.example".into()],
        );
        assert!(!rule.passed);
        assert!(
            rule.detail
                .contains("; 2 found (in a key outside the report's format, end)")
        );
        assert!(
            !rule.detail.to_lowercase().contains("zelda"),
            "{}",
            rule.detail
        );
    }

    #[test]
    fn the_scope_and_fixed_labels_are_not_searched_but_months_and_numbers_are() {
        let d = draft(&[8, 3, 6], false);
        let pieces = searched(&d.doc);
        let texts: Vec<&str> = pieces.iter().map(|p| p.text.as_str()).collect();
        assert!(texts.contains(&"2026-08"));
        assert!(texts.contains(&"412"));
        assert!(
            !texts
                .iter()
                .any(|t| t.contains("acme") || t.contains("europe"))
        );
        assert!(!texts.contains(&TOTAL_LABEL) && !texts.contains(&"draft"));
        let places: BTreeSet<&str> = pieces.iter().map(|p| p.place.as_str()).collect();
        assert!(places.iter().all(|p| KEYS.contains(p)), "{places:?}");
    }

    #[test]
    fn the_vocabulary_matches_the_serialised_enums() {
        let statuses = [
            CellStatus::Shown,
            CellStatus::Noised,
            CellStatus::Suppressed,
            CellStatus::Complementary,
        ]
        .map(|s| json!(s).as_str().unwrap_or("").to_string());
        assert_eq!(statuses, CELL_STATUSES);
        let d = draft(&[8, 8], true);
        assert_eq!(d.doc["noise"]["mechanism"], MECHANISMS[0]);
    }

    /// Names, emails, numeric account ids, and words of the format.
    fn identity() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Z][a-z]{2,7}( [A-Z][a-z]{2,9})?",
            "[a-z][a-z0-9]{2,8}@[a-z]{3,8}\\.org",
            "[1-9][0-9]{4,6}",
            proptest::sample::select(vocabulary_words()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn vocabulary_names_never_fail_a_clean_draft(
            people in proptest::collection::vec(0u64..12, 1..4),
            noised in any::<bool>(),
        ) {
            let d = draft(&people, noised);
            let rule = identity_rule(&d, &d.doc, &vocabulary_words());
            prop_assert!(rule.passed, "{}", rule.detail);
        }

        /// A real leak: an identity written into any value or label (in place of it, or after
        /// it), or as a key of its own, anywhere in the draft.
        #[test]
        fn an_identity_placed_in_a_value_label_or_key_is_found(
            people in proptest::collection::vec(0u64..12, 1..4),
            noised in any::<bool>(),
            who in identity(),
            at in any::<proptest::sample::Index>(),
            how in 0u8..3,
        ) {
            let d = draft(&people, noised);
            let mut doc = d.doc.clone();
            let (mut scalars, mut objects) = (Vec::new(), Vec::new());
            positions(&doc, "", &mut scalars, &mut objects);
            if how < 2 {
                let p = at.get(&scalars);
                let slot = doc.pointer_mut(p).expect("a scalar position");
                let placed = match (&*slot, how) {
                    (Value::String(s), 1) => json!(format!("{s} {who}")),
                    (Value::Number(_), _) if who.parse::<u64>().is_ok() => {
                        json!(who.parse::<u64>().unwrap_or(0))
                    }
                    _ => json!(who),
                };
                // The format's own word in its own place (or anything in the scope) names nobody.
                prop_assume!(!placed.as_str().is_some_and(|s| fixed(key_of(p), s)));
                *slot = placed;
            } else {
                prop_assume!(!KEYS.contains(&who.as_str()));
                let p = at.get(&objects);
                if let Some(o) = doc.pointer_mut(p).and_then(Value::as_object_mut) {
                    o.insert(who.clone(), json!(1));
                }
            }
            let rule = identity_rule(&d, &doc, std::slice::from_ref(&who));
            prop_assert!(!rule.passed, "{who:?} placed ({how}) not found: {doc}");
            prop_assert!(rule.detail.contains("; 1 found (in "), "{}", rule.detail);
        }
    }
}
