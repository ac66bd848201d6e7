//! The indexes of `RepoHistory` never disagree with a pass over every change: over random
//! histories (opens, merges, closes, reopens, review requests and reviews of a few changes by
//! a few people, events at shared instants, arriving in any order and some twice), the
//! time-to-merge features of every change at many times are bit-for-bit those of
//! `history::scan`, whether the history was built at once or one event at a time, and
//! the change summaries do not depend on the order the events came in.

use std::collections::BTreeMap;

use canopy_analyzer::change_summary::ChangeSummary;
use canopy_analyzer::event::{ChangeAction, ChangeEvent, ChangeSize, ReviewEvent, ReviewVerdict};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use canopy_models::ttm::history::{RepoHistory, scan};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use proptest::prelude::*;

const ACTIONS: [ChangeAction; 9] = [
    ChangeAction::Opened,
    ChangeAction::Updated,
    ChangeAction::Edited,
    ChangeAction::Merged,
    ChangeAction::Closed,
    ChangeAction::Reopened,
    ChangeAction::ReadyForReview,
    ChangeAction::ConvertedToDraft,
    ChangeAction::ReviewRequested,
];
const PEOPLE: [&str; 4] = ["ada", "bob", "cy", "dee"];
const TITLES: [&str; 4] = [
    "Fix the parser",
    "WIP: grid",
    "Docs for the API",
    "Bump serde",
];

/// One random event, before it gets its id and time.
#[derive(Debug, Clone)]
enum Spec {
    Change(Box<ChangeEvent>),
    Review { number: u64, reviewer: usize },
    Comment { number: u64 },
}

fn spec() -> impl Strategy<Value = (Spec, i64)> {
    let change = (
        1..7u64,
        0..ACTIONS.len(),
        0..PEOPLE.len(),
        proptest::option::of(0..PEOPLE.len()),
        0..300i64,
        proptest::collection::vec(0..PEOPLE.len(), 0..3),
        0..2000u64,
        0..TITLES.len(),
        any::<bool>(),
    )
        .prop_map(
            |(number, action, author, merger, created, reviewers, lines, title, draft)| {
                Spec::Change(Box::new(ChangeEvent {
                    actor: merger.map(|m| Actor::github(PEOPLE[m])),
                    title: TITLES[title].into(),
                    description: "x".repeat(lines as usize % 50),
                    draft,
                    size: ChangeSize {
                        additions: lines,
                        deletions: lines / 3,
                        files_changed: lines % 7,
                        commits: 1,
                    },
                    labels: vec!["bug".into(); (lines % 3) as usize],
                    reviewers_requested: reviewers
                        .iter()
                        .map(|r| Actor::github(PEOPLE[*r]))
                        .collect(),
                    ..ChangeEvent::new(
                        number,
                        ACTIONS[action],
                        Actor::github(PEOPLE[author]),
                        t0() + Duration::minutes(created * 7),
                    )
                }))
            },
        );
    let review =
        (1..7u64, 0..PEOPLE.len()).prop_map(|(number, reviewer)| Spec::Review { number, reviewer });
    let comment = (1..7u64).prop_map(|number| Spec::Comment { number });
    (
        prop_oneof![6 => change, 3 => review, 1 => comment],
        // Minutes from the start, coarse enough that instants are often shared.
        0..400i64,
    )
}

fn t0() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-01-05T09:00:00+01:00").unwrap()
}

fn build(i: usize, spec: &Spec, minute: i64) -> Event {
    let at = t0() + Duration::minutes(minute * 7);
    let kind = match spec {
        Spec::Change(c) => EventKind::Change(c.as_ref().clone()),
        Spec::Review { number, reviewer } => EventKind::Review(ReviewEvent::new(
            *number,
            Actor::github(PEOPLE[*reviewer]),
            ReviewVerdict::Commented,
        )),
        Spec::Comment { number } => {
            EventKind::Comment(canopy_analyzer::event::CommentEvent::on_change(
                *number,
                format!("c{i}"),
                Actor::github("ada"),
                "hi",
            ))
        }
    };
    Event::new(format!("e{i:03}"), Platform::Github, "o/r", at, kind)
}

fn bits(f: &canopy_models::ttm::TtmFeatures) -> Vec<u64> {
    f.0.iter().map(|x| x.to_bits()).collect()
}

/// Times worth asking about: every event time, just before and after it, and between.
fn probe_times(events: &[Event]) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for e in events {
        let t = e.at_utc();
        out.extend([t, t - Duration::nanoseconds(1), t + Duration::minutes(3)]);
        if let EventKind::Change(c) = &e.kind {
            out.push(c.created_at.with_timezone(&Utc));
        }
    }
    out.push(t0().with_timezone(&Utc) + Duration::days(120));
    out.sort();
    out.dedup();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn indexes_agree_with_a_pass_over_every_change(
        specs in proptest::collection::vec(spec(), 1..40),
        order in proptest::collection::vec(any::<u32>(), 40),
        split in 0..40usize,
    ) {
        let events: Vec<Event> = specs.iter().enumerate().map(|(i, (s, m))| build(i, s, *m)).collect();
        // The definition: summaries folded in the store's order (time, then id).
        let mut sorted = events.clone();
        sorted.sort_by(|a, b| (a.at_millis(), &a.id).cmp(&(b.at_millis(), &b.id)));
        let mut summaries: BTreeMap<u64, ChangeSummary> = BTreeMap::new();
        for e in &sorted {
            if let Some(n) = e.change_number().filter(|_| canopy_analyzer::change_summary::summarised(e)) {
                summaries.entry(n).or_default().add(e);
            }
        }
        // Arrival order: shuffled by `order`, some events twice.
        let mut arrival: Vec<&Event> = events.iter().collect();
        for (i, k) in order.iter().enumerate().take(arrival.len()) {
            let j = (*k as usize) % arrival.len();
            arrival.swap(i, j);
        }
        let again: Vec<&Event> = arrival.iter().step_by(3).copied().collect();
        arrival.extend(again);
        let split = split.min(arrival.len());
        // Built at once from the first part, then one event at a time.
        let mut live = RepoHistory::from_events("o/r", arrival[..split].iter().copied());
        for e in &arrival[split..] {
            live.add(e);
        }
        prop_assert_eq!(live.summaries(), &summaries);
        let at_once = RepoHistory::from_summaries("o/r", summaries.clone());
        for t in probe_times(&events) {
            for n in 1..7u64 {
                let want = bits(&scan::features_at(&summaries, n, t));
                prop_assert_eq!(&bits(&live.features_at(n, t)), &want, "change {} at {}", n, t);
                prop_assert_eq!(&bits(&at_once.features_at(n, t)), &want, "change {} at {} (bulk)", n, t);
            }
        }
        let records = live.records();
        prop_assert_eq!(records.len(), summaries.values().filter(|s| s.created.is_some()).count());
        for r in &records {
            let created = summaries[&r.number].created.unwrap();
            prop_assert_eq!(bits(&r.features), bits(&scan::features_at(&summaries, r.number, created)));
        }
    }
}
