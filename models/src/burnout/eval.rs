//! Walk-forward evaluation of the model, the shipped artifact and the simple baselines on the
//! same scored person-weeks, pooled over histories and per history: ROC AUC with a seeded
//! cluster-bootstrap 95% interval, PR AUC, precision at the top decile, Brier score and a
//! reliability table. With fewer than [`MIN_POSITIVES`] disengagements no AUC is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::features::{F, f};
use super::logistic::Logistic;
use super::metrics::{self, Bin};
use super::model::{Artifact, Recipe, train};
use super::walk::{Dataset, Fold, Plan, folds, walk};

/// Fewest disengagements an AUC is reported on.
pub const MIN_POSITIVES: usize = 30;

/// A simple baseline: a logistic regression on a few predictors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    /// Name in reports.
    pub name: &'static str,
    /// Predictors it reads.
    pub columns: &'static [usize],
}

/// The baselines a skeptic would try first.
pub const BASELINES: [Baseline; 5] = [
    Baseline {
        name: "activity_volume",
        columns: &[f::COMMITS_12, f::CHURN_12],
    },
    Baseline {
        name: "recency",
        columns: &[f::WEEKS_SINCE_ACTIVE],
    },
    Baseline {
        name: "trend",
        columns: &[f::ACTIVITY_TREND],
    },
    Baseline {
        name: "recency_and_trend",
        columns: &[f::WEEKS_SINCE_ACTIVE, f::ACTIVITY_TREND],
    },
    Baseline {
        name: "tenure",
        columns: &[f::TENURE],
    },
];

/// Evaluation settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The walk.
    pub plan: Plan,
    /// How the model is trained at each cut.
    pub recipe: Recipe,
    /// Bootstrap resamples of the intervals.
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            plan: Plan::default(),
            recipe: Recipe::default(),
            bootstrap: 500,
            seed: 20_261_201,
        }
    }
}

/// Figures of one predictor on a set of scored weeks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// ROC AUC (absent with too few disengagements).
    pub auc: Option<f64>,
    /// Its bootstrap 95% interval.
    pub auc_ci: Option<[f64; 2]>,
    /// Average precision.
    pub pr_auc: f64,
    /// Share of disengagements among the top 10% of scores.
    pub precision_at_top_decile: f64,
    /// Brier score of the probabilities.
    pub brier: f64,
    /// Reliability table (10 bins).
    pub reliability: Vec<Bin>,
}

/// Figures on one part (all histories pooled, or one history).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// `pooled` or the history's name.
    pub name: String,
    /// People with at least one scored week.
    pub people: usize,
    /// Scored person-weeks.
    pub scored: usize,
    /// Disengaged person-weeks among them.
    pub positives: usize,
    /// Distinct people with a disengaged scored week.
    pub departures: usize,
    /// Share of disengaged weeks.
    pub base_rate: f64,
    /// The model trained inside the walk.
    pub model: Figures,
    /// The shipped artifact, not refitted (absent when not evaluated).
    pub shipped: Option<Figures>,
    /// Each baseline by name.
    pub baselines: BTreeMap<String, Figures>,
    /// The baseline with the highest ROC AUC here.
    pub best_baseline: String,
    /// Bootstrap 95% interval of the shipped AUC minus the best baseline's.
    pub shipped_minus_best_baseline_ci: Option<[f64; 2]>,
    /// Why no AUC is given, when it is not.
    pub withheld: Option<String>,
}

/// A whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Cuts of the walk.
    pub folds: usize,
    /// First week scored (week index).
    pub first_cut: Option<i64>,
    /// Labelled person-weeks before the first cut (only ever trained on).
    pub train_only: usize,
    /// All histories pooled.
    pub pooled: Part,
    /// Each history.
    pub histories: Vec<Part>,
}

/// Scores of every predictor on the scored rows.
struct Scored {
    rows: Vec<usize>,
    model: Vec<f64>,
    shipped: Option<Vec<f64>>,
    baselines: Vec<Vec<f64>>,
}

/// Progress of a long evaluation, in words ("the model: 3 of 24 cuts").
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

fn score_all(
    data: &Dataset,
    folds: &[Fold],
    shipped: Option<&Artifact>,
    s: &Settings,
    progress: Progress<'_>,
) -> Scored {
    let samples = &data.samples;
    let rows: Vec<usize> = folds.iter().flat_map(|f| f.test.iter().copied()).collect();
    let recipe = s.recipe;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let model = walk(samples, folds, |tr| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(&format!(
            "training the model at cut {n} of {} ({} person-weeks)",
            folds.len(),
            tr.len()
        ));
        let m = train(tr, &recipe);
        Box::new(move |x: &[f64; F]| m.probability(x))
    });
    let baselines = BASELINES
        .iter()
        .map(|b| {
            progress(&format!("fitting the {} baseline at every cut", b.name));
            walk(samples, folds, |tr| {
                let ys: Vec<bool> = tr.iter().map(|s| s.y).collect();
                let xs: Vec<&[f64; F]> = tr.iter().map(|s| &s.x).collect();
                let m = Logistic::fit(&xs, &ys, b.columns, 1e-4);
                Box::new(move |x: &[f64; F]| m.probability(x))
            })
        })
        .collect();
    let shipped = shipped.map(|a| rows.iter().map(|&i| a.probability(&samples[i].x)).collect());
    Scored {
        rows,
        model,
        shipped,
        baselines,
    }
}

fn figures(scores: &[f64], ys: &[bool], reps: Option<&[f64]>) -> Figures {
    Figures {
        auc: Some(metrics::auc(scores, ys)),
        auc_ci: reps.map(metrics::interval),
        pr_auc: metrics::pr_auc(scores, ys),
        precision_at_top_decile: metrics::precision_at_top_decile(scores, ys),
        brier: metrics::brier(scores, ys),
        reliability: metrics::reliability(scores, ys, 10),
    }
}

/// Figures of the scored rows at positions `at` (indices into `sc.rows`).
fn part(name: &str, data: &Dataset, sc: &Scored, at: &[usize], s: &Settings) -> Part {
    let samples = &data.samples;
    let ys: Vec<bool> = at.iter().map(|&j| samples[sc.rows[j]].y).collect();
    let pick = |v: &[f64]| -> Vec<f64> { at.iter().map(|&j| v[j]).collect() };
    let mut ids: HashMap<u32, u32> = HashMap::new();
    let clusters: Vec<u32> = at
        .iter()
        .map(|&j| {
            let n = ids.len() as u32;
            *ids.entry(samples[sc.rows[j]].person).or_insert(n)
        })
        .collect();
    let positives = ys.iter().filter(|&&y| y).count();
    let departures: BTreeSet<u32> = at
        .iter()
        .filter(|&&j| samples[sc.rows[j]].y)
        .map(|&j| samples[sc.rows[j]].person)
        .collect();
    let model = pick(&sc.model);
    let shipped = sc.shipped.as_deref().map(pick);
    let baselines: Vec<Vec<f64>> = sc.baselines.iter().map(|b| pick(b)).collect();
    let mut all: Vec<&[f64]> = vec![&model];
    all.extend(baselines.iter().map(Vec::as_slice));
    if let Some(sh) = &shipped {
        all.push(sh);
    }
    let reps = metrics::bootstrap_aucs(&all, &ys, &clusters, s.bootstrap, s.seed);
    let mut base_figs: BTreeMap<String, Figures> = BTreeMap::new();
    let mut best = (0, f64::NEG_INFINITY);
    for (b, scores) in baselines.iter().enumerate() {
        let fig = figures(scores, &ys, Some(&reps[1 + b]));
        let a = fig.auc.unwrap_or(f64::NAN);
        if a > best.1 {
            best = (b, a);
        }
        base_figs.insert(BASELINES[b].name.to_string(), fig);
    }
    let shipped_figs = shipped
        .as_ref()
        .map(|sh| figures(sh, &ys, reps.last().map(Vec::as_slice)));
    let diff = shipped.as_ref().map(|_| {
        let d: Vec<f64> = reps[reps.len() - 1]
            .iter()
            .zip(&reps[1 + best.0])
            .map(|(a, b)| a - b)
            .collect();
        metrics::interval(&d)
    });
    let mut p = Part {
        name: name.to_string(),
        people: ids.len(),
        scored: ys.len(),
        positives,
        departures: departures.len(),
        base_rate: positives as f64 / ys.len().max(1) as f64,
        model: figures(&model, &ys, Some(&reps[0])),
        shipped: shipped_figs,
        baselines: base_figs,
        best_baseline: BASELINES[best.0].name.to_string(),
        shipped_minus_best_baseline_ci: diff,
        withheld: None,
    };
    if positives < MIN_POSITIVES {
        p.withhold();
    }
    p
}

impl Part {
    /// Removes every AUC and says why: with so few disengagements the figure is noise.
    fn withhold(&mut self) {
        self.withheld = Some(format!(
            "only {} disengaged person-weeks were scored; an AUC needs at least {MIN_POSITIVES} \
             to mean anything (with fewer, its 95% interval spans ±0.15 or more)",
            self.positives
        ));
        let strip = |f: &mut Figures| {
            f.auc = None;
            f.auc_ci = None;
        };
        strip(&mut self.model);
        self.shipped.iter_mut().for_each(strip);
        self.baselines.values_mut().for_each(strip);
        self.shipped_minus_best_baseline_ci = None;
    }
}

/// Evaluates the model (trained walk-forward), the shipped artifact (as is) and the baselines
/// (trained walk-forward) on the same scored weeks of `data`.
pub fn evaluate(
    data: &Dataset,
    shipped: Option<&Artifact>,
    s: &Settings,
    progress: Progress<'_>,
) -> Evaluation {
    let folds = folds(&data.samples, &s.plan);
    let sc = score_all(data, &folds, shipped, s, progress);
    progress("bootstrapping the intervals");
    let all: Vec<usize> = (0..sc.rows.len()).collect();
    let pooled = part("pooled", data, &sc, &all, s);
    let histories = (0..data.histories.len())
        .map(|h| {
            let at: Vec<usize> = (0..sc.rows.len())
                .filter(|&j| usize::from(data.samples[sc.rows[j]].history) == h)
                .collect();
            part(&data.histories[h], data, &sc, &at, s)
        })
        .collect();
    let first_cut = folds.first().map(|f| f.cut);
    Evaluation {
        folds: folds.len(),
        first_cut,
        train_only: first_cut.map_or(data.samples.len(), |c| {
            data.samples.iter().filter(|s| s.week < c).count()
        }),
        pooled,
        histories,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burnout::walk::Sample;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Synthetic samples where disengagement follows recency and, more weakly, an after-hours
    /// rise that recency does not see.
    fn data(positive_rate: f64, n: usize) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let samples = (0..n)
            .map(|i| {
                let mut x = [f64::NAN; F];
                x[f::WEEKS_SINCE_ACTIVE] = f64::from(rng.random_range(0..8u8));
                x[f::LATE_CHANGE] = rng.random::<f64>();
                x[f::ACTIVITY_TREND] = rng.random::<f64>() - 0.5;
                x[f::COMMITS_12] = rng.random::<f64>();
                x[f::CHURN_12] = rng.random::<f64>();
                x[f::TENURE] = rng.random::<f64>();
                let z = -4.0 + 0.5 * x[f::WEEKS_SINCE_ACTIVE] + 3.0 * x[f::LATE_CHANGE];
                let p = positive_rate * 10.0 / (1.0 + (-z).exp());
                Sample {
                    history: (i % 2) as u16,
                    person: (i / 10) as u32,
                    week: (i / 50) as i64,
                    x,
                    y: rng.random::<f64>() < p,
                }
            })
            .collect();
        Dataset {
            histories: vec!["a".into(), "b".into()],
            people: vec![(n / 20) as u32; 2],
            samples,
        }
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.plan.block_weeks = 40;
        s.recipe.params.trees = 40;
        s.bootstrap = 100;
        s
    }

    #[test]
    fn the_model_beats_baselines_that_miss_a_signal_and_figures_are_complete() {
        let e = evaluate(&data(0.1, 12_000), None, &settings(), &|_| {});
        assert!(e.folds >= 3);
        let p = &e.pooled;
        assert!(p.positives >= MIN_POSITIVES && p.withheld.is_none());
        let model = p.model.auc.unwrap();
        let best = p.baselines[&p.best_baseline].auc.unwrap();
        assert!(
            p.best_baseline.starts_with("recency"),
            "{}",
            p.best_baseline
        );
        assert!(model > best + 0.03, "model {model} vs {best}");
        let [lo, hi] = p.model.auc_ci.unwrap();
        assert!(lo < model && model < hi);
        assert_eq!(p.model.reliability.len(), 10);
        assert_eq!(e.histories.len(), 2);
        assert_eq!(
            e.histories.iter().map(|h| h.scored).sum::<usize>(),
            p.scored
        );
    }

    #[test]
    fn too_few_positives_withhold_every_auc() {
        let mut s = settings();
        s.plan.min_train_positives = 3;
        let e = evaluate(&data(0.002, 4_000), None, &s, &|_| {});
        let p = &e.pooled;
        assert!(p.positives < MIN_POSITIVES, "{}", p.positives);
        assert!(p.withheld.as_deref().unwrap().contains("at least 30"));
        assert!(p.model.auc.is_none() && p.model.auc_ci.is_none());
        assert!(p.baselines.values().all(|b| b.auc.is_none()));
        assert!(p.model.brier.is_finite(), "other figures stay");
    }
}
