//! The figures of a weekly maintainer digest, team level only: no person is named or counted
//! alone. Pure: events, the week and the text scorers are passed in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::Serialize;

use crate::event::{ChangeAction, ChangeEvent, CiResult, Event, EventKind, Platform};
use crate::week::IsoWeek;
use crate::weekly::{is_late_night, is_weekend};

/// Weeks before the digest's week that its trends compare with.
pub const TREND_WEEKS: i64 = 4;
/// A change waiting longer than this for a first review is called out.
pub const WAITING_DAYS: i64 = 7;

/// The digest's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Digest {
    /// Repository.
    pub repo: String,
    /// Week.
    pub week: String,
    /// Changes opened this week.
    pub opened: usize,
    /// Changes merged this week.
    pub merged: usize,
    /// Changes closed unmerged (abandoned) this week.
    pub abandoned: usize,
    /// Median hours to merge of this week's merges.
    pub ttm_median_hours: Option<f64>,
    /// 90th percentile hours to merge.
    pub ttm_p90_hours: Option<f64>,
    /// Median hours to merge over the previous weeks (trend reference).
    pub ttm_median_before: Option<f64>,
    /// Median hours from opening to the first review by someone else, for changes first
    /// reviewed this week.
    pub first_review_median_hours: Option<f64>,
    /// Reviews given this week.
    pub reviews: usize,
    /// Distinct reviewers this week.
    pub reviewers: usize,
    /// Share of reviews given by the busiest 20% of reviewers.
    pub busiest_fifth_share: Option<f64>,
    /// Gini coefficient of reviews per reviewer.
    pub review_gini: Option<f64>,
    /// Open changes without any review, longest waiting first: (`#12`, or `name#12` in an
    /// organisation's digest, and days waiting).
    pub waiting: Vec<(String, f64)>,
    /// Share of activity (commits, reviews, comments) late at night.
    pub after_hours_share: Option<f64>,
    /// Share of activity at weekends.
    pub weekend_share: Option<f64>,
    /// Mean probability that a comment is negative, this week.
    pub negative_share: Option<f64>,
    /// The same over the previous weeks.
    pub negative_share_before: Option<f64>,
    /// Uncivil comments this week; `None` when no validated incivility classifier was given
    /// (the count is then not shown, rather than shown as zero).
    pub uncivil: Option<usize>,
    /// CI jobs finished this week.
    pub ci_jobs: usize,
    /// Their total runtime, hours.
    pub ci_hours: f64,
    /// Failed CI jobs.
    pub ci_failed: usize,
    /// Energy of this week's CI jobs, kWh (filled in by the caller, who knows the runners).
    pub ci_kwh: Option<f64>,
    /// Their operational and embodied emissions, gCO2e (filled in by the caller).
    pub ci_co2e_g: Option<f64>,
    /// Reruns deferred to a greener window that ran this week (filled in by the caller).
    pub deferred_reruns: usize,
    /// Emissions those deferrals avoided, gCO2e (filled in by the caller).
    pub deferred_saved_g: Option<f64>,
    /// CI time and energy spent past jobs' stopping points (filled in by the caller; `None`
    /// when no job of this week has a stopping point).
    pub past_stop: Option<PastStopFigures>,
    /// This week's jobs whose energy was measured on their runners, against their estimates
    /// (filled in by the caller; `None` when no job was measured or tried).
    pub measured: Option<MeasuredFigures>,
    /// Activity per UTC day of the week, Monday first (for the charts).
    pub daily: Vec<DayActivity>,
    /// Median hours to merge per week, the previous weeks then this one (for the trend chart).
    pub ttm_weekly: Vec<WeekMedian>,
}

/// A week's CI runs against their jobs' stopping points (see docs/ci.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PastStopFigures {
    /// Failed runs that went past their job's stopping point.
    pub failed_runs: usize,
    /// Machine-hours they spent past it.
    pub failed_hours: f64,
    /// Energy they spent past it, kWh.
    pub failed_kwh: f64,
    /// Passing runs that went past it (stopping there would have stopped them).
    pub passing_runs_past: usize,
    /// Passing runs of jobs with a stopping point.
    pub passing_runs: usize,
}

/// A week's measured CI energy against the estimates for the same jobs (see docs/ci.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MeasuredFigures {
    /// Jobs measured.
    pub jobs: usize,
    /// Their measured energy, kWh.
    pub measured_kwh: f64,
    /// Their estimated energy, kWh.
    pub estimated_kwh: f64,
    /// (estimated − measured) / measured over those jobs' totals.
    pub total_error: f64,
    /// Median over jobs of |estimated − measured| / measured.
    pub median_abs_error: f64,
    /// Jobs whose measurement falls within the estimate's range.
    pub within_range: usize,
    /// Jobs on a runner with a source whose measurement failed (their estimate is used).
    pub unmeasured: usize,
}

/// One day's team activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayActivity {
    /// Date, `YYYY-MM-DD`.
    pub date: String,
    /// Changes opened.
    pub opened: usize,
    /// Changes merged.
    pub merged: usize,
    /// Reviews given.
    pub reviews: usize,
    /// Comments written (bots excluded).
    pub comments: usize,
    /// CI jobs finished.
    pub ci_jobs: usize,
    /// Hours of CI runtime.
    pub ci_hours: f64,
}

/// One week's median time to merge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekMedian {
    /// Week, `YYYY-Www`.
    pub week: String,
    /// Median hours, or `None` when nothing merged.
    pub median_hours: Option<f64>,
    /// Merges that week.
    pub merged: usize,
}

fn quantile(mut v: Vec<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[i])
}

/// Gini coefficient of non-negative amounts (0 = perfectly even).
pub fn gini(values: &[f64]) -> Option<f64> {
    let n = values.len();
    let total: f64 = values.iter().sum();
    if n < 2 || total <= 0.0 {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(i, x)| (i as f64 + 1.0) * x)
        .sum();
    Some((2.0 * weighted) / (n as f64 * total) - (n as f64 + 1.0) / n as f64)
}

/// The span `[from, to)` whose comments a digest of `week` reads the sentiment of: the
/// [`TREND_WEEKS`] weeks before it and the week itself. Scoring other comments is wasted work.
pub fn sentiment_span(week: IsoWeek) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = week.start_utc();
    (
        start - Duration::weeks(TREND_WEEKS),
        week.next().start_utc(),
    )
}

/// Builds the digest of `repo` for `week` from its events (any order).
pub fn build(
    repo: &str,
    events: &[Event],
    week: IsoWeek,
    negative: Option<&dyn Fn(&str) -> f64>,
    uncivil: Option<&dyn Fn(&str) -> bool>,
) -> Digest {
    build_scope(repo, &|r| r == repo, false, events, week, negative, uncivil)
}

/// Builds the digest of an organisation (every repository `org/...`) for `week`.
pub fn build_org(
    org: &str,
    events: &[Event],
    week: IsoWeek,
    negative: Option<&dyn Fn(&str) -> f64>,
    uncivil: Option<&dyn Fn(&str) -> bool>,
) -> Digest {
    let prefix = format!("{org}/");
    build_scope(
        org,
        &|r| r.starts_with(&prefix),
        true,
        events,
        week,
        negative,
        uncivil,
    )
}

/// `qualify`: name waiting changes with their repository (`name#12`), for organisations.
fn build_scope(
    repo: &str,
    in_scope: &dyn Fn(&str) -> bool,
    qualify: bool,
    events: &[Event],
    week: IsoWeek,
    negative: Option<&dyn Fn(&str) -> f64>,
    uncivil: Option<&dyn Fn(&str) -> bool>,
) -> Digest {
    let start = week.start_utc();
    let d = Digest {
        repo: repo.to_string(),
        week: week.to_string(),
        daily: (0..7)
            .map(|i| DayActivity {
                date: (week.monday() + Duration::days(i)).to_string(),
                ..DayActivity::default()
            })
            .collect(),
        uncivil: uncivil.map(|_| 0),
        ..Digest::default()
    };
    let mut tally = Tally {
        start,
        end: week.next().start_utc(),
        before: start - Duration::weeks(TREND_WEEKS),
        negative,
        uncivil,
        d,
        ttm_by_week: vec![Vec::new(); TREND_WEEKS as usize + 1],
        opened: HashMap::new(),
        closed: HashMap::new(),
        first_review: HashMap::new(),
        ttm_week: Vec::new(),
        ttm_before: Vec::new(),
        per_reviewer: BTreeMap::new(),
        stamped: 0.0,
        late: 0.0,
        weekend: 0.0,
        neg_week: Vec::new(),
        neg_before: Vec::new(),
    };
    let mut sorted: Vec<&Event> = events.iter().filter(|e| in_scope(&e.repo)).collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    for e in sorted {
        tally.add(e);
    }
    tally.finish(qualify)
}

/// A change: (repository, platform, number).
type ChangeKey<'a> = (&'a str, Platform, u64);

/// What one pass over a scope's events in time order counts for its digest.
struct Tally<'a> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Start of the trend weeks before the digest's week.
    before: DateTime<Utc>,
    negative: Option<&'a dyn Fn(&str) -> f64>,
    uncivil: Option<&'a dyn Fn(&str) -> bool>,
    d: Digest,
    ttm_by_week: Vec<Vec<f64>>,
    /// Per change: opened at and author key; closed at; first review by someone else.
    opened: HashMap<ChangeKey<'a>, (DateTime<Utc>, String)>,
    closed: HashMap<ChangeKey<'a>, DateTime<Utc>>,
    first_review: HashMap<ChangeKey<'a>, DateTime<Utc>>,
    ttm_week: Vec<f64>,
    ttm_before: Vec<f64>,
    per_reviewer: BTreeMap<String, f64>,
    stamped: f64,
    late: f64,
    weekend: f64,
    neg_week: Vec<f64>,
    neg_before: Vec<f64>,
}

impl<'a> Tally<'a> {
    fn in_week(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && t < self.end
    }

    fn in_before(&self, t: DateTime<Utc>) -> bool {
        t >= self.before && t < self.start
    }

    fn day(&mut self, t: DateTime<Utc>) -> &mut DayActivity {
        let i = ((t - self.start).num_days().clamp(0, 6)) as usize;
        &mut self.d.daily[i]
    }

    /// Counts one activity at local time `t` for the after-hours and weekend shares.
    fn count_time(&mut self, t: &DateTime<FixedOffset>) {
        self.stamped += 1.0;
        self.late += f64::from(u8::from(is_late_night(t)));
        self.weekend += f64::from(u8::from(is_weekend(t)));
    }

    /// Takes in one event (events come in time order).
    fn add(&mut self, e: &'a Event) {
        let at = e.at_utc();
        match &e.kind {
            EventKind::Change(c) => self.change(e, c),
            EventKind::Review(r) => {
                let k = (e.repo.as_str(), e.platform, r.change);
                let by_other = self
                    .opened
                    .get(&k)
                    .is_none_or(|(_, a)| a != &r.reviewer.key);
                if by_other && !r.reviewer.is_bot() {
                    self.first_review.entry(k).or_insert(at);
                }
                if self.in_week(at) && !r.reviewer.is_bot() {
                    self.d.reviews += 1;
                    self.day(at).reviews += 1;
                    *self.per_reviewer.entry(r.reviewer.key.clone()).or_default() += 1.0;
                    self.count_time(&e.at);
                }
            }
            EventKind::Comment(c) if !c.author.is_bot() => self.comment(e, &c.body),
            EventKind::Commit(c)
                if self.in_week(at) && !c.author.is_bot() && c.parents.len() < 2 =>
            {
                self.count_time(&c.author_time);
            }
            EventKind::CiJobFinished(j) if self.in_week(at) => {
                let hours = j.duration_secs as f64 / 3600.0;
                self.d.ci_jobs += 1;
                self.d.ci_hours += hours;
                self.day(at).ci_jobs += 1;
                self.day(at).ci_hours += hours;
                if !matches!(j.result, CiResult::Success | CiResult::Skipped) {
                    self.d.ci_failed += 1;
                }
            }
            _ => {}
        }
    }

    fn change(&mut self, e: &'a Event, c: &ChangeEvent) {
        let at = e.at_utc();
        let k = (e.repo.as_str(), e.platform, c.number);
        let created = c.created_at.with_timezone(&Utc);
        self.opened
            .entry(k)
            .or_insert_with(|| (created, c.author.key.clone()));
        match c.action {
            ChangeAction::Opened if self.in_week(at) => {
                self.d.opened += 1;
                self.day(at).opened += 1;
            }
            ChangeAction::Merged => {
                self.closed.insert(k, at);
                let hours = (at - created).num_seconds().max(0) as f64 / 3600.0;
                if self.in_week(at) {
                    self.d.merged += 1;
                    self.day(at).merged += 1;
                    self.ttm_week.push(hours);
                    self.ttm_by_week[TREND_WEEKS as usize].push(hours);
                } else if self.in_before(at) {
                    self.ttm_before.push(hours);
                    let w = (at - self.before).num_weeks().clamp(0, TREND_WEEKS - 1);
                    self.ttm_by_week[w as usize].push(hours);
                }
            }
            ChangeAction::Closed => {
                self.closed.insert(k, at);
                if self.in_week(at) {
                    self.d.abandoned += 1;
                }
            }
            ChangeAction::Reopened => {
                self.closed.remove(&k);
            }
            _ => {}
        }
    }

    fn comment(&mut self, e: &Event, body: &str) {
        let at = e.at_utc();
        if self.in_week(at) {
            self.day(at).comments += 1;
            self.count_time(&e.at);
            if let (Some(f), Some(n)) = (self.uncivil, self.d.uncivil.as_mut())
                && f(body)
            {
                *n += 1;
            }
        }
        if let Some(f) = self.negative {
            if self.in_week(at) {
                self.neg_week.push(f(body));
            } else if self.in_before(at) {
                self.neg_before.push(f(body));
            }
        }
    }

    /// The digest from what was counted.
    fn finish(self, qualify: bool) -> Digest {
        let waiting = self.waiting(qualify);
        let firsts: Vec<f64> = self
            .first_review
            .iter()
            .filter(|(_, t)| self.in_week(**t))
            .filter_map(|(k, t)| {
                self.opened
                    .get(k)
                    .map(|(o, _)| (*t - *o).num_seconds().max(0) as f64 / 3600.0)
            })
            .collect();
        let before = self.before;
        let mut d = self.d;
        d.ttm_median_hours = quantile(self.ttm_week.clone(), 0.5);
        d.ttm_p90_hours = quantile(self.ttm_week, 0.9);
        d.ttm_median_before = quantile(self.ttm_before, 0.5);
        d.ttm_weekly = self
            .ttm_by_week
            .into_iter()
            .enumerate()
            .map(|(i, v)| WeekMedian {
                week: IsoWeek::of_utc(&(before + Duration::weeks(i as i64))).to_string(),
                merged: v.len(),
                median_hours: quantile(v, 0.5),
            })
            .collect();
        d.first_review_median_hours = quantile(firsts, 0.5);
        let mut loads: Vec<f64> = self.per_reviewer.into_values().collect();
        d.reviewers = loads.len();
        d.review_gini = gini(&loads);
        if !loads.is_empty() {
            loads.sort_by(|a, b| b.total_cmp(a));
            let top = loads.len().div_ceil(5);
            d.busiest_fifth_share =
                Some(loads[..top].iter().sum::<f64>() / loads.iter().sum::<f64>());
        }
        d.waiting = waiting;
        if self.stamped > 0.0 {
            d.after_hours_share = Some(self.late / self.stamped);
            d.weekend_share = Some(self.weekend / self.stamped);
        }
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        d.negative_share = mean(&self.neg_week);
        d.negative_share_before = mean(&self.neg_before);
        d
    }

    /// Changes open at the week's end without any review, longest waiting first.
    fn waiting(&self, qualify: bool) -> Vec<(String, f64)> {
        let end = self.end;
        let mut waiting: Vec<(String, f64)> = self
            .opened
            .iter()
            .filter(|(k, (o, _))| {
                *o < end
                    && self.closed.get(k).is_none_or(|c| *c >= end)
                    && self.first_review.get(k).is_none_or(|r| *r >= end)
            })
            .map(|((r, _, n), (o, _))| {
                let name = if qualify {
                    r.rsplit('/').next().unwrap_or(r).to_string()
                } else {
                    String::new()
                };
                (
                    format!("{name}#{n}"),
                    (end - *o).num_seconds() as f64 / 86_400.0,
                )
            })
            .collect();
        waiting.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        waiting
    }
}

impl Digest {
    /// Two or three concrete suggestions from the figures.
    pub fn suggestions(&self) -> Vec<String> {
        let mut out = Vec::new();
        let long: Vec<&(String, f64)> = self
            .waiting
            .iter()
            .filter(|w| w.1 > WAITING_DAYS as f64)
            .collect();
        if !long.is_empty() {
            out.push(format!(
                "{} {} waited over {WAITING_DAYS} days for a first review (oldest: {}, {:.0} days).",
                long.len(),
                if long.len() == 1 { "change has" } else { "changes have" },
                long[0].0,
                long[0].1
            ));
        }
        if let Some(s) = self.busiest_fifth_share
            && self.reviewers >= 5
            && s > 0.5
        {
            out.push(format!(
                "The busiest fifth of reviewers gave {:.0}% of this week's reviews; asking others to review spreads the load.",
                s * 100.0
            ));
        }
        if let (Some(now), Some(before)) = (self.ttm_median_hours, self.ttm_median_before)
            && now > before * 1.5
            && now - before > 12.0
        {
            out.push(format!(
                "Median time to merge rose from {before:.0} to {now:.0} hours compared with the previous {TREND_WEEKS} weeks."
            ));
        }
        if let Some(n) = self.uncivil.filter(|&n| n > 0) {
            out.push(format!(
                "{} {} flagged as uncivil this week.",
                n,
                if n == 1 {
                    "comment was"
                } else {
                    "comments were"
                }
            ));
        }
        out.truncate(3);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_series_and_weekly_trend_cover_the_week() {
        let d = build("o/r", &[], "2026-W47".parse().unwrap(), None, None);
        assert_eq!(d.daily.len(), 7);
        assert_eq!(d.daily[0].date, "2026-11-16");
        assert_eq!(d.daily[6].date, "2026-11-22");
        let weeks: Vec<&str> = d.ttm_weekly.iter().map(|w| w.week.as_str()).collect();
        assert_eq!(
            weeks,
            ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
        );
    }

    #[test]
    fn an_organisation_digest_keeps_equal_numbers_of_two_repositories_apart() {
        use crate::Actor;
        use crate::event::ChangeEvent;
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-17T10:00:00+00:00").unwrap();
        let change = |repo: &str| {
            Event::new(
                format!("{repo}-7"),
                Platform::Github,
                repo,
                at,
                EventKind::Change(ChangeEvent::new(
                    7,
                    ChangeAction::Opened,
                    Actor::github("ada"),
                    at,
                )),
            )
        };
        let events = [change("acme/a"), change("acme/b"), change("other/c")];
        let week = "2026-W47".parse().unwrap();
        let org = build_org("acme", &events, week, None, None);
        assert_eq!(org.opened, 2);
        let names: Vec<&str> = org.waiting.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(names, ["a#7", "b#7"]);
        let one = build("acme/a", &events, week, None, None);
        assert_eq!(one.opened, 1);
        assert_eq!(one.waiting[0].0, "#7");
    }

    #[test]
    fn the_digest_reads_the_sentiment_of_its_span_only() {
        use crate::Actor;
        use crate::event::CommentEvent;
        let comment = |at: &str, body: &str| {
            let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
            Event::new(
                format!("c-{body}"),
                Platform::Github,
                "o/r",
                at,
                EventKind::Comment(CommentEvent::on_change(7, body, Actor::github("ada"), body)),
            )
        };
        let week: IsoWeek = "2026-W47".parse().unwrap();
        let (from, to) = sentiment_span(week);
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            (
                "2026-10-19T00:00:00+00:00".to_string(),
                "2026-11-23T00:00:00+00:00".to_string()
            )
        );
        let events = [
            comment("2026-10-18T23:59:59+00:00", "too early"),
            comment("2026-10-19T00:00:00+00:00", "first trend week"),
            comment("2026-11-22T23:59:59+00:00", "end of the week"),
            comment("2026-11-23T00:00:00+00:00", "next week"),
        ];
        let read = std::cell::RefCell::new(Vec::new());
        let negative = |t: &str| {
            read.borrow_mut().push(t.to_string());
            0.5
        };
        build("o/r", &events, week, Some(&negative), None);
        assert_eq!(read.into_inner(), ["first trend week", "end of the week"]);
        let inside: Vec<bool> = events
            .iter()
            .map(|e| (from..to).contains(&e.at_utc()))
            .collect();
        assert_eq!(inside, [false, true, true, false]);
    }

    #[test]
    fn gini_of_even_and_concentrated_loads() {
        assert_eq!(gini(&[3.0, 3.0, 3.0]), Some(0.0));
        let g = gini(&[0.0, 0.0, 0.0, 10.0]).unwrap();
        assert!((g - 0.75).abs() < 1e-12);
        assert_eq!(gini(&[5.0]), None);
    }
}
