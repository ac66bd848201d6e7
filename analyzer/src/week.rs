//! ISO 8601 weeks (`2026-W47`), the unit of every weekly indicator and digest.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// An ISO week-numbering year and week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IsoWeek {
    /// ISO week-numbering year (may differ from the calendar year around New Year).
    pub year: i32,
    /// Week number, 1..=53.
    pub week: u32,
}

/// Why a week string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ISO week {0:?}: expected YYYY-Www, e.g. 2026-W47")]
pub struct WeekParseError(pub String);

impl IsoWeek {
    /// The week containing a date.
    pub fn of_date(d: NaiveDate) -> IsoWeek {
        let w = d.iso_week();
        IsoWeek {
            year: w.year(),
            week: w.week(),
        }
    }

    /// The week of a time's local date (in its own UTC offset).
    pub fn of_local(t: &DateTime<FixedOffset>) -> IsoWeek {
        IsoWeek::of_date(t.date_naive())
    }

    /// The week of an instant's UTC date.
    pub fn of_utc(t: &DateTime<Utc>) -> IsoWeek {
        IsoWeek::of_date(t.date_naive())
    }

    /// Monday of this week.
    pub fn monday(self) -> NaiveDate {
        // Validated on construction, so the date exists.
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or(NaiveDate::MIN)
    }

    /// Monday 00:00 UTC of this week.
    pub fn start_utc(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.monday().and_hms_opt(0, 0, 0).unwrap_or_default())
    }

    /// The following week.
    pub fn next(self) -> IsoWeek {
        IsoWeek::of_date(self.monday() + Duration::days(7))
    }

    /// The previous week.
    pub fn prev(self) -> IsoWeek {
        IsoWeek::of_date(self.monday() - Duration::days(7))
    }

    /// Weeks since the ISO week of 1970-01-05 (a Monday): consecutive weeks have consecutive
    /// indices, so week arithmetic is integer arithmetic.
    pub fn index(self) -> i64 {
        (self.monday() - EPOCH_MONDAY).num_days().div_euclid(7)
    }

    /// The week with a given [`IsoWeek::index`].
    pub fn from_index(i: i64) -> IsoWeek {
        IsoWeek::of_date(EPOCH_MONDAY + Duration::days(7 * i))
    }
}

/// Monday of week index 0.
const EPOCH_MONDAY: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 5) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

impl FromStr for IsoWeek {
    type Err = WeekParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || WeekParseError(s.to_string());
        let (y, w) = s.trim().split_once("-W").ok_or_else(err)?;
        let year: i32 = y.parse().map_err(|_| err())?;
        let week: u32 = w.parse().map_err(|_| err())?;
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(err)?;
        Ok(IsoWeek { year, week })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_steps_across_years() {
        let w: IsoWeek = "2026-W47".parse().unwrap();
        assert_eq!(w.to_string(), "2026-W47");
        assert_eq!(w.monday(), NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        // 2020 has 53 ISO weeks.
        let last: IsoWeek = "2020-W53".parse().unwrap();
        assert_eq!(last.next().to_string(), "2021-W01");
        assert_eq!(last.next().prev(), last);
        assert!("2021-W53".parse::<IsoWeek>().is_err());
        assert!("2026-47".parse::<IsoWeek>().is_err());
        // 1 January 2027 is a Friday in ISO week 2026-W53.
        let d = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(IsoWeek::of_date(d).to_string(), "2026-W53");
    }

    #[test]
    fn indices_are_consecutive_across_years() {
        let last: IsoWeek = "2020-W53".parse().unwrap();
        assert_eq!(last.next().index(), last.index() + 1);
        assert_eq!(IsoWeek::from_index(last.index()), last);
        let first = IsoWeek::of_date(NaiveDate::from_ymd_opt(1970, 1, 7).unwrap());
        assert_eq!(first.index(), 0);
        assert_eq!(first.prev().index(), -1);
    }
}
