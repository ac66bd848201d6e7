//! Reads intensity series from CSV files in the formats of the shared carbon data: a timestamp
//! column (`Time`, `timestamp`, `datetime`, or the first column) and an intensity column
//! (`Carbon Intensity`, `avg_CI`, `carbon_intensity`, or one named with `--column`). Timestamps
//! may carry a UTC offset (`2022-01-01 00:00:00+00:00`), be RFC 3339, or be naive (read as UTC).
//! Empty values are gaps.

use std::path::Path;

use anyhow::Context;
use canopy_policies::window::Series;
use chrono::{DateTime, NaiveDateTime};

const TIME_COLUMNS: [&str; 4] = ["time", "timestamp", "datetime", "date"];
const VALUE_COLUMNS: [&str; 5] = [
    "carbon intensity",
    "avg_ci",
    "carbon_intensity",
    "intensity",
    "carbonintensity",
];

/// Parses a timestamp in any of the accepted forms, as epoch seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp());
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%MZ",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

/// Reads a series; `column` names the intensity column when the default guess is wrong.
pub fn read_series(path: &Path, column: Option<&str>) -> anyhow::Result<Series> {
    anyhow::ensure!(
        path.exists(),
        "no such file: {} (intensity series are in ../shared/data/carbon/)",
        path.display()
    );
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}: no header row", path.display()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let t_col = find(&TIME_COLUMNS).unwrap_or(0);
    let v_col = match column {
        Some(c) => headers.iter().position(|h| h == c).with_context(|| {
            format!(
                "{}: no column {c:?}; columns are {}",
                path.display(),
                headers.join(", ")
            )
        })?,
        None => find(&VALUE_COLUMNS).with_context(|| {
            format!(
                "{}: no intensity column found among {}; name it with --column",
                path.display(),
                headers.join(", ")
            )
        })?,
    };
    let mut points = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let (Some(t), Some(v)) = (rec.get(t_col), rec.get(v_col)) else {
            continue;
        };
        if v.trim().is_empty() {
            continue; // a gap in the source
        }
        let t = parse_time(t).with_context(|| {
            format!("{}: row {}: cannot read time {t:?}", path.display(), i + 2)
        })?;
        let v: f64 = v.trim().parse().with_context(|| {
            format!(
                "{}: row {}: intensity {v:?} is not a number",
                path.display(),
                i + 2
            )
        })?;
        points.push((t, v));
    }
    Series::new(points).with_context(|| format!("{}: unusable intensity series", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shared_formats_and_skips_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let lwa = dir.path().join("lwa.csv");
        std::fs::write(
            &lwa,
            "Time,Carbon Intensity\n2020-01-01 00:00:00,100.5\n2020-01-01 00:30:00,90\n",
        )
        .unwrap();
        let s = read_series(&lwa, None).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.step(), 1800);
        let eia = dir.path().join("eia.csv");
        std::fs::write(
            &eia,
            "timestamp,WND,avg_CI\n2022-01-01 00:00:00+00:00,1,57.8\n2022-01-01 01:00:00+00:00,1,\n2022-01-01 02:00:00+00:00,2,55.8\n",
        )
        .unwrap();
        let s = read_series(&eia, None).unwrap();
        assert_eq!(s.points().map(|p| p.1).collect::<Vec<_>>(), [57.8, 55.8]);
        let s = read_series(&eia, Some("WND")).unwrap();
        assert_eq!(s.len(), 3);
        let err = format!("{:#}", read_series(&eia, Some("nope")).unwrap_err());
        assert!(err.contains("no column \"nope\""), "{err}");
        std::fs::write(&lwa, "Time,Carbon Intensity\nyesterday,1\n").unwrap();
        let err = format!("{:#}", read_series(&lwa, None).unwrap_err());
        assert!(err.contains("row 2: cannot read time"), "{err}");
    }
}
