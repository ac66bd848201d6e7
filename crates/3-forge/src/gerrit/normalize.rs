//! Gerrit events (the objects of `gerrit stream-events`, as the webhooks plugin posts them) →
//! Canopy events. Both Gerrit 2.x shapes (numbers as strings, `CRVW`/`APRV` approvals) and 3.x
//! shapes are read. Comments from CI accounts are parsed as Zuul reports.
//!
//! Ids: `gerrit:<change>:ps<n>:created`, `gerrit:<change>:merged`,
//! `gerrit:<change>:<type>:<eventCreatedOn>` for other state changes,
//! `gerrit:comment:<change>:<ps>:<account>:<eventCreatedOn>` (and `:review`, `:recheck`),
//! `gerrit:zuul:<change>:<ps>:<pipeline>:<job>:<eventCreatedOn>`.

mod comment;

use canopy_analyzer::event::{ChangeAction, ChangeEvent, ChangeSize, PushEvent};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::lenient::strip_trailing_commas;
use crate::normalize::NormalizeError;
use canopy_core::Normalized;

/// What the normaliser needs to know about the Gerrit instance.
#[derive(Debug, Clone)]
pub struct GerritNormalizeConfig {
    /// Host name, qualifying account identities.
    pub host: String,
    /// Usernames (or names) of CI accounts whose comments are reports.
    pub ci_accounts: Vec<String>,
}

impl Default for GerritNormalizeConfig {
    fn default() -> Self {
        GerritNormalizeConfig {
            host: "gerrit".into(),
            ci_accounts: vec!["zuul".into()],
        }
    }
}

/// A number Gerrit may send as `7385` or `"7385"`.
#[derive(Debug, Clone, Copy, Default)]
struct Num(i64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            I(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::I(i) => Ok(Num(i)),
            Raw::S(s) => s
                .trim()
                .parse()
                .map(Num)
                .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}"))),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Account {
    name: Option<String>,
    email: Option<String>,
    username: Option<String>,
    #[serde(rename = "accountId")]
    account_id: Option<Num>,
}

#[derive(Debug, Deserialize)]
struct Change {
    project: String,
    #[serde(default)]
    branch: String,
    id: Option<String>,
    number: Num,
    #[serde(default)]
    subject: String,
    owner: Option<Account>,
    url: Option<String>,
    #[serde(rename = "commitMessage")]
    commit_message: Option<String>,
    #[serde(rename = "createdOn")]
    created_on: Option<Num>,
    #[serde(default, deserialize_with = "null_default")]
    wip: bool,
    #[serde(default, deserialize_with = "null_default")]
    hashtags: Vec<String>,
}

/// Reads `null` as the type's default (Gerrit and converted records write nulls for absent lists).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Deserialize)]
struct PatchSet {
    number: Num,
    revision: Option<String>,
    #[serde(rename = "createdOn")]
    created_on: Option<Num>,
    #[serde(rename = "sizeInsertions")]
    size_insertions: Option<Num>,
    #[serde(rename = "sizeDeletions")]
    size_deletions: Option<Num>,
}

#[derive(Debug, Deserialize)]
struct Approval {
    #[serde(rename = "type")]
    label: String,
    value: Option<Num>,
    #[serde(rename = "oldValue")]
    old_value: Option<Num>,
}

#[derive(Debug, Deserialize)]
struct RefUpdate {
    #[serde(rename = "oldRev")]
    old_rev: String,
    #[serde(rename = "newRev")]
    new_rev: String,
    #[serde(rename = "refName")]
    ref_name: String,
    project: String,
}

/// Every field any handled event type uses; each type reads its own.
#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    change: Option<Change>,
    #[serde(rename = "patchSet")]
    patch_set: Option<PatchSet>,
    #[serde(rename = "eventCreatedOn")]
    event_created_on: Option<Num>,
    uploader: Option<Account>,
    author: Option<Account>,
    submitter: Option<Account>,
    abandoner: Option<Account>,
    restorer: Option<Account>,
    reviewer: Option<Account>,
    changer: Option<Account>,
    #[serde(default, deserialize_with = "null_default")]
    approvals: Vec<Approval>,
    comment: Option<String>,
    #[serde(rename = "refUpdate")]
    ref_update: Option<RefUpdate>,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, NormalizeError> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(first) => {
            // Tolerate trailing commas; report the original error if that does not help.
            serde_json::from_slice(&strip_trailing_commas(body))
                .map_err(|_| NormalizeError::from(first))
        }
    }
}

fn secs(n: Option<Num>) -> Option<DateTime<Utc>> {
    n.and_then(|n| DateTime::from_timestamp(n.0, 0))
}

/// The stream-event types Gerrit sends (the `type` field), read or deliberately ignored.
pub const EVENT_TYPES: [&str; 12] = [
    "patchset-created",
    "change-merged",
    "change-abandoned",
    "change-restored",
    "comment-added",
    "reviewer-added",
    "wip-state-changed",
    "ref-updated",
    "change-deleted",
    "hashtags-changed",
    "vote-deleted",
    "topic-changed",
];

/// A bounded label for an event type (metrics): the type itself if Gerrit documents it, else
/// `other`.
pub fn event_label(kind: &str) -> &'static str {
    EVENT_TYPES
        .into_iter()
        .find(|t| *t == kind)
        .unwrap_or("other")
}

/// Normalises one Gerrit event; `received` is used when the event carries no time.
pub fn normalize(
    body: &[u8],
    cfg: &GerritNormalizeConfig,
    received: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let raw: Raw = parse(body)?;
    let at = secs(raw.event_created_on).unwrap_or(received);
    let n = Norm { cfg, at };
    match raw.kind.as_str() {
        "patchset-created" => n.patchset_created(raw),
        "change-merged" => n.state(raw, ChangeAction::Merged, "merged"),
        "change-abandoned" => n.state(raw, ChangeAction::Closed, "abandoned"),
        "change-restored" => n.state(raw, ChangeAction::Reopened, "restored"),
        "reviewer-added" => n.state(raw, ChangeAction::ReviewRequested, "reviewer-added"),
        "wip-state-changed" => {
            let action = if raw.change.as_ref().is_some_and(|c| c.wip) {
                ChangeAction::ConvertedToDraft
            } else {
                ChangeAction::ReadyForReview
            };
            n.state(raw, action, "wip-state-changed")
        }
        "comment-added" => n.comment_added(raw),
        "ref-updated" => n.ref_updated(raw),
        _ => Ok(Normalized {
            events: vec![],
            ignored: Some("event type not used by Canopy".into()),
        }),
    }
}

struct Norm<'a> {
    cfg: &'a GerritNormalizeConfig,
    at: DateTime<Utc>,
}

fn missing(field: &'static str) -> NormalizeError {
    NormalizeError::Missing(field)
}

impl Norm<'_> {
    fn actor(&self, a: &Account) -> Actor {
        Actor::gerrit(
            &self.cfg.host,
            a.account_id.map(|n| n.0.max(0) as u64),
            a.username.as_deref(),
            a.name.as_deref(),
            a.email.as_deref(),
        )
    }

    fn is_ci(&self, a: &Account) -> bool {
        let names = [a.username.as_deref(), a.name.as_deref()];
        self.cfg
            .ci_accounts
            .iter()
            .any(|ci| names.iter().flatten().any(|n| n.eq_ignore_ascii_case(ci)))
    }

    fn event(&self, repo: &str, id: String, kind: EventKind) -> Event {
        Event::new(id, Platform::Gerrit, repo, self.at.fixed_offset(), kind)
    }

    fn change_event(
        &self,
        c: &Change,
        ps: Option<&PatchSet>,
        action: ChangeAction,
        actor: Option<&Account>,
    ) -> ChangeEvent {
        let author = c
            .owner
            .as_ref()
            .map(|o| self.actor(o))
            .unwrap_or_else(|| Actor::gerrit(&self.cfg.host, None, None, None, None));
        let actor = actor.map(|a| self.actor(a)).filter(|a| a.key != author.key);
        let description = c
            .commit_message
            .as_deref()
            .and_then(|m| m.split_once("\n\n").map(|(_, body)| body.to_string()))
            .unwrap_or_default();
        ChangeEvent {
            number: c.number.0.max(0) as u64,
            action,
            author,
            actor,
            title: c.subject.clone(),
            description,
            draft: c.wip,
            created_at: secs(c.created_on).unwrap_or(self.at).fixed_offset(),
            size: ChangeSize {
                additions: ps
                    .and_then(|p| p.size_insertions)
                    .map_or(0, |n| n.0.unsigned_abs()),
                deletions: ps
                    .and_then(|p| p.size_deletions)
                    .map_or(0, |n| n.0.unsigned_abs()),
                files_changed: 0,
                commits: ps.map_or(0, |p| p.number.0.max(0) as u32),
            },
            labels: c.hashtags.clone(),
            base_ref: c.branch.clone(),
            head_sha: ps.and_then(|p| p.revision.clone()),
            patchset: ps.map(|p| p.number.0.max(0) as u32),
            change_id: c.id.clone(),
            reviewers_requested: vec![],
            url: c.url.clone(),
        }
    }

    fn patchset_created(&self, raw: Raw) -> Result<Normalized, NormalizeError> {
        let c = raw.change.as_ref().ok_or_else(|| missing("change"))?;
        let ps = raw.patch_set.as_ref().ok_or_else(|| missing("patchSet"))?;
        let action = if ps.number.0 <= 1 {
            ChangeAction::Opened
        } else {
            ChangeAction::Updated
        };
        let ev = self.change_event(c, Some(ps), action, raw.uploader.as_ref());
        let at = secs(ps.created_on).unwrap_or(self.at);
        let id = format!("gerrit:{}:ps{}:created", c.number.0, ps.number.0);
        let mut e = self.event(&c.project, id, EventKind::Change(ev));
        e.at = at.fixed_offset();
        Ok(Normalized {
            events: vec![e],
            ignored: None,
        })
    }

    fn state(
        &self,
        raw: Raw,
        action: ChangeAction,
        tag: &str,
    ) -> Result<Normalized, NormalizeError> {
        let c = raw.change.as_ref().ok_or_else(|| missing("change"))?;
        let who = match action {
            ChangeAction::Merged => raw.submitter.as_ref(),
            ChangeAction::Closed => raw.abandoner.as_ref(),
            ChangeAction::Reopened => raw.restorer.as_ref(),
            ChangeAction::ReviewRequested => raw.reviewer.as_ref(),
            _ => raw.changer.as_ref(),
        };
        let mut ev = self.change_event(c, raw.patch_set.as_ref(), action, who);
        if action == ChangeAction::ReviewRequested {
            ev.reviewers_requested = raw.reviewer.iter().map(|r| self.actor(r)).collect();
            ev.actor = None;
        }
        let id = if action == ChangeAction::Merged {
            format!("gerrit:{}:merged", c.number.0)
        } else {
            let who = ev
                .reviewers_requested
                .first()
                .map(|a| a.key.clone())
                .unwrap_or_default();
            format!("gerrit:{}:{tag}:{}{who}", c.number.0, self.at.timestamp())
        };
        Ok(Normalized {
            events: vec![self.event(&c.project, id, EventKind::Change(ev))],
            ignored: None,
        })
    }

    fn ref_updated(&self, raw: Raw) -> Result<Normalized, NormalizeError> {
        let r = raw
            .ref_update
            .as_ref()
            .ok_or_else(|| missing("refUpdate"))?;
        let ref_name = if r.ref_name.starts_with("refs/") {
            r.ref_name.clone()
        } else {
            format!("refs/heads/{}", r.ref_name)
        };
        let push = PushEvent {
            ref_name: ref_name.clone(),
            before: r.old_rev.clone(),
            after: r.new_rev.clone(),
            pusher: raw
                .submitter
                .as_ref()
                .map(|a| self.actor(a))
                .unwrap_or_else(|| Actor::gerrit(&self.cfg.host, None, None, None, None)),
            commits: 0,
            forced: false,
        };
        let id = format!("gerrit:ref:{ref_name}:{}", r.new_rev);
        Ok(Normalized {
            events: vec![self.event(&r.project, id, EventKind::Push(push))],
            ignored: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::comment::{label_name, strip_vote_header};

    #[test]
    fn vote_headers_and_label_codes() {
        assert_eq!(
            strip_vote_header("Patch Set 2: Code-Review+2\n\nShip it"),
            "Ship it"
        );
        assert_eq!(strip_vote_header("Patch Set 2: Code-Review+2"), "");
        assert_eq!(strip_vote_header("plain"), "plain");
        assert_eq!(label_name("CRVW"), "Code-Review");
    }
}
