//! Exact explanations of the disengagement score: Shapley values of groups of predictors
//! (recent activity, own rhythm, working hours…) against the team's average row that week,
//! computed by enumerating every coalition of the groups that differ, on the score itself
//! (points 0–100), and put in words.

use super::features::{F, f};
use super::model::Artifact;
use crate::gbt::{Node, sigmoid};
use crate::shapley;

/// The groups of predictors that explanations speak of: (name, predictors).
pub const GROUPS: [(&str, &[usize]); 12] = [
    (
        "recent activity",
        &[
            f::WEEKS_SINCE_ACTIVE,
            f::ACTIVE_WEEKS_12,
            f::ACTIVITY_TREND,
            f::ACTIVE_RUN,
        ],
    ),
    (
        "volume",
        &[
            f::COMMITS_12,
            f::CHURN_12,
            f::COMMIT_TREND,
            f::COMMITS_PER_ACTIVE_WEEK,
        ],
    ),
    (
        "tenure",
        &[f::TENURE, f::LIFETIME_ACTIVE, f::ACTIVE_SHARE_LIFETIME],
    ),
    (
        "own rhythm",
        &[
            f::USUAL_GAP,
            f::GAP_RATIO,
            f::BREAKS,
            f::LONGEST_BREAK,
            f::ACTIVE_DAYS_RATIO,
        ],
    ),
    ("working hours", &[f::HOUR_SPREAD_12, f::HOUR_SPREAD_CHANGE]),
    (
        "after hours",
        &[f::LATE_12, f::LATE_CHANGE, f::WEEKEND_12, f::WEEKEND_CHANGE],
    ),
    ("breadth", &[f::AREAS_12, f::AREAS_CHANGE]),
    ("streaks", &[f::STREAK_4]),
    (
        "reviews",
        &[
            f::REVIEWS_12,
            f::REVIEWS_TREND,
            f::REQUESTS_PENDING,
            f::TTFR,
        ],
    ),
    (
        "comments and tone",
        &[f::COMMENTS_12, f::NEG_RECEIVED_12, f::NEG_WRITTEN_12],
    ),
    (
        "team",
        &[f::TEAM_ACTIVE_12, f::TEAM_TREND, f::COMMIT_SHARE_12],
    ),
    ("time of year", &[f::WEEK_OF_YEAR]),
];

/// A score with its exact Shapley values per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Risk 0–100.
    pub score: f64,
    /// Risk of the reference row (the team's average that week).
    pub reference: f64,
    /// Points per group ([`GROUPS`] order); they sum to `score − reference`.
    pub contributions: [f64; GROUPS.len()],
}

/// Whether two predictor values are the same (both missing counts as the same).
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The mean row of a team's rows (missing values left out; missing when all are).
pub fn team_reference<'a>(rows: impl IntoIterator<Item = &'a [f64; F]>) -> [f64; F] {
    let mut sum = [0.0; F];
    let mut n = [0.0; F];
    for r in rows {
        for i in 0..F {
            if !r[i].is_nan() {
                sum[i] += r[i];
                n[i] += 1.0;
            }
        }
    }
    std::array::from_fn(|i| if n[i] > 0.0 { sum[i] / n[i] } else { f64::NAN })
}

impl Artifact {
    /// Exact Shapley values of the score of `x` against `reference`, one per group: a
    /// coalition's row takes `x` on its groups' predictors and `reference` elsewhere. Groups
    /// equal to the reference, or that no tree reads, are dummies (exactly 0) and are left out
    /// of the enumeration, so the cost is 2^(groups that matter) ≤ 2^12 scores.
    pub fn explain(&self, x: &[f64; F], reference: &[f64; F]) -> Explanation {
        let mut read = [false; F];
        for n in self.model.trees.iter().flat_map(|t| &t.nodes) {
            if let Node::Split { feature, .. } = n
                && let Some(r) = read.get_mut(*feature)
            {
                *r = true;
            }
        }
        let players: Vec<usize> = (0..GROUPS.len())
            .filter(|&g| {
                GROUPS[g]
                    .1
                    .iter()
                    .any(|&i| read[i] && !same(x[i], reference[i]))
            })
            .collect();
        let raw = coalition_scores(self, &players, x, reference);
        let value = |mask: u32| 100.0 * sigmoid(raw[mask as usize]);
        let phi =
            shapley::shapley(players.len(), value).unwrap_or_else(|_| vec![0.0; players.len()]);
        let mut contributions = [0.0; GROUPS.len()];
        for (j, &g) in players.iter().enumerate() {
            contributions[g] = phi[j];
        }
        Explanation {
            score: self.score(x),
            reference: self.score(reference),
            contributions,
        }
    }
}

/// The model's raw score (log-odds) of every coalition of `players` (bit j of the index:
/// player j takes `x`'s values, the others `reference`'s), without walking the trees once per
/// coalition. A leaf is reached exactly by the coalitions that hold the players whose splits
/// on its path only `x` passes (A) and none of those only the reference passes (B). Such a
/// set's indicator is Σ over C ⊆ B of (−1)^|C|·[A ∪ C ⊆ S], so every leaf adds its value to
/// a few entries of a table g, and one subset-sum pass (S ↦ Σ over T ⊆ S of g(T)) gives all
/// 2^players scores: a walk of each tree's reachable leaves plus players·2^players additions.
fn coalition_scores(
    a: &Artifact,
    players: &[usize],
    x: &[f64; F],
    reference: &[f64; F],
) -> Vec<f64> {
    let mut player_of = [None; F];
    for (j, &g) in players.iter().enumerate() {
        for &i in GROUPS[g].1 {
            player_of[i] = Some(j);
        }
    }
    let mut g = vec![0.0; 1 << players.len()];
    g[0] = a.model.base;
    for t in &a.model.trees {
        let mut stack = vec![(0usize, 0u32, 0u32)];
        while let Some((i, with, without)) = stack.pop() {
            match &t.nodes[i] {
                Node::Leaf(v) => {
                    // Every subset C of `without`, with its sign.
                    let mut c = without;
                    loop {
                        let sign = if c.count_ones() % 2 == 0 { 1.0 } else { -1.0 };
                        g[(with | c) as usize] += sign * v;
                        if c == 0 {
                            break;
                        }
                        c = (c - 1) & without;
                    }
                }
                node @ Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    let side = |row: &[f64; F]| {
                        if node.goes_left(row) { *left } else { *right }
                    };
                    let (by_x, by_ref) = (side(x), side(reference));
                    match player_of.get(*feature).copied().flatten() {
                        Some(j) if by_x != by_ref => {
                            let bit = 1u32 << j;
                            if with & bit != 0 {
                                stack.push((by_x, with, without));
                            } else if without & bit != 0 {
                                stack.push((by_ref, with, without));
                            } else {
                                stack.push((by_x, with | bit, without));
                                stack.push((by_ref, with, without | bit));
                            }
                        }
                        // Features of no player keep the reference's value.
                        _ => stack.push((by_ref, with, without)),
                    }
                }
            }
        }
    }
    for j in 0..players.len() {
        let bit = 1usize << j;
        for s in 0..g.len() {
            if s & bit != 0 {
                g[s] += g[s ^ bit];
            }
        }
    }
    g
}

/// `e^v − 1`, rounded: undoes the `ln(1 + v)` of count predictors.
fn count(v: f64) -> f64 {
    v.exp_m1().round()
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{:.0}%", 100.0 * v)
    }
}

/// What a group's predictors say about this row, in words.
pub fn describe(group: usize, x: &[f64; F]) -> String {
    match group {
        0 if x[f::WEEKS_SINCE_ACTIVE] == 0.0 => format!(
            "active this week and in {:.0} of the last 12",
            x[f::ACTIVE_WEEKS_12]
        ),
        0 => format!(
            "no activity for {:.0} weeks ({:.0} of the last 12 weeks active)",
            x[f::WEEKS_SINCE_ACTIVE],
            x[f::ACTIVE_WEEKS_12]
        ),
        1 => format!(
            "{:.0} commits in the last 12 weeks, {}",
            count(x[f::COMMITS_12]),
            match x[f::COMMIT_TREND] {
                t if t > 0.2 => "rising",
                t if t < -0.2 => "falling",
                _ => "steady",
            }
        ),
        2 => format!(
            "contributing for {:.0} weeks, active in {} of them",
            count(x[f::TENURE]),
            pct(x[f::ACTIVE_SHARE_LIFETIME])
        ),
        3 if x[f::GAP_RATIO] > 1.0 => format!(
            "a pause longer than your usual gaps between active weeks (usually {:.0})",
            x[f::USUAL_GAP]
        ),
        3 => format!(
            "active days in the last 4 weeks {} your usual; {:.0} breaks of 4+ weeks so far",
            if x[f::ACTIVE_DAYS_RATIO] < -0.2 {
                "below"
            } else if x[f::ACTIVE_DAYS_RATIO] > 0.2 {
                "above"
            } else {
                "near"
            },
            count(x[f::BREAKS])
        ),
        4 => format!(
            "working hours spread over {:.1} h of the day ({:+.1} h against before)",
            x[f::HOUR_SPREAD_12],
            x[f::HOUR_SPREAD_CHANGE]
        ),
        5 => format!(
            "late-night share {}, weekend share {} over 12 weeks",
            pct(x[f::LATE_12]),
            pct(x[f::WEEKEND_12])
        ),
        6 => format!("{:.1} areas touched per active week", x[f::AREAS_12]),
        7 => format!(
            "longest run of active days in 4 weeks: {:.0}",
            x[f::STREAK_4]
        ),
        8 => format!(
            "{:.0} reviews in the last 12 weeks, {:.0} review requests pending",
            count(x[f::REVIEWS_12]),
            count(x[f::REQUESTS_PENDING])
        ),
        9 => format!(
            "{:.0} comments in the last 12 weeks; negative tone received {}",
            count(x[f::COMMENTS_12]),
            pct(x[f::NEG_RECEIVED_12])
        ),
        11 => format!("week {:.0} of the year", x[f::WEEK_OF_YEAR]),
        _ => format!(
            "{:.0} people active per week in the team, {}; your share of its commits {}",
            count(x[f::TEAM_ACTIVE_12]),
            match x[f::TEAM_TREND] {
                t if t > 0.1 => "growing",
                t if t < -0.1 => "shrinking",
                _ => "steady",
            },
            pct(x[f::COMMIT_SHARE_12])
        ),
    }
}

/// The `top` groups moving the score most, in words ("no activity for 3 weeks (…): +12
/// points"), largest first; contributions under half a point are left out.
pub fn reasons(e: &Explanation, x: &[f64; F], top: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..GROUPS.len())
        .filter(|&g| e.contributions[g].abs() >= 0.5)
        .collect();
    order.sort_by(|&a, &b| {
        e.contributions[b]
            .abs()
            .total_cmp(&e.contributions[a].abs())
    });
    order
        .into_iter()
        .take(top)
        .map(|g| {
            let c = e.contributions[g];
            format!(
                "{}: {}{:.0} points",
                describe(g, x),
                if c >= 0.0 { "+" } else { "−" },
                c.abs()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbt::{Gbt, Loss, Node, Tree};
    use proptest::prelude::*;

    /// Two trees: one on recency (weeks since active > 2 → +2 log-odds), one on the team trend
    /// interacting with commits.
    fn artifact() -> Artifact {
        let mut a = Artifact::shipped().expect("shipped artifact");
        let split = |feature, threshold, left, right| Node::Split {
            feature,
            threshold,
            missing_left: true,
            left,
            right,
        };
        a.model = Gbt {
            loss: Loss::Logistic,
            base: -2.0,
            trees: vec![
                Tree {
                    nodes: vec![
                        split(f::WEEKS_SINCE_ACTIVE, 2.0, 1, 2),
                        Node::Leaf(0.0),
                        Node::Leaf(2.0),
                    ],
                },
                Tree {
                    nodes: vec![
                        split(f::TEAM_TREND, 0.0, 1, 2),
                        split(f::COMMITS_12, 1.0, 3, 4),
                        Node::Leaf(0.0),
                        Node::Leaf(1.0),
                        Node::Leaf(-0.5),
                    ],
                },
            ],
        };
        a
    }

    proptest! {
        /// Efficiency, dummy and exactness against a brute-force enumeration of all groups.
        #[test]
        fn group_shapley_is_exact(since in 0.0f64..6.0, trend in -1.0f64..1.0, commits in 0.0f64..3.0, late in 0.0f64..1.0) {
            let a = artifact();
            let mut x = [0.0; F];
            x[f::WEEKS_SINCE_ACTIVE] = since;
            x[f::TEAM_TREND] = trend;
            x[f::COMMITS_12] = commits;
            x[f::LATE_12] = late;
            let r = [0.5; F];
            let e = a.explain(&x, &r);
            let sum: f64 = e.contributions.iter().sum();
            prop_assert!((sum - (e.score - e.reference)).abs() < 1e-9, "efficiency");
            prop_assert_eq!(e.contributions[5], 0.0, "after hours is read by no tree");
            let brute = shapley::shapley(GROUPS.len(), |mask| {
                let mut row = r;
                for (g, (_, members)) in GROUPS.iter().enumerate() {
                    if mask & (1 << g) != 0 {
                        for &i in *members { row[i] = x[i]; }
                    }
                }
                a.score(&row)
            }).unwrap();
            for (g, (b, c)) in brute.iter().zip(&e.contributions).enumerate() {
                prop_assert!((b - c).abs() < 1e-9, "group {}", g);
            }
        }
    }

    #[test]
    fn reasons_are_in_words_largest_first() {
        let a = artifact();
        let mut x = [0.0; F];
        x[f::WEEKS_SINCE_ACTIVE] = 5.0;
        x[f::ACTIVE_WEEKS_12] = 6.0;
        x[f::TEAM_TREND] = -0.5; // another value than the reference's, but the same leaf
        let e = a.explain(&x, &[0.0; F]);
        let r = reasons(&e, &x, 3);
        assert!(
            r[0].starts_with("no activity for 5 weeks (6 of the last 12 weeks active): +"),
            "{r:?}"
        );
        assert_eq!(
            e.contributions[10], 0.0,
            "the team's group reaches the same leaf"
        );
        assert_eq!(r.len(), 1, "{r:?}");
        let t = team_reference([&[1.0; F], &[f64::NAN; F], &[3.0; F]]);
        assert_eq!(t[0], 2.0);
    }
}
