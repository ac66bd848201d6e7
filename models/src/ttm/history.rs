//! Time-to-merge features from stored events. Every feature of a change at time `t` is computed
//! from events at or before `t` only — its state then, its author's earlier changes, the
//! repository's backlog and pace — so a history that continues past `t` gives the same features.

use std::collections::{BTreeMap, HashMap, HashSet};

use canopy_analyzer::event::{ChangeAction, ChangeEvent};
use canopy_analyzer::{Event, EventKind};
use chrono::{DateTime, Datelike, Timelike, Utc};

use super::features::{TtmFeatures, idx, title_kind, to_log};
use super::record::PrRecord;
use super::running_median::RunningMedian;

/// One change's timeline.
#[derive(Debug, Clone, Default)]
struct Timeline {
    author: String,
    created: Option<DateTime<Utc>>,
    states: Vec<(DateTime<Utc>, ChangeEvent)>,
    merged: Option<(DateTime<Utc>, Option<String>)>,
    closed: Option<DateTime<Utc>>,
    /// (time, reviewer) of review requests.
    requested: Vec<(DateTime<Utc>, String)>,
    /// (time, reviewer) of reviews given.
    reviewed: Vec<(DateTime<Utc>, String)>,
}

impl Timeline {
    fn open_at(&self, t: DateTime<Utc>) -> bool {
        self.created.is_some_and(|c| c <= t)
            && self.merged.as_ref().is_none_or(|(m, _)| *m > t)
            && self.closed.is_none_or(|c| c > t)
    }
}

/// A repository's changes, for features at any time.
#[derive(Debug, Clone, Default)]
pub struct RepoHistory {
    repo: String,
    changes: BTreeMap<u64, Timeline>,
    /// (merge time, hours to merge, merger) of merged changes, by merge time.
    merges: Vec<(DateTime<Utc>, f64, Option<String>)>,
    /// The same merges for the running median.
    running: RunningMedian,
    /// Ids of the events added.
    seen: HashSet<String>,
}

impl RepoHistory {
    /// Builds the history of `repo` from its events (any order; other kinds are ignored).
    pub fn from_events<'a>(repo: &str, events: impl IntoIterator<Item = &'a Event>) -> RepoHistory {
        let mut h = RepoHistory {
            repo: repo.to_string(),
            ..RepoHistory::default()
        };
        for e in events {
            h.add(e);
        }
        h
    }

    /// Adds one event (an event already added, by id, is ignored).
    pub fn add(&mut self, e: &Event) {
        if e.repo != self.repo
            || !matches!(e.kind, EventKind::Change(_) | EventKind::Review(_))
            || !self.seen.insert(e.id.clone())
        {
            return;
        }
        let changes = &mut self.changes;
        {
            let at = e.at_utc();
            match &e.kind {
                EventKind::Change(c) => {
                    let tl = changes.entry(c.number).or_default();
                    tl.author = c.author.key.clone();
                    let created = c.created_at.with_timezone(&Utc);
                    tl.created = Some(tl.created.map_or(created, |x| x.min(created)));
                    match c.action {
                        ChangeAction::Merged => {
                            tl.merged = Some((at, c.actor.as_ref().map(|a| a.key.clone())))
                        }
                        ChangeAction::Closed => tl.closed = Some(at),
                        ChangeAction::Reopened => tl.closed = None,
                        _ => {}
                    }
                    for r in &c.reviewers_requested {
                        tl.requested.push((at, r.key.clone()));
                    }
                    tl.states.push((at, c.clone()));
                }
                EventKind::Review(r) => {
                    changes
                        .entry(r.change)
                        .or_default()
                        .reviewed
                        .push((at, r.reviewer.key.clone()));
                }
                _ => {}
            }
        }
        let number = e.change_number().unwrap_or(0);
        if let Some(tl) = self.changes.get_mut(&number) {
            tl.states.sort_by_key(|(t, _)| *t);
            tl.requested.sort();
            tl.reviewed.sort();
            if let EventKind::Change(c) = &e.kind
                && c.action == ChangeAction::Merged
                && let (Some((m, who)), Some(created)) = (tl.merged.clone(), tl.created)
            {
                let entry = (m, (m - created).num_seconds().max(0) as f64 / 3600.0, who);
                self.running.push(m.timestamp(), entry.1);
                let pos = self.merges.partition_point(|(x, _, _)| *x <= m);
                self.merges.insert(pos, entry);
            }
        }
    }

    /// When a change was opened, if known.
    pub fn created(&self, number: u64) -> Option<DateTime<Utc>> {
        self.changes.get(&number).and_then(|t| t.created)
    }

    /// The repository's running median of time to merge (its merges so far).
    pub fn running_median(&self) -> &RunningMedian {
        &self.running
    }

    /// Merged changes known to the history.
    pub fn merged_count(&self) -> usize {
        self.merges.len()
    }

    /// Features of change `number` as they were at time `t`.
    pub fn features_at(&self, number: u64, t: DateTime<Utc>) -> TtmFeatures {
        let mut f = TtmFeatures::default().0;
        let Some(tl) = self.changes.get(&number) else {
            return TtmFeatures(f);
        };
        if tl.created.is_none_or(|c| c > t) {
            // Not opened yet at t: nothing about it is known.
            return TtmFeatures(f);
        }
        // The change's own state at t.
        if let Some((_, c)) = tl.states.iter().rev().find(|(at, _)| *at <= t) {
            let lines = c.size.additions + c.size.deletions;
            f[idx::LINES] = if lines == 0 && c.size.files_changed == 0 {
                f64::NAN
            } else {
                (lines as f64).ln_1p()
            };
            f[idx::FILES] = if c.size.files_changed == 0 {
                f64::NAN
            } else {
                c.size.files_changed as f64
            };
            f[idx::TITLE_LEN] = c.title.chars().count() as f64;
            f[idx::DESC_LEN] = c.description.chars().count() as f64;
            f[idx::TITLE_KIND] = title_kind(&c.title);
            let wip = c.draft || c.title.to_ascii_lowercase().starts_with("wip");
            f[idx::DRAFT] = f64::from(u8::from(wip));
            f[idx::LABELS] = c.labels.len() as f64;
        }
        // Reviewers requested by t who have not reviewed yet, and their other open requests.
        let pending = |tl: &Timeline| -> HashSet<String> {
            let done: HashSet<&String> = tl
                .reviewed
                .iter()
                .filter(|(a, _)| *a <= t)
                .map(|(_, r)| r)
                .collect();
            tl.requested
                .iter()
                .filter(|(a, r)| *a <= t && !done.contains(r))
                .map(|(_, r)| r.clone())
                .collect()
        };
        let mine = pending(tl);
        f[idx::REVIEWERS] = mine.len() as f64;
        let mut load = 0usize;
        for (n, other) in &self.changes {
            if *n != number && other.open_at(t) {
                load += pending(other).intersection(&mine).count();
            }
        }
        f[idx::REVIEWER_LOAD] = load as f64;
        // The author's earlier changes in this repository.
        let before: Vec<&Timeline> = self
            .changes
            .iter()
            .filter(|(n, o)| {
                **n != number && o.author == tl.author && o.created.is_some_and(|c| c < t)
            })
            .map(|(_, o)| o)
            .collect();
        f[idx::PRIOR] = before.len() as f64;
        f[idx::FIRST_TIME] = f64::from(u8::from(before.is_empty()));
        let merged_before = before
            .iter()
            .filter(|o| o.merged.as_ref().is_some_and(|(m, _)| *m <= t))
            .count();
        // The running median of the author's earlier merges (as for the repository's).
        let author_merges = RunningMedian::new(
            before
                .iter()
                .filter_map(|o| match (&o.merged, o.created) {
                    (Some((m, _)), Some(c)) => {
                        Some((m.timestamp(), (*m - c).num_seconds().max(0) as f64 / 3600.0))
                    }
                    _ => None,
                })
                .collect(),
        );
        f[idx::AUTHOR_MEDIAN] = author_merges
            .median_at(t.timestamp())
            .map_or(f64::NAN, to_log);
        f[idx::MERGE_RATE] = if before.is_empty() {
            f64::NAN
        } else {
            merged_before as f64 / before.len() as f64
        };
        // Core member: has merged someone's change before t.
        f[idx::CORE] =
            f64::from(u8::from(self.merges.iter().any(|(m, _, who)| {
                *m <= t && who.as_deref() == Some(tl.author.as_str())
            })));
        // Backlog and pace.
        f[idx::BACKLOG] = self
            .changes
            .iter()
            .filter(|(n, o)| **n != number && o.open_at(t))
            .count() as f64;
        let window: Vec<&(DateTime<Utc>, f64, Option<String>)> = self
            .merges
            .iter()
            .filter(|(m, _, _)| *m <= t && *m > t - chrono::Duration::days(90))
            .collect();
        f[idx::RECENT_MEDIAN] = self
            .running
            .median_at(t.timestamp())
            .map_or(f64::NAN, to_log);
        let mergers: HashSet<&String> = window.iter().filter_map(|(_, _, w)| w.as_ref()).collect();
        f[idx::TEAM] = if window.is_empty() {
            f64::NAN
        } else {
            mergers.len() as f64
        };
        if let Some(c) = tl.created {
            f[idx::HOUR] = f64::from(c.hour());
            f[idx::WEEKDAY] = f64::from(c.weekday().num_days_from_monday());
        }
        TtmFeatures(f)
    }

    /// Training records: every change with its features at opening and its outcome.
    pub fn records(&self) -> Vec<PrRecord> {
        self.changes
            .iter()
            .filter_map(|(n, tl)| {
                let created = tl.created?;
                Some(PrRecord {
                    repo: self.repo.clone(),
                    number: *n,
                    created_at: created.timestamp(),
                    merged_at: tl.merged.as_ref().map(|(m, _)| m.timestamp()),
                    closed_at: tl
                        .merged
                        .as_ref()
                        .map(|(m, _)| *m)
                        .or(tl.closed)
                        .map(|c| c.timestamp()),
                    features: self.features_at(*n, created),
                })
            })
            .collect()
    }
}

/// Groups events by repository into histories.
pub fn histories<'a>(events: impl IntoIterator<Item = &'a Event>) -> HashMap<String, RepoHistory> {
    let mut by_repo: HashMap<String, Vec<&Event>> = HashMap::new();
    for e in events {
        if matches!(e.kind, EventKind::Change(_) | EventKind::Review(_)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::event::{ChangeSize, ReviewEvent, ReviewVerdict};
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
            EventKind::Review(ReviewEvent {
                change: 3,
                patchset: None,
                reviewer: Actor::github("bob"),
                change_author: None,
                verdict: ReviewVerdict::Approved,
                votes: vec![],
                body: None,
            }),
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
