//! The burnout-risk score: each indicator as a deviation from the person's own trailing 12
//! weeks (sustained deviations weigh more than one-week spikes) and as a percentile in the team,
//! then a logistic model over the deviations, 0–100, with exact Shapley attributions per
//! indicator against the team's baseline. Deliberately simple; see docs/burnout.md.

use std::collections::{BTreeMap, HashMap};

use canopy_analyzer::indicators::{N, NAMES, PersonWeek};
use canopy_analyzer::week::IsoWeek;
use serde::{Deserialize, Serialize};

use crate::shapley;

/// Weeks of a person's own baseline.
pub const BASELINE_WEEKS: usize = 12;
/// Weeks a deviation must last to count as sustained.
pub const SUSTAINED_WEEKS: usize = 3;

/// One person-week as model input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standardised {
    /// Person.
    pub person: String,
    /// Week.
    pub week: IsoWeek,
    /// Raw values (absent = `None`).
    pub raw: [Option<f64>; N],
    /// Deviation from the person's own 12 weeks before the last three, in standard deviations.
    pub z: [f64; N],
    /// The smallest deviation over the last 3 weeks: positive only when sustained.
    pub sustained: [f64; N],
    /// Percentile (0–100) among the team members active that week.
    pub team_percentile: [Option<f64>; N],
    /// Model input: 0.4 × deviation + 0.6 × sustained deviation, clipped to ±3.
    pub x: [f64; N],
}

fn std_floor(mean: f64) -> f64 {
    0.1 + 0.1 * mean.abs()
}

/// Runs `f` on each group in a scoped thread of its own and concatenates the results in the
/// groups' order.
fn on_threads<G: Sync, R: Send>(groups: &[G], f: impl Fn(&G) -> Vec<R> + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = groups.iter().map(|g| s.spawn(move || f(g))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Standardises person-weeks (sorted by person then week, as the builder returns them), on
/// all cores: people are independent, and so are weeks for the team percentiles.
pub fn standardise(weeks: &[PersonWeek]) -> Vec<Standardised> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    while start < weeks.len() {
        let mut end = start;
        while end < weeks.len() && weeks[end].person == weeks[start].person {
            end += 1;
        }
        runs.push((start, end));
        start = end;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let per = weeks.len().div_ceil(threads).max(1);
    let mut groups: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
    let mut size = 0;
    for r in runs {
        if size >= per {
            groups.push(Vec::new());
            size = 0;
        }
        size += r.1 - r.0;
        if let Some(g) = groups.last_mut() {
            g.push(r);
        }
    }
    let mut out: Vec<Standardised> = on_threads(&groups, |g| {
        g.iter()
            .flat_map(|&(a, b)| standardise_run(&weeks[a..b]))
            .collect()
    });
    // Team percentiles per week.
    let mut by_week: BTreeMap<IsoWeek, Vec<usize>> = BTreeMap::new();
    for (i, s) in out.iter().enumerate() {
        by_week.entry(s.week).or_default().push(i);
    }
    let week_groups: Vec<Vec<usize>> = by_week.into_values().collect();
    let chunk = week_groups.len().div_ceil(threads).max(1);
    let chunks: Vec<&[Vec<usize>]> = week_groups.chunks(chunk).collect();
    let results: Vec<(usize, [Option<f64>; N])> = on_threads(&chunks, |ws| {
        ws.iter().flat_map(|m| percentiles(&out, m)).collect()
    });
    for (i, p) in results {
        out[i].team_percentile = p;
    }
    out
}

/// One person's weeks.
#[allow(clippy::needless_range_loop)] // indicator i indexes several parallel arrays
fn standardise_run(run: &[PersonWeek]) -> Vec<Standardised> {
    let mut zs: Vec<[f64; N]> = Vec::with_capacity(run.len());
    for k in 0..run.len() {
        // The 12 weeks before the current 3-week window, so that a sustained change is
        // measured against how the person worked before it, not partly against itself.
        let to = k.saturating_sub(SUSTAINED_WEEKS - 1);
        let hist = &run[to.saturating_sub(BASELINE_WEEKS)..to];
        let mut z = [0.0; N];
        for i in 0..N {
            let Some(v) = run[k].values[i] else { continue };
            let (mut n, mut sum, mut sq) = (0.0, 0.0, 0.0);
            for v in hist.iter().filter_map(|h| h.values[i]) {
                n += 1.0;
                sum += v;
                sq += v * v;
            }
            if n < 4.0 {
                continue; // too short a baseline to say anything
            }
            let mean = sum / n;
            let var = (sq / n - mean * mean).max(0.0);
            z[i] = (v - mean) / var.sqrt().max(std_floor(mean));
        }
        zs.push(z);
    }
    let mut out = Vec::with_capacity(run.len());
    for (k, pw) in run.iter().enumerate() {
        let mut sustained = [0.0; N];
        let mut x = [0.0; N];
        let window = &zs[k.saturating_sub(SUSTAINED_WEEKS - 1)..=k];
        for i in 0..N {
            sustained[i] = if window.len() == SUSTAINED_WEEKS {
                window.iter().map(|z| z[i]).fold(f64::INFINITY, f64::min)
            } else {
                0.0
            };
            x[i] = (0.4 * zs[k][i] + 0.6 * sustained[i]).clamp(-3.0, 3.0);
        }
        out.push(Standardised {
            person: pw.person.clone(),
            week: pw.week,
            raw: pw.values,
            z: zs[k],
            sustained,
            team_percentile: [None; N],
            x,
        });
    }
    out
}

/// Percentiles of one week's members.
fn percentiles(out: &[Standardised], members: &[usize]) -> Vec<(usize, [Option<f64>; N])> {
    let mut res: Vec<(usize, [Option<f64>; N])> = members.iter().map(|&m| (m, [None; N])).collect();
    for i in 0..N {
        let mut vals: Vec<f64> = members.iter().filter_map(|&m| out[m].raw[i]).collect();
        if vals.len() < 2 {
            continue;
        }
        vals.sort_by(f64::total_cmp);
        for (m, p) in res.iter_mut() {
            if let Some(v) = out[*m].raw[i] {
                let below = vals.partition_point(|&o| o < v) as f64;
                let equal = vals.partition_point(|&o| o <= v) as f64 - below;
                p[i] = Some(100.0 * (below + 0.5 * equal) / vals.len() as f64);
            }
        }
    }
    res
}

/// The logistic score model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreModel {
    /// Intercept.
    pub bias: f64,
    /// Weight per indicator (on the standardised input).
    pub weights: [f64; N],
}

impl Default for ScoreModel {
    /// Prior weights: sustained rises in load, after-hours work, streaks without rest and
    /// negative comments received raise the risk; the intercept puts a person at their own
    /// baseline at 12/100.
    fn default() -> Self {
        let mut weights = [0.0; N];
        for (i, name) in NAMES.iter().enumerate() {
            weights[i] = match *name {
                "late_night_share" | "weekend_share" | "consecutive_days" => 0.6,
                "negative_received" => 0.5,
                "review_requests_pending" | "time_to_first_review_hours" | "meeting_hours" => 0.3,
                "negative_written" => 0.3,
                "reviews" | "open_changes" | "context_switching" | "comments" => 0.3,
                "churn" | "rework" => 0.2,
                "commits" => 0.1,
                _ => 0.0,
            };
        }
        ScoreModel {
            bias: -2.0,
            weights,
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A score with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Risk 0–100.
    pub score: f64,
    /// The score of the team's average input this week (the reference).
    pub baseline: f64,
    /// Shapley contribution of each indicator, in points; they sum to score − baseline.
    pub contributions: [f64; N],
}

impl ScoreModel {
    /// Risk 0–100 for an input.
    pub fn score(&self, x: &[f64; N]) -> f64 {
        100.0 * sigmoid(self.bias + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>())
    }

    /// Score and exact Shapley values against `reference` (features outside a coalition take
    /// the reference's values). Indicators whose input equals the reference (or whose weight is
    /// zero) are dummies with value exactly 0 and are left out of the enumeration, so the cost
    /// is 2^(indicators that differ), at most 2^15.
    pub fn explain(&self, x: &[f64; N], reference: &[f64; N]) -> Score {
        let base: f64 = (0..N).map(|i| self.weights[i] * reference[i]).sum();
        let deltas: Vec<(usize, f64)> = (0..N)
            .map(|i| (i, self.weights[i] * (x[i] - reference[i])))
            .filter(|(_, d)| *d != 0.0)
            .collect();
        let v = |mask: u32| {
            let z: f64 = deltas
                .iter()
                .enumerate()
                .filter(|(j, _)| mask & (1 << j) != 0)
                .map(|(_, (_, d))| d)
                .sum();
            100.0 * sigmoid(self.bias + base + z)
        };
        let phi = shapley::shapley(deltas.len(), v).unwrap_or_else(|_| vec![0.0; deltas.len()]);
        let mut contributions = [0.0; N];
        for (j, (i, _)) in deltas.iter().enumerate() {
            contributions[*i] = phi[j];
        }
        Score {
            score: self.score(x),
            baseline: self.score(reference),
            contributions,
        }
    }

    /// Fits weights by L2-regularised logistic regression (gradient descent) on inputs and
    /// binary outcomes.
    #[allow(clippy::needless_range_loop)] // indicator i indexes weights, gradients and inputs
    pub fn fit(xs: &[[f64; N]], ys: &[bool], l2: f64, iterations: usize) -> ScoreModel {
        let mut m = ScoreModel {
            bias: 0.0,
            weights: [0.0; N],
        };
        let n = xs.len().max(1) as f64;
        let pos = ys.iter().filter(|&&y| y).count() as f64;
        m.bias = ((pos + 0.5) / (n - pos + 0.5)).ln();
        let lr = 0.5;
        for _ in 0..iterations {
            let mut gb = 0.0;
            let mut gw = [0.0; N];
            for (x, &y) in xs.iter().zip(ys) {
                let p = sigmoid(m.bias + m.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>());
                let d = p - f64::from(u8::from(y));
                gb += d;
                for i in 0..N {
                    gw[i] += d * x[i];
                }
            }
            m.bias -= lr * gb / n;
            for i in 0..N {
                m.weights[i] -= lr * (gw[i] / n + l2 * m.weights[i]);
            }
        }
        m
    }
}

/// Mean input of each week's team: the reference of that week's explanations.
pub fn team_reference(rows: &[Standardised]) -> HashMap<IsoWeek, [f64; N]> {
    let mut sums: HashMap<IsoWeek, ([f64; N], f64)> = HashMap::new();
    for r in rows {
        let e = sums.entry(r.week).or_insert(([0.0; N], 0.0));
        for i in 0..N {
            e.0[i] += r.x[i];
        }
        e.1 += 1.0;
    }
    sums.into_iter()
        .map(|(w, (s, n))| (w, s.map(|v| v / n)))
        .collect()
}

/// The top reasons of a score in words ("late-night work above your usual: +12 points").
pub fn reasons(s: &Score, row: &Standardised, top: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..N)
        .filter(|&i| s.contributions[i].abs() >= 0.5)
        .collect();
    order.sort_by(|&a, &b| {
        s.contributions[b]
            .abs()
            .total_cmp(&s.contributions[a].abs())
    });
    order
        .into_iter()
        .take(top)
        .map(|i| {
            let dir = if row.z[i] >= 0.0 { "above" } else { "below" };
            let sustained = if row.sustained[i] > 1.0 {
                ", for 3+ weeks"
            } else {
                ""
            };
            format!(
                "{} {dir} your usual{sustained}: {}{:.0} points",
                NAMES[i].replace('_', " "),
                if s.contributions[i] >= 0.0 {
                    "+"
                } else {
                    "−"
                },
                s.contributions[i].abs()
            )
        })
        .collect()
}

/// Area under the ROC curve of scores against binary outcomes (ties count half).
pub fn auc(scores: &[f64], ys: &[bool]) -> f64 {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(ys.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = ys.iter().filter(|&&y| y).count() as f64;
    let neg = ys.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += pairs[i..j].iter().filter(|p| p.1).count() as f64 * avg_rank;
        i = j;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Share of positives among the top 10% of scores.
pub fn precision_at_top_decile(scores: &[f64], ys: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let k = (scores.len() / 10).max(1).min(scores.len());
    if k == 0 {
        return f64::NAN;
    }
    idx[..k].iter().filter(|&&i| ys[i]).count() as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Efficiency, symmetry and dummy hold for every input.
        #[test]
        fn shapley_axioms_hold(x in proptest::array::uniform15(-3.0f64..3.0), r in proptest::array::uniform15(-1.0f64..1.0)) {
            let mut m = ScoreModel::default();
            m.weights[0] = 0.0; // a dummy: no weight
            m.weights[1] = 0.4;
            m.weights[2] = 0.4; // 1 and 2 symmetric when their inputs match
            let mut x = x;
            let mut r = r;
            x[2] = x[1];
            r[2] = r[1];
            let s = m.explain(&x, &r);
            let sum: f64 = s.contributions.iter().sum();
            prop_assert!((sum - (s.score - s.baseline)).abs() < 1e-9, "efficiency");
            prop_assert!(s.contributions[0].abs() < 1e-12, "dummy");
            prop_assert!((s.contributions[1] - s.contributions[2]).abs() < 1e-9, "symmetry");
        }
    }

    #[test]
    fn auc_and_precision_on_known_cases() {
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), 0.5);
        let s: Vec<f64> = (0..20).map(f64::from).collect();
        let y: Vec<bool> = (0..20).map(|i| i >= 18).collect();
        assert_eq!(precision_at_top_decile(&s, &y), 1.0);
    }

    #[test]
    fn sustained_rises_weigh_more_than_a_spike() {
        let mk = |vals: &[f64]| -> Vec<PersonWeek> {
            let mut w = IsoWeek::of_date(chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap());
            vals.iter()
                .map(|&v| {
                    let mut values = [Some(0.0); N];
                    values[7] = Some(v);
                    let pw = PersonWeek {
                        person: "p".into(),
                        week: w,
                        values,
                    };
                    w = w.next();
                    pw
                })
                .collect()
        };
        let base = [0.05, 0.1, 0.05, 0.1, 0.05, 0.1, 0.05, 0.1];
        let spike: Vec<f64> = base.iter().copied().chain([0.05, 0.05, 0.5]).collect();
        let sustained: Vec<f64> = base.iter().copied().chain([0.5, 0.5, 0.5]).collect();
        let a = standardise(&mk(&spike));
        let b = standardise(&mk(&sustained));
        assert!(b.last().unwrap().x[7] > a.last().unwrap().x[7] + 1.0);
        let m = ScoreModel::default();
        assert!(m.score(&b.last().unwrap().x) > m.score(&a.last().unwrap().x));
    }
}
