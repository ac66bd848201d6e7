//! Burnout risk, validated against disengagement. Each person-week's indicators are put
//! against the person's own trailing weeks and the team (`standardise`, for the indicator
//! tables people see); the risk score is a gradient-boosted model of disengagement over
//! predictors of the person's own rhythm, working hours and activity (`features`, `model`),
//! trained and validated walk-forward on public histories (`labels`, `walk`, `eval`), with exact
//! Shapley explanations in words (`explain`). See docs/burnout.md.

pub mod eval;
pub mod explain;
pub mod features;
pub mod labels;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod notes;
pub mod report;
pub mod score;
pub mod walk;

#[cfg(test)]
mod test_weeks;

use std::collections::BTreeMap;

use canopy_analyzer::indicators::{N, PersonWeek};
use canopy_analyzer::week::IsoWeek;
use serde::Serialize;

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
    /// Predictors of disengagement (`features::NAMES`), once attached with
    /// [`score::attach_predictors`] (boxed: most rows of a large history never get them).
    #[serde(skip)]
    pub attached: Option<Box<[f64; features::F]>>,
}

impl Standardised {
    /// The attached predictors of disengagement; all missing (NaN) when none were attached.
    pub fn predictors(&self) -> [f64; features::F] {
        self.attached
            .as_deref()
            .copied()
            .unwrap_or([f64::NAN; features::F])
    }
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
        let parts: Vec<Vec<R>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        // The first part grows once to the final size (a large block is remapped, not
        // copied) and the others are moved in, each freed as soon as it is in.
        let total = parts.iter().map(Vec::len).sum::<usize>();
        let mut parts = parts.into_iter();
        let mut all = parts.next().unwrap_or_default();
        all.reserve_exact(total - all.len());
        for p in parts {
            all.extend(p);
        }
        all
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
        let mut rows = Vec::with_capacity(g.iter().map(|&(a, b)| b - a).sum());
        for &(a, b) in g {
            standardise_run(&weeks[a..b], &mut rows);
        }
        rows
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
fn standardise_run(run: &[PersonWeek], out: &mut Vec<Standardised>) {
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
    for (k, pw) in run.iter().enumerate() {
        let mut sustained = [0.0; N];
        let window = &zs[k.saturating_sub(SUSTAINED_WEEKS - 1)..=k];
        for i in 0..N {
            sustained[i] = if window.len() == SUSTAINED_WEEKS {
                window.iter().map(|z| z[i]).fold(f64::INFINITY, f64::min)
            } else {
                0.0
            };
        }
        out.push(Standardised {
            person: pw.person.clone(),
            week: pw.week,
            raw: pw.values,
            z: zs[k],
            sustained,
            team_percentile: [None; N],
            attached: None,
        });
    }
}

/// Percentiles of one week's members: per indicator, the members' values sorted once and
/// ranked in one sweep (ties share the mid-rank: below + half of the equal ones).
fn percentiles(out: &[Standardised], members: &[usize]) -> Vec<(usize, [Option<f64>; N])> {
    let raws: Vec<[Option<f64>; N]> = members.iter().map(|&m| out[m].raw).collect();
    let mut res: Vec<(usize, [Option<f64>; N])> = members.iter().map(|&m| (m, [None; N])).collect();
    let mut vals: Vec<(f64, usize)> = Vec::with_capacity(members.len());
    for i in 0..N {
        vals.clear();
        vals.extend(
            raws.iter()
                .enumerate()
                .filter_map(|(j, r)| r[i].map(|v| (v, j))),
        );
        if vals.len() < 2 {
            continue;
        }
        vals.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let n = vals.len() as f64;
        let mut a = 0;
        while a < vals.len() {
            let v = vals[a].0;
            let b = a + vals[a..].iter().take_while(|o| o.0 == v).count().max(1);
            // A missing-number value compares with nothing: ranked at 0, as by bisection.
            let p = if v.is_nan() {
                0.0
            } else {
                100.0 * (a as f64 + 0.5 * (b - a) as f64) / n
            };
            for &(_, j) in &vals[a..b] {
                res[j].1[i] = Some(p);
            }
            a = b;
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weeks(vals: &[f64]) -> Vec<PersonWeek> {
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
    }

    #[test]
    fn sustained_rises_show_and_spikes_do_not() {
        let base = [0.05, 0.1, 0.05, 0.1, 0.05, 0.1, 0.05, 0.1];
        let spike: Vec<f64> = base.iter().copied().chain([0.05, 0.05, 0.5]).collect();
        let sustained: Vec<f64> = base.iter().copied().chain([0.5, 0.5, 0.5]).collect();
        let a = standardise(&weeks(&spike));
        let b = standardise(&weeks(&sustained));
        let (a, b) = (a.last().unwrap(), b.last().unwrap());
        assert!(a.z[7] > 2.0, "a spike is a large deviation");
        assert!(a.sustained[7] <= 0.0, "but not a sustained one");
        assert!(b.sustained[7] > 2.0);
    }

    #[test]
    fn team_percentiles_rank_members_of_the_week() {
        let mut w = weeks(&[0.1]);
        w.extend(weeks(&[0.3]).into_iter().map(|mut x| {
            x.person = "q".into();
            x
        }));
        let s = standardise(&w);
        assert_eq!(s[0].team_percentile[7], Some(25.0));
        assert_eq!(s[1].team_percentile[7], Some(75.0));
    }
}
