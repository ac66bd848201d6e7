//! Labelled samples of histories and walk-forward evaluation, as a deployed model sees the
//! world: at each cut, train on the person-weeks whose outcome was already known (their whole
//! horizon before the cut), score the next block of weeks, move the cut. Histories are pooled
//! on the calendar, so a cut trains on every history's past at once.

use std::collections::HashMap;

use canopy_analyzer::indicators::PersonWeek;
use canopy_analyzer::week::IsoWeek;

use super::features::{F, Person, Team, is_active, person_features, runs};
use super::labels::LabelRule;

/// One labelled person-week.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of its history.
    pub history: u16,
    /// Person, unique across histories (a cluster of the bootstrap).
    pub person: u32,
    /// Week index ([`IsoWeek::index`]).
    pub week: i64,
    /// Predictors.
    pub x: [f64; F],
    /// Disengaged in the horizon.
    pub y: bool,
}

/// Labelled samples of several histories.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// History names, by index.
    pub histories: Vec<String>,
    /// People per history (with at least one person-week).
    pub people: Vec<u32>,
    /// Samples, in history then person then week order.
    pub samples: Vec<Sample>,
}

impl Dataset {
    /// Adds a history: its person-weeks (sorted by person then week), the data's first and
    /// last week, labelled under `rule`. Censored and ineligible weeks are left out.
    pub fn add(
        &mut self,
        name: &str,
        weeks: &[PersonWeek],
        first: IsoWeek,
        last: IsoWeek,
        rule: &LabelRule,
    ) {
        let h = self.histories.len() as u16;
        let base: u32 = self.people.iter().sum();
        let team = Team::new(weeks, first, last);
        let span = (last.index() - first.index() + 1).max(0) as usize;
        let runs = runs(weeks);
        let mut active = vec![false; span];
        for (pi, run) in runs.iter().enumerate() {
            // Fewer active weeks than eligibility needs: never labelled.
            if run.iter().filter(|w| is_active(&w.values)).count() < rule.min_active {
                continue;
            }
            let Some(p) = Person::new(run, last) else {
                continue;
            };
            active.iter_mut().for_each(|a| *a = false);
            let lead = (p.first - first.index()).max(0) as usize;
            for (k, v) in p.values.iter().enumerate() {
                if let Some(a) = active.get_mut(lead + k) {
                    *a = is_active(v);
                }
            }
            let labels = rule.labels(&active);
            person_features(&p, &team, |w, x| {
                let i = (w - first.index()) as usize;
                if let Some(y) = labels.get(i).and_then(|l| l.outcome()) {
                    self.samples.push(Sample {
                        history: h,
                        person: base + pi as u32,
                        week: w,
                        x: *x,
                        y,
                    });
                }
            });
        }
        self.histories.push(name.to_string());
        self.people.push(runs.len() as u32);
    }

    /// Positive samples.
    pub fn positives(&self) -> usize {
        self.samples.iter().filter(|s| s.y).count()
    }
}

/// How the walk forward proceeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Weeks scored after each cut.
    pub block_weeks: i64,
    /// Share of samples (by week) before the first cut.
    pub start_share: f64,
    /// Outcome horizon (weeks): a training sample's horizon must end before the cut.
    pub horizon: i64,
    /// Fewest positives a fold's training part needs; folds with fewer are not scored.
    pub min_train_positives: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            block_weeks: 26,
            start_share: 0.3,
            horizon: 12,
            min_train_positives: 20,
        }
    }
}

/// One step of the walk: the cut, and the samples trained on and scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    /// First week scored.
    pub cut: i64,
    /// Samples whose outcome was known before the cut.
    pub train: Vec<usize>,
    /// Samples of weeks `cut..cut + block_weeks`.
    pub test: Vec<usize>,
}

/// The folds of a walk over samples.
pub fn folds(samples: &[Sample], plan: &Plan) -> Vec<Fold> {
    let mut weeks: Vec<i64> = samples.iter().map(|s| s.week).collect();
    if weeks.is_empty() {
        return Vec::new();
    }
    weeks.sort_unstable();
    let start = weeks[((weeks.len() - 1) as f64 * plan.start_share) as usize];
    let end = weeks[weeks.len() - 1];
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| samples[i].week);
    let mut out = Vec::new();
    let mut cut = start;
    while cut <= end {
        let train: Vec<usize> = order
            .iter()
            .copied()
            .take_while(|&i| samples[i].week + plan.horizon < cut)
            .collect();
        let positives = train.iter().filter(|&&i| samples[i].y).count();
        let test: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| (cut..cut + plan.block_weeks).contains(&samples[i].week))
            .collect();
        if positives >= plan.min_train_positives && positives < train.len() && !test.is_empty() {
            out.push(Fold { cut, train, test });
        }
        cut += plan.block_weeks;
    }
    out
}

/// Scores the test samples of every fold (in fold order) with a predictor trained on that
/// fold's training samples; folds run on all cores.
pub fn walk<T: Fn(&[&Sample]) -> Box<dyn Fn(&[f64; F]) -> f64> + Sync>(
    samples: &[Sample],
    folds: &[Fold],
    train: T,
) -> Vec<f64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks: Vec<Vec<&Fold>> = (0..threads)
        .map(|t| folds.iter().skip(t).step_by(threads).collect())
        .collect();
    let mut by_fold: HashMap<i64, Vec<f64>> = HashMap::new();
    std::thread::scope(|s| {
        let train = &train;
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|fold| {
                            let rows: Vec<&Sample> =
                                fold.train.iter().map(|&i| &samples[i]).collect();
                            let p = train(&rows);
                            (
                                fold.cut,
                                fold.test.iter().map(|&i| p(&samples[i].x)).collect(),
                            )
                        })
                        .collect::<Vec<(i64, Vec<f64>)>>()
                })
            })
            .collect();
        for h in handles {
            by_fold.extend(h.join().unwrap_or_default());
        }
    });
    folds
        .iter()
        .flat_map(|f| by_fold.remove(&f.cut).unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burnout::test_weeks::pw;

    #[test]
    fn samples_are_labelled_with_censoring_and_people_are_global() {
        // ada: active weeks 0–19, silent after (data ends at week 59); bob: active 0–59.
        let mut weeks: Vec<PersonWeek> = (0..20).map(|w| pw("ada", w, 1.0)).collect();
        weeks.extend((0..60).map(|w| pw("bob", w, 1.0)));
        let mut d = Dataset::default();
        let rule = LabelRule::default();
        for history in ["one", "two"] {
            d.add(
                history,
                &weeks,
                IsoWeek::from_index(0),
                IsoWeek::from_index(59),
                &rule,
            );
        }
        assert_eq!(d.people, vec![2, 2]);
        let ada: Vec<&Sample> = d.samples.iter().filter(|s| s.person == 0).collect();
        // Eligible from week 11 (window inside the data) to week 27 (16–19 active in 16–27).
        assert_eq!(ada.first().map(|s| s.week), Some(11));
        assert_eq!(ada.last().map(|s| s.week), Some(27));
        assert!(ada.iter().filter(|s| s.week < 19).all(|s| !s.y));
        assert!(ada.iter().filter(|s| s.week >= 19).all(|s| s.y));
        let bob_last = d
            .samples
            .iter()
            .filter(|s| s.person == 1)
            .map(|s| s.week)
            .max();
        assert_eq!(bob_last, Some(47), "weeks 48–59 are censored");
        assert!(d.samples.iter().any(|s| s.person == 3 && s.history == 1));
    }

    #[test]
    fn folds_train_only_on_outcomes_known_before_the_cut() {
        let samples: Vec<Sample> = (0..400)
            .map(|i| Sample {
                history: 0,
                person: i % 10,
                week: i64::from(i / 2),
                x: [0.0; F],
                y: i % 7 == 0,
            })
            .collect();
        let plan = Plan {
            block_weeks: 20,
            start_share: 0.3,
            horizon: 12,
            min_train_positives: 5,
        };
        let f = folds(&samples, &plan);
        assert!(!f.is_empty());
        for fold in &f {
            assert!(fold.train.iter().all(|&i| samples[i].week + 12 < fold.cut));
            assert!(fold.test.iter().all(|&i| samples[i].week >= fold.cut));
        }
        let scored = walk(&samples, &f, |rows| {
            let n = rows.len() as f64;
            Box::new(move |_: &[f64; F]| n)
        });
        let tested: usize = f.iter().map(|x| x.test.len()).sum();
        assert_eq!(scored.len(), tested);
    }
}
