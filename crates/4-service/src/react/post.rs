//! What a refreshed change posts: GitHub's sticky comment, and on Gerrit one message per
//! patchset once its CI has reported, the rerun advice, and the measured energy.

use canopy_analyzer::{Event, EventKind};
use canopy_core::{Action, Enqueue, EnqueueMode};
use chrono::{DateTime, Utc};

use super::sticky::ChangeHistory;
use super::{ChangeKey, Reaction, post_time, rerun};
use crate::messages::{self, StickyView};
use crate::repo_config::RepoConfig;

/// The GitHub sticky comment, replacing any earlier version still waiting.
pub(super) fn github_sticky(
    (_, repo, number): &ChangeKey,
    view: StickyView,
    cfg: &RepoConfig,
    now: DateTime<Utc>,
    out: &mut Reaction,
) {
    if view.is_empty() {
        return;
    }
    out.actions.push(Enqueue {
        id: format!("sticky:github:{repo}#{number}"),
        action: Action::UpsertComment {
            repo: repo.clone(),
            number: *number,
            body: messages::sticky(&view),
        },
        due_at: post_time(cfg, now),
        mode: EnqueueMode::Replace,
    });
}

/// Gerrit: one message per patchset once its CI has reported, and the rerun advice as its own
/// message, once per Zuul report it is about.
pub(super) fn gerrit_messages(
    key: &ChangeKey,
    h: &ChangeHistory,
    view: StickyView,
    new: &[Event],
    cfg: &RepoConfig,
    now: DateTime<Utc>,
    out: &mut Reaction,
) {
    let (platform, repo, number) = key;
    let Some(ps) = h.latest().and_then(|c| c.patchset) else {
        return;
    };
    let reported = new.iter().any(|e| {
        matches!(&e.kind, EventKind::CiJobFinished(j) if j.patchset == Some(ps) && j.change == Some(*number))
    });
    if !reported {
        gerrit_measured(key, ps, &view, new, cfg, now, out);
        return;
    }
    if let (Some(advice), Some(t)) = (&view.rerun, rerun::latest_target(*platform, h)) {
        let id = format!("rerun-advice:gerrit:{repo}~{number}:{}", t.event_id);
        let body = messages::gerrit_rerun(advice);
        out.actions.push(review_message(id, key, ps, body, now));
    }
    if view.energy.is_none() {
        return;
    }
    let view = StickyView {
        rerun: None,
        ..view
    };
    let id = format!("patchset:gerrit:{repo}~{number}/{ps}");
    let body = messages::gerrit_patchset(ps, &view);
    out.actions
        .push(review_message(id, key, ps, body, post_time(cfg, now)));
}

/// Gerrit: jobs of the current patchset measured after its report get one more message with
/// the measured energy beside the estimates (once per delivery of measurements).
fn gerrit_measured(
    key: &ChangeKey,
    ps: u32,
    view: &StickyView,
    new: &[Event],
    cfg: &RepoConfig,
    now: DateTime<Utc>,
    out: &mut Reaction,
) {
    let (_, repo, number) = key;
    let first = new.iter().find(|e| {
        matches!(&e.kind, EventKind::CiEnergyMeasured(m)
            if m.patchset == Some(ps) && m.change == Some(*number) && m.outcome.kwh().is_some())
    });
    let (Some(first), Some(energy)) = (first, &view.energy) else {
        return;
    };
    let id = format!("energy-measured:gerrit:{repo}~{number}/{ps}:{}", first.id);
    let body = messages::gerrit_measured(ps, energy);
    out.actions
        .push(review_message(id, key, ps, body, post_time(cfg, now)));
}

/// A review message on patchset `ps` of the change, posted once under `id`.
fn review_message(
    id: String,
    (_, repo, number): &ChangeKey,
    ps: u32,
    body: String,
    due_at: DateTime<Utc>,
) -> Enqueue {
    Enqueue {
        id,
        action: Action::PostReviewMessage {
            project: repo.clone(),
            change: *number,
            patchset: ps,
            body,
        },
        due_at,
        mode: EnqueueMode::Once,
    }
}
