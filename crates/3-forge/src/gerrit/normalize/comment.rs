//! Gerrit's `comment-added`: from a CI account, a Zuul report (one CI job event per job);
//! from a person, their votes (a review), a `recheck` (a rerun request) and the text itself.

use canopy_analyzer::event::{
    CiJobEvent, CommentEvent, RerunEvent, ReviewEvent, ReviewVerdict, Vote,
};
use canopy_analyzer::{Actor, Event, EventKind};
use canopy_core::Normalized;

use super::{Approval, Change, Norm, PatchSet, Raw, missing};
use crate::gerrit::zuul;
use crate::normalize::NormalizeError;

/// Where a comment was made.
struct On<'a> {
    change: &'a Change,
    number: u64,
    ps: Option<&'a PatchSet>,
    ps_n: Option<u32>,
}

impl Norm<'_> {
    pub(super) fn comment_added(&self, raw: Raw) -> Result<Normalized, NormalizeError> {
        let c = raw.change.as_ref().ok_or_else(|| missing("change"))?;
        let author = raw.author.as_ref().ok_or_else(|| missing("author"))?;
        let text = raw.comment.clone().unwrap_or_default();
        let ps = raw.patch_set.as_ref();
        let on = On {
            change: c,
            number: c.number.0.max(0) as u64,
            ps,
            ps_n: ps.map(|p| p.number.0.max(0) as u32),
        };
        if !self.is_ci(author) {
            return Ok(Normalized {
                events: self.person_comment(&on, author, &raw.approvals, &text),
                ignored: None,
            });
        }
        match zuul::parse(&text) {
            Some(report) => Ok(Normalized {
                events: self.zuul_jobs(&on, report),
                ignored: None,
            }),
            None => Ok(Normalized {
                events: Vec::new(),
                ignored: Some("CI account comment that is not a build report".into()),
            }),
        }
    }

    /// One CI job event per job of a Zuul report.
    fn zuul_jobs(&self, on: &On<'_>, report: zuul::Report) -> Vec<Event> {
        let ts = self.at.timestamp();
        let mut events = Vec::new();
        for job in report.jobs {
            let id = format!(
                "gerrit:zuul:{}:{}:{}:{}:{ts}",
                on.number,
                on.ps_n.unwrap_or(0),
                report.pipeline.as_deref().unwrap_or("-"),
                job.name
            );
            let duration = job.duration_secs.unwrap_or(0);
            let result = job.ci_result();
            let ci = CiJobEvent {
                run_id: job.build_id(),
                pipeline: report.pipeline.clone(),
                voting: job.voting,
                change: Some(on.number),
                patchset: on.ps_n,
                head_sha: on.ps.and_then(|p| p.revision.clone()),
                started_at: Some(
                    (self.at - chrono::Duration::seconds(duration as i64)).fixed_offset(),
                ),
                url: job.url,
                ..CiJobEvent::new(job.name, "zuul", duration, result)
            };
            events.push(self.event(&on.change.project, id, EventKind::CiJobFinished(ci)));
        }
        events
    }

    /// A person's comment: a review when it votes, a rerun request when it says `recheck`,
    /// and the comment when it has text besides Gerrit's vote header.
    fn person_comment(
        &self,
        on: &On<'_>,
        author: &super::Account,
        approvals: &[Approval],
        text: &str,
    ) -> Vec<Event> {
        let who = self.actor(author);
        let owner = on.change.owner.as_ref().map(|o| self.actor(o));
        let ts = self.at.timestamp();
        let base = format!(
            "gerrit:comment:{}:{}:{}:{ts}",
            on.number,
            on.ps_n.unwrap_or(0),
            who.key
        );
        let project = &on.change.project;
        let body = strip_vote_header(text);
        let mut events = Vec::new();
        let votes = votes(approvals);
        if !votes.is_empty() {
            let review = review(on, &who, owner.clone(), votes, &body);
            events.push(self.event(project, format!("{base}:review"), review));
        }
        if zuul::is_recheck(&body) {
            let r = RerunEvent {
                change: Some(on.number),
                patchset: on.ps_n,
                job: None,
                run_id: None,
                head_sha: on.ps.and_then(|p| p.revision.clone()),
                requested_by: who.clone(),
            };
            let kind = EventKind::RerunRequested(r);
            events.push(self.event(project, format!("{base}:recheck"), kind));
        }
        if !body.is_empty() {
            let comment = CommentEvent {
                addressee: owner,
                ..CommentEvent::on_change(on.number, format!("{}:{}", who.key, ts), who, body)
            };
            events.push(self.event(project, base, EventKind::Comment(comment)));
        }
        events
    }
}

/// The votes a comment changed (a repeated vote is not one), without zeros.
fn votes(approvals: &[Approval]) -> Vec<Vote> {
    approvals
        .iter()
        .filter(|a| {
            a.old_value
                .is_none_or(|o| Some(o.0) != a.value.map(|v| v.0))
        })
        .filter_map(|a| {
            a.value.map(|v| Vote {
                label: label_name(&a.label),
                value: v.0 as i32,
            })
        })
        .filter(|v| v.value != 0)
        .collect()
}

/// A review from votes: its verdict is the Code-Review vote's sign.
fn review(
    on: &On<'_>,
    who: &Actor,
    owner: Option<Actor>,
    votes: Vec<Vote>,
    body: &str,
) -> EventKind {
    let cr = votes
        .iter()
        .find(|v| v.label == "Code-Review")
        .map(|v| v.value);
    let verdict = match cr {
        Some(v) if v > 0 => ReviewVerdict::Approved,
        Some(v) if v < 0 => ReviewVerdict::ChangesRequested,
        _ => ReviewVerdict::Commented,
    };
    EventKind::Review(ReviewEvent {
        change: on.number,
        patchset: on.ps_n,
        reviewer: who.clone(),
        change_author: owner,
        verdict,
        votes,
        body: (!body.is_empty()).then(|| body.to_string()),
    })
}

/// Gerrit 2.x label codes → label names.
pub(super) fn label_name(code: &str) -> String {
    match code {
        "CRVW" => "Code-Review".into(),
        "VRIF" => "Verified".into(),
        "APRV" => "Workflow".into(),
        other => other.to_string(),
    }
}

/// Removes the `Patch Set N: Code-Review+2` line Gerrit puts before the text of a comment.
pub(super) fn strip_vote_header(text: &str) -> String {
    let t = text.trim();
    let rest = match t.strip_prefix("Patch Set ") {
        Some(r) => match r.split_once('\n') {
            Some((_, body)) => body,
            None => "",
        },
        None => t,
    };
    rest.trim().to_string()
}
