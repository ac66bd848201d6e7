//! What is known about one PR or Gerrit change from its change and review events, kept small
//! enough to be stored beside the events and updated as each one arrives. Folding is
//! order-independent: whatever order the events come in (a webhook late, a backfill after the
//! fact), the summary equals the one folded in the store's order, time then id — where the
//! order matters (the latest author, merge, close or reopen) the summary keeps the winning
//! event's position and compares. Folding an event twice (by id) changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{ChangeAction, ChangeEvent, Event, EventKind};

/// An event's position in the store's order: time in milliseconds, then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Stamp {
    /// Event time, epoch milliseconds.
    pub millis: i64,
    /// Event id.
    pub id: String,
}

impl Stamp {
    /// The position of an event.
    pub fn of(e: &Event) -> Stamp {
        Stamp {
            millis: e.at_millis(),
            id: e.id.clone(),
        }
    }
}

/// The state of a change as one change event gave it (what time-to-merge features read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeState {
    /// When.
    pub at: DateTime<Utc>,
    /// Which event.
    pub stamp: Stamp,
    /// Lines added plus deleted.
    pub lines: u64,
    /// Files changed.
    pub files: u64,
    /// Title.
    pub title: String,
    /// Length of the description, in characters.
    pub description_chars: u64,
    /// Draft or work in progress.
    pub draft: bool,
    /// Number of labels.
    pub labels: u64,
}

impl ChangeState {
    fn of(e: &Event, c: &ChangeEvent) -> ChangeState {
        ChangeState {
            at: e.at_utc(),
            stamp: Stamp::of(e),
            lines: c.size.additions + c.size.deletions,
            files: c.size.files_changed,
            title: c.title.clone(),
            description_chars: c.description.chars().count() as u64,
            draft: c.draft,
            labels: c.labels.len() as u64,
        }
    }
}

/// A reviewer, when a review was first requested of them and when they first gave one.
pub type ReviewerSpan<'a> = (&'a str, DateTime<Utc>, Option<DateTime<Utc>>);

/// One change's summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChangeSummary {
    /// Ids of the events folded in, sorted.
    pub ids: Vec<String>,
    /// The author's key, from the latest change event.
    pub author: Option<(Stamp, String)>,
    /// The earliest creation time any change event gave.
    pub created: Option<DateTime<Utc>>,
    /// The latest merge: when, and who merged (actor key).
    pub merged: Option<(Stamp, DateTime<Utc>, Option<String>)>,
    /// The latest close or reopen: `Some(time)` if it was a close, `None` for a reopen.
    pub closed: Option<(Stamp, Option<DateTime<Utc>>)>,
    /// (time, reviewer key) of every review request, sorted.
    pub requested: Vec<(DateTime<Utc>, String)>,
    /// (time, reviewer key) of every review given, sorted.
    pub reviewed: Vec<(DateTime<Utc>, String)>,
    /// The change's states, by time then event.
    pub states: Vec<ChangeState>,
}

/// Whether an event is folded into the summary of its change (change and review events).
pub fn summarised(e: &Event) -> bool {
    matches!(e.kind, EventKind::Change(_) | EventKind::Review(_))
}

fn later<T>(slot: &mut Option<(Stamp, T)>, stamp: Stamp, value: T) {
    if slot.as_ref().is_none_or(|(s, _)| *s < stamp) {
        *slot = Some((stamp, value));
    }
}

fn insert_sorted<T: Ord>(v: &mut Vec<T>, x: T) {
    let pos = v.partition_point(|y| *y <= x);
    v.insert(pos, x);
}

impl ChangeSummary {
    /// Folds one event in; false (and nothing changed) if it is not a change or review event
    /// or was folded before.
    pub fn add(&mut self, e: &Event) -> bool {
        if !summarised(e) {
            return false;
        }
        match self.ids.binary_search(&e.id) {
            Ok(_) => return false,
            Err(pos) => self.ids.insert(pos, e.id.clone()),
        }
        let at = e.at_utc();
        match &e.kind {
            EventKind::Change(c) => {
                let stamp = Stamp::of(e);
                later(&mut self.author, stamp.clone(), c.author.key.clone());
                let created = c.created_at.with_timezone(&Utc);
                self.created = Some(self.created.map_or(created, |x| x.min(created)));
                match c.action {
                    ChangeAction::Merged => {
                        let who = c.actor.as_ref().map(|a| a.key.clone());
                        if self.merged.as_ref().is_none_or(|(s, _, _)| *s < stamp) {
                            self.merged = Some((stamp.clone(), at, who));
                        }
                    }
                    ChangeAction::Closed => later(&mut self.closed, stamp.clone(), Some(at)),
                    ChangeAction::Reopened => later(&mut self.closed, stamp.clone(), None),
                    _ => {}
                }
                for r in &c.reviewers_requested {
                    insert_sorted(&mut self.requested, (at, r.key.clone()));
                }
                let state = ChangeState::of(e, c);
                let pos = self
                    .states
                    .partition_point(|s| (s.at, &s.stamp) <= (state.at, &state.stamp));
                self.states.insert(pos, state);
            }
            EventKind::Review(r) => insert_sorted(&mut self.reviewed, (at, r.reviewer.key.clone())),
            _ => {}
        }
        true
    }

    /// The author's key, if a change event was seen.
    pub fn author(&self) -> Option<&str> {
        self.author.as_ref().map(|(_, a)| a.as_str())
    }

    /// When it was merged, if it was.
    pub fn merged_at(&self) -> Option<DateTime<Utc>> {
        self.merged.as_ref().map(|(_, at, _)| *at)
    }

    /// Who merged it, if it was merged by someone known.
    pub fn merged_by(&self) -> Option<&str> {
        self.merged.as_ref().and_then(|(_, _, w)| w.as_deref())
    }

    /// When it was closed without being reopened since, if it was.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closed.as_ref().and_then(|(_, c)| *c)
    }

    /// When it stopped being open (merged or closed, whichever came first); `None` while open.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        match (self.merged_at(), self.closed_at()) {
            (Some(m), Some(c)) => Some(m.min(c)),
            (m, c) => m.or(c),
        }
    }

    /// Whether it was open at `t`: created by then, not merged nor closed by then.
    pub fn open_at(&self, t: DateTime<Utc>) -> bool {
        self.created.is_some_and(|c| c <= t) && self.ended_at().is_none_or(|e| e > t)
    }

    /// Its latest state at or before `t`.
    pub fn state_at(&self, t: DateTime<Utc>) -> Option<&ChangeState> {
        self.states.iter().rev().find(|s| s.at <= t)
    }

    /// Per reviewer, when a review was first requested and first given (`None`: not yet).
    /// A reviewer is waited on at `t` when `requested <= t < given`.
    pub fn reviewer_spans(&self) -> Vec<ReviewerSpan<'_>> {
        let mut out: Vec<ReviewerSpan<'_>> = Vec::new();
        for (at, r) in &self.requested {
            // `requested` is sorted by time: the first entry of a reviewer is the earliest.
            if !out.iter().any(|(x, _, _)| x == r) {
                let given = self
                    .reviewed
                    .iter()
                    .find(|(_, who)| who == r)
                    .map(|(a, _)| *a);
                out.push((r.as_str(), *at, given));
            }
        }
        out
    }

    /// Reviewers requested by `t` who have not reviewed by `t`.
    pub fn waiting_on(&self, t: DateTime<Utc>) -> Vec<&str> {
        self.reviewer_spans()
            .into_iter()
            .filter(|(_, asked, given)| *asked <= t && given.is_none_or(|g| g > t))
            .map(|(r, _, _)| r)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::Platform;
    use crate::event::{ReviewEvent, ReviewVerdict};

    fn change(id: &str, at: &str, action: ChangeAction, reviewers: &[&str]) -> Event {
        let at = DateTime::parse_from_rfc3339(at).unwrap();
        Event::new(
            id,
            Platform::Github,
            "o/r",
            at,
            EventKind::Change(ChangeEvent {
                reviewers_requested: reviewers.iter().map(|r| Actor::github(r)).collect(),
                actor: Some(Actor::github("merger")),
                ..ChangeEvent::new(7, action, Actor::github("ada"), at)
            }),
        )
    }

    fn review(id: &str, at: &str, who: &str) -> Event {
        Event::new(
            id,
            Platform::Github,
            "o/r",
            DateTime::parse_from_rfc3339(at).unwrap(),
            EventKind::Review(ReviewEvent::new(
                7,
                Actor::github(who),
                ReviewVerdict::Approved,
            )),
        )
    }

    #[test]
    fn any_order_gives_the_same_summary_and_refolding_changes_nothing() {
        let events = [
            change("a", "2026-01-01T10:00:00Z", ChangeAction::Opened, &["bob"]),
            review("b", "2026-01-01T12:00:00Z", "bob"),
            change("c", "2026-01-02T10:00:00Z", ChangeAction::Closed, &[]),
            change("d", "2026-01-03T10:00:00Z", ChangeAction::Reopened, &["cy"]),
            change("e", "2026-01-04T10:00:00Z", ChangeAction::Merged, &[]),
        ];
        let mut forward = ChangeSummary::default();
        events.iter().for_each(|e| {
            forward.add(e);
        });
        let mut backward = ChangeSummary::default();
        events.iter().rev().for_each(|e| {
            backward.add(e);
        });
        assert_eq!(forward, backward);
        assert!(!forward.add(&events[2]));
        assert_eq!(forward.closed_at(), None, "reopened after the close");
        assert_eq!(forward.merged_by(), Some("github:merger"));
        let t = "2026-01-03T11:00:00Z".parse().unwrap();
        assert!(forward.open_at(t));
        assert_eq!(forward.waiting_on(t), ["github:cy"]);
    }
}
