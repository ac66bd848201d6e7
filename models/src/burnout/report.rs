//! The stable summary of an evaluation (the JSON of `canopy burnout eval`) and its Markdown.

use std::collections::BTreeMap;
use std::fmt::Write;

use canopy_analyzer::week::IsoWeek;
use serde::Serialize;

use super::eval::{Evaluation, Figures, Part};
use super::metrics::Bin;

/// One JSON object; keys are an interface (scripts depend on them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// People with at least one scored week.
    pub people: usize,
    /// Scored person-weeks (after the first cut).
    pub test_samples: usize,
    /// Labelled person-weeks before the first cut, used only for training.
    pub train_samples: usize,
    /// Disengaged person-weeks among the scored.
    pub positives: usize,
    /// Distinct people among those disengagements.
    pub departures: usize,
    /// Share of disengaged scored weeks.
    pub base_rate: f64,
    /// Weeks of silence that make a disengagement.
    pub horizon_weeks: usize,
    /// Cuts of the walk forward.
    pub folds: usize,
    /// First scored week.
    pub first_scored_week: Option<String>,
    /// Figures of the model trained inside the evaluation (walk-forward), under the top-level
    /// keys `auc`, `auc_ci`, `pr_auc`, `precision_at_top_decile`, `brier` and `reliability`.
    #[serde(flatten)]
    pub model: Figures,
    /// ROC AUC of the shipped model, not refitted.
    pub prior_auc: Option<f64>,
    /// Its interval.
    pub prior_auc_ci: Option<[f64; 2]>,
    /// Its share of disengagements in the top decile.
    pub prior_precision_at_top_decile: Option<f64>,
    /// Its Brier score.
    pub prior_brier: Option<f64>,
    /// Its reliability table.
    pub prior_reliability: Option<Vec<Bin>>,
    /// Interval of (shipped AUC − best baseline AUC).
    pub prior_minus_baseline_ci: Option<[f64; 2]>,
    /// The best simple baseline (highest ROC AUC).
    pub baseline: String,
    /// Its ROC AUC.
    pub baseline_auc: Option<f64>,
    /// Its interval.
    pub baseline_auc_ci: Option<[f64; 2]>,
    /// Its share of disengagements in the top decile.
    pub baseline_precision_at_top_decile: f64,
    /// Its Brier score.
    pub baseline_brier: f64,
    /// Every baseline by name.
    pub baselines: BTreeMap<String, Figures>,
    /// Why no AUC is given, when it is not.
    pub auc_withheld: Option<String>,
    /// The same figures per history.
    pub histories: Vec<Part>,
}

impl Summary {
    /// The summary of an evaluation.
    pub fn new(e: &Evaluation, horizon_weeks: usize) -> Summary {
        let p = &e.pooled;
        let best = &p.baselines[&p.best_baseline];
        let sh = p.shipped.as_ref();
        Summary {
            people: p.people,
            test_samples: p.scored,
            train_samples: e.train_only,
            positives: p.positives,
            departures: p.departures,
            base_rate: p.base_rate,
            horizon_weeks,
            folds: e.folds,
            first_scored_week: e.first_cut.map(|w| IsoWeek::from_index(w).to_string()),
            model: p.model.clone(),
            prior_auc: sh.and_then(|s| s.auc),
            prior_auc_ci: sh.and_then(|s| s.auc_ci),
            prior_precision_at_top_decile: sh.map(|s| s.precision_at_top_decile),
            prior_brier: sh.map(|s| s.brier),
            prior_reliability: sh.map(|s| s.reliability.clone()),
            prior_minus_baseline_ci: p.shipped_minus_best_baseline_ci,
            baseline: p.best_baseline.clone(),
            baseline_auc: best.auc,
            baseline_auc_ci: best.auc_ci,
            baseline_precision_at_top_decile: best.precision_at_top_decile,
            baseline_brier: best.brier,
            baselines: p.baselines.clone(),
            auc_withheld: p.withheld.clone(),
            histories: e.histories.clone(),
        }
    }

    /// As Markdown: pooled figures, per-history table, reliability of the shipped model.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} people; {} scored person-weeks from {} in {} walk-forward steps ({} earlier ones only trained on); \
             {} disengagements (no activity in the next {} weeks) by {} people, base rate {:.1}%.\n",
            self.people,
            self.test_samples,
            self.first_scored_week.as_deref().unwrap_or("–"),
            self.folds,
            self.train_samples,
            self.positives,
            self.horizon_weeks,
            self.departures,
            100.0 * self.base_rate
        );
        if let Some(why) = &self.auc_withheld {
            let _ = writeln!(o, "No AUC is given: {why}.\n");
        }
        self.figures_table(&mut o);
        self.histories_table(&mut o);
        self.reliability_table(&mut o);
        o
    }

    /// The pooled table: the shipped model, the walk-forward model and every baseline.
    fn figures_table(&self, o: &mut String) {
        o.push_str("| predictor | ROC AUC [95% CI] | precision at top 10% | Brier |\n|---|---:|---:|---:|\n");
        let row =
            |o: &mut String, name: &str, auc: Option<f64>, ci: Option<[f64; 2]>, p: f64, b: f64| {
                let _ = writeln!(o, "| {name} | {} | {p:.3} | {b:.4} |", auc_text(auc, ci));
            };
        if let (Some(p), Some(b)) = (self.prior_precision_at_top_decile, self.prior_brier) {
            row(
                o,
                "shipped model (no refit)",
                self.prior_auc,
                self.prior_auc_ci,
                p,
                b,
            );
        }
        row(
            o,
            "model trained walk-forward here",
            self.model.auc,
            self.model.auc_ci,
            self.model.precision_at_top_decile,
            self.model.brier,
        );
        for (name, f) in &self.baselines {
            let best = if *name == self.baseline {
                " (best baseline)"
            } else {
                ""
            };
            row(
                o,
                &format!("baseline: {}{best}", name.replace('_', " ")),
                f.auc,
                f.auc_ci,
                f.precision_at_top_decile,
                f.brier,
            );
        }
        if let Some([lo, hi]) = self.prior_minus_baseline_ci {
            let _ = writeln!(
                o,
                "\nShipped model minus best baseline, ROC AUC: 95% CI [{lo:+.3}, {hi:+.3}]."
            );
        }
    }

    /// One row per history: people, scored weeks, positives, and the three AUCs.
    fn histories_table(&self, o: &mut String) {
        o.push_str("\n| history | people | scored | positives | departures | shipped AUC | best baseline AUC | walk-forward AUC |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for h in &self.histories {
            let b = &h.baselines[&h.best_baseline];
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
                h.name,
                h.people,
                h.scored,
                h.positives,
                h.departures,
                h.shipped
                    .as_ref()
                    .map_or("–".into(), |s| auc_text(s.auc, s.auc_ci)),
                auc_text(b.auc, b.auc_ci),
                h.best_baseline.replace('_', " "),
                auc_text(h.model.auc, h.model.auc_ci)
            );
        }
    }

    /// The reliability table of the shipped model (or, without one, the walk-forward model).
    fn reliability_table(&self, o: &mut String) {
        let (label, bins) = match &self.prior_reliability {
            Some(b) => ("shipped model", b),
            None => ("walk-forward model", &self.model.reliability),
        };
        let _ = writeln!(
            o,
            "\nReliability of the {label}:\n\n| predicted | weeks | mean predicted | observed |\n|---|---:|---:|---:|"
        );
        for b in bins.iter().filter(|b| b.count > 0) {
            let _ = writeln!(
                o,
                "| {:.1}–{:.1} | {} | {:.3} | {:.3} |",
                b.from, b.to, b.count, b.predicted, b.observed
            );
        }
    }
}

/// "0.812 [0.790, 0.833]", or "withheld".
fn auc_text(auc: Option<f64>, ci: Option<[f64; 2]>) -> String {
    match (auc, ci) {
        (Some(a), Some([lo, hi])) => format!("{a:.3} [{lo:.3}, {hi:.3}]"),
        (Some(a), None) => format!("{a:.3}"),
        _ => "withheld".into(),
    }
}
