//! The history as GitHub webhook deliveries: `push`, `pull_request` (opened, synchronize,
//! ready_for_review, review_requested, closed), `pull_request_review`,
//! `pull_request_review_comment`, `issue_comment`, `workflow_job`, `workflow_run` (reruns) and
//! `check_run` (an external app's checks and their re-requests), each with the pull request as
//! it was at that moment and the commit ids of the generated git history.

use chrono::{DateTime, Duration, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

mod ci;
pub mod objects;
mod pull;
mod push;

use objects as o;

use crate::Org;
use crate::ci::RerunTarget;
use crate::model::{Change, MainPush, MainWhat, Outcome};

/// One webhook delivery: the `X-GitHub-Event` header, the `X-GitHub-Delivery` id, when GitHub
/// sends it, and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Event name (`pull_request`, `workflow_job`...).
    pub event: &'static str,
    /// Delivery id (a GUID, as GitHub sends).
    pub id: String,
    /// When it is sent.
    pub at: DateTime<Utc>,
    /// Payload.
    pub body: Vec<u8>,
}

pub(crate) const ZERO: &str = "0000000000000000000000000000000000000000";

pub(crate) struct Out {
    items: Vec<(DateTime<Utc>, usize, &'static str, Value)>,
    now: DateTime<Utc>,
}

impl Out {
    pub(crate) fn add(&mut self, at: DateTime<Utc>, event: &'static str, body: Value) {
        if at <= self.now {
            let n = self.items.len();
            self.items.push((at, n, event, body));
        }
    }
}

/// Every delivery of the history, in time order.
pub fn deliveries(org: &Org) -> Vec<Delivery> {
    let mut out = Out {
        items: Vec::new(),
        now: org.now,
    };
    for c in &org.changes {
        change(org, c, &mut out);
    }
    for m in &org.mains {
        main_push(org, m, &mut out);
    }
    for n in &org.nightly {
        let repo = &org.repos[n.repo];
        let sha = repo.git.commits[repo.main_at(n.job.started)].sha.clone();
        out.add(
            n.job.completed,
            "workflow_job",
            ci::workflow_job(repo, &n.job, &sha, "main", "schedule"),
        );
    }
    let mut items = out.items;
    items.sort_by_key(|a| (a.0, a.1));
    let mut rng = ChaCha8Rng::seed_from_u64(org.config.seed ^ 0x6465_6c69_7665_7279);
    items
        .into_iter()
        .map(|(at, _, event, body)| Delivery {
            event,
            id: guid(&mut rng),
            at,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        })
        .collect()
}

fn guid(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn body(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn change(org: &Org, c: &Change, out: &mut Out) {
    pushes(org, c, out);
    if let Some(t) = c.ready_at {
        out.add(
            t,
            "pull_request",
            pull::pr_event(org, c, t, "ready_for_review", c.author, vec![]),
        );
    }
    for (t, r, by) in &c.requests {
        let extra = vec![("requested_reviewer", o::user(&org.people[*r]))];
        out.add(
            *t,
            "pull_request",
            pull::pr_event(org, c, *t, "review_requested", *by, extra),
        );
    }
    for r in &c.reviews {
        pull::review(org, c, r, out);
    }
    for n in &c.comments {
        out.add(n.at, "issue_comment", pull::issue_comment(org, c, n));
    }
    if let Outcome::Merged { at, by } | Outcome::Closed { at, by } = c.outcome {
        out.add(
            at,
            "pull_request",
            pull::pr_event(org, c, at, "closed", by, vec![]),
        );
    }
}

/// Each push to the pull request's branch: the `push` (not for forks), the `opened` or
/// `synchronize`, and the CI it triggered with its reruns.
fn pushes(org: &Org, c: &Change, out: &mut Out) {
    let repo = &org.repos[c.repo];
    let mut before = ZERO.to_string();
    for (k, p) in c.pushes.iter().enumerate() {
        let idx: Vec<usize> = p.commits.iter().filter_map(|pc| pc.index).collect();
        let Some(&last) = idx.last() else { continue };
        let after = repo.git.commits[last].sha.clone();
        if !c.from_fork {
            let r = format!("refs/heads/{}", c.branch);
            out.add(
                p.at,
                "push",
                push::push(org, repo, &r, &before, &idx, &[], c.author, p.at),
            );
        }
        if k == 0 {
            out.add(
                c.opened_at,
                "pull_request",
                pull::pr_event(org, c, c.opened_at, "opened", c.author, vec![]),
            );
        } else {
            let t = p.at + Duration::seconds(2);
            let extra = vec![("before", json!(before)), ("after", json!(after))];
            out.add(
                t,
                "pull_request",
                pull::pr_event(org, c, t, "synchronize", c.author, extra),
            );
        }
        ci_runs(org, c, p, &after, out);
        before = after;
    }
}

/// The CI jobs and rerun requests of one push to a pull request (head `after`).
fn ci_runs(org: &Org, c: &Change, p: &crate::model::Push, after: &str, out: &mut Out) {
    let repo = &org.repos[c.repo];
    let base = pull::snapshot(org, c, c.opened_at).base;
    let pr = o::pr_ref(repo, c.id, c.number, (&c.branch, after), ("main", &base));
    for j in &p.jobs {
        match j.app {
            Some(_) => out.add(
                j.completed,
                "check_run",
                ci::check_run(org, repo, j, after, &c.branch, "completed", Some(&pr), None),
            ),
            None => out.add(
                j.completed,
                "workflow_job",
                ci::workflow_job(repo, j, after, &c.branch, "pull_request"),
            ),
        }
    }
    for r in &p.reruns {
        match &r.target {
            RerunTarget::CheckRun(j) => out.add(
                r.at,
                "check_run",
                ci::check_run(
                    org,
                    repo,
                    j,
                    after,
                    &c.branch,
                    "rerequested",
                    Some(&pr),
                    Some(r.by),
                ),
            ),
            RerunTarget::WorkflowRun {
                run_id,
                run_number,
                workflow,
                created,
            } => {
                let run = (*run_id, *run_number, *workflow, *created);
                out.add(
                    r.at,
                    "workflow_run",
                    ci::workflow_run(
                        org,
                        repo,
                        run,
                        (after, &c.branch),
                        &pr,
                        r.by,
                        r.at,
                        &c.title,
                    ),
                );
            }
        }
    }
}

fn main_push(org: &Org, m: &MainPush, out: &mut Out) {
    let repo = &org.repos[m.repo];
    let Some(tip) = m.tip else { return };
    let before_i = repo.git.commits[tip].parents.first().copied();
    let before = before_i.map_or(ZERO.to_string(), |i| repo.git.commits[i].sha.clone());
    let old: Vec<usize> = match &m.what {
        MainWhat::Merge(ci) => org.changes[*ci]
            .pushes
            .iter()
            .flat_map(|p| p.commits.iter().filter_map(|c| c.index))
            .collect(),
        MainWhat::Direct(_) => vec![],
    };
    out.add(
        m.at,
        "push",
        push::push(
            org,
            repo,
            "refs/heads/main",
            &before,
            &[tip],
            &old,
            m.pusher,
            m.at,
        ),
    );
    let sha = repo.git.commits[tip].sha.clone();
    for j in &m.jobs {
        match j.app {
            Some(_) => out.add(
                j.completed,
                "check_run",
                ci::check_run(org, repo, j, &sha, "main", "completed", None, None),
            ),
            None => out.add(
                j.completed,
                "workflow_job",
                ci::workflow_job(repo, j, &sha, "main", "push"),
            ),
        }
    }
}
