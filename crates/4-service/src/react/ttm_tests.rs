//! The reactor's time-to-merge online state: what a merge teaches is handed back in the
//! reaction (stored with the events), a restarted reactor continues from the store, and the
//! sticky comment shows the running median, labelled as such, when the model is not better.

use std::sync::Arc;

use canopy_analyzer::event::{ChangeAction, ChangeEvent, ChangeSize, CommentEvent};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use canopy_core::Action;
use canopy_models::ttm::fallback::RollingError;
use canopy_store::{EventStore, MetaStore, RedbStore};
use chrono::{DateTime, Duration, Utc};

use super::{React, Reaction, Reactor};
use crate::repo_config::{RepoConfig, RepoConfigs};
use crate::ttm_online::{load_online, online_key};

const REPO: &str = "o/r";

fn t0() -> DateTime<Utc> {
    "2026-01-05T09:00:00Z".parse().unwrap()
}

fn change(
    n: u64,
    action: ChangeAction,
    created: DateTime<Utc>,
    at: DateTime<Utc>,
    lines: u64,
) -> Event {
    Event::new(
        format!("{n}:{action:?}"),
        Platform::Github,
        REPO,
        at.fixed_offset(),
        EventKind::Change(ChangeEvent {
            size: ChangeSize {
                additions: lines,
                deletions: 0,
                files_changed: 1 + lines / 100,
                commits: 1,
            },
            ..ChangeEvent::new(
                n,
                action,
                Actor::github(&format!("dev{}", n % 7)),
                created.fixed_offset(),
            )
        }),
    )
}

/// A fresh store holding `history`, and a time 70 days in (the store lives as long as the
/// directory).
fn with_history() -> (tempfile::TempDir, RedbStore, DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    history(&store);
    (dir, store, t0() + Duration::days(70))
}

/// 300 merged changes, one every 5 hours, whose time to merge grows with their size.
fn history(store: &RedbStore) {
    let mut events = Vec::new();
    for n in 1..=300u64 {
        let lines = [5u64, 20, 80, 300, 1200][(n % 5) as usize];
        let hours = 1.0 + lines as f64 / 10.0 * (0.8 + 0.4 * ((n * 37 % 11) as f64 / 10.0));
        let created = t0() + Duration::hours(5 * n as i64);
        let merged = created + Duration::minutes((hours * 60.0) as i64);
        events.push(change(n, ChangeAction::Opened, created, created, lines));
        events.push(change(n, ChangeAction::Merged, created, merged, lines));
    }
    store.put_events(&events).unwrap();
}

/// What the inbox does with a reaction: the events and the reaction's state in the store.
fn commit(store: &RedbStore, events: &[Event], r: &Reaction) {
    store.put_events(events).unwrap();
    for (k, v) in r.meta() {
        store.put_meta(&k, &v).unwrap();
    }
}

fn reactor() -> Reactor {
    Reactor::new(Arc::new(RepoConfigs::with_defaults(RepoConfig::default())))
}

fn sticky_of(r: &Reaction, n: u64) -> String {
    r.actions
        .iter()
        .find_map(|a| match &a.action {
            Action::UpsertComment { number, body, .. } if *number == n => Some(body.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sticky comment for #{n} in {:?}", r.actions))
}

#[test]
fn merges_move_the_stored_state_and_a_restarted_reactor_continues() {
    let (_dir, store, now) = with_history();
    let trained = crate::ttm::train_all(&store, 100, now).unwrap();
    assert!(trained.iter().all(|t| t.outcome.is_ok()));
    // The bot's models are the repositories' own (the blend with the cross-repository model
    // was withdrawn), stored and loaded back as trained.
    for t in &trained {
        let model = t.outcome.as_ref().unwrap();
        assert_eq!(model.global, None);
        let stored = crate::ttm::load_model(&store, &t.repo).unwrap().unwrap();
        assert_eq!(stored.global, None);
        assert_eq!(stored.n_merged, model.n_merged);
    }

    // A large change opens: the model has clearly beaten the running median on its
    // calibration changes, so the comment shows its prediction, and the prediction is recorded.
    let opened = vec![change(900, ChangeAction::Opened, now, now, 1500)];
    let r = reactor().react(&store, &opened, now).unwrap();
    let body = sticky_of(&r, 900);
    assert!(
        body.contains("**Time to merge.** Likely merged in"),
        "{body}"
    );
    // With the record that put it there: its recent error beside the running median's.
    let e = r.ttm[REPO].choice().evidence();
    assert!(
        body.contains(&format!(
            "Canopy's predictions were typically off by a factor of {:.1}, the running median by {:.1}.",
            e.model_mae.exp(),
            e.median_mae.exp()
        )),
        "{body}"
    );
    let state = &r.ttm[REPO];
    assert!(state.pending.contains_key(&900));
    assert!(state.choice().is_model(), "{:?}", state.choice());
    assert_eq!(r.meta()[0].0, online_key(REPO));
    commit(&store, &opened, &r);

    // The bot restarts (a new reactor, nothing in memory); the change merges 300 hours later.
    let merged_at = now + Duration::hours(300);
    let merged = vec![change(900, ChangeAction::Merged, now, merged_at, 1500)];
    let r2 = reactor().react(&store, &merged, merged_at).unwrap();
    let s2 = &r2.ttm[REPO];
    assert_eq!(s2.aci.observed, 1, "the stored prediction was scored");
    assert!(!s2.pending.contains_key(&900));
    commit(&store, &merged, &r2);
    let stored = load_online(&store, REPO).unwrap().unwrap();
    // (JSON may round the last digit of a level.)
    assert_eq!(stored.aci.observed, s2.aci.observed);
    assert!((stored.aci.alpha_lo - s2.aci.alpha_lo).abs() < 1e-12);
    assert!((stored.aci.alpha_hi - s2.aci.alpha_hi).abs() < 1e-12);
    // The same merge delivered again teaches nothing new.
    let r3 = reactor().react(&store, &merged, merged_at).unwrap();
    assert_eq!(r3.ttm[REPO].aci.observed, 1);
}

#[test]
fn a_model_that_is_not_better_gives_way_to_the_running_median() {
    let (_dir, store, now) = with_history();
    crate::ttm::train_all(&store, 100, now).unwrap();
    // Recent merges say the model was typically further off than the running median.
    let opened = vec![change(901, ChangeAction::Opened, now, now, 20)];
    let first = reactor().react(&store, &opened, now).unwrap();
    let mut state = first.ttm[REPO].clone();
    state.errors = RollingError::seeded(&[(1.6, 1.2); 150]);
    state.pending.clear();
    store
        .put_meta(&online_key(REPO), &crate::ttm_online::encode_online(&state))
        .unwrap();
    let r = reactor().react(&store, &opened, now).unwrap();
    let body = sticky_of(&r, 901);
    assert!(
        body.contains("**Time to merge (this repository's running median, not a prediction for this change).** Half of the last 100 merged changes here took under"),
        "{body}"
    );
    assert!(
        body.contains("typically off by a factor of 5.0, the running median by 3.3"),
        "{body}"
    );
    assert!(!body.contains("Likely merged in"), "{body}");
    // Its prediction is still recorded, so that it can win its place back.
    assert!(r.ttm[REPO].pending.contains_key(&901));
    // `/canopy explain` says why there is nothing to explain.
    let ask = Event::new(
        "c1",
        Platform::Github,
        REPO,
        now.fixed_offset(),
        EventKind::Comment(CommentEvent::on_change(
            901,
            "c1",
            Actor::github("dev1"),
            "/canopy explain",
        )),
    );
    store.put_events(&opened).unwrap();
    let reply = reactor().react(&store, &[ask], now).unwrap();
    let text = reply
        .actions
        .iter()
        .find_map(|a| match &a.action {
            Action::UpsertComment { body, .. } | Action::PostComment { body, .. } => {
                Some(body.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", reply.actions));
    assert!(text.contains("show its running median"), "{text}");
}

#[test]
fn without_a_model_the_running_median_is_shown_and_says_so() {
    let (_dir, store, now) = with_history();
    let opened = vec![change(902, ChangeAction::Opened, now, now, 20)];
    let r = reactor().react(&store, &opened, now).unwrap();
    let body = sticky_of(&r, 902);
    assert!(body.contains("(this repository's running median"), "{body}");
    assert!(
        body.contains("No time-to-merge model has been trained for this repository yet."),
        "{body}"
    );
    assert!(r.ttm.is_empty(), "no state without a model");
}
