//! Time-to-merge features from stored events. Every feature of a change at time `t` is computed
//! from events at or before `t` only — its state then, its author's earlier changes, the
//! repository's backlog and pace — so a history that continues past `t` gives the same features.
//!
//! A [`RepoHistory`] keeps one [`ChangeSummary`] per change and, over them, sorted indexes
//! (open spans, each author's changes and merges, each merger's merges, each reviewer's waits,
//! the merges by time) so that features at any `t` cost a few binary searches and a walk over
//! the 90-day merge window, not a pass over every change: the reactor asks for them on every
//! delivery. [`scan`] is the definition the indexes must agree with, by a pass over every
//! change; a property test compares both on random histories.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};

use canopy_analyzer::Event;
use canopy_analyzer::change_summary::{ChangeSummary, summarised};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};

use super::features::{TtmFeatures, idx, title_kind, to_log};
use super::record::PrRecord;
use super::running_median::{RunningMedian, WINDOW};

/// How far back the recent pace and team size look.
pub const PACE_WINDOW_DAYS: i64 = 90;

/// A sorted multiset.
#[derive(Debug, Clone, Default)]
struct Sorted<T>(Vec<T>);

impl<T: PartialOrd> Sorted<T> {
    /// Adds `x` at the end, for a bulk build finished by `sort`.
    fn push(&mut self, x: T) {
        self.0.push(x);
    }

    fn sort(&mut self) {
        self.0
            .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    }

    fn insert(&mut self, x: T) {
        let pos = self.0.partition_point(|y| *y <= x);
        self.0.insert(pos, x);
    }

    fn remove(&mut self, x: &T) {
        let pos = self.0.partition_point(|y| y < x);
        if pos < self.0.len() && self.0[pos] == *x {
            self.0.remove(pos);
        }
    }

    /// Elements `<= x`.
    fn count_le(&self, x: &T) -> usize {
        self.0.partition_point(|y| y <= x)
    }

    /// Elements `< x`.
    fn count_lt(&self, x: &T) -> usize {
        self.0.partition_point(|y| y < x)
    }
}

/// Half-open time spans `[start, end)`; how many contain a given time.
#[derive(Debug, Clone, Default)]
struct Spans {
    starts: Sorted<DateTime<Utc>>,
    ends: Sorted<DateTime<Utc>>,
}

impl Spans {
    fn apply(&mut self, start: DateTime<Utc>, end: Option<DateTime<Utc>>, op: Op) {
        if end.is_some_and(|e| e <= start) {
            return;
        }
        op.apply(&mut self.starts, start);
        if let Some(e) = end {
            op.apply(&mut self.ends, e);
        }
    }

    fn sort(&mut self) {
        self.starts.sort();
        self.ends.sort();
    }

    /// Spans containing `t` (every non-empty span ending by `t` started before it).
    fn covering(&self, t: DateTime<Utc>) -> usize {
        self.starts.count_le(&t) - self.ends.count_le(&t)
    }
}

/// How a change's facts go into the indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Inserted in order.
    Add,
    /// Taken out.
    Remove,
    /// Appended, sorted once at the end of a bulk build.
    Bulk,
}

impl Op {
    fn apply<T: PartialOrd>(self, set: &mut Sorted<T>, x: T) {
        match self {
            Op::Add => set.insert(x),
            Op::Remove => set.remove(&x),
            Op::Bulk => set.push(x),
        }
    }
}

/// One author's changes: when each was created, and when the merged ones were merged.
#[derive(Debug, Clone, Default)]
struct AuthorChanges {
    created: Sorted<DateTime<Utc>>,
    /// Merge times of the changes merged after their creation.
    merged: Sorted<DateTime<Utc>>,
    /// Creation times of the changes merged at or before their creation (odd data).
    merged_early: Sorted<DateTime<Utc>>,
    /// (merged at in epoch seconds, hours to merge, created, number) of the merged changes.
    merge_hours: Sorted<(i64, f64, DateTime<Utc>, u64)>,
}

/// A merged change in the pace window: merge time, number, hours to merge, merger.
type Merge = (DateTime<Utc>, u64, f64, Option<String>);

/// What one change contributes to the repository's indexes.
#[derive(Debug, Clone, Default, PartialEq)]
struct Facts {
    author: Option<String>,
    created: Option<DateTime<Utc>>,
    ended: Option<DateTime<Utc>>,
    merged: Option<(DateTime<Utc>, Option<String>)>,
    /// (reviewer, from, until): waited on while the change was open.
    waits: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)>,
}

fn min_end(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl Facts {
    fn of(s: &ChangeSummary) -> Facts {
        let ended = s.ended_at();
        let waits = match s.created {
            Some(c) => s
                .reviewer_spans()
                .into_iter()
                .map(|(r, asked, given)| (r.to_string(), asked.max(c), min_end(ended, given)))
                .collect(),
            None => Vec::new(),
        };
        Facts {
            author: s.author().map(str::to_string),
            created: s.created,
            ended,
            merged: s
                .merged_at()
                .map(|m| (m, s.merged_by().map(str::to_string))),
            waits,
        }
    }
}

/// The team size at one window, remembered between predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PaceMemo {
    lo: usize,
    hi: usize,
    generation: u64,
    team: f64,
}

/// A repository's changes, for features at any time.
#[derive(Debug, Clone, Default)]
pub struct RepoHistory {
    repo: String,
    changes: BTreeMap<u64, ChangeSummary>,
    open: Spans,
    authors: HashMap<String, AuthorChanges>,
    mergers: HashMap<String, Sorted<DateTime<Utc>>>,
    merges: Vec<Merge>,
    /// The same merges for the running median.
    running: RunningMedian,
    waits: HashMap<String, Spans>,
    /// Bumped whenever `merges` changes.
    generation: u64,
    pace: Cell<Option<PaceMemo>>,
}

impl RepoHistory {
    /// Builds the history of `repo` from its events (any order; other kinds and other
    /// repositories are ignored).
    pub fn from_events<'a>(repo: &str, events: impl IntoIterator<Item = &'a Event>) -> RepoHistory {
        let mut summaries: BTreeMap<u64, ChangeSummary> = BTreeMap::new();
        for e in events {
            if e.repo == repo
                && summarised(e)
                && let Some(n) = e.change_number()
            {
                summaries.entry(n).or_default().add(e);
            }
        }
        RepoHistory::from_summaries(repo, summaries)
    }

    /// Builds the history of `repo` from its changes' summaries (as the store keeps them).
    pub fn from_summaries(
        repo: &str,
        summaries: impl IntoIterator<Item = (u64, ChangeSummary)>,
    ) -> RepoHistory {
        let mut h = RepoHistory {
            repo: repo.to_string(),
            ..RepoHistory::default()
        };
        for (n, s) in summaries {
            h.index(n, &Facts::of(&s), Op::Bulk);
            h.changes.insert(n, s);
        }
        h.sort();
        h
    }

    /// Adds one event (an event already added, by id, is ignored).
    pub fn add(&mut self, e: &Event) {
        if e.repo != self.repo || !summarised(e) {
            return;
        }
        let Some(n) = e.change_number() else {
            return;
        };
        let summary = self.changes.entry(n).or_default();
        let before = Facts::of(summary);
        if !summary.add(e) {
            return;
        }
        let after = Facts::of(summary);
        if before != after {
            self.index(n, &before, Op::Remove);
            self.index(n, &after, Op::Add);
        }
    }

    /// Adds a change's facts to the indexes, or removes them.
    fn index(&mut self, n: u64, f: &Facts, op: Op) {
        let Some(created) = f.created else {
            return;
        };
        self.open.apply(created, f.ended, op);
        if let Some(a) = &f.author {
            let ac = self.authors.entry(a.clone()).or_default();
            op.apply(&mut ac.created, created);
            match f.merged {
                Some((m, _)) if m > created => op.apply(&mut ac.merged, m),
                Some(_) => op.apply(&mut ac.merged_early, created),
                None => {}
            }
            if let Some((m, _)) = f.merged {
                let hours = (m - created).num_seconds().max(0) as f64 / 3600.0;
                op.apply(&mut ac.merge_hours, (m.timestamp(), hours, created, n));
            }
        }
        if let Some((m, who)) = &f.merged {
            self.generation += 1;
            let hours = (*m - created).num_seconds().max(0) as f64 / 3600.0;
            match op {
                Op::Add => self.running.push(m.timestamp(), hours),
                Op::Remove => self.running.remove(m.timestamp(), hours),
                Op::Bulk => {}
            }
            let pos = self.merges.partition_point(|x| (x.0, x.1) < (*m, n));
            match op {
                Op::Add => self.merges.insert(pos, (*m, n, hours, who.clone())),
                Op::Bulk => self.merges.push((*m, n, hours, who.clone())),
                Op::Remove => {
                    if self.merges.get(pos).is_some_and(|x| (x.0, x.1) == (*m, n)) {
                        self.merges.remove(pos);
                    }
                }
            }
            if let Some(w) = who {
                op.apply(self.mergers.entry(w.clone()).or_default(), *m);
            }
        }
        for (r, from, until) in &f.waits {
            self.waits
                .entry(r.clone())
                .or_default()
                .apply(*from, *until, op);
        }
    }

    /// Sorts every index after a bulk build.
    fn sort(&mut self) {
        self.open.sort();
        for a in self.authors.values_mut() {
            a.created.sort();
            a.merged.sort();
            a.merged_early.sort();
            a.merge_hours.sort();
        }
        for m in self.mergers.values_mut() {
            m.sort();
        }
        for w in self.waits.values_mut() {
            w.sort();
        }
        self.merges.sort_by_key(|a| (a.0, a.1));
        self.running =
            RunningMedian::new(self.merges.iter().map(|x| (x.0.timestamp(), x.2)).collect());
    }

    /// A change's summary.
    pub fn summary(&self, number: u64) -> Option<&ChangeSummary> {
        self.changes.get(&number)
    }

    /// Every change's summary, by number.
    pub fn summaries(&self) -> &BTreeMap<u64, ChangeSummary> {
        &self.changes
    }

    /// When a change was opened, if known.
    pub fn created(&self, number: u64) -> Option<DateTime<Utc>> {
        self.changes.get(&number).and_then(|s| s.created)
    }

    /// The repository's running median of time to merge (its merges so far).
    pub fn running_median(&self) -> &RunningMedian {
        &self.running
    }

    /// Merged changes known to the history.
    pub fn merged_count(&self) -> usize {
        self.merges.len()
    }

    /// The number of distinct mergers among the changes merged in `(t - 90 days, t]`; NaN
    /// when there are none.
    fn team(&self, t: DateTime<Utc>) -> f64 {
        let from = t - Duration::days(PACE_WINDOW_DAYS);
        let lo = self.merges.partition_point(|x| x.0 <= from);
        let hi = self.merges.partition_point(|x| x.0 <= t);
        if let Some(m) = self.pace.get()
            && (m.lo, m.hi, m.generation) == (lo, hi, self.generation)
        {
            return m.team;
        }
        let window = &self.merges[lo..hi.max(lo)];
        let team = if window.is_empty() {
            f64::NAN
        } else {
            let team: HashSet<&String> = window.iter().filter_map(|x| x.3.as_ref()).collect();
            team.len() as f64
        };
        self.pace.set(Some(PaceMemo {
            lo,
            hi,
            generation: self.generation,
            team,
        }));
        team
    }

    /// The running median of an author's merges before `t` of their changes created before
    /// `t`, other than change `number`: the last [`WINDOW`] of them.
    fn author_median(&self, ac: &AuthorChanges, number: u64, t: DateTime<Utc>) -> f64 {
        let ts = t.timestamp();
        let end = ac.merge_hours.0.partition_point(|x| x.0 < ts);
        let last: Vec<(i64, f64)> = ac.merge_hours.0[..end]
            .iter()
            .rev()
            .filter(|x| x.3 != number && x.2 < t)
            .take(WINDOW)
            .map(|x| (x.0, x.1))
            .collect();
        RunningMedian::new(last)
            .median_at(ts)
            .map_or(f64::NAN, to_log)
    }

    /// Features of change `number` as they were at time `t`.
    pub fn features_at(&self, number: u64, t: DateTime<Utc>) -> TtmFeatures {
        let mut f = TtmFeatures::default().0;
        let Some(own) = self.changes.get(&number) else {
            return TtmFeatures(f);
        };
        let Some(created) = own.created.filter(|c| *c <= t) else {
            // Not opened yet at t: nothing about it is known.
            return TtmFeatures(f);
        };
        own_state(own, t, &mut f);
        let own_open = own.open_at(t);
        // Reviewers requested by t who have not reviewed yet, and their other waits.
        let mine = own.waiting_on(t);
        f[idx::REVIEWERS] = mine.len() as f64;
        let waits: usize = mine
            .iter()
            .map(|r| self.waits.get(*r).map_or(0, |s| s.covering(t)))
            .sum();
        f[idx::REVIEWER_LOAD] = (waits - if own_open { mine.len() } else { 0 }) as f64;
        // The author's earlier changes in this repository.
        let author = own.author().unwrap_or_default();
        let empty = AuthorChanges::default();
        let ac = self.authors.get(author).unwrap_or(&empty);
        let own_before = usize::from(created < t);
        let prior = ac.created.count_lt(&t) - own_before;
        let own_merged = usize::from(created < t && own.merged_at().is_some_and(|m| m <= t));
        let merged_before = ac.merged.count_le(&t) + ac.merged_early.count_lt(&t) - own_merged;
        f[idx::PRIOR] = prior as f64;
        f[idx::FIRST_TIME] = f64::from(u8::from(prior == 0));
        f[idx::AUTHOR_MEDIAN] = self.author_median(ac, number, t);
        f[idx::MERGE_RATE] = if prior == 0 {
            f64::NAN
        } else {
            merged_before as f64 / prior as f64
        };
        // Core member: has merged a change (their own included) by t.
        let core = self
            .mergers
            .get(author)
            .and_then(|m| m.0.first())
            .is_some_and(|first| *first <= t);
        f[idx::CORE] = f64::from(u8::from(core));
        // Backlog and pace.
        f[idx::BACKLOG] = (self.open.covering(t) - usize::from(own_open)) as f64;
        f[idx::RECENT_MEDIAN] = self
            .running
            .median_at(t.timestamp())
            .map_or(f64::NAN, to_log);
        self.running.pace_at(t.timestamp()).fill(&mut f);
        f[idx::TEAM] = self.team(t);
        f[idx::HOUR] = f64::from(created.hour());
        f[idx::WEEKDAY] = f64::from(created.weekday().num_days_from_monday());
        TtmFeatures(f)
    }

    /// Training records: every change with its features at opening and its outcome.
    pub fn records(&self) -> Vec<PrRecord> {
        self.changes
            .iter()
            .filter_map(|(n, s)| record(&self.repo, *n, s, self.features_at(*n, s.created?)))
            .collect()
    }
}

/// A change's training record, given its features at opening.
fn record(repo: &str, number: u64, s: &ChangeSummary, features: TtmFeatures) -> Option<PrRecord> {
    let created = s.created?;
    Some(PrRecord {
        repo: repo.to_string(),
        number,
        created_at: created.timestamp(),
        merged_at: s.merged_at().map(|m| m.timestamp()),
        closed_at: s.merged_at().or(s.closed_at()).map(|c| c.timestamp()),
        features,
        size_at_open: None,
    })
}

/// The features of a change's own latest state at `t`: size, title, description, draft, labels.
fn own_state(s: &ChangeSummary, t: DateTime<Utc>, f: &mut [f64]) {
    let Some(c) = s.state_at(t) else {
        return;
    };
    f[idx::LINES] = if c.lines == 0 && c.files == 0 {
        f64::NAN
    } else {
        (c.lines as f64).ln_1p()
    };
    f[idx::FILES] = if c.files == 0 {
        f64::NAN
    } else {
        c.files as f64
    };
    f[idx::TITLE_LEN] = c.title.chars().count() as f64;
    f[idx::DESC_LEN] = c.description_chars as f64;
    f[idx::TITLE_KIND] = title_kind(&c.title);
    let wip = c.draft || c.title.to_ascii_lowercase().starts_with("wip");
    f[idx::DRAFT] = f64::from(u8::from(wip));
    f[idx::LABELS] = c.labels as f64;
}

/// Groups events by repository into histories.
pub fn histories<'a>(events: impl IntoIterator<Item = &'a Event>) -> HashMap<String, RepoHistory> {
    let mut by_repo: HashMap<String, Vec<&Event>> = HashMap::new();
    for e in events {
        if summarised(e) {
            by_repo.entry(e.repo.clone()).or_default().push(e);
        }
    }
    by_repo
        .into_iter()
        .map(|(repo, evs)| {
            let h = RepoHistory::from_events(&repo, evs);
            (repo, h)
        })
        .collect()
}

/// The definition of the features, by a pass over every change of the repository: what the
/// indexes of [`RepoHistory`] must agree with. Slow (linear in the changes per call); for
/// tests.
pub mod scan {
    use super::*;

    /// Features of change `number` at `t`, from every change's summary.
    // Long: the reference scan, one feature a few lines in `idx` order, kept plain on purpose
    // so the indexed implementation can be checked against it.
    pub fn features_at(
        changes: &BTreeMap<u64, ChangeSummary>,
        number: u64,
        t: DateTime<Utc>,
    ) -> TtmFeatures {
        let mut f = TtmFeatures::default().0;
        let Some(own) = changes.get(&number) else {
            return TtmFeatures(f);
        };
        let Some(created) = own.created.filter(|c| *c <= t) else {
            return TtmFeatures(f);
        };
        own_state(own, t, &mut f);
        let mine: HashSet<&str> = own.waiting_on(t).into_iter().collect();
        f[idx::REVIEWERS] = mine.len() as f64;
        let mut load = 0usize;
        for (n, other) in changes {
            if *n != number && other.open_at(t) {
                load += other
                    .waiting_on(t)
                    .iter()
                    .filter(|r| mine.contains(*r))
                    .count();
            }
        }
        f[idx::REVIEWER_LOAD] = load as f64;
        let before: Vec<&ChangeSummary> = changes
            .iter()
            .filter(|(n, o)| {
                **n != number && o.author() == own.author() && o.created.is_some_and(|c| c < t)
            })
            .map(|(_, o)| o)
            .collect();
        f[idx::PRIOR] = before.len() as f64;
        f[idx::FIRST_TIME] = f64::from(u8::from(before.is_empty()));
        let merged_before = before
            .iter()
            .filter(|o| o.merged_at().is_some_and(|m| m <= t))
            .count();
        f[idx::MERGE_RATE] = if before.is_empty() {
            f64::NAN
        } else {
            merged_before as f64 / before.len() as f64
        };
        let hours = |o: &ChangeSummary| -> Option<(i64, f64)> {
            let (c, m) = (o.created?, o.merged_at()?);
            Some((m.timestamp(), (m - c).num_seconds().max(0) as f64 / 3600.0))
        };
        f[idx::AUTHOR_MEDIAN] =
            RunningMedian::new(before.iter().filter_map(|o| hours(o)).collect())
                .median_at(t.timestamp())
                .map_or(f64::NAN, to_log);
        // Merged changes with a known creation: (merge time, hours, merger).
        let merges: Vec<(DateTime<Utc>, f64, Option<&str>)> = changes
            .values()
            .filter_map(|o| {
                let (c, m) = (o.created?, o.merged_at()?);
                let hours = (m - c).num_seconds().max(0) as f64 / 3600.0;
                Some((m, hours, o.merged_by()))
            })
            .collect();
        f[idx::CORE] =
            f64::from(u8::from(merges.iter().any(|(m, _, who)| {
                *m <= t && who.is_some() && *who == own.author()
            })));
        f[idx::BACKLOG] = changes
            .iter()
            .filter(|(n, o)| **n != number && o.open_at(t))
            .count() as f64;
        let from = t - Duration::days(PACE_WINDOW_DAYS);
        let window: Vec<&(DateTime<Utc>, f64, Option<&str>)> = merges
            .iter()
            .filter(|(m, _, _)| *m <= t && *m > from)
            .collect();
        let running = RunningMedian::new(changes.values().filter_map(hours).collect());
        f[idx::RECENT_MEDIAN] = running.median_at(t.timestamp()).map_or(f64::NAN, to_log);
        running.pace_at(t.timestamp()).fill(&mut f);
        let mergers: HashSet<&str> = window.iter().filter_map(|(_, _, w)| *w).collect();
        f[idx::TEAM] = if window.is_empty() {
            f64::NAN
        } else {
            mergers.len() as f64
        };
        f[idx::HOUR] = f64::from(created.hour());
        f[idx::WEEKDAY] = f64::from(created.weekday().num_days_from_monday());
        TtmFeatures(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::EventKind;
    use canopy_analyzer::event::{
        ChangeAction, ChangeEvent, ChangeSize, ReviewEvent, ReviewVerdict,
    };
    use canopy_analyzer::{Actor, Platform};
    use chrono::Duration;

    fn change(
        n: u64,
        action: ChangeAction,
        author: &str,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        merger: Option<&str>,
        reviewers: &[&str],
    ) -> Event {
        Event::new(
            format!("{n}:{action:?}:{at}"),
            Platform::Github,
            "o/r",
            at.fixed_offset(),
            EventKind::Change(ChangeEvent {
                number: n,
                action,
                author: Actor::github(author),
                actor: merger.map(Actor::github),
                title: "Fix the parser".into(),
                description: "long text".into(),
                draft: false,
                created_at: created.fixed_offset(),
                size: ChangeSize {
                    additions: 40 * n,
                    deletions: 2,
                    files_changed: 3,
                    commits: 1,
                },
                labels: vec![],
                base_ref: "main".into(),
                head_sha: None,
                patchset: None,
                change_id: None,
                reviewers_requested: reviewers.iter().map(|r| Actor::github(r)).collect(),
                url: None,
            }),
        )
    }

    fn history(until: Option<DateTime<Utc>>) -> (Vec<Event>, DateTime<Utc>) {
        let t0: DateTime<Utc> = "2026-01-05T10:00:00Z".parse().unwrap();
        let h = Duration::hours(1);
        let mut ev = vec![
            change(1, ChangeAction::Opened, "ada", t0, t0, None, &["bob"]),
            change(
                1,
                ChangeAction::Merged,
                "ada",
                t0,
                t0 + h * 5,
                Some("cy"),
                &[],
            ),
            change(
                2,
                ChangeAction::Opened,
                "ada",
                t0 + h * 6,
                t0 + h * 6,
                None,
                &["bob"],
            ),
            change(
                3,
                ChangeAction::Opened,
                "eve",
                t0 + h * 7,
                t0 + h * 7,
                None,
                &["bob"],
            ),
            change(
                2,
                ChangeAction::Merged,
                "ada",
                t0 + h * 6,
                t0 + h * 30,
                Some("cy"),
                &[],
            ),
            change(
                3,
                ChangeAction::Closed,
                "eve",
                t0 + h * 7,
                t0 + h * 40,
                None,
                &[],
            ),
        ];
        ev.push(Event::new(
            "rev",
            Platform::Github,
            "o/r",
            (t0 + h * 20).fixed_offset(),
            EventKind::Review(ReviewEvent::new(
                3,
                Actor::github("bob"),
                ReviewVerdict::Approved,
            )),
        ));
        if let Some(u) = until {
            ev.retain(|e| e.at_utc() <= u);
        }
        (ev, t0)
    }

    #[test]
    fn features_never_read_the_future() {
        let (all, t0) = history(None);
        let full = RepoHistory::from_events("o/r", &all);
        for hours in [0, 6, 7, 8, 21, 31, 50] {
            let t = t0 + Duration::hours(hours);
            let (cut, _) = history(Some(t));
            let truncated = RepoHistory::from_events("o/r", &cut);
            for n in [1, 2, 3] {
                let a = full.features_at(n, t).0.map(f64::to_bits);
                let b = truncated.features_at(n, t).0.map(f64::to_bits);
                assert_eq!(a, b, "change {n} at +{hours}h");
            }
        }
    }

    #[test]
    fn history_features_have_the_expected_values() {
        let (all, t0) = history(None);
        let h = RepoHistory::from_events("o/r", &all);
        let at7 = h.features_at(3, t0 + Duration::hours(7));
        // Open at 7h: change 2 (change 1 merged at 5h).
        assert_eq!(at7.0[idx::BACKLOG], 1.0);
        // Bob is requested on 3 and on 2 (still open, not reviewed).
        assert_eq!(
            (at7.0[idx::REVIEWERS], at7.0[idx::REVIEWER_LOAD]),
            (1.0, 1.0)
        );
        assert_eq!(at7.0[idx::FIRST_TIME], 1.0);
        assert_eq!(at7.0[idx::TITLE_KIND], 1.0);
        assert!((at7.0[idx::RECENT_MEDIAN] - to_log(5.0)).abs() < 1e-12);
        let ada2 = h.features_at(2, t0 + Duration::hours(6));
        assert_eq!((ada2.0[idx::PRIOR], ada2.0[idx::MERGE_RATE]), (1.0, 1.0));
        // Ada's change 1 took 5 hours.
        assert!((ada2.0[idx::AUTHOR_MEDIAN] - to_log(5.0)).abs() < 1e-12);
        assert!(at7.0[idx::AUTHOR_MEDIAN].is_nan());
        let recs = h.records();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].hours_to_merge(), Some(5.0));
        assert_eq!(recs[2].merged_at, None);
        assert!(recs[2].closed_at.is_some());
    }
}
