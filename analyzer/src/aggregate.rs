//! Aggregate tables of a community over a period, before any privacy treatment: every cell
//! carries the number of distinct people behind it so that a privacy policy can suppress or
//! noise it. People are whatever the caller's resolver returns (pseudonyms); raw identities
//! never enter a table. Pure: events, the period and the resolver are passed in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::Actor;
use crate::event::{ChangeAction, CiJobEvent, Event, EventKind};
use crate::weekly::{is_late_night, is_weekend};

/// Most a person adds to an activity cell when contributions are clipped (for noise).
pub const DEFAULT_CLIP: u64 = 50;

/// A cell before privacy treatment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RawCell {
    /// The count or sum.
    pub value: f64,
    /// Distinct people behind it.
    pub people: u64,
}

/// What a table's cells measure, which decides how they may be noised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// Counts of people (one person changes a cell by at most 1).
    People,
    /// Counts of a person's actions, clipped per person (one person changes a cell by at most
    /// the clip).
    Activity,
    /// Infrastructure figures (CI runtime, energy) that are not about a person: suppressed with
    /// their row, never noised.
    Infrastructure,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Name (`commits`, `people`, ...).
    pub name: String,
    /// What its cells measure.
    pub kind: CellKind,
}

/// A table of cells with a total row (the total is published too, so suppression must keep
/// suppressed cells from being recovered from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawTable {
    /// Table name.
    pub name: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows: label and one cell per column.
    pub rows: Vec<(String, Vec<RawCell>)>,
    /// The total row (people are distinct over all rows, not summed).
    pub total: Vec<RawCell>,
}

/// Time-zone bands: the generalised form in which a person's time zone may appear.
pub const TZ_BANDS: [&str; 4] = [
    "UTC-12 to UTC-3 (Americas)",
    "UTC-2 to UTC+4 (Europe, Africa)",
    "UTC+5 to UTC+14 (Asia, Pacific)",
    "unknown",
];
/// Tenure bands: the generalised form of a join date.
pub const TENURE_BANDS: [&str; 3] = ["under 6 months", "6 to 24 months", "over 2 years"];
/// Name of the table of monthly activity counts.
pub const ACTIVITY_TABLE: &str = "monthly_activity";
/// Name of the table of people per time-zone band.
pub const TZ_TABLE: &str = "time_zone_band";
/// Name of the table of people per tenure band.
pub const TENURE_TABLE: &str = "tenure_band";
/// The one column of the band tables: people per band.
pub const PEOPLE_COLUMN: &str = "people";
/// Columns of the monthly activity table.
pub const ACTIVITY_COLUMNS: [(&str, CellKind); 10] = [
    ("active_people", CellKind::People),
    ("commits", CellKind::Activity),
    ("changes_opened", CellKind::Activity),
    ("changes_merged", CellKind::Activity),
    ("reviews", CellKind::Activity),
    ("comments", CellKind::Activity),
    ("late_night_actions", CellKind::Activity),
    ("weekend_actions", CellKind::Activity),
    ("ci_hours", CellKind::Infrastructure),
    ("ci_kwh", CellKind::Infrastructure),
];

/// The band of a UTC offset in seconds.
pub fn tz_band(offset_secs: i32) -> &'static str {
    let h = offset_secs as f64 / 3600.0;
    if h <= -2.5 {
        TZ_BANDS[0]
    } else if h < 4.5 {
        TZ_BANDS[1]
    } else {
        TZ_BANDS[2]
    }
}

/// The band of a tenure in days.
pub fn tenure_band(days: i64) -> &'static str {
    if days < 183 {
        TENURE_BANDS[0]
    } else if days < 730 {
        TENURE_BANDS[1]
    } else {
        TENURE_BANDS[2]
    }
}

/// The months `YYYY-MM` that `[from, to)` touches.
pub fn months(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    let (mut y, mut m) = (from.year(), from.month());
    loop {
        let label = format!("{y:04}-{m:02}");
        let first = chrono::NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        match first {
            Some(f) if f < to => out.push(label),
            _ => break,
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

/// Everything a report is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    /// Monthly activity, time-zone bands and tenure bands.
    pub tables: Vec<RawTable>,
    /// CI jobs in the period (infrastructure, not per person).
    pub ci_jobs: u64,
    /// Their emissions, gCO2e.
    pub ci_co2e_g: f64,
}

#[derive(Default)]
struct Acc {
    /// Per column: person → amount.
    by_person: Vec<HashMap<String, f64>>,
    /// Infrastructure sums per column.
    infra: Vec<f64>,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            by_person: vec![HashMap::new(); ACTIVITY_COLUMNS.len()],
            infra: vec![0.0; ACTIVITY_COLUMNS.len()],
        }
    }

    fn add(&mut self, col: usize, person: &str, amount: f64) {
        *self.by_person[col].entry(person.to_string()).or_default() += amount;
    }

    fn people(&self) -> BTreeSet<&str> {
        self.by_person
            .iter()
            .flat_map(|m| m.keys().map(String::as_str))
            .collect()
    }

    fn cells(&self, clip: Option<u64>) -> Vec<RawCell> {
        let active = self.people().len() as u64;
        ACTIVITY_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| match kind {
                CellKind::People => RawCell {
                    value: active as f64,
                    people: active,
                },
                CellKind::Activity => RawCell {
                    value: self.by_person[i]
                        .values()
                        .map(|v| clip.map_or(*v, |c| v.min(c as f64)))
                        .sum(),
                    people: self.by_person[i].len() as u64,
                },
                // Infrastructure is the whole row's: as many people as the row has.
                CellKind::Infrastructure => RawCell {
                    value: self.infra[i],
                    people: active,
                },
            })
            .collect()
    }
}

/// A CI job's (kWh, gCO2e), given the job and when it finished.
pub type CiFootprint<'a> = &'a dyn Fn(&CiJobEvent, DateTime<Utc>) -> (f64, f64);

/// Who an event counts for, in which activity column, and whether its time of day counts.
fn activity_of(kind: &EventKind) -> Option<(&Actor, &'static str, bool)> {
    match kind {
        EventKind::Commit(c) if c.parents.len() < 2 => Some((&c.author, "commits", true)),
        EventKind::Change(c) => match c.action {
            ChangeAction::Opened => Some((&c.author, "changes_opened", false)),
            ChangeAction::Merged => Some((&c.author, "changes_merged", false)),
            _ => None,
        },
        EventKind::Review(r) => Some((&r.reviewer, "reviews", true)),
        EventKind::Comment(c) => Some((&c.author, "comments", true)),
        _ => None,
    }
}

/// A table counting the `active` people in each band of `labels`, as `band` puts them.
fn band_table(
    name: &str,
    labels: &[&str],
    active: &BTreeSet<&str>,
    band: &dyn Fn(&str) -> &'static str,
) -> RawTable {
    let mut counts: BTreeMap<&str, u64> = labels.iter().map(|l| (*l, 0)).collect();
    for p in active {
        *counts.entry(band(p)).or_default() += 1;
    }
    let rows: Vec<(String, Vec<RawCell>)> = labels
        .iter()
        .map(|l| {
            let n = counts.get(l).copied().unwrap_or(0);
            (
                l.to_string(),
                vec![RawCell {
                    value: n as f64,
                    people: n,
                }],
            )
        })
        .collect();
    RawTable {
        name: name.into(),
        columns: vec![Column {
            name: PEOPLE_COLUMN.into(),
            kind: CellKind::People,
        }],
        rows,
        total: vec![RawCell {
            value: active.len() as f64,
            people: active.len() as u64,
        }],
    }
}

/// Builds the tables for `[from, to)` from a scope's events. `person` maps an actor to the
/// pseudonym it is counted under (`None` for bots); `ci` gives a CI job's (kWh, gCO2e); `clip`
/// caps one person's contribution to an activity cell (set it when noise will be added).
/// Events before `from` are used only for join dates.
// Long: one pass over the events fills the monthly rows, join dates, time-zone votes and CI
// totals together (a privacy reader checks what each event adds in one place).
pub fn aggregate(
    events: &[Event],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    person: &dyn Fn(&Actor) -> Option<String>,
    ci: CiFootprint<'_>,
    clip: Option<u64>,
) -> Aggregates {
    let month_labels = months(from, to);
    // Rows by (year, month): no label is built per event.
    let mut rows: BTreeMap<(i32, u32), Acc> = month_labels
        .iter()
        .filter_map(|m| {
            let (y, mo) = m.split_once('-')?;
            Some(((y.parse().ok()?, mo.parse().ok()?), Acc::new()))
        })
        .collect();
    let mut total = Acc::new();
    let mut first_seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut offsets: HashMap<String, HashMap<i32, u32>> = HashMap::new();
    let (mut ci_jobs, mut ci_g) = (0u64, 0.0);
    let col = |name: &str| ACTIVITY_COLUMNS.iter().position(|(n, _)| *n == name);
    for e in events {
        let at = e.at_utc();
        for a in e.actors() {
            if let Some(p) = person(a) {
                let f = first_seen.entry(p).or_insert(at);
                *f = (*f).min(at);
            }
        }
        if at < from || at >= to {
            continue;
        }
        let month = (at.year(), at.month());
        if let EventKind::CiJobFinished(j) = &e.kind {
            let (kwh, g) = ci(j, at);
            ci_jobs += 1;
            ci_g += g;
            let hours = j.duration_secs as f64 / 3600.0;
            for acc in [rows.get_mut(&month), Some(&mut total)]
                .into_iter()
                .flatten()
            {
                if let (Some(h), Some(k)) = (col("ci_hours"), col("ci_kwh")) {
                    acc.infra[h] += hours;
                    acc.infra[k] += kwh;
                }
            }
            continue;
        }
        let Some((actor, column, stamped)) = activity_of(&e.kind) else {
            continue;
        };
        let Some(p) = person(actor) else {
            continue;
        };
        let local = match &e.kind {
            EventKind::Commit(c) => c.author_time,
            _ => e.at,
        };
        let mut cols = vec![column];
        if stamped {
            *offsets
                .entry(p.clone())
                .or_default()
                .entry(local.offset().local_minus_utc())
                .or_default() += 1;
            if is_late_night(&local) {
                cols.push("late_night_actions");
            }
            if is_weekend(&local) {
                cols.push("weekend_actions");
            }
        }
        for c in cols.into_iter().filter_map(col) {
            if let Some(acc) = rows.get_mut(&month) {
                acc.add(c, &p, 1.0);
            }
            total.add(c, &p, 1.0);
        }
    }
    let columns: Vec<Column> = ACTIVITY_COLUMNS
        .iter()
        .map(|(n, k)| Column {
            name: n.to_string(),
            kind: *k,
        })
        .collect();
    // Monthly totals are clipped per person and month; the total row clips per period, so
    // the caller's noise scale holds for both.
    let activity = RawTable {
        name: ACTIVITY_TABLE.into(),
        columns,
        rows: rows
            .iter()
            .map(|((y, m), acc)| (format!("{y:04}-{m:02}"), acc.cells(clip)))
            .collect(),
        total: total.cells(clip.map(|c| c * month_labels.len().max(1) as u64)),
    };
    let active: BTreeSet<&str> = total.people();
    let tz = band_table(TZ_TABLE, &TZ_BANDS, &active, &|p: &str| {
        // The offset a person used most often; UTC-only sources tell nothing.
        offsets
            .get(p)
            .and_then(|m| m.iter().max_by_key(|(o, n)| (**n, -**o)).map(|(o, _)| *o))
            .filter(|o| *o != 0 || offsets.get(p).is_some_and(|m| m.len() > 1))
            .map_or(TZ_BANDS[3], tz_band)
    });
    let end = to - Duration::seconds(1);
    let tenure = band_table(TENURE_TABLE, &TENURE_BANDS, &active, &|p: &str| {
        tenure_band(first_seen.get(p).map_or(0, |f| (end - *f).num_days()))
    });
    Aggregates {
        tables: vec![activity, tz, tenure],
        ci_jobs,
        ci_co2e_g: ci_g,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_of_a_quarter_and_bands() {
        let from = "2026-07-01T00:00:00Z".parse().unwrap();
        let to = "2026-10-01T00:00:00Z".parse().unwrap();
        assert_eq!(months(from, to), ["2026-07", "2026-08", "2026-09"]);
        assert_eq!(tz_band(-5 * 3600), TZ_BANDS[0]);
        assert_eq!(tz_band(3600), TZ_BANDS[1]);
        assert_eq!(tz_band(9 * 3600), TZ_BANDS[2]);
        assert_eq!(tenure_band(10), TENURE_BANDS[0]);
        assert_eq!(tenure_band(800), TENURE_BANDS[2]);
    }
}
