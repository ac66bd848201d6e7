//! Predictors of disengagement per person-week, computed from the person's own weekly
//! indicators up to and including that week (never later ones) and from the team's activity.
//! Each is defined in docs/metrics.md (#disengagement-predictors). A predictor a history cannot
//! observe (reviews in plain git, for instance) is NaN, never zero.

use canopy_analyzer::indicators::{N, PersonWeek, idx};
use canopy_analyzer::week::IsoWeek;

/// Predictor names, in vector order.
pub const NAMES: [&str; F] = [
    "weeks_since_active",
    "active_weeks_12",
    "activity_trend",
    "commits_12",
    "churn_12",
    "commit_trend",
    "tenure_weeks",
    "lifetime_active_weeks",
    "usual_gap",
    "gap_ratio",
    "breaks",
    "longest_break",
    "active_days_ratio",
    "hour_spread_12",
    "hour_spread_change",
    "late_night_12",
    "late_night_change",
    "weekend_12",
    "weekend_change",
    "areas_12",
    "areas_change",
    "streak_4",
    "reviews_12",
    "reviews_trend",
    "review_requests_pending",
    "time_to_first_review",
    "comments_12",
    "negative_received_12",
    "negative_written_12",
    "team_active_12",
    "team_trend",
    "commit_share_12",
    "active_run",
    "commits_per_active_week",
    "active_share_lifetime",
    "week_of_year",
];
/// Number of predictors.
pub const F: usize = 36;

/// Index of each predictor.
#[allow(missing_docs)]
pub mod f {
    pub const WEEKS_SINCE_ACTIVE: usize = 0;
    pub const ACTIVE_WEEKS_12: usize = 1;
    pub const ACTIVITY_TREND: usize = 2;
    pub const COMMITS_12: usize = 3;
    pub const CHURN_12: usize = 4;
    pub const COMMIT_TREND: usize = 5;
    pub const TENURE: usize = 6;
    pub const LIFETIME_ACTIVE: usize = 7;
    pub const USUAL_GAP: usize = 8;
    pub const GAP_RATIO: usize = 9;
    pub const BREAKS: usize = 10;
    pub const LONGEST_BREAK: usize = 11;
    pub const ACTIVE_DAYS_RATIO: usize = 12;
    pub const HOUR_SPREAD_12: usize = 13;
    pub const HOUR_SPREAD_CHANGE: usize = 14;
    pub const LATE_12: usize = 15;
    pub const LATE_CHANGE: usize = 16;
    pub const WEEKEND_12: usize = 17;
    pub const WEEKEND_CHANGE: usize = 18;
    pub const AREAS_12: usize = 19;
    pub const AREAS_CHANGE: usize = 20;
    pub const STREAK_4: usize = 21;
    pub const REVIEWS_12: usize = 22;
    pub const REVIEWS_TREND: usize = 23;
    pub const REQUESTS_PENDING: usize = 24;
    pub const TTFR: usize = 25;
    pub const COMMENTS_12: usize = 26;
    pub const NEG_RECEIVED_12: usize = 27;
    pub const NEG_WRITTEN_12: usize = 28;
    pub const TEAM_ACTIVE_12: usize = 29;
    pub const TEAM_TREND: usize = 30;
    pub const COMMIT_SHARE_12: usize = 31;
    pub const ACTIVE_RUN: usize = 32;
    pub const COMMITS_PER_ACTIVE_WEEK: usize = 33;
    pub const ACTIVE_SHARE_LIFETIME: usize = 34;
    pub const WEEK_OF_YEAR: usize = 35;
}

/// Longest recency counted, in weeks.
pub const MAX_WEEKS_SINCE: f64 = 52.0;
/// Quiet weeks between two active weeks that make a break.
pub const BREAK_WEEKS: i64 = 4;

/// Whether a person-week shows activity: a commit, a review or a comment.
pub fn is_active(v: &[Option<f64>; N]) -> bool {
    v[idx::COMMITS].unwrap_or(0.0)
        + v[idx::REVIEWS].unwrap_or(0.0)
        + v[idx::COMMENTS].unwrap_or(0.0)
        > 0.0
}

/// Which sources a history has: predictors of an absent source are NaN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources {
    /// Reviews (GitHub reviews, Gerrit votes) were observed.
    pub reviews: bool,
    /// Comments were observed.
    pub comments: bool,
    /// Comment sentiment was scored.
    pub sentiment: bool,
}

impl Sources {
    /// What the person-weeks of a history show.
    pub fn of(weeks: &[PersonWeek]) -> Sources {
        let mut s = Sources::default();
        for w in weeks {
            s.reviews |= w.values[idx::REVIEWS].is_some();
            s.comments |= w.values[idx::COMMENTS].unwrap_or(0.0) > 0.0;
            s.sentiment |=
                w.values[idx::NEG_WRITTEN].is_some() || w.values[idx::NEG_RECEIVED].is_some();
        }
        s
    }
}

/// Team activity per week of a history (people active, commits), for the team predictors.
#[derive(Debug, Clone)]
pub struct Team {
    first: i64,
    people: Vec<f64>,
    commits: Vec<f64>,
    /// What the history observes.
    pub sources: Sources,
}

impl Team {
    /// The team of a history whose data spans `first` to `last` (person-weeks outside are
    /// ignored).
    pub fn new(weeks: &[PersonWeek], first: IsoWeek, last: IsoWeek) -> Team {
        let first = first.index();
        let len = (last.index() - first + 1).max(0) as usize;
        let mut people = vec![0.0; len];
        let mut commits = vec![0.0; len];
        for w in weeks {
            let i = w.week.index() - first;
            if i < 0 || i as usize >= len {
                continue;
            }
            if is_active(&w.values) {
                people[i as usize] += 1.0;
            }
            commits[i as usize] += w.values[idx::COMMITS].unwrap_or(0.0);
        }
        Team {
            first,
            people,
            commits,
            sources: Sources::of(weeks),
        }
    }

    /// Mean of a per-week series over absolute weeks `a..=b` (clipped to the data).
    fn mean(series: &[f64], first: i64, a: i64, b: i64) -> f64 {
        let lo = (a - first).max(0);
        let hi = (b - first).min(series.len() as i64 - 1);
        if hi < lo {
            return 0.0;
        }
        let s: f64 = series[lo as usize..=hi as usize].iter().sum();
        s / (b - a + 1) as f64
    }
}

/// One person's weeks, dense from their first week to the data's last.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// Person id.
    pub id: &'a str,
    /// Week index of `values[0]`.
    pub first: i64,
    /// Indicators per week (weeks without a person-week are quiet weeks).
    pub values: Vec<[Option<f64>; N]>,
}

/// A quiet week: no activity, counts zero, shares and means absent.
fn quiet() -> [Option<f64>; N] {
    let mut v = [None; N];
    for i in [
        idx::COMMITS,
        idx::CHURN,
        idx::REWORK,
        idx::ACTIVE_DAYS,
        idx::AREAS,
        idx::CONSECUTIVE,
    ] {
        v[i] = Some(0.0);
    }
    v
}

/// Each person's run of person-weeks (input sorted by person, then week).
pub fn runs(weeks: &[PersonWeek]) -> Vec<&[PersonWeek]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < weeks.len() {
        let mut stop = start;
        while stop < weeks.len() && weeks[stop].person == weeks[start].person {
            stop += 1;
        }
        out.push(&weeks[start..stop]);
        start = stop;
    }
    out
}

impl<'a> Person<'a> {
    /// A person from their run of person-weeks, extended with quiet weeks to the data's last
    /// week `last` (weeks after it are dropped); `None` when they start after it.
    pub fn new(run: &'a [PersonWeek], last: IsoWeek) -> Option<Person<'a>> {
        let head = run.first()?;
        let first = head.week.index();
        let end = last.index();
        if first > end {
            return None;
        }
        let mut values = vec![quiet(); (end - first + 1) as usize];
        for w in run {
            let i = w.week.index() - first;
            if (0..values.len() as i64).contains(&i) {
                values[i as usize] = w.values;
            }
        }
        Some(Person {
            id: head.person.as_str(),
            first,
            values,
        })
    }
}

/// People of person-weeks (sorted by person, then week), one at a time, each extended with
/// quiet weeks to the data's last week `last`.
pub fn people(weeks: &[PersonWeek], last: IsoWeek) -> impl Iterator<Item = Person<'_>> {
    runs(weeks)
        .into_iter()
        .filter_map(move |r| Person::new(r, last))
}

/// Prefix sums of a per-week series, for window sums in constant time.
struct Prefix(Vec<f64>);

impl Prefix {
    fn new(it: impl Iterator<Item = f64>) -> Prefix {
        let mut p = vec![0.0];
        let mut acc = 0.0;
        for v in it {
            acc += v;
            p.push(acc);
        }
        Prefix(p)
    }

    /// Sum over weeks `a..=b` (person-local indices, clipped at 0).
    fn sum(&self, a: i64, b: i64) -> f64 {
        let b = (b + 1).min(self.0.len() as i64 - 1);
        let a = a.max(0);
        if b <= a {
            return 0.0;
        }
        self.0[b as usize] - self.0[a as usize]
    }
}

/// Sums of a series and of its presence, for means over present weeks only.
struct PresentMean {
    sum: Prefix,
    count: Prefix,
}

impl PresentMean {
    fn new(values: &[[Option<f64>; N]], i: usize) -> PresentMean {
        PresentMean {
            sum: Prefix::new(values.iter().map(|v| v[i].unwrap_or(0.0))),
            count: Prefix::new(values.iter().map(|v| f64::from(u8::from(v[i].is_some())))),
        }
    }

    fn mean(&self, a: i64, b: i64) -> f64 {
        let n = self.count.sum(a, b);
        if n > 0.0 {
            self.sum.sum(a, b) / n
        } else {
            f64::NAN
        }
    }
}

/// Past gaps between active weeks, kept sorted, for the person's own rhythm.
#[derive(Default)]
struct Gaps {
    sorted: Vec<i64>,
    breaks: usize,
    longest_break: i64,
}

impl Gaps {
    fn add(&mut self, gap: i64) {
        let at = self.sorted.partition_point(|&g| g <= gap);
        self.sorted.insert(at, gap);
        if gap > BREAK_WEEKS {
            self.breaks += 1;
            self.longest_break = self.longest_break.max(gap - 1);
        }
    }

    fn quantile(&self, q: f64) -> f64 {
        let pos = q * (self.sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let (a, b) = (self.sorted[lo] as f64, self.sorted[hi] as f64);
        a + (b - a) * (pos - lo as f64)
    }

    /// Median gap and Tukey's upper fence (Q3 + 1.5 IQR), with at least 4 gaps.
    fn usual(&self) -> Option<(f64, f64)> {
        (self.sorted.len() >= 4).then(|| {
            let (q1, q3) = (self.quantile(0.25), self.quantile(0.75));
            (self.quantile(0.5), q3 + 1.5 * (q3 - q1))
        })
    }
}

/// `ln((a + 1) / (b + 1))`: a change that is defined at zero.
fn log_ratio(a: f64, b: f64) -> f64 {
    ((a + 1.0) / (b + 1.0)).ln()
}

/// Per-person series used by several predictors.
struct Series {
    active: Prefix,
    commits: Prefix,
    churn: Prefix,
    days: Prefix,
    stamped: Prefix,
    late: Prefix,
    weekend: Prefix,
    areas: Prefix,
    reviews: Prefix,
    comments: Prefix,
    hours: PresentMean,
    ttfr: PresentMean,
    neg_received: PresentMean,
    neg_written: PresentMean,
}

impl Series {
    fn new(values: &[[Option<f64>; N]]) -> Series {
        let get = |i: usize| move |v: &[Option<f64>; N]| v[i].unwrap_or(0.0);
        let stamped = |v: &[Option<f64>; N]| {
            v[idx::COMMITS].unwrap_or(0.0)
                + v[idx::REVIEWS].unwrap_or(0.0)
                + v[idx::COMMENTS].unwrap_or(0.0)
        };
        Series {
            active: Prefix::new(values.iter().map(|v| f64::from(u8::from(is_active(v))))),
            commits: Prefix::new(values.iter().map(get(idx::COMMITS))),
            churn: Prefix::new(values.iter().map(get(idx::CHURN))),
            days: Prefix::new(values.iter().map(get(idx::ACTIVE_DAYS))),
            stamped: Prefix::new(values.iter().map(stamped)),
            late: Prefix::new(
                values
                    .iter()
                    .map(|v| v[idx::LATE_NIGHT].unwrap_or(0.0) * stamped(v)),
            ),
            weekend: Prefix::new(
                values
                    .iter()
                    .map(|v| v[idx::WEEKEND].unwrap_or(0.0) * stamped(v)),
            ),
            areas: Prefix::new(values.iter().map(get(idx::AREAS))),
            reviews: Prefix::new(values.iter().map(get(idx::REVIEWS))),
            comments: Prefix::new(values.iter().map(get(idx::COMMENTS))),
            hours: PresentMean::new(values, idx::HOUR_SPREAD),
            ttfr: PresentMean::new(values, idx::TIME_TO_FIRST_REVIEW),
            neg_received: PresentMean::new(values, idx::NEG_RECEIVED),
            neg_written: PresentMean::new(values, idx::NEG_WRITTEN),
        }
    }

    /// Share of timestamped activity in weeks `a..=b` that `part` counts.
    fn share(&self, part: &Prefix, a: i64, b: i64) -> f64 {
        ratio(part, &self.stamped, a, b)
    }

    /// Mean per active week over weeks `a..=b`.
    fn per_active_week(&self, part: &Prefix, a: i64, b: i64) -> f64 {
        ratio(part, &self.active, a, b)
    }
}

/// `part`'s sum over weeks `a..=b` divided by `over`'s (NaN when `over`'s is zero).
fn ratio(part: &Prefix, over: &Prefix, a: i64, b: i64) -> f64 {
    let n = over.sum(a, b);
    if n > 0.0 {
        part.sum(a, b) / n
    } else {
        f64::NAN
    }
}

/// Calls `visit(week index, predictors)` for every week of a person, in order; each week's
/// predictors use that week and earlier ones only.
pub fn person_features(p: &Person<'_>, team: &Team, mut visit: impl FnMut(i64, &[f64; F])) {
    let s = Series::new(&p.values);
    let src = team.sources;
    let mut gaps = Gaps::default();
    let mut last_active: Option<i64> = None;
    let mut lifetime = 0.0_f64;
    let mut run = 0.0_f64;
    let nan = f64::NAN;
    for (k, v) in p.values.iter().enumerate() {
        let k = k as i64;
        if is_active(v) {
            if let Some(prev) = last_active {
                gaps.add(k - prev);
            }
            run = if last_active == Some(k - 1) {
                run + 1.0
            } else {
                1.0
            };
            last_active = Some(k);
            lifetime += 1.0;
        }
        let mut x = [nan; F];
        let since = last_active.map_or(MAX_WEEKS_SINCE, |l| ((k - l) as f64).min(MAX_WEEKS_SINCE));
        x[f::WEEKS_SINCE_ACTIVE] = since;
        x[f::ACTIVE_WEEKS_12] = s.active.sum(k - 11, k);
        x[f::ACTIVITY_TREND] = s.active.sum(k - 3, k) / 4.0 - s.active.sum(k - 11, k - 4) / 8.0;
        x[f::COMMITS_12] = s.commits.sum(k - 11, k).ln_1p();
        x[f::CHURN_12] = s.churn.sum(k - 11, k).ln_1p();
        x[f::COMMIT_TREND] =
            (s.commits.sum(k - 3, k) / 4.0).ln_1p() - (s.commits.sum(k - 11, k - 4) / 8.0).ln_1p();
        x[f::TENURE] = (k as f64).ln_1p();
        x[f::LIFETIME_ACTIVE] = lifetime.ln_1p();
        x[f::ACTIVE_SHARE_LIFETIME] = lifetime / (k + 1) as f64;
        x[f::ACTIVE_RUN] = run;
        gap_features(&mut x, &s, &gaps, k, since);
        rhythm_features(&mut x, &s, p, k);
        platform_features(&mut x, &s, v, k, src);
        let w = p.first + k;
        team_features(&mut x, &s, team, w, k);
        visit(w, &x);
    }
}

/// A person's commits per active week and the gaps between active weeks, as of week `k`.
fn gap_features(x: &mut [f64; F], s: &Series, gaps: &Gaps, k: i64, since: f64) {
    let active_12 = s.active.sum(k - 11, k);
    if active_12 > 0.0 {
        x[f::COMMITS_PER_ACTIVE_WEEK] = (s.commits.sum(k - 11, k) / active_12).ln_1p();
    }
    if let Some((median, fence)) = gaps.usual() {
        x[f::USUAL_GAP] = median;
        x[f::GAP_RATIO] = since / fence.max(1.0);
    }
    x[f::BREAKS] = (gaps.breaks as f64).ln_1p();
    x[f::LONGEST_BREAK] = gaps.longest_break as f64;
}

/// When and how a person works, as of week `k`: active days, hours, late and weekend share,
/// areas touched, and the longest streak of consecutive days in the last four weeks.
fn rhythm_features(x: &mut [f64; F], s: &Series, p: &Person<'_>, k: i64) {
    x[f::ACTIVE_DAYS_RATIO] = log_ratio(s.days.sum(k - 3, k), s.days.sum(k - 15, k - 4) / 3.0);
    x[f::HOUR_SPREAD_12] = s.hours.mean(k - 11, k);
    x[f::HOUR_SPREAD_CHANGE] = s.hours.mean(k - 3, k) - s.hours.mean(k - 15, k - 4);
    x[f::LATE_12] = s.share(&s.late, k - 11, k);
    x[f::LATE_CHANGE] = s.share(&s.late, k - 3, k) - s.share(&s.late, k - 15, k - 4);
    x[f::WEEKEND_12] = s.share(&s.weekend, k - 11, k);
    x[f::WEEKEND_CHANGE] = s.share(&s.weekend, k - 3, k) - s.share(&s.weekend, k - 15, k - 4);
    x[f::AREAS_12] = s.per_active_week(&s.areas, k - 11, k);
    x[f::AREAS_CHANGE] =
        s.per_active_week(&s.areas, k - 3, k) - s.per_active_week(&s.areas, k - 15, k - 4);
    let lo = (k - 3).max(0) as usize;
    x[f::STREAK_4] = p.values[lo..=k as usize]
        .iter()
        .map(|w| w[idx::CONSECUTIVE].unwrap_or(0.0))
        .fold(0.0, f64::max);
}

/// Review, comment and sentiment predictors, where the history has those sources.
fn platform_features(x: &mut [f64; F], s: &Series, v: &[Option<f64>; N], k: i64, src: Sources) {
    if src.reviews {
        x[f::REVIEWS_12] = s.reviews.sum(k - 11, k).ln_1p();
        x[f::REVIEWS_TREND] =
            (s.reviews.sum(k - 3, k) / 4.0).ln_1p() - (s.reviews.sum(k - 11, k - 4) / 8.0).ln_1p();
        x[f::REQUESTS_PENDING] = v[idx::REQUESTS_PENDING].map_or(f64::NAN, f64::ln_1p);
        x[f::TTFR] = s.ttfr.mean(k - 11, k).ln_1p();
    }
    if src.comments {
        x[f::COMMENTS_12] = s.comments.sum(k - 11, k).ln_1p();
    }
    if src.sentiment {
        x[f::NEG_RECEIVED_12] = s.neg_received.mean(k - 11, k);
        x[f::NEG_WRITTEN_12] = s.neg_written.mean(k - 11, k);
    }
}

/// The team's recent activity and trend around week `w`, the person's share of its commits,
/// and the week of the year.
fn team_features(x: &mut [f64; F], s: &Series, team: &Team, w: i64, k: i64) {
    x[f::WEEK_OF_YEAR] = f64::from(IsoWeek::from_index(w).week);
    let recent = Team::mean(&team.people, team.first, w - 11, w);
    x[f::TEAM_ACTIVE_12] = recent.ln_1p();
    x[f::TEAM_TREND] = log_ratio(
        Team::mean(&team.people, team.first, w - 3, w),
        Team::mean(&team.people, team.first, w - 11, w - 4),
    );
    let team_commits = Team::mean(&team.commits, team.first, w - 11, w) * 12.0;
    if team_commits > 0.0 {
        x[f::COMMIT_SHARE_12] = s.commits.sum(k - 11, k) / team_commits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(i: i64) -> IsoWeek {
        IsoWeek::from_index(2800 + i)
    }

    /// A person's weeks from a pattern: `#` = 2 commits (at hours given by spread), `.` quiet.
    fn person(id: &str, pattern: &str) -> Vec<PersonWeek> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let mut values = quiet();
                if c == '#' {
                    values[idx::COMMITS] = Some(2.0);
                    values[idx::CHURN] = Some(20.0);
                    values[idx::ACTIVE_DAYS] = Some(2.0);
                    values[idx::AREAS] = Some(1.0);
                    values[idx::LATE_NIGHT] = Some(0.5);
                    values[idx::WEEKEND] = Some(0.0);
                    values[idx::HOUR_SPREAD] = Some(1.0);
                }
                PersonWeek {
                    person: id.into(),
                    week: week(i as i64),
                    values,
                }
            })
            .collect()
    }

    fn rows(weeks: &[PersonWeek], last: i64) -> Vec<(String, i64, [f64; F])> {
        let team = Team::new(weeks, week(0), week(last));
        let mut out = Vec::new();
        for p in people(weeks, week(last)) {
            person_features(&p, &team, |w, x| out.push((p.id.to_string(), w, *x)));
        }
        out
    }

    #[test]
    fn recency_trend_and_volume_use_past_weeks_only() {
        let weeks = person("ada", "########....");
        let r = rows(&weeks, 15);
        assert_eq!(r.len(), 16, "extended with quiet weeks to the data's end");
        let at = |k: usize| r[k].2;
        assert_eq!(at(7)[f::WEEKS_SINCE_ACTIVE], 0.0);
        assert_eq!(at(10)[f::WEEKS_SINCE_ACTIVE], 3.0);
        assert_eq!(at(7)[f::ACTIVE_WEEKS_12], 8.0);
        // Week 11: last 4 weeks (8–11) quiet, the 8 before (0–7) all active.
        assert_eq!(at(11)[f::ACTIVITY_TREND], -1.0);
        assert!((at(7)[f::COMMITS_12] - 17f64.ln()).abs() < 1e-12);
        // Changing a later week never changes an earlier week's predictors.
        let mut later = weeks.clone();
        later[7].values[idx::COMMITS] = Some(50.0);
        let r2 = rows(&later, 15);
        assert_eq!(r2[6].2.map(f64::to_bits), r[6].2.map(f64::to_bits));
    }

    #[test]
    fn own_rhythm_breaks_and_gap_ratio() {
        // Every other week for a while (gaps of 2), a 5-week break, back, then quiet.
        let weeks = person("bob", "#.#.#.#.#.....#.#.#......");
        let r = rows(&weeks, 24);
        let at = |k: usize| r[k].2;
        assert_eq!(at(8)[f::USUAL_GAP], 2.0, "four gaps of 2");
        assert_eq!(at(8)[f::BREAKS], 0.0);
        assert_eq!(
            at(14)[f::BREAKS],
            1_f64.ln_1p(),
            "quiet weeks 9–13 are a break"
        );
        assert_eq!(at(14)[f::LONGEST_BREAK], 5.0);
        // Week 24: 6 weeks since the last activity (18); the fence is ≥ 2, so ratio ≤ 3.
        let g = at(24)[f::GAP_RATIO];
        assert!(g > 1.0 && g <= 3.0, "{g}");
    }

    #[test]
    fn unobserved_sources_are_nan_and_the_team_is_counted() {
        let mut weeks = person("ada", "####");
        weeks.extend(person("bob", "..##"));
        let r = rows(&weeks, 3);
        let ada3 = r
            .iter()
            .find(|x| x.0 == "ada" && x.1 == week(3).index())
            .unwrap()
            .2;
        assert!(ada3[f::REVIEWS_12].is_nan(), "plain git: no reviews");
        assert!(ada3[f::NEG_RECEIVED_12].is_nan());
        assert!(ada3[f::COMMENTS_12].is_nan());
        // Team: 1, 1, 2, 2 people over weeks 0–3; mean over 12 weeks ending at 3 = 6/12.
        assert!((ada3[f::TEAM_ACTIVE_12] - 0.5_f64.ln_1p()).abs() < 1e-12);
        assert!((ada3[f::COMMIT_SHARE_12] - 8.0 / 12.0).abs() < 1e-12);
        assert_eq!(ada3[f::LATE_12], 0.5);
    }
}
