//! The demo's grid: one real week of hourly carbon intensity (ERCOT, 24–31 October 2022, from
//! the U.S. EIA's Hourly Electric Grid Monitor; see `data/README.md`) laid over the last week of
//! a generated history, shifted by whole weeks so that weekdays and hours stay as measured.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::Org;

/// The region name the demo's repositories use (`carbon.region`).
pub const REGION: &str = "ercot";

/// The bundled week: `utc,gco2e_per_kwh` rows, hourly.
const WEEK: &str = include_str!("../data/grid-ercot-2022-10-24.csv");

/// The Monday the bundled week starts on.
fn first_monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 10, 24).expect("valid date")
}

/// A carbon-intensity series for the demo's region.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Region name as a repository's `carbon.region` names it.
    pub region: &'static str,
    /// Where the values come from, in words.
    pub source: String,
    /// (epoch seconds, gCO2e/kWh), hourly, ascending.
    pub points: Vec<(i64, f64)>,
}

/// The bundled week's rows as (time, intensity).
fn rows() -> Vec<(DateTime<Utc>, f64)> {
    WEEK.lines()
        .skip(1)
        .filter_map(|l| {
            let (t, v) = l.split_once(',')?;
            let t = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%MZ")
                .ok()?
                .and_utc();
            Some((t, v.trim().parse().ok()?))
        })
        .collect()
}

/// The grid of `org`'s last week: the bundled week moved onto the Monday of the week holding
/// `org.now` (it covers that Monday to the next Tuesday, so a rerun deadline of up to a day
/// after a Friday or Saturday `now` is inside it).
pub fn grid(org: &Org) -> Grid {
    let today = org.now.date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let shift = monday - first_monday();
    Grid {
        region: REGION,
        source: format!(
            "EIA-930 hourly intensity of ERCOT, week of {} moved to the week of {monday}",
            first_monday()
        ),
        points: rows()
            .into_iter()
            .map(|(t, v)| ((t + shift).timestamp(), v))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, generate};

    #[test]
    fn the_bundled_week_is_whole_and_hourly() {
        let r = rows();
        assert_eq!(r.len(), 192, "eight days of hours");
        assert!(r.windows(2).all(|w| w[1].0 - w[0].0 == Duration::hours(1)));
        assert!(r.iter().all(|(_, v)| (20.0..1000.0).contains(v)));
        assert_eq!(r[0].0.weekday(), chrono::Weekday::Mon);
    }

    #[test]
    fn the_rerun_moment_is_carbon_heavy_with_a_greener_hour_before_its_deadline() {
        let org = generate(&Config::default());
        let g = grid(&org);
        let at = |t: DateTime<Utc>| {
            g.points
                .iter()
                .rev()
                .find(|(s, _)| *s <= t.timestamp())
                .map(|p| p.1)
                .expect("covered")
        };
        let now = at(org.showcase.rerun_at);
        let best = (0..12)
            .map(|h| at(org.showcase.rerun_at + Duration::hours(h)))
            .fold(f64::INFINITY, f64::min);
        assert!(best < 0.8 * now, "now {now}, best {best}");
        // Weekdays and hours are kept: the shift is whole weeks.
        let first = DateTime::from_timestamp(g.points[0].0, 0).expect("time");
        assert_eq!(first.weekday(), chrono::Weekday::Mon);
        assert_eq!(first.date_naive() + Duration::days(4), org.now.date_naive());
    }
}
