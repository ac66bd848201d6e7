//! Hand-built person-weeks for the burnout modules' unit tests.

use canopy_analyzer::indicators::{N, PersonWeek, idx};
use canopy_analyzer::week::IsoWeek;

/// A person-week with `commits` commits, every other count zero and reviews unobserved.
pub fn pw(person: &str, week: i64, commits: f64) -> PersonWeek {
    let mut values = [Some(0.0); N];
    values[idx::COMMITS] = Some(commits);
    values[idx::REVIEWS] = None;
    PersonWeek {
        person: person.into(),
        week: IsoWeek::from_index(week),
        values,
    }
}
