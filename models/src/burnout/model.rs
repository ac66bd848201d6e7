//! The disengagement model: gradient-boosted trees over the predictors of `features`, its
//! training recipe, and the shipped artifact (`model.json`, with the repositories it was
//! trained on and its validation on histories it never saw, in `ARTIFACT.md`).

use serde::{Deserialize, Serialize};

use super::features::{F, NAMES};
use super::labels::LabelRule;
use super::notes;
use super::walk::Sample;
use crate::gbt::{self, Gbt, Loss, Params};
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Format version of the artifact.
pub const FORMAT: u32 = 1;

/// The shipped artifact (trained with `canopy burnout train`).
pub static SHIPPED: &str = include_str!("model.json");

/// How a model is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Tree settings.
    pub params: Params,
    /// Most negatives kept (sampled, seeded); the intercept is corrected for the sampling.
    pub max_negatives: usize,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            params: Params {
                trees: 200,
                learning_rate: 0.05,
                max_depth: 4,
                min_leaf: 50,
                subsample: 0.8,
                lambda: 1.0,
                seed: 7,
            },
            max_negatives: 150_000,
        }
    }
}

/// Trains trees on samples: every positive, and negatives sampled down to
/// `recipe.max_negatives` with the log-odds corrected by the log of the sampling rate (exact
/// for a logistic model under outcome-dependent sampling).
pub fn train(rows: &[&Sample], recipe: &Recipe) -> Gbt {
    let negatives = rows.iter().filter(|s| !s.y).count();
    let rate = if negatives > recipe.max_negatives {
        recipe.max_negatives as f64 / negatives as f64
    } else {
        1.0
    };
    let mut rng = ChaCha8Rng::seed_from_u64(recipe.params.seed ^ 0x5eed);
    let kept: Vec<&&Sample> = rows
        .iter()
        .filter(|s| s.y || rate >= 1.0 || rng.random::<f64>() < rate)
        .collect();
    let x: Vec<Vec<f64>> = kept.iter().map(|s| s.x.to_vec()).collect();
    let y: Vec<f64> = kept.iter().map(|s| f64::from(u8::from(s.y))).collect();
    let mut m = gbt::fit(&x, &y, Loss::Logistic, &recipe.params);
    m.base += rate.ln();
    m
}

/// The mean of each predictor over rows (missing where all rows miss it).
pub fn mean_row(rows: &[&Sample]) -> Vec<Option<f64>> {
    let r = super::explain::team_reference(rows.iter().map(|s| &s.x));
    r.iter().map(|v| (!v.is_nan()).then_some(*v)).collect()
}

/// A repository (or store) the shipped model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSource {
    /// Name (`owner/repo`).
    pub name: String,
    /// Commit of the history read (git), if any.
    pub commit: Option<String>,
    /// People with activity.
    pub people: u32,
    /// Labelled person-weeks.
    pub samples: usize,
    /// Of which disengagements.
    pub positives: usize,
}

/// How the model did on histories it never saw, without refitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// The histories (`owner/repo@commit`).
    pub histories: Vec<String>,
    /// Pooled ROC AUC on their scored weeks.
    pub auc: f64,
    /// Its bootstrap 95% interval.
    pub auc_ci: [f64; 2],
    /// Disengaged person-weeks it rests on.
    pub positives: usize,
    /// Distinct people who disengaged.
    pub departures: usize,
    /// Brier score.
    pub brier: f64,
    /// Share of disengagements among the top 10% of scores.
    pub precision_at_top_decile: f64,
    /// Share of disengagements overall.
    pub base_rate: f64,
    /// The best simple baseline and its pooled ROC AUC.
    pub best_baseline: String,
    /// Its ROC AUC.
    pub best_baseline_auc: f64,
}

/// The model as shipped: trees, the rule they predict, where they come from, how they did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// [`FORMAT`].
    pub format: u32,
    /// Predictor names, in the order the trees read them (must equal `features::NAMES`).
    pub predictors: Vec<String>,
    /// The outcome predicted.
    pub rule: LabelRule,
    /// How it was trained.
    pub recipe: Recipe,
    /// The trees (log-odds of disengagement).
    pub model: Gbt,
    /// The mean training row (missing where every row was): the reference explanations are
    /// measured against, "a typical contributor's week".
    pub reference: Vec<Option<f64>>,
    /// Training histories.
    pub trained_on: Vec<TrainingSource>,
    /// Out-of-sample validation, once measured.
    pub validation: Option<Validation>,
}

/// Why an artifact could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Not a readable artifact.
    #[error("not a burnout model artifact: {0}")]
    Parse(#[from] serde_json::Error),
    /// Written by another version.
    #[error("burnout model format {found}, this build reads format {FORMAT}")]
    Format {
        /// The file's format.
        found: u32,
    },
    /// Its predictors are not this build's.
    #[error("the model reads other predictors than this build computes (retrain it)")]
    Predictors,
}

impl Artifact {
    /// Reads and checks an artifact.
    pub fn from_json(text: &str) -> Result<Artifact, ArtifactError> {
        let a: Artifact = serde_json::from_str(text)?;
        if a.format != FORMAT {
            return Err(ArtifactError::Format { found: a.format });
        }
        if a.predictors.len() != F
            || a.reference.len() != F
            || a.predictors.iter().zip(NAMES).any(|(a, b)| a != b)
        {
            return Err(ArtifactError::Predictors);
        }
        Ok(a)
    }

    /// The artifact built into Canopy.
    pub fn shipped() -> Result<Artifact, ArtifactError> {
        Artifact::from_json(SHIPPED)
    }

    /// Probability of disengagement (0–1) for a row of predictors.
    pub fn probability(&self, x: &[f64; F]) -> f64 {
        self.model.probability(x)
    }

    /// Risk in points, 0–100.
    pub fn score(&self, x: &[f64; F]) -> f64 {
        100.0 * self.probability(x)
    }

    /// The reference row of explanations.
    pub fn reference_row(&self) -> [f64; F] {
        std::array::from_fn(|i| self.reference.get(i).copied().flatten().unwrap_or(f64::NAN))
    }

    /// The training history a history named `name` may be: the same `owner/repo` (a mirror's
    /// `owner+repo` counts), or, for a bare `repo`, a training history of that repository name.
    pub fn trained_on_like(&self, name: &str) -> Option<&TrainingSource> {
        let norm = |s: &str| {
            s.to_ascii_lowercase()
                .trim_end_matches(".git")
                .replace(['+', '@'], "/")
        };
        let want = norm(name);
        let repo = |s: &str| s.rsplit('/').next().unwrap_or("").to_string();
        self.trained_on.iter().find(|t| {
            let have = norm(&t.name);
            have == want || (!want.contains('/') && repo(&have) == want)
        })
    }

    /// ARTIFACT.md: what the model is, how to reproduce it, what it was trained on, how it did.
    pub fn notes(&self) -> String {
        notes::render(self)
    }

    /// As compact JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_notes_are_what_the_shipped_artifact_renders() {
        let a = Artifact::shipped().expect("shipped artifact");
        assert_eq!(a.notes(), include_str!("ARTIFACT.md"));
    }

    #[test]
    fn a_history_is_matched_to_the_training_history_it_may_be() {
        let a = Artifact::shipped().expect("shipped artifact");
        let like = |n: &str| a.trained_on_like(n).map(|t| t.name.as_str());
        // A mirror's directory, a plain clone, a bare one, any case.
        assert_eq!(like("BurntSushi+ripgrep"), Some("BurntSushi/ripgrep"));
        assert_eq!(like("ripgrep"), Some("BurntSushi/ripgrep"));
        assert_eq!(like("Ripgrep.GIT"), Some("BurntSushi/ripgrep"));
        assert_eq!(like("tokio"), Some("tokio-rs/tokio"));
        // Another owner's repository of the same name is not the same history.
        assert_eq!(like("someone+ripgrep"), None);
        assert_eq!(like("rust-lang+bors"), None);
    }

    #[test]
    fn the_shipped_artifact_loads_and_matches_this_build() {
        let a = Artifact::shipped().expect("shipped artifact");
        assert_eq!(a.predictors.len(), F);
        assert!(!a.trained_on.is_empty());
        assert!(a.trained_on.iter().all(|t| t.commit.is_some()));
        let p = a.probability(&[f64::NAN; F]);
        assert!((0.0..=1.0).contains(&p));
        // A trained model, not a placeholder, with its hold-out validation recorded.
        assert_eq!(a.model.trees.len(), a.recipe.params.trees);
        let v = a.validation.as_ref().expect("hold-out validation recorded");
        assert!(v.positives >= 30 && v.histories.len() >= 3, "{v:?}");
        let trained: Vec<&str> = a.trained_on.iter().map(|t| t.name.as_str()).collect();
        for held in &v.histories {
            let name = held.split('@').next().unwrap_or(held);
            assert!(
                !trained.contains(&name),
                "{name} is both trained on and held out"
            );
        }
        let mut bad = a.clone();
        bad.predictors[0] = "other".into();
        assert!(matches!(
            Artifact::from_json(&bad.to_json().unwrap()),
            Err(ArtifactError::Predictors)
        ));
        bad = a.clone();
        bad.format = 99;
        assert!(matches!(
            Artifact::from_json(&bad.to_json().unwrap()),
            Err(ArtifactError::Format { found: 99 })
        ));
    }

    #[test]
    fn sampling_negatives_keeps_the_model_calibrated() {
        // Outcome rate 10% rising with x0; train with and without sampling the negatives.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rows: Vec<Sample> = (0..20_000)
            .map(|i| {
                let v: f64 = rng.random::<f64>();
                let mut x = [f64::NAN; F];
                x[0] = v;
                Sample {
                    history: 0,
                    person: i,
                    week: 0,
                    x,
                    y: rng.random::<f64>() < 0.2 * v,
                }
            })
            .collect();
        let refs: Vec<&Sample> = rows.iter().collect();
        let mut r = Recipe::default();
        r.params.trees = 60;
        let full = train(&refs, &r);
        r.max_negatives = 3_000;
        let sampled = train(&refs, &r);
        let mean = |m: &Gbt| rows.iter().map(|s| m.probability(&s.x)).sum::<f64>() / 20_000.0;
        let observed = rows.iter().filter(|s| s.y).count() as f64 / 20_000.0;
        assert!((mean(&full) - observed).abs() < 0.01);
        assert!(
            (mean(&sampled) - observed).abs() < 0.015,
            "{}",
            mean(&sampled)
        );
    }
}
