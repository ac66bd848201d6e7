//! Publishing aggregate tables under a privacy policy, and the machine-checked privacy review
//! that must pass before a report may be approved. Pure: tables, keys, identities and seeds are
//! passed in.

use canopy_analyzer::aggregate::{
    CellKind, RawCell, RawTable, TENURE_BANDS, TENURE_TABLE, TZ_BANDS, TZ_TABLE,
};
use serde::{Deserialize, Serialize};

pub use crate::identity_search::tokens;
use crate::identity_search::{self, TOTAL_LABEL};
use crate::privacy::{self, Cell, gaussian, gaussian_sigma, laplace};

/// Smallest group any published cell may count, unless configured higher.
pub const DEFAULT_MIN_K: u64 = 5;

/// How a published cell came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// The exact value.
    Shown,
    /// The value with Laplace or Gaussian noise added.
    Noised,
    /// Hidden: it counts fewer than k people.
    Suppressed,
    /// Hidden so that a suppressed cell in its column cannot be recovered from the total.
    Complementary,
}

/// A published cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PubCell {
    /// The value, absent when hidden.
    pub value: Option<f64>,
    /// How it came to be.
    pub status: CellStatus,
}

/// A published row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PubRow {
    /// Row label (a month or a band).
    pub label: String,
    /// One cell per column.
    pub cells: Vec<PubCell>,
}

/// A published table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PubTable {
    /// Table name.
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<PubRow>,
    /// Total row.
    pub total: PubRow,
}

/// Which differential-privacy mechanism adds the noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mechanism")]
pub enum Mechanism {
    /// Laplace noise: pure epsilon-differential privacy.
    Laplace,
    /// Gaussian noise: (epsilon, delta)-differential privacy, lighter tails.
    Gaussian {
        /// Delta of the whole report, split evenly over the noised cells.
        delta: f64,
    },
}

/// The noise added to a report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// Epsilon of the whole report.
    pub epsilon: f64,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Most one person adds to an activity cell.
    pub clip: u64,
    /// Seed (from the report id, so the draft can be regenerated).
    pub seed: u64,
}

/// What noise was added, for the review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseNote {
    /// `laplace` or `gaussian`.
    pub mechanism: String,
    /// Epsilon of the whole report.
    pub epsilon: f64,
    /// Delta of the whole report (Gaussian only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Noised cells (epsilon and delta are split evenly over them: basic composition).
    pub cells: usize,
    /// Scale of the noise on a people count: Laplace b, or Gaussian sigma.
    pub people_scale: f64,
    /// Scale of the noise on a monthly activity count.
    pub activity_scale: f64,
}

impl Noise {
    /// Scale of the noise on a cell of this sensitivity when epsilon is split over `cells`:
    /// Laplace b, or Gaussian sigma.
    pub fn scale(&self, sensitivity: f64, cells: usize) -> f64 {
        let n = cells.max(1) as f64;
        match self.mechanism {
            Mechanism::Laplace => sensitivity / (self.epsilon / n),
            Mechanism::Gaussian { delta } => {
                gaussian_sigma(sensitivity, self.epsilon / n, delta / n)
            }
        }
    }
}

fn hidden(c: &PubCell) -> bool {
    matches!(c.status, CellStatus::Suppressed | CellStatus::Complementary)
}

/// Suppresses one table's cells counting fewer than `k` people, column by column, with
/// complementary suppression against the published total.
fn suppress_table(t: &RawTable, k: u64) -> PubTable {
    let shown = |c: &RawCell| PubCell {
        value: Some(c.value),
        status: CellStatus::Shown,
    };
    let none = |status| PubCell {
        value: None,
        status,
    };
    let mut rows: Vec<PubRow> = t
        .rows
        .iter()
        .map(|(label, cells)| PubRow {
            label: label.clone(),
            cells: cells.iter().map(shown).collect(),
        })
        .collect();
    let mut total = PubRow {
        label: TOTAL_LABEL.into(),
        cells: t.total.iter().map(shown).collect(),
    };
    for j in 0..t.columns.len() {
        let people = |i: usize| t.rows[i].1.get(j).map_or(0, |c| c.people);
        if t.total.get(j).is_none_or(|c| c.people < k) {
            // Too few people overall: nothing of this column is shown.
            total.cells[j] = none(CellStatus::Suppressed);
            for r in rows.iter_mut() {
                r.cells[j] = none(CellStatus::Suppressed);
            }
            continue;
        }
        // Cells under k, and their complements, exactly as for any k-anonymous row of counts.
        let counts: Vec<u64> = (0..rows.len()).map(people).collect();
        for (r, c) in rows.iter_mut().zip(privacy::suppress(&counts, k).cells) {
            match c {
                Cell::Shown(_) => {}
                Cell::Suppressed => r.cells[j] = none(CellStatus::Suppressed),
                Cell::Complementary => r.cells[j] = none(CellStatus::Complementary),
            }
        }
        // A lone hidden cell with no other cell to hide with it: the total goes instead.
        if rows.iter().filter(|r| hidden(&r.cells[j])).count() == 1 {
            total.cells[j] = none(CellStatus::Complementary);
        }
    }
    PubTable {
        name: t.name.clone(),
        columns: t.columns.iter().map(|c| c.name.clone()).collect(),
        rows,
        total,
    }
}

/// Publishes tables: suppression at `k`, then (with `noise`) Laplace or Gaussian noise on every
/// shown count of people or activity, epsilon (and delta) split evenly over those cells.
pub fn publish(
    tables: &[RawTable],
    k: u64,
    noise: Option<Noise>,
) -> (Vec<PubTable>, Option<NoiseNote>) {
    let mut out: Vec<PubTable> = tables.iter().map(|t| suppress_table(t, k)).collect();
    let Some(n) = noise else {
        return (out, None);
    };
    // Which cells get noise, and their sensitivity.
    let mut targets: Vec<(usize, Option<usize>, usize, f64)> = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        let months = t.rows.len().max(1) as f64;
        for (j, c) in t.columns.iter().enumerate() {
            let s = match c.kind {
                CellKind::People => 1.0,
                CellKind::Activity => n.clip as f64,
                CellKind::Infrastructure => continue,
            };
            for i in 0..t.rows.len() {
                if !hidden(&out[ti].rows[i].cells[j]) {
                    targets.push((ti, Some(i), j, s));
                }
            }
            if !hidden(&out[ti].total.cells[j]) {
                let total_s = if c.kind == CellKind::Activity {
                    s * months
                } else {
                    s
                };
                targets.push((ti, None, j, total_s));
            }
        }
    }
    let cells = targets.len();
    for (idx, (ti, row, j, s)) in targets.iter().enumerate() {
        let cell = match row {
            Some(i) => &mut out[*ti].rows[*i].cells[*j],
            None => &mut out[*ti].total.cells[*j],
        };
        let v = cell.value.unwrap_or(0.0);
        let seed = n.seed.wrapping_add(idx as u64);
        let scale = n.scale(*s, cells);
        let noised = match n.mechanism {
            Mechanism::Laplace => laplace(&[v], scale, seed),
            Mechanism::Gaussian { .. } => gaussian(&[v], scale, seed),
        };
        cell.value = noised.first().copied();
        cell.status = CellStatus::Noised;
    }
    let note = NoiseNote {
        mechanism: match n.mechanism {
            Mechanism::Laplace => "laplace",
            Mechanism::Gaussian { .. } => "gaussian",
        }
        .into(),
        epsilon: n.epsilon,
        delta: match n.mechanism {
            Mechanism::Laplace => None,
            Mechanism::Gaussian { delta } => Some(delta),
        },
        cells,
        people_scale: n.scale(1.0, cells),
        activity_scale: n.scale(n.clip as f64, cells),
    };
    (out, Some(note))
}

/// One rule of the privacy review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule name.
    pub rule: String,
    /// Whether the report meets it.
    pub passed: bool,
    /// What was checked, suppressed or noised.
    pub detail: String,
}

impl RuleResult {
    /// A rule result.
    pub fn new(rule: &str, passed: bool, detail: impl Into<String>) -> RuleResult {
        RuleResult {
            rule: rule.into(),
            passed,
            detail: detail.into(),
        }
    }
}

/// What the review checks a report against.
#[derive(Debug, Clone, Copy)]
pub struct ReviewInput<'a> {
    /// The raw tables (with people per cell).
    pub raw: &'a [RawTable],
    /// The published tables.
    pub published: &'a [PubTable],
    /// The report as it will be released. Identities are searched for in its values and labels,
    /// never in its fixed vocabulary; the pseudonym key anywhere.
    pub document: &'a serde_json::Value,
    /// k the report was made with.
    pub k: u64,
    /// The policy's minimum k.
    pub min_k: u64,
    /// Raw identities (names, emails, logins, account ids) that must not appear.
    pub identities: &'a [String],
    /// The pseudonym key, which must not appear.
    pub key: &'a [u8],
    /// Noise added, if any.
    pub noise: Option<&'a NoiseNote>,
}

fn is_month(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7 && b[4] == b'-' && s[..4].parse::<u32>().is_ok() && s[5..].parse::<u32>().is_ok()
}

/// Runs every rule. A report may be approved only if all pass.
// Long: a flat list of the privacy rules, in the order the review shows them, each a few lines.
pub fn review(r: &ReviewInput<'_>) -> Vec<RuleResult> {
    let mut out = Vec::new();
    out.push(RuleResult::new(
        "min_group_size",
        r.k >= r.min_k,
        format!(
            "made with k = {}; the policy requires at least {}",
            r.k, r.min_k
        ),
    ));
    // Every shown cell counts at least min_k people.
    let (mut small, mut shown, mut suppressed, mut complementary) = (0, 0, 0, 0);
    let mut complementary_ok = true;
    for (raw, p) in r.raw.iter().zip(r.published) {
        for j in 0..p.columns.len() {
            let mut hidden_rows = 0;
            let pairs = raw
                .rows
                .iter()
                .map(|(_, c)| c)
                .zip(p.rows.iter().map(|r| &r.cells))
                .chain(std::iter::once((&raw.total, &p.total.cells)));
            for (is_total, (rc, pc)) in pairs.enumerate().map(|(i, x)| (i == raw.rows.len(), x)) {
                let (Some(rc), Some(pc)) = (rc.get(j), pc.get(j)) else {
                    continue;
                };
                match pc.status {
                    CellStatus::Shown | CellStatus::Noised => {
                        shown += 1;
                        if rc.people < r.min_k && (rc.people > 0 || is_total) {
                            small += 1;
                        }
                    }
                    CellStatus::Suppressed => {
                        suppressed += 1;
                        hidden_rows += usize::from(!is_total);
                    }
                    CellStatus::Complementary => {
                        complementary += 1;
                        hidden_rows += usize::from(!is_total);
                    }
                }
            }
            if hidden_rows == 1 && !hidden(&p.total.cells[j]) {
                complementary_ok = false;
            }
        }
    }
    out.push(RuleResult::new(
        "cells_at_least_k",
        small == 0,
        format!(
            "{shown} cells shown, {small} of them count fewer than {} people; {suppressed} suppressed",
            r.min_k
        ),
    ));
    out.push(RuleResult::new(
        "complementary_suppression",
        complementary_ok,
        format!(
            "{complementary} cells hidden so that no suppressed cell equals its total minus the shown cells"
        ),
    ));
    out.push(identity_rule(r.identities, r.document));
    let labels_ok = r.published.iter().all(|t| {
        t.rows.iter().all(|row| match t.name.as_str() {
            TZ_TABLE => TZ_BANDS.contains(&row.label.as_str()),
            TENURE_TABLE => TENURE_BANDS.contains(&row.label.as_str()),
            _ => is_month(&row.label),
        })
    });
    out.push(RuleResult::new(
        "quasi_identifiers_generalised",
        labels_ok,
        "time zones only as bands, join dates only as tenure bands, times only as months",
    ));
    let numbers_only = r.published.iter().all(|t| {
        t.columns
            .iter()
            .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
    });
    out.push(RuleResult::new(
        "no_free_text",
        numbers_only && labels_ok,
        "cells are numbers; labels come from a fixed vocabulary, never from comments or messages",
    ));
    let text = r.document.to_string();
    let lower = text.to_lowercase();
    let key_hex = hex::encode(r.key);
    let key_text = String::from_utf8_lossy(r.key).trim().to_string();
    let key_leak = (!key_hex.is_empty() && lower.contains(&key_hex))
        || (key_text.len() >= 8 && text.contains(&key_text));
    out.push(RuleResult::new(
        "pseudonym_key_absent",
        !key_leak,
        "the pseudonym key appears nowhere in the report",
    ));
    out.push(match r.noise {
        Some(n) => dp_rule(n),
        None => RuleResult::new(
            "differential_privacy",
            true,
            "no noise requested (optional); suppression alone protects small groups",
        ),
    });
    out
}

/// The `no_raw_identity` rule: no name, email, login or account id in the report's values and
/// labels. The detail says where a leak is, never what it is.
fn identity_rule(identities: &[String], document: &serde_json::Value) -> RuleResult {
    let found = identity_search::search(identities, document);
    let mut detail = format!(
        "{} names, emails, logins and account ids searched for in the report's values and labels (not its keys or fixed vocabulary); {} found",
        identities.len(),
        found.identities
    );
    if !found.places.is_empty() {
        let places: Vec<&str> = found.places.iter().map(String::as_str).collect();
        detail.push_str(&format!(" (in {})", places.join(", ")));
    }
    RuleResult::new("no_raw_identity", found.identities == 0, detail)
}

/// The `differential_privacy` rule for a noised report. Gaussian noise passes only where its
/// classical analysis holds: delta in (0, 1) and at most 1 epsilon per cell.
fn dp_rule(n: &NoiseNote) -> RuleResult {
    const NOT_PEOPLE: &str = "CI runtime and energy are not about people and are not noised";
    let eps_ok = n.epsilon > 0.0 && n.epsilon.is_finite();
    match n.delta {
        None => RuleResult::new(
            "differential_privacy",
            eps_ok,
            format!(
                "Laplace noise, epsilon {} over {} cells (scale {:.1} on people counts, {:.1} on activity counts); {NOT_PEOPLE}",
                n.epsilon, n.cells, n.people_scale, n.activity_scale
            ),
        ),
        Some(delta) => {
            let per_cell = n.epsilon / n.cells.max(1) as f64;
            let delta_ok = delta > 0.0 && delta < 1.0;
            let mut detail = format!(
                "Gaussian noise, (epsilon, delta) = ({}, {delta:e}) over {} cells (sigma {:.1} on people counts, {:.1} on activity counts); {NOT_PEOPLE}",
                n.epsilon, n.cells, n.people_scale, n.activity_scale
            );
            if !delta_ok {
                detail.push_str("; delta must be between 0 and 1");
            }
            if per_cell > 1.0 {
                detail.push_str(&format!(
                    "; epsilon per cell is {per_cell:.2}, but the Gaussian mechanism's guarantee needs at most 1: lower epsilon or use Laplace"
                ));
            }
            RuleResult::new(
                "differential_privacy",
                eps_ok && delta_ok && per_cell <= 1.0,
                detail,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::aggregate::Column;
    use proptest::prelude::*;

    /// The names of the rules that failed.
    fn failed(res: &[RuleResult]) -> Vec<&str> {
        res.iter()
            .filter(|r| !r.passed)
            .map(|r| r.rule.as_str())
            .collect()
    }

    fn table(rows: &[u64]) -> RawTable {
        let cell = |p: u64| RawCell {
            value: p as f64,
            people: p,
        };
        RawTable {
            name: "tenure_band".into(),
            columns: vec![Column {
                name: "people".into(),
                kind: CellKind::People,
            }],
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, p)| (TENURE_BANDS[i % 3].to_string(), vec![cell(*p)]))
                .collect(),
            total: vec![cell(rows.iter().sum())],
        }
    }

    #[test]
    fn a_single_small_cell_takes_another_with_it() {
        let (p, _) = publish(&[table(&[2, 9, 12])], 5, None);
        let s: Vec<CellStatus> = p[0].rows.iter().map(|r| r.cells[0].status).collect();
        assert_eq!(
            s,
            [
                CellStatus::Suppressed,
                CellStatus::Complementary,
                CellStatus::Shown
            ]
        );
        assert_eq!(p[0].total.cells[0].value, Some(23.0));
    }

    proptest! {
        #[test]
        fn shown_cells_count_k_and_totals_do_not_reveal(rows in proptest::collection::vec(0u64..12, 1..4), k in 2u64..7) {
            let raw = [table(&rows)];
            let (p, _) = publish(&raw, k, None);
            let t = &p[0];
            let hidden_rows: Vec<usize> = (0..rows.len()).filter(|i| hidden(&t.rows[*i].cells[0])).collect();
            for (i, r) in t.rows.iter().enumerate() {
                if !hidden(&r.cells[0]) {
                    prop_assert!(rows[i] == 0 || rows[i] >= k);
                }
            }
            if !hidden(&t.total.cells[0]) {
                // Never exactly one hidden cell next to a shown total.
                prop_assert!(hidden_rows.len() != 1);
            }
            let res = review(&ReviewInput { raw: &raw, published: &p, document: &serde_json::Value::Null, k, min_k: k, identities: &[], key: b"0123456789abcdef", noise: None });
            prop_assert!(res.iter().all(|r| r.passed), "{res:?}");
        }
    }

    #[test]
    fn a_report_made_with_a_small_k_fails_review() {
        let raw = [table(&[3, 9, 12])];
        let (p, _) = publish(&raw, 2, None);
        let res = review(&ReviewInput {
            raw: &raw,
            published: &p,
            document: &serde_json::Value::Null,
            k: 2,
            min_k: 5,
            identities: &[],
            key: b"k",
            noise: None,
        });
        assert_eq!(failed(&res), ["min_group_size", "cells_at_least_k"]);
    }

    #[test]
    fn identities_and_the_key_are_found_in_the_document() {
        let raw = [table(&[6, 9, 12])];
        let (p, note) = publish(
            &raw,
            5,
            Some(Noise {
                epsilon: 1.0,
                mechanism: Mechanism::Laplace,
                clip: 50,
                seed: 7,
            }),
        );
        assert!(
            p[0].rows
                .iter()
                .all(|r| r.cells[0].status == CellStatus::Noised)
        );
        let key = b"super-secret-key";
        let document = serde_json::json!({
            "period": { "start": "... ada@example.org, Canada ..." },
            "tables": p,
            "id": "super-secret-key",
        });
        let res = review(&ReviewInput {
            raw: &raw,
            published: &p,
            document: &document,
            k: 5,
            min_k: 5,
            identities: &["Ada@example.org".into(), "bob".into(), "ada".into()],
            key,
            noise: note.as_ref(),
        });
        assert_eq!(failed(&res), ["no_raw_identity", "pseudonym_key_absent"]);
        let identity = &res[3];
        assert!(
            identity.detail.ends_with("; 1 found (in start)"),
            "{}",
            identity.detail
        );
    }

    #[test]
    fn gaussian_noise_is_reviewed_against_its_guarantee() {
        let raw = [table(&[6, 9, 12])];
        let gauss = |epsilon: f64, delta: f64| Noise {
            epsilon,
            mechanism: Mechanism::Gaussian { delta },
            clip: 50,
            seed: 7,
        };
        let (p, note) = publish(&raw, 5, Some(gauss(1.0, 1e-6)));
        let note = note.expect("noise note");
        assert_eq!(note.mechanism, "gaussian");
        assert_eq!(note.delta, Some(1e-6));
        // Four cells (three rows and the total) share epsilon 1 and delta 1e-6.
        assert_eq!(note.cells, 4);
        let sigma = gaussian_sigma(1.0, 0.25, 0.25e-6);
        assert!((note.people_scale - sigma).abs() < 1e-9);
        assert!(
            p[0].rows
                .iter()
                .all(|r| r.cells[0].status == CellStatus::Noised)
        );
        let rule = dp_rule(&note);
        assert!(rule.passed, "{}", rule.detail);
        assert!(rule.detail.starts_with("Gaussian noise"));
        // Eight epsilon over four cells is 2 per cell: outside the classical analysis.
        let (_, wide) = publish(&raw, 5, Some(gauss(8.0, 1e-6)));
        let rule = dp_rule(&wide.expect("noise note"));
        assert!(!rule.passed && rule.detail.contains("epsilon per cell is 2.00"));
        let (_, bad) = publish(&raw, 5, Some(gauss(1.0, 1.5)));
        assert!(!dp_rule(&bad.expect("noise note")).passed);
        // The same seed gives the same report; Laplace and Gaussian differ.
        assert_eq!(publish(&raw, 5, Some(gauss(1.0, 1e-6))).0, p);
        let laplace = Noise {
            mechanism: Mechanism::Laplace,
            ..gauss(1.0, 1e-6)
        };
        assert_ne!(publish(&raw, 5, Some(laplace)).0, p);
    }
}
