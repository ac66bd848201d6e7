//! Scoring with the shipped model: predictors of people at a week (for `burnout me`, the team
//! view and digests) and scores of every person-week of a history (the benchmark's workload).

use std::collections::HashMap;

use canopy_analyzer::indicators::PersonWeek;
use canopy_analyzer::week::IsoWeek;

use super::Standardised;
use super::features::{F, Person, Team, people, person_features, runs};
use super::model::Artifact;
use crate::forest::FlatForest;

/// Predictors of each person of `weeks` at `week` (people whose weeks start later are left
/// out). `team` carries the team's aggregate activity; `last` is the data's last week.
pub fn predictors_at(
    weeks: &[PersonWeek],
    team: &Team,
    last: IsoWeek,
    week: IsoWeek,
) -> Vec<(String, [f64; F])> {
    let target = week.index();
    let end = last.max(week);
    people(weeks, end)
        .filter_map(|p| {
            let mut row = None;
            let trimmed = Person {
                id: p.id,
                first: p.first,
                values: p.values[..((target - p.first + 1).max(0) as usize).min(p.values.len())]
                    .to_vec(),
            };
            person_features(&trimmed, team, |w, x| {
                if w == target {
                    row = Some(*x);
                }
            });
            row.map(|x| (p.id.to_string(), x))
        })
        .collect()
}

/// The probability of disengagement of every person-week of a history (sorted by person then
/// week), from each person's first week to `last`, on all cores; in person then week order.
pub fn score_history(
    artifact: &Artifact,
    weeks: &[PersonWeek],
    first: IsoWeek,
    last: IsoWeek,
) -> Vec<f32> {
    let team = Team::new(weeks, first, last);
    let runs = runs(weeks);
    let flat = FlatForest::new(&artifact.model);
    let probability = |x: &[f64; F]| match &flat {
        Some(f) => f.probability(x),
        None => artifact.probability(x),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let per = runs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let (team, probability) = (&team, &probability);
        let handles: Vec<_> = runs
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for p in chunk.iter().filter_map(|r| Person::new(r, last)) {
                        person_features(&p, team, |_, x| {
                            out.push(probability(x) as f32);
                        });
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Attaches to standardised rows the predictors of their person-week. `own` holds the weeks of
/// the rows' people (sorted by person then week), `team` the team's aggregate activity, `last`
/// the data's last week.
pub fn attach_predictors(
    rows: &mut [Standardised],
    own: &[PersonWeek],
    team: &Team,
    last: IsoWeek,
) {
    let mut at: HashMap<(&str, i64), [f64; F]> = HashMap::new();
    for p in people(own, last) {
        person_features(&p, team, |w, x| {
            at.insert((p.id, w), *x);
        });
    }
    for r in rows.iter_mut() {
        if let Some(x) = at.get(&(r.person.as_str(), r.week.index())) {
            r.attached = Some(Box::new(*x));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burnout::test_weeks::pw;

    #[test]
    fn predictors_at_a_week_ignore_later_weeks_and_scores_cover_every_week() {
        let mut weeks: Vec<PersonWeek> = (0..30).map(|w| pw("ada", w, 1.0)).collect();
        weeks.extend((10..20).map(|w| pw("bob", w, 2.0)));
        let (first, last) = (IsoWeek::from_index(0), IsoWeek::from_index(29));
        let team = Team::new(&weeks, first, last);
        let at = predictors_at(&weeks, &team, last, IsoWeek::from_index(25));
        assert_eq!(at.len(), 2);
        let bob = &at.iter().find(|(p, _)| p == "bob").unwrap().1;
        assert_eq!(bob[super::super::features::f::WEEKS_SINCE_ACTIVE], 6.0);
        let before = predictors_at(&weeks, &team, last, IsoWeek::from_index(5));
        assert_eq!(before.len(), 1, "bob starts at week 10");
        let a = Artifact::shipped().unwrap();
        let scores = score_history(&a, &weeks, first, last);
        assert_eq!(scores.len(), 30 + 20, "bob extended to the data's end");
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
        // The flat layout scores exactly as the shipped trees walked node by node.
        let mut walked = Vec::new();
        for p in people(&weeks, last) {
            person_features(&p, &team, |_, x| walked.push(a.probability(x) as f32));
        }
        assert_eq!(scores, walked);
    }
}
