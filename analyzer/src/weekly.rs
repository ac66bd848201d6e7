//! Team-level weekly picture of a repository's commit history: activity, churn, after-hours
//! and weekend work, context switching. No person is named in the output.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::areas::{AreaFinder, AreaShare, Areas, dir_of};
use crate::event::{CommitEvent, Event, EventKind};
use crate::week::IsoWeek;

/// Local hours counted as late night: from 22:00 (inclusive) to 06:00 (exclusive).
pub const LATE_NIGHT_START_HOUR: u32 = 22;
/// End of the late-night span (exclusive).
pub const LATE_NIGHT_END_HOUR: u32 = 6;

/// One ISO week of team activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamWeek {
    /// ISO week as `YYYY-Www`.
    pub week: String,
    /// Non-merge commits by people (bots excluded).
    pub commits: u64,
    /// Distinct people who authored those commits.
    pub authors: u64,
    /// Lines added by those commits.
    pub lines_added: u64,
    /// Lines deleted by those commits.
    pub lines_deleted: u64,
    /// Lines added plus deleted.
    pub churn: u64,
    /// Distinct file paths touched.
    pub files_touched: u64,
    /// Share of commits authored 22:00–06:00 in the author's own UTC offset (0 when no commits).
    pub late_night_share: f64,
    /// Share of commits authored on Saturday or Sunday in the author's own UTC offset.
    pub weekend_share: f64,
    /// Median over author-days of the distinct top-level directories touched that day.
    pub median_context_switching: f64,
    /// Mean over author-days of the distinct areas (see [`AreaSummary`]) touched that day
    /// (0 when no commits; rounded to 2 places).
    pub context_switching: f64,
    /// Merge commits (not counted in `commits`).
    pub merge_commits: u64,
    /// Commits by recognised bots (not counted in `commits`).
    pub bot_commits: u64,
    /// Lines added by bots' commits (not counted in `lines_added`).
    pub bot_lines_added: u64,
    /// Lines deleted by bots' commits (not counted in `lines_deleted`).
    pub bot_lines_deleted: u64,
}

/// The areas context switching counts, each with its share of the file changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaSummary {
    /// Areas (packages and directories), largest share first.
    pub areas: Vec<AreaShare>,
}

/// The whole team report: every week from the first to the last active one, plus trends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamReport {
    /// Weeks in order, including quiet weeks between active ones.
    pub weeks: Vec<TeamWeek>,
    /// Plain-language observations comparing recent weeks with the ones before.
    pub trends: Vec<String>,
    /// The areas behind `context_switching`.
    pub areas: AreaSummary,
}

#[derive(Default)]
struct WeekAcc {
    commits: u64,
    authors: HashSet<String>,
    added: u64,
    deleted: u64,
    files: HashSet<String>,
    late: u64,
    weekend: u64,
    merges: u64,
    bots: u64,
    bot_added: u64,
    bot_deleted: u64,
    /// (author key, local date) → top-level directories touched.
    author_days: HashMap<(String, NaiveDate), HashSet<String>>,
    /// (author key, local date) → directories touched (ids in the builder's directory table),
    /// mapped to areas once the whole history has been seen.
    author_day_dirs: HashMap<(String, NaiveDate), BTreeSet<u32>>,
}

/// Accumulates commit events one at a time (streaming: memory grows with weeks and distinct
/// paths, not with commits) and produces a [`TeamReport`].
#[derive(Default)]
pub struct WeeklyBuilder {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    weeks: BTreeMap<IsoWeek, WeekAcc>,
    finder: AreaFinder,
    /// Directory table: id → directory, and back.
    dirs: Vec<String>,
    dir_ids: HashMap<String, u32>,
}

impl WeeklyBuilder {
    /// A builder that keeps only commits authored in `[since, until)`.
    pub fn new(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Self {
        WeeklyBuilder {
            since,
            until,
            ..WeeklyBuilder::default()
        }
    }

    /// Adds one event; anything but a commit is ignored.
    pub fn add(&mut self, event: &Event) {
        if let EventKind::Commit(c) = &event.kind {
            self.add_commit(c);
        }
    }

    /// Adds one commit.
    pub fn add_commit(&mut self, c: &CommitEvent) {
        let t = c.author_time;
        let utc = t.with_timezone(&Utc);
        if self.since.is_some_and(|s| utc < s) || self.until.is_some_and(|u| utc >= u) {
            return;
        }
        let acc = self.weeks.entry(IsoWeek::of_local(&t)).or_default();
        if c.is_merge() {
            acc.merges += 1;
            return;
        }
        if c.author.is_bot() {
            acc.bots += 1;
            acc.bot_added += c.lines_added();
            acc.bot_deleted += c.lines_deleted();
            return;
        }
        acc.commits += 1;
        acc.authors.insert(c.author.key.clone());
        acc.added += c.lines_added();
        acc.deleted += c.lines_deleted();
        if is_late_night(&t) {
            acc.late += 1;
        }
        if is_weekend(&t) {
            acc.weekend += 1;
        }
        let key = (c.author.key.clone(), t.date_naive());
        let tops = acc.author_days.entry(key.clone()).or_default();
        let day_dirs = acc.author_day_dirs.entry(key).or_default();
        for f in &c.files {
            tops.insert(top_level(&f.path).to_string());
            self.finder.add_path(&f.path);
            let dir = dir_of(&f.path);
            let id = match self.dir_ids.get(dir) {
                Some(id) => *id,
                None => {
                    let id = self.dirs.len() as u32;
                    self.dirs.push(dir.to_string());
                    self.dir_ids.insert(dir.to_string(), id);
                    id
                }
            };
            day_dirs.insert(id);
            if !acc.files.contains(&f.path) {
                acc.files.insert(f.path.clone());
            }
        }
    }

    /// Produces the report; weeks with no commits between active weeks are included as zeros.
    pub fn finish(self) -> TeamReport {
        let mut weeks = Vec::new();
        let areas = self.finder.finish();
        let summary = AreaSummary {
            areas: areas.shares().to_vec(),
        };
        let (Some(first), Some(last)) = (
            self.weeks.keys().next().copied(),
            self.weeks.keys().next_back().copied(),
        ) else {
            return TeamReport {
                weeks,
                trends: vec!["No commits in the selected period.".to_string()],
                areas: summary,
            };
        };
        let area_of_dir = area_ids(&areas, &self.dirs);
        let mut map = self.weeks;
        let mut w = first;
        loop {
            let acc = map.remove(&w).unwrap_or_default();
            weeks.push(acc.into_week(w, &area_of_dir));
            if w >= last {
                break;
            }
            w = w.next();
        }
        let trends = trends(&weeks);
        TeamReport {
            weeks,
            trends,
            areas: summary,
        }
    }
}

/// The area of every directory in the table, as a small integer per distinct area.
fn area_ids(areas: &Areas, dirs: &[String]) -> Vec<u32> {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    dirs.iter()
        .map(|d| {
            // `area_of` takes a file path: any file name in `d` will do.
            let area = areas.area_of(&format!("{d}/f"));
            let next = ids.len() as u32;
            *ids.entry(area).or_insert(next)
        })
        .collect()
}

impl WeekAcc {
    fn into_week(self, w: IsoWeek, area_of_dir: &[u32]) -> TeamWeek {
        let share = |n: u64| {
            if self.commits == 0 {
                0.0
            } else {
                n as f64 / self.commits as f64
            }
        };
        let mut per_day: Vec<usize> = self.author_days.values().map(HashSet::len).collect();
        TeamWeek {
            week: w.to_string(),
            commits: self.commits,
            authors: self.authors.len() as u64,
            lines_added: self.added,
            lines_deleted: self.deleted,
            churn: self.added + self.deleted,
            files_touched: self.files.len() as u64,
            late_night_share: round4(share(self.late)),
            weekend_share: round4(share(self.weekend)),
            median_context_switching: median_usize(&mut per_day),
            context_switching: mean_areas(&self.author_day_dirs, area_of_dir),
            merge_commits: self.merges,
            bot_commits: self.bots,
            bot_lines_added: self.bot_added,
            bot_lines_deleted: self.bot_deleted,
        }
    }
}

/// True when the local time is between 22:00 and 06:00.
pub fn is_late_night(t: &DateTime<FixedOffset>) -> bool {
    let h = t.hour();
    !(LATE_NIGHT_END_HOUR..LATE_NIGHT_START_HOUR).contains(&h)
}

/// True when the local date is a Saturday or Sunday.
pub fn is_weekend(t: &DateTime<FixedOffset>) -> bool {
    matches!(t.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The top-level directory of a path (`.` for files at the root).
pub fn top_level(path: &str) -> &str {
    match path.split_once('/') {
        Some((dir, _)) if !dir.is_empty() => dir,
        _ => ".",
    }
}

/// Mean over author-days of the distinct areas their directories fall in (2 places).
fn mean_areas(days: &HashMap<(String, NaiveDate), BTreeSet<u32>>, area_of_dir: &[u32]) -> f64 {
    if days.is_empty() {
        return 0.0;
    }
    let total: usize = days
        .values()
        .map(|dirs| {
            let areas: BTreeSet<u32> = dirs.iter().map(|d| area_of_dir[*d as usize]).collect();
            areas.len()
        })
        .sum();
    (total as f64 / days.len() as f64 * 100.0).round() / 100.0
}

fn median_usize(v: &mut [usize]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Fewest commits in the last 16 weeks for the trend sentences: below it a change of one commit
/// would read as a swing of tens of percent.
pub const MIN_TREND_COMMITS: u64 = 10;

/// Compares the last four weeks with the twelve before them.
fn trends(weeks: &[TeamWeek]) -> Vec<String> {
    let mut out = Vec::new();
    let total: u64 = weeks.iter().map(|w| w.commits).sum();
    let active = weeks.iter().filter(|w| w.commits > 0).count();
    out.push(format!(
        "{} by people over {} ({active} with activity).",
        plural(total, "commit"),
        plural(weeks.len() as u64, "week")
    ));
    if weeks.len() < 8 {
        out.push(
            "Fewer than 8 weeks of history: too short to compare recent weeks with earlier ones."
                .into(),
        );
        return out;
    }
    let split = weeks.len() - 4;
    let recent = &weeks[split..];
    let before = &weeks[split.saturating_sub(12)..split];
    let commits = |ws: &[TeamWeek]| ws.iter().map(|w| w.commits).sum::<u64>();
    let (n_recent, n_before) = (commits(recent), commits(before));
    if n_recent + n_before < MIN_TREND_COMMITS {
        out.push(format!(
            "Too little activity to call trends: {} in the last 4 weeks, {} in the 12 weeks \
             before (at least {MIN_TREND_COMMITS} are needed).",
            plural(n_recent, "commit"),
            n_before
        ));
        return out;
    }
    let per_week = |ws: &[TeamWeek], f: &dyn Fn(&TeamWeek) -> f64| {
        ws.iter().map(f).sum::<f64>() / ws.len() as f64
    };
    let weighted_share = |ws: &[TeamWeek], f: &dyn Fn(&TeamWeek) -> f64| {
        let n: u64 = ws.iter().map(|w| w.commits).sum();
        if n == 0 {
            None
        } else {
            Some(ws.iter().map(|w| f(w) * w.commits as f64).sum::<f64>() / n as f64)
        }
    };
    type Count = fn(&TeamWeek) -> f64;
    let counts: [(&str, Count); 3] = [
        ("Commits per week", |w| w.commits as f64),
        ("Active authors per week", |w| w.authors as f64),
        ("Churn (lines changed) per week", |w| w.churn as f64),
    ];
    for (label, f) in counts {
        out.push(change_sentence(
            label,
            per_week(before, &f),
            per_week(recent, &f),
        ));
    }
    for (label, f) in [
        (
            "Late-night share",
            (&|w: &TeamWeek| w.late_night_share) as &dyn Fn(&TeamWeek) -> f64,
        ),
        ("Weekend share", &|w: &TeamWeek| w.weekend_share),
    ] {
        if let (Some(b), Some(r)) = (weighted_share(before, f), weighted_share(recent, f)) {
            let pts = (r - b) * 100.0;
            let dir = if pts.abs() < 2.0 {
                "about the same as".to_string()
            } else if pts > 0.0 {
                format!("{pts:.0} points above")
            } else {
                format!("{:.0} points below", -pts)
            };
            out.push(format!(
                "{label} of commits in the last 4 weeks: {:.0}%, {dir} the 12 weeks before ({:.0}%).",
                r * 100.0,
                b * 100.0
            ));
        }
    }
    out
}

/// `1 commit`, `2 commits`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn change_sentence(label: &str, before: f64, recent: f64) -> String {
    if before == 0.0 && recent == 0.0 {
        return format!("{label}: none in the last 16 weeks.");
    }
    if before == 0.0 {
        return format!(
            "{label}: {} in the last 4 weeks, none in the 12 weeks before.",
            rate(recent)
        );
    }
    let pct = (recent - before) / before * 100.0;
    let dir = if pct.abs() < 10.0 {
        "about the same as".to_string()
    } else if pct > 0.0 {
        format!("up {pct:.0}% on")
    } else {
        format!("down {:.0}% on", -pct)
    };
    format!(
        "{label}: {} in the last 4 weeks, {dir} the 12 weeks before ({}).",
        rate(recent),
        rate(before)
    )
}

/// A weekly rate: two decimals below 1 (0.25), one below 100 (2.5, 17.8), none from 100 up
/// (3836), so that the small rates of a quiet repository do not print alike when they differ.
fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Actor;
    use crate::event::FileChange;
    use chrono::Duration;

    fn commit(author: &str, time: &str, files: &[(&str, u32, u32)], parents: usize) -> CommitEvent {
        let t = DateTime::parse_from_rfc3339(time).unwrap();
        CommitEvent {
            parents: (0..parents).map(|i| format!("p{i}")).collect(),
            files: files
                .iter()
                .map(|(p, a, d)| FileChange {
                    path: p.to_string(),
                    added: *a,
                    deleted: *d,
                    ..Default::default()
                })
                .collect(),
            ..CommitEvent::new(
                format!("{author}{time}"),
                Actor::git(author, &format!("{author}@example.org")),
                t,
            )
        }
    }

    #[test]
    fn late_night_and_weekend_use_the_authors_own_offset() {
        // 23:30 in UTC+02:00 is 21:30 UTC: late night for the author.
        let t = DateTime::parse_from_rfc3339("2024-03-06T23:30:00+02:00").unwrap();
        assert!(is_late_night(&t));
        // 05:59 local is late night, 06:00 is not, 21:59 is not, 22:00 is.
        for (s, late) in [
            ("2024-03-06T05:59:00-05:00", true),
            ("2024-03-06T06:00:00-05:00", false),
            ("2024-03-06T21:59:00+09:00", false),
            ("2024-03-06T22:00:00+09:00", true),
        ] {
            assert_eq!(
                is_late_night(&DateTime::parse_from_rfc3339(s).unwrap()),
                late,
                "{s}"
            );
        }
        // Saturday 00:30 in UTC+01:00 is Friday 23:30 UTC: weekend for the author.
        let sat = DateTime::parse_from_rfc3339("2024-03-09T00:30:00+01:00").unwrap();
        assert!(is_weekend(&sat));
        assert!(!is_weekend(&sat.with_timezone(&Utc).fixed_offset()));
    }

    #[test]
    fn a_week_counts_people_lines_and_shares() {
        let mut b = WeeklyBuilder::new(None, None);
        // Week 2024-W10 is Mon 4 March .. Sun 10 March.
        b.add_commit(&commit(
            "ada",
            "2024-03-04T10:00:00+00:00",
            &[("src/a.rs", 10, 2)],
            1,
        ));
        b.add_commit(&commit(
            "ada",
            "2024-03-04T23:00:00+00:00",
            &[("docs/x.md", 1, 0), ("src/a.rs", 3, 3)],
            1,
        ));
        b.add_commit(&commit(
            "bob",
            "2024-03-09T12:00:00+00:00",
            &[("README", 5, 0)],
            1,
        ));
        b.add_commit(&commit("bob", "2024-03-09T13:00:00+00:00", &[], 2)); // merge
        let mut bot = commit(
            "x",
            "2024-03-05T12:00:00+00:00",
            &[("Cargo.lock", 100, 100)],
            1,
        );
        bot.author = Actor::git(
            "dependabot[bot]",
            "49699333+dependabot[bot]@users.noreply.github.com",
        );
        b.add_commit(&bot);
        let r = b.finish();
        assert_eq!(r.weeks.len(), 1);
        let w = &r.weeks[0];
        assert_eq!(w.week, "2024-W10");
        assert_eq!(
            (w.commits, w.authors, w.merge_commits, w.bot_commits),
            (3, 2, 1, 1)
        );
        assert_eq!((w.lines_added, w.lines_deleted, w.churn), (19, 5, 24));
        assert_eq!(w.files_touched, 3);
        assert_eq!(w.late_night_share, 0.3333);
        assert_eq!(w.weekend_share, 0.3333);
        // ada on 4 March touched {src, docs} = 2, bob on 9 March touched {.} = 1 → median 1.5.
        assert_eq!(w.median_context_switching, 1.5);
        // Areas: src (2 changes), docs (1) and the root (1) → the same 2 and 1 areas per day.
        assert_eq!(w.context_switching, 1.5);
        assert_eq!((w.bot_lines_added, w.bot_lines_deleted), (100, 100));
        assert_eq!(r.areas.areas.len(), 3);
    }

    #[test]
    fn quiet_weeks_between_active_ones_are_zero_rows_and_ranges_filter() {
        let mut b = WeeklyBuilder::new(
            Some("2024-01-01T00:00:00Z".parse().unwrap()),
            Some("2024-02-01T00:00:00Z".parse().unwrap()),
        );
        b.add_commit(&commit("ada", "2024-01-02T10:00:00+00:00", &[], 1));
        b.add_commit(&commit("ada", "2024-01-23T10:00:00+00:00", &[], 1));
        b.add_commit(&commit("ada", "2024-03-01T10:00:00+00:00", &[], 1)); // outside
        let r = b.finish();
        let names: Vec<_> = r.weeks.iter().map(|w| w.week.as_str()).collect();
        assert_eq!(names, ["2024-W01", "2024-W02", "2024-W03", "2024-W04"]);
        assert_eq!(r.weeks[1].commits, 0);
    }

    #[test]
    fn a_quiet_history_gets_no_trend_percentages() {
        // 4 commits in 16 weeks: one more would read as a swing of tens of percent.
        let mut b = WeeklyBuilder::new(None, None);
        let start = DateTime::parse_from_rfc3339("2024-01-01T10:00:00+00:00").unwrap();
        for week in [0, 5, 14, 15] {
            let t = start + Duration::weeks(week);
            b.add_commit(&commit("ada", &t.to_rfc3339(), &[("a", 40, 40)], 1));
        }
        let r = b.finish();
        assert_eq!(
            r.trends[1..],
            [
                "Too little activity to call trends: 2 commits in the last 4 weeks, 2 in the 12 \
              weeks before (at least 10 are needed)."
            ]
        );
        assert!(!r.trends.iter().any(|t| t.contains('%')), "{:?}", r.trends);
    }

    #[test]
    fn rates_keep_their_difference_when_small() {
        assert_eq!(rate(0.25), "0.25");
        assert_eq!(rate(1.0 / 6.0), "0.17");
        assert_eq!(rate(2.5), "2.5");
        assert_eq!(rate(17.75), "17.8");
        assert_eq!(rate(3836.2), "3836");
    }

    #[test]
    fn trends_compare_recent_with_earlier_weeks() {
        let mut b = WeeklyBuilder::new(None, None);
        let start = DateTime::parse_from_rfc3339("2024-01-01T10:00:00+00:00").unwrap();
        for week in 0..16 {
            let n = if week >= 12 { 4 } else { 2 };
            for i in 0..n {
                let t = start + Duration::weeks(week) + Duration::hours(i);
                b.add_commit(&commit("ada", &t.to_rfc3339(), &[("a", 1, 0)], 1));
            }
        }
        let r = b.finish();
        assert!(
            r.trends
                .iter()
                .any(|t| t.starts_with("Commits per week: 4.0 in the last 4 weeks, up 100% on")),
            "{:?}",
            r.trends
        );
    }
}
