//! ARTIFACT.md of a burnout model: what it predicts, the recipe, every training history with its
//! commit, and its validation on histories it never saw.

use std::fmt::Write;

use super::model::Artifact;

/// The notes of an artifact, in Markdown.
pub fn render(a: &Artifact) -> String {
    let mut o = String::new();
    let p = &a.recipe.params;
    let _ = writeln!(
        o,
        "# Burnout (disengagement) model\n\n\
         `model.json`: gradient-boosted trees (logistic loss) giving the probability that a person \
         with at least {} active weeks among the last {} has no activity in the next {} weeks, from \
         the {} predictors of docs/metrics.md (#disengagement-predictors). Canopy shows 100 × that \
         probability as the risk score, with exact Shapley values per group of predictors against \
         the mean training row.\n",
        a.rule.min_active,
        a.rule.window,
        a.rule.horizon,
        a.predictors.len()
    );
    let _ = writeln!(
        o,
        "Recipe: {} trees, learning rate {}, depth {}, at least {} rows per leaf, row subsample {}, \
         L2 {}, seed {}; every disengaged person-week and at most {} others (sampled, seeded; the \
         intercept is corrected for the sampling).\n\n\
         Reproduce: `canopy burnout train --git PATH ... --out models/src/burnout/model.json` \
         with the histories below checked out at the commits listed (or stores made from them \
         with `canopy analyze --git PATH --store DIR`, passed as `--store DIR`).\n",
        p.trees,
        p.learning_rate,
        p.max_depth,
        p.min_leaf,
        p.subsample,
        p.lambda,
        p.seed,
        a.recipe.max_negatives
    );
    trained_on(&mut o, a);
    validation(&mut o, a);
    o
}

/// The training histories, each with its commit and counts.
fn trained_on(o: &mut String, a: &Artifact) {
    let total: usize = a.trained_on.iter().map(|t| t.samples).sum();
    let pos: usize = a.trained_on.iter().map(|t| t.positives).sum();
    let _ = writeln!(
        o,
        "## Trained on\n\n{} histories, {total} labelled person-weeks, {pos} disengaged. Plain git \
         history only (public repositories fetched as bare snapshots; nothing of them is in this \
         repository).\n\n| repository | commit | people | labelled person-weeks | disengaged |\n|---|---|---:|---:|---:|",
        a.trained_on.len()
    );
    for t in &a.trained_on {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} |",
            t.name,
            t.commit.as_deref().unwrap_or("–"),
            t.people,
            t.samples,
            t.positives
        );
    }
}

/// The validation on histories no training or tuning saw, or why there is none.
fn validation(o: &mut String, a: &Artifact) {
    o.push_str("\n## Validation\n\n");
    match &a.validation {
        None => o.push_str(
            "Not validated yet: Canopy shows no risk score with this model, only indicators.\n",
        ),
        Some(v) => {
            let _ = writeln!(
                o,
                "On histories no training or tuning saw ({}), without refitting: ROC AUC {:.3} \
                 [95% CI {:.3}–{:.3}] on {} disengaged person-weeks ({} people), Brier {:.4}, \
                 precision at the top decile {:.3} (base rate {:.3}); best simple baseline \
                 `{}` {:.3}. See docs/burnout.md for the per-repository table.",
                v.histories.join(", "),
                v.auc,
                v.auc_ci[0],
                v.auc_ci[1],
                v.positives,
                v.departures,
                v.brier,
                v.precision_at_top_decile,
                v.base_rate,
                v.best_baseline,
                v.best_baseline_auc
            );
        }
    }
}
