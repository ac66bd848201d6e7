//! The people of the generated organisation: who they are (fictional), where they work from,
//! when they work, how they write, and how their weeks change (newcomers joining, people
//! drifting into late nights and weekends before going quiet).

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// What a person does in the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reviews a lot and merges pull requests.
    Maintainer,
    /// Writes and reviews code.
    Member,
    /// Joins during the period; contributes from a fork at first.
    Newcomer,
    /// A bot account (dependency updates).
    Bot,
}

/// How a person writes comments: weights of warm, neutral, terse and uncivil remarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    /// Warm, thankful remarks.
    pub warm: f64,
    /// Neutral, technical remarks.
    pub neutral: f64,
    /// Terse, curt remarks.
    pub terse: f64,
    /// Uncivil remarks.
    pub uncivil: f64,
}

/// Weeks over which a person drifts into late nights and weekends, then goes quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    /// First week of the drift (0-based from the start of the history).
    pub start_week: u32,
    /// First week without any activity.
    pub quiet_week: u32,
}

/// One person (or bot) of the organisation. Every name is invented.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// GitHub login.
    pub login: String,
    /// Display name (in commits).
    pub name: String,
    /// Numeric GitHub user id.
    pub id: u64,
    /// Email of most commits (a GitHub noreply address unless `work_email` is used).
    pub email: String,
    /// A work email some commits carry (mapped to the person by the repositories' `.mailmap`).
    pub work_email: Option<String>,
    /// UTC offset in minutes (the person's time zone; fixed, no daylight saving).
    pub utc_offset_min: i32,
    /// Role.
    pub role: Role,
    /// Weights of the two repositories (index 0 and 1) in this person's work.
    pub repo_weights: [f64; 2],
    /// Pull requests opened per week on average.
    pub pace: f64,
    /// First week of activity.
    pub join_week: u32,
    /// Drift before going quiet, if any.
    pub drift: Option<Drift>,
    /// Local hour the working day starts and ends.
    pub day: (f64, f64),
    /// How this person writes.
    pub tone: Tone,
    /// Week in which the person opts in to person-level analysis with `/canopy opt-in`.
    pub opts_in_week: Option<u32>,
}

impl Person {
    /// The time zone as a fixed offset.
    pub fn offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_min * 60)
            .unwrap_or(FixedOffset::east_opt(0).expect("UTC"))
    }

    /// How far into the drift the person is in `week`: 0 before it, rising to 1 at the quiet week.
    pub fn drift_level(&self, week: u32) -> f64 {
        match self.drift {
            Some(d) if week >= d.start_week => {
                let span = f64::from(d.quiet_week.saturating_sub(d.start_week).max(1));
                (f64::from(week - d.start_week + 1) / span).min(1.0)
            }
            _ => 0.0,
        }
    }

    /// Whether the person is around (joined, not yet quiet) in `week`.
    pub fn active(&self, week: u32) -> bool {
        week >= self.join_week && self.drift.is_none_or(|d| week < d.quiet_week)
    }

    /// Probability that a piece of work happens late at night (22:00–06:00 local) in `week`.
    pub fn late_share(&self, week: u32) -> f64 {
        0.03 + 0.6 * self.drift_level(week)
    }

    /// Probability that a piece of work happens on a weekend in `week`.
    pub fn weekend_share(&self, week: u32) -> f64 {
        0.03 + 0.45 * self.drift_level(week)
    }

    /// A moment of work in `week` (whose Monday is `monday`), in the person's local time.
    pub fn work_time(
        &self,
        monday: NaiveDate,
        week: u32,
        rng: &mut ChaCha8Rng,
    ) -> DateTime<FixedOffset> {
        let day = if rng.random_bool(self.weekend_share(week)) {
            rng.random_range(5..7)
        } else {
            rng.random_range(0..5)
        };
        let hour = if rng.random_bool(self.late_share(week)) {
            (22.0 + rng.random_range(0.0..6.5)) % 24.0
        } else {
            rng.random_range(self.day.0..self.day.1)
        };
        self.local(monday + Duration::days(day), hour)
    }

    /// The local moment `hour` (fractional) on `date`.
    pub fn local(&self, date: NaiveDate, hour: f64) -> DateTime<FixedOffset> {
        let secs = (hour * 3600.0).round() as i64;
        let naive = date.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(secs);
        self.offset()
            .from_local_datetime(&naive)
            .single()
            .expect("fixed offsets are unambiguous")
    }

    /// The first moment at or after `t` when this person would plausibly act, given their
    /// working day and (during a drift) their late nights and weekends. `week` is the
    /// history's week of `t`.
    pub fn next_work_moment(
        &self,
        t: DateTime<Utc>,
        week: u32,
        rng: &mut ChaCha8Rng,
    ) -> DateTime<Utc> {
        let local = t.with_timezone(&self.offset());
        let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
        let weekend = local.weekday().num_days_from_monday() >= 5;
        let in_day = hour >= self.day.0 && hour < self.day.1;
        let late = !(6.0..22.0).contains(&hour);
        let ok = match (weekend, in_day) {
            (false, true) => true,
            (true, _) => rng.random_bool(self.weekend_share(week)),
            (false, false) => !late || rng.random_bool((self.late_share(week) * 2.0).min(1.0)),
        };
        if ok {
            return t;
        }
        // The next working morning, an hour or two into the day.
        let mut date = local.date_naive();
        if hour >= self.day.0 {
            date += Duration::days(1);
        }
        while date.weekday().num_days_from_monday() >= 5 {
            date += Duration::days(1);
        }
        let h = self.day.0 + rng.random_range(0.0..2.5);
        self.local(date, h).with_timezone(&Utc)
    }
}

#[allow(clippy::too_many_arguments)]
fn person(
    login: &str,
    name: &str,
    id: u64,
    offset_hours: f64,
    role: Role,
    repo_weights: [f64; 2],
    pace: f64,
    tone: [f64; 4],
) -> Person {
    Person {
        login: login.into(),
        name: name.into(),
        id,
        email: format!("{id}+{login}@users.noreply.github.com"),
        work_email: None,
        utc_offset_min: (offset_hours * 60.0).round() as i32,
        role,
        repo_weights,
        pace,
        join_week: 0,
        drift: None,
        day: (9.0, 18.0),
        tone: Tone {
            warm: tone[0],
            neutral: tone[1],
            terse: tone[2],
            uncivil: tone[3],
        },
        opts_in_week: None,
    }
}

/// (login, name, user id, UTC offset in hours, role, repository weights, pull requests a week,
/// tone weights: warm, neutral, terse, uncivil). Every name is invented.
type Row = (
    &'static str,
    &'static str,
    u64,
    f64,
    Role,
    [f64; 2],
    f64,
    [f64; 4],
);

#[rustfmt::skip]
const CAST: [Row; 16] = [
    ("mokafor", "Maren Okafor", 5_310_101, 1.0, Role::Maintainer, [0.6, 0.4], 1.2, [0.35, 0.55, 0.08, 0.02]),
    ("tlindqvist", "Tobias Lindqvist", 5_310_102, 1.0, Role::Maintainer, [0.4, 0.6], 1.1, [0.05, 0.50, 0.30, 0.15]),
    ("priyar", "Priya Raman", 5_310_103, 5.5, Role::Member, [0.7, 0.3], 1.0, [0.40, 0.55, 0.05, 0.0]),
    ("dsalas", "Diego Salas", 5_310_104, -3.0, Role::Member, [0.3, 0.7], 1.0, [0.30, 0.60, 0.10, 0.0]),
    ("hveit", "Hanne Veit", 5_310_105, 2.0, Role::Member, [0.5, 0.5], 0.9, [0.30, 0.60, 0.10, 0.0]),
    ("kmorita", "Kenta Morita", 5_310_106, 9.0, Role::Member, [0.8, 0.2], 0.8, [0.25, 0.70, 0.05, 0.0]),
    ("abrookfield", "Aiyana Brookfield", 5_310_107, -7.0, Role::Member, [0.2, 0.8], 1.0, [0.35, 0.60, 0.05, 0.0]),
    ("swhitcombe", "Sami Whitcombe", 5_310_108, 0.0, Role::Member, [0.5, 0.5], 0.8, [0.30, 0.60, 0.10, 0.0]),
    ("lpetrovna", "Lidia Petrovna", 5_310_109, 3.0, Role::Member, [0.6, 0.4], 0.9, [0.20, 0.70, 0.10, 0.0]),
    ("oadewale", "Olu Adewale", 5_310_110, 1.0, Role::Member, [0.3, 0.7], 0.9, [0.40, 0.55, 0.05, 0.0]),
    ("mbellandi", "Marco Bellandi", 5_310_111, 1.0, Role::Member, [0.5, 0.5], 0.4, [0.30, 0.65, 0.05, 0.0]),
    ("weichen-dev", "Wei Chenbao", 5_310_112, 8.0, Role::Member, [0.7, 0.3], 0.8, [0.25, 0.70, 0.05, 0.0]),
    ("rjimeno", "Rosa Jimeno", 5_310_113, -5.0, Role::Member, [0.4, 0.6], 0.9, [0.10, 0.50, 0.35, 0.05]),
    ("nkaplow", "Noam Kaplow", 5_310_114, -5.0, Role::Newcomer, [0.3, 0.7], 0.7, [0.45, 0.50, 0.05, 0.0]),
    ("iduartes", "Inês Duartes", 5_310_115, 0.0, Role::Newcomer, [0.7, 0.3], 0.6, [0.50, 0.45, 0.05, 0.0]),
    ("dependabot[bot]", "dependabot[bot]", 49_699_333, 0.0, Role::Bot, [0.5, 0.5], 1.0, [0.0, 1.0, 0.0, 0.0]),
];

/// The fixed cast: fifteen people in nine time zones (two maintainers, eleven members, two
/// newcomers, two of the members drifting into late nights and weekends before going quiet)
/// and the dependency bot. `weeks` is the length of the history; drifts and joins scale to it.
pub fn cast(weeks: u32) -> Vec<Person> {
    let w = |frac: f64| ((f64::from(weeks) * frac).round() as u32).min(weeks.saturating_sub(1));
    let mut people: Vec<Person> = CAST
        .iter()
        .map(|&(login, name, id, offset, role, weights, pace, tone)| {
            person(login, name, id, offset, role, weights, pace, tone)
        })
        .collect();
    people[0].day = (8.0, 17.0);
    people[2].day = (10.0, 19.0);
    people[5].day = (9.5, 19.5);
    people[11].day = (9.0, 18.5);
    people[12].day = (8.5, 17.0);
    // Two people commit with a work address as well (the repositories' .mailmap maps it).
    people[1].work_email = Some("tobias.lindqvist@fernhill.example".into());
    people[7].work_email = Some("sami@fernhill.example".into());
    // Two drifts: longer hours and weekends for ten and nine weeks, then silence.
    people[3].drift = Some(Drift {
        start_week: w(0.33),
        quiet_week: w(0.6),
    });
    people[6].drift = Some(Drift {
        start_week: w(0.65),
        quiet_week: w(0.89),
    });
    // Newcomers join after the start.
    people[13].join_week = w(0.4);
    people[14].join_week = w(0.7);
    // The team tried person-level analysis early on: eight people opt in.
    for (i, week) in [
        (0, 1),
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 3),
        (7, 3),
        (9, 4),
        (11, 5),
    ] {
        people[i].opts_in_week = Some(week);
    }
    people
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn drift_rises_to_one_and_the_person_goes_quiet() {
        let people = cast(39);
        let d = &people[3];
        let drift = d.drift.expect("drifts");
        assert_eq!(d.drift_level(drift.start_week - 1), 0.0);
        assert!(d.drift_level(drift.start_week) > 0.0);
        assert_eq!(d.drift_level(drift.quiet_week - 1), 1.0);
        assert!(d.active(drift.quiet_week - 1) && !d.active(drift.quiet_week));
        assert!(d.late_share(drift.quiet_week - 1) > 10.0 * d.late_share(0));
    }

    #[test]
    fn work_moments_fall_in_the_working_day_unless_drifting() {
        let people = cast(39);
        let p = &people[2];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t: DateTime<Utc> = "2026-03-07T12:00:00Z".parse().unwrap(); // a Saturday
        let n = p.next_work_moment(t, 0, &mut rng);
        let local = n.with_timezone(&p.offset());
        assert!(n >= t);
        let h = f64::from(local.hour());
        if local.weekday().num_days_from_monday() < 5 {
            assert!(h >= p.day.0.floor() && h < p.day.1, "{local}");
        }
    }
}
