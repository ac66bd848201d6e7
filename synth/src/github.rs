//! The history as GitHub webhook deliveries: `push`, `pull_request` (opened, synchronize,
//! ready_for_review, review_requested, closed), `pull_request_review`,
//! `pull_request_review_comment`, `issue_comment`, `workflow_job`, `workflow_run` (reruns) and
//! `check_run` (an external app's checks and their re-requests), each with the pull request as
//! it was at that moment and the commit ids of the generated git history.

use chrono::{DateTime, Duration, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::Org;
use crate::ci::{Job, RerunTarget};
use crate::objects::{self as o, ts};
use crate::repos::{ORG, Repo};
use crate::story::{Change, MainWhat, Outcome};

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

const ZERO: &str = "0000000000000000000000000000000000000000";

struct Out {
    items: Vec<(DateTime<Utc>, usize, &'static str, Value)>,
    now: DateTime<Utc>,
}

impl Out {
    fn add(&mut self, at: DateTime<Utc>, event: &'static str, body: Value) {
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
            workflow_job(repo, &n.job, &sha, "main", "schedule"),
        );
    }
    let mut items = out.items;
    items.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
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

/// The state of a pull request at a moment.
struct Snap {
    head: String,
    base: String,
    commits: usize,
    additions: u64,
    deletions: u64,
    files: usize,
}

fn snapshot(org: &Org, c: &Change, t: DateTime<Utc>) -> Snap {
    let repo = &org.repos[c.repo];
    let mut head = None;
    let mut commits = 0;
    let (mut additions, mut deletions) = (0u64, 0u64);
    let mut files: Vec<&str> = Vec::new();
    for p in c.pushes.iter().filter(|p| p.at <= t) {
        for pc in &p.commits {
            let Some(i) = pc.index else { continue };
            head = Some(i);
            commits += 1;
            for s in &repo.git.commits[i].stats {
                additions += u64::from(s.added);
                deletions += u64::from(s.deleted);
                files.push(&s.path);
            }
        }
    }
    files.sort_unstable();
    files.dedup();
    let base = repo.main_at(c.opened_at);
    Snap {
        head: head.map_or_else(|| ZERO.to_string(), |i| repo.git.commits[i].sha.clone()),
        base: repo.git.commits[base].sha.clone(),
        commits,
        additions,
        deletions,
        files: files.len(),
    }
}

fn pull_request(org: &Org, c: &Change, t: DateTime<Utc>) -> Value {
    let repo = &org.repos[c.repo];
    let s = snapshot(org, c, t);
    let author = &org.people[c.author];
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let html = format!("https://github.com/{}/pull/{}", repo.full_name, c.number);
    let (closed_at, merged_at, merged_by) = match c.outcome {
        Outcome::Merged { at, by } if at <= t => (Some(at), Some(at), Some(&org.people[by])),
        Outcome::Closed { at, .. } if at <= t => (Some(at), None, None),
        _ => (None, None, None),
    };
    let reviewed = |r: usize| c.reviews.iter().any(|v| v.reviewer == r && v.at <= t);
    let requested: Vec<Value> = c
        .requests
        .iter()
        .filter(|(at, r, _)| *at <= t && !reviewed(*r))
        .map(|(_, r, _)| o::user(&org.people[*r]))
        .collect();
    let head_owner = if c.from_fork {
        o::user(author)
    } else {
        o::org_owner()
    };
    let head_label = format!(
        "{}:{}",
        if c.from_fork {
            author.login.as_str()
        } else {
            ORG
        },
        c.branch
    );
    let repo_obj = o::repository(repo, t);
    let association = match author.role {
        crate::cast::Role::Maintainer | crate::cast::Role::Member => "MEMBER",
        crate::cast::Role::Newcomer => "CONTRIBUTOR",
        crate::cast::Role::Bot => "NONE",
    };
    let n = c.number;
    let links = json!({
        "self": {"href": format!("{api}/pulls/{n}")}, "html": {"href": html},
        "issue": {"href": format!("{api}/issues/{n}")}, "comments": {"href": format!("{api}/issues/{n}/comments")},
        "review_comments": {"href": format!("{api}/pulls/{n}/comments")},
        "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
        "commits": {"href": format!("{api}/pulls/{n}/commits")}, "statuses": {"href": format!("{api}/statuses/{}", s.head)}
    });
    json!({
        "url": format!("{api}/pulls/{n}"), "id": c.id, "node_id": format!("PR_kwDO{}", c.id),
        "html_url": html, "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{n}"), "number": n,
        "state": if closed_at.is_some() { "closed" } else { "open" }, "locked": false,
        "title": c.title, "user": o::user(author), "body": c.body,
        "created_at": ts(c.opened_at), "updated_at": ts(t),
        "closed_at": closed_at.map(ts), "merged_at": merged_at.map(ts),
        "merge_commit_sha": null, "assignee": null, "assignees": [],
        "requested_reviewers": requested, "requested_teams": [],
        "labels": c.labels.iter().map(|l| o::label(repo, l)).collect::<Vec<_>>(),
        "milestone": null, "draft": c.ready_at.is_some_and(|r| t < r),
        "commits_url": format!("{api}/pulls/{n}/commits"), "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"), "comments_url": format!("{api}/issues/{n}/comments"),
        "statuses_url": format!("{api}/statuses/{}", s.head),
        "head": {"label": head_label, "ref": c.branch, "sha": s.head, "user": head_owner, "repo": repo_obj.clone()},
        "base": {"label": format!("{ORG}:main"), "ref": "main", "sha": s.base, "user": o::org_owner(), "repo": repo_obj},
        "_links": links,
        "author_association": association, "auto_merge": null, "active_lock_reason": null,
        "merged": merged_at.is_some(), "mergeable": null, "rebaseable": null, "mergeable_state": "unknown",
        "merged_by": merged_by.map(o::user),
        "comments": c.comments.iter().filter(|x| x.at <= t).count(),
        "review_comments": c.reviews.iter().filter(|r| r.at <= t).map(|r| r.inline.len()).sum::<usize>(),
        "maintainer_can_modify": c.from_fork, "commits": s.commits,
        "additions": s.additions, "deletions": s.deletions, "changed_files": s.files
    })
}

fn body(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn pr_event(
    org: &Org,
    c: &Change,
    t: DateTime<Utc>,
    action: &str,
    sender: usize,
    extra: Vec<(&str, Value)>,
) -> Value {
    let mut b = body(vec![
        ("action", json!(action)),
        ("number", json!(c.number)),
        ("pull_request", pull_request(org, c, t)),
    ]);
    b.extend(body(extra));
    o::envelope(b, &org.repos[c.repo], o::user(&org.people[sender]), t)
}

fn change(org: &Org, c: &Change, out: &mut Out) {
    let repo = &org.repos[c.repo];
    let author = c.author;
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
                push(org, repo, &r, &before, &idx, &[], author, p.at),
            );
        }
        if k == 0 {
            out.add(
                c.opened_at,
                "pull_request",
                pr_event(org, c, c.opened_at, "opened", author, vec![]),
            );
        } else {
            let t = p.at + Duration::seconds(2);
            out.add(
                t,
                "pull_request",
                pr_event(
                    org,
                    c,
                    t,
                    "synchronize",
                    author,
                    vec![("before", json!(before)), ("after", json!(after))],
                ),
            );
        }
        let pr = o::pr_ref(
            repo,
            c.id,
            c.number,
            (&c.branch, &after),
            ("main", &snapshot(org, c, c.opened_at).base),
        );
        for j in &p.jobs {
            match j.app {
                Some(_) => out.add(
                    j.completed,
                    "check_run",
                    check_run(
                        org,
                        repo,
                        j,
                        &after,
                        &c.branch,
                        "completed",
                        Some(&pr),
                        None,
                    ),
                ),
                None => out.add(
                    j.completed,
                    "workflow_job",
                    workflow_job(repo, j, &after, &c.branch, "pull_request"),
                ),
            }
        }
        for r in &p.reruns {
            match &r.target {
                RerunTarget::CheckRun(j) => out.add(
                    r.at,
                    "check_run",
                    check_run(
                        org,
                        repo,
                        j,
                        &after,
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
                    let v = workflow_run(
                        org,
                        repo,
                        (*run_id, *run_number, workflow, *created),
                        (&after, &c.branch),
                        &pr,
                        r.by,
                        r.at,
                        &c.title,
                    );
                    out.add(r.at, "workflow_run", v)
                }
            }
        }
        before = after;
    }
    if let Some(t) = c.ready_at {
        out.add(
            t,
            "pull_request",
            pr_event(org, c, t, "ready_for_review", author, vec![]),
        );
    }
    for (t, r, by) in &c.requests {
        out.add(
            *t,
            "pull_request",
            pr_event(
                org,
                c,
                *t,
                "review_requested",
                *by,
                vec![("requested_reviewer", o::user(&org.people[*r]))],
            ),
        );
    }
    for r in &c.reviews {
        let review = json!({
            "id": r.id, "node_id": format!("PRR_kwDO{}", r.id), "user": o::user(&org.people[r.reviewer]), "body": r.body,
            "commit_id": snapshot(org, c, r.at).head, "submitted_at": ts(r.at), "state": r.state,
            "html_url": format!("https://github.com/{}/pull/{}#pullrequestreview-{}", repo.full_name, c.number, r.id),
            "pull_request_url": format!("https://api.github.com/repos/{}/pulls/{}", repo.full_name, c.number),
            "author_association": "MEMBER",
            "_links": {"html": {"href": format!("https://github.com/{}/pull/{}#pullrequestreview-{}", repo.full_name, c.number, r.id)}, "pull_request": {"href": format!("https://api.github.com/repos/{}/pulls/{}", repo.full_name, c.number)}}
        });
        for (k, n) in r.inline.iter().enumerate() {
            let t = n.at + Duration::seconds(k as i64);
            let mut cm = comment_obj(org, repo, c, n.id, n.author, &n.body, t);
            if let Value::Object(m) = &mut cm {
                let head = snapshot(org, c, t).head;
                m.extend(body(vec![
                    ("pull_request_review_id", json!(r.id)),
                    ("diff_hunk", json!("@@ -10,7 +10,7 @@")),
                    ("path", json!(n.path)),
                    ("position", json!(4)),
                    ("original_position", json!(4)),
                    ("commit_id", json!(head)),
                    ("original_commit_id", json!(head)),
                    ("in_reply_to_id", Value::Null),
                    ("line", json!(12)),
                    ("side", json!("RIGHT")),
                    ("start_line", Value::Null),
                    ("subject_type", json!("line")),
                ]));
            }
            let b = body(vec![
                ("action", json!("created")),
                ("comment", cm),
                ("pull_request", pull_request(org, c, t)),
            ]);
            out.add(
                t,
                "pull_request_review_comment",
                o::envelope(b, repo, o::user(&org.people[n.author]), t),
            );
        }
        let t = r.at + Duration::seconds(r.inline.len() as i64 + 1);
        let b = body(vec![
            ("action", json!("submitted")),
            ("review", review),
            ("pull_request", pull_request(org, c, t)),
        ]);
        out.add(
            t,
            "pull_request_review",
            o::envelope(b, repo, o::user(&org.people[r.reviewer]), t),
        );
    }
    for n in &c.comments {
        let issue = issue_obj(org, repo, c, n.at);
        let b = body(vec![
            ("action", json!("created")),
            ("issue", issue),
            (
                "comment",
                comment_obj(org, repo, c, n.id, n.author, &n.body, n.at),
            ),
        ]);
        out.add(
            n.at,
            "issue_comment",
            o::envelope(b, repo, o::user(&org.people[n.author]), n.at),
        );
    }
    match c.outcome {
        Outcome::Merged { at, by } | Outcome::Closed { at, by } => out.add(
            at,
            "pull_request",
            pr_event(org, c, at, "closed", by, vec![]),
        ),
        Outcome::Open => {}
    }
}

fn comment_obj(
    org: &Org,
    repo: &Repo,
    c: &Change,
    id: u64,
    author: usize,
    text: &str,
    t: DateTime<Utc>,
) -> Value {
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let association = if org.people[author].role == crate::cast::Role::Newcomer {
        "CONTRIBUTOR"
    } else {
        "MEMBER"
    };
    json!({
        "url": format!("{api}/issues/comments/{id}"),
        "html_url": format!("https://github.com/{}/pull/{}#issuecomment-{id}", repo.full_name, c.number),
        "issue_url": format!("{api}/issues/{}", c.number), "id": id, "node_id": format!("IC_kwDO{id}"),
        "user": o::user(&org.people[author]), "created_at": ts(t), "updated_at": ts(t),
        "author_association": association, "body": text,
        "reactions": {"url": format!("{api}/issues/comments/{id}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "performed_via_github_app": null
    })
}

fn issue_obj(org: &Org, repo: &Repo, c: &Change, t: DateTime<Utc>) -> Value {
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let html = format!("https://github.com/{}/pull/{}", repo.full_name, c.number);
    json!({
        "url": format!("{api}/issues/{}", c.number), "repository_url": api, "html_url": html,
        "id": c.id + 500_000_000, "node_id": format!("I_kwDO{}", c.id), "number": c.number, "title": c.title,
        "user": o::user(&org.people[c.author]),
        "labels": c.labels.iter().map(|l| o::label(repo, l)).collect::<Vec<_>>(),
        "state": "open", "locked": false, "assignee": null, "assignees": [], "milestone": null,
        "comments": c.comments.iter().filter(|x| x.at < t).count(), "created_at": ts(c.opened_at), "updated_at": ts(t),
        "closed_at": null, "author_association": "MEMBER", "active_lock_reason": null, "body": c.body,
        "reactions": {"url": format!("{api}/issues/{}/reactions", c.number), "total_count": 0},
        "timeline_url": format!("{api}/issues/{}/timeline", c.number), "performed_via_github_app": null, "state_reason": null,
        "pull_request": {"url": format!("{api}/pulls/{}", c.number), "html_url": html, "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"), "merged_at": null}
    })
}

#[allow(clippy::too_many_arguments)]
fn push(
    org: &Org,
    repo: &Repo,
    r: &str,
    before: &str,
    new: &[usize],
    old: &[usize],
    pusher: usize,
    at: DateTime<Utc>,
) -> Value {
    let p = &org.people[pusher];
    let commit = |i: usize, distinct: bool| {
        let c = &repo.git.commits[i];
        let parent_tree = c.parents.first().map(|q| &repo.git.commits[*q].tree);
        let (mut added, mut modified) = (Vec::new(), Vec::new());
        for s in &c.stats {
            if parent_tree.is_some_and(|t| t.contains_key(&s.path)) {
                modified.push(s.path.clone());
            } else {
                added.push(s.path.clone());
            }
        }
        let username = |email: &str| {
            email
                .split('+')
                .nth(1)
                .and_then(|x| x.split('@').next())
                .map(str::to_string)
        };
        json!({
            "id": c.sha, "tree_id": c.tree_id, "distinct": distinct, "message": c.message.trim_end(),
            "timestamp": c.author.at.to_rfc3339(), "url": format!("https://github.com/{}/commit/{}", repo.full_name, c.sha),
            "author": {"name": c.author.name, "email": c.author.email, "username": username(&c.author.email)},
            "committer": {"name": c.committer.name, "email": c.committer.email, "username": if c.committer.name == "GitHub" { Some("web-flow".to_string()) } else { username(&c.committer.email) }},
            "added": added, "removed": Vec::<String>::new(), "modified": modified
        })
    };
    let mut commits: Vec<Value> = old.iter().map(|i| commit(*i, false)).collect();
    commits.extend(new.iter().map(|i| commit(*i, true)));
    let keep = commits.len().saturating_sub(20);
    let commits: Vec<Value> = commits.into_iter().skip(keep).collect();
    let after = new
        .last()
        .map_or(ZERO.to_string(), |i| repo.git.commits[*i].sha.clone());
    let head = commits.last().cloned().unwrap_or(Value::Null);
    let b = body(vec![
        ("ref", json!(r)),
        ("before", json!(before)),
        ("after", json!(after)),
        ("pusher", json!({"name": p.login, "email": p.email})),
        ("created", json!(before == ZERO)),
        ("deleted", json!(false)),
        ("forced", json!(false)),
        ("base_ref", Value::Null),
        (
            "compare",
            json!(format!(
                "https://github.com/{}/compare/{}...{}",
                repo.full_name,
                &before[..12],
                &after[..12]
            )),
        ),
        ("commits", Value::Array(commits)),
        ("head_commit", head),
    ]);
    o::envelope(b, repo, o::user(p), at)
}

fn main_push(org: &Org, m: &crate::story::MainPush, out: &mut Out) {
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
        push(
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
                check_run(org, repo, j, &sha, "main", "completed", None, None),
            ),
            None => out.add(
                j.completed,
                "workflow_job",
                workflow_job(repo, j, &sha, "main", "push"),
            ),
        }
    }
}

fn workflow_job(repo: &Repo, j: &Job, sha: &str, branch: &str, _trigger: &str) -> Value {
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let html = format!(
        "https://github.com/{}/actions/runs/{}/job/{}",
        repo.full_name, j.run_id, j.id
    );
    let step_end = j.started + Duration::seconds(15);
    let b = body(vec![
        ("action", json!("completed")),
        (
            "workflow_job",
            json!({
                "id": j.id, "run_id": j.run_id, "workflow_name": j.workflow, "head_branch": branch,
                "run_url": format!("{api}/actions/runs/{}", j.run_id), "run_attempt": j.attempt,
                "node_id": format!("CR_kwDO{}", j.id), "head_sha": sha, "url": format!("{api}/actions/jobs/{}", j.id),
                "html_url": html, "status": "completed", "conclusion": j.conclusion,
                "created_at": ts(j.started - Duration::seconds(5)), "started_at": ts(j.started), "completed_at": ts(j.completed),
                "name": j.name,
                "steps": [
                    {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1, "started_at": ts(j.started), "completed_at": ts(step_end)},
                    {"name": format!("Run {}", j.name), "status": "completed", "conclusion": j.conclusion, "number": 2, "started_at": ts(step_end), "completed_at": ts(j.completed)}
                ],
                "check_run_url": format!("{api}/check-runs/{}", j.id), "labels": [j.runner],
                "runner_id": 20 + j.id % 40, "runner_name": format!("GitHub Actions {}", 20 + j.id % 40),
                "runner_group_id": 2, "runner_group_name": "GitHub Actions"
            }),
        ),
    ]);
    o::envelope(b, repo, o::actions_bot(), j.completed)
}

#[allow(clippy::too_many_arguments)]
fn check_run(
    org: &Org,
    repo: &Repo,
    j: &Job,
    sha: &str,
    branch: &str,
    action: &str,
    pr: Option<&Value>,
    sender: Option<usize>,
) -> Value {
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let app = if j.app == Some("buildkite") {
        o::buildkite_app()
    } else {
        o::actions_app()
    };
    let prs: Vec<Value> = pr.cloned().into_iter().collect();
    let details = format!(
        "https://buildkite.com/{ORG}/{}/builds/{}",
        repo.full_name.split('/').nth(1).unwrap_or(""),
        j.run_number
    );
    let b = body(vec![
        ("action", json!(action)),
        (
            "check_run",
            json!({
                "id": j.id, "name": j.name, "node_id": format!("CR_kwDO{}", j.id), "head_sha": sha, "external_id": format!("bk-{}", j.run_id),
                "url": format!("{api}/check-runs/{}", j.id), "html_url": details.clone(), "details_url": details,
                "status": "completed", "conclusion": j.conclusion, "started_at": ts(j.started), "completed_at": ts(j.completed),
                "output": {"title": null, "summary": null, "text": null, "annotations_count": 0, "annotations_url": format!("{api}/check-runs/{}/annotations", j.id)},
                "check_suite": {
                    "id": j.run_id, "node_id": format!("CS_kwDO{}", j.run_id), "head_branch": branch, "head_sha": sha,
                    "status": "completed", "conclusion": j.conclusion, "url": format!("{api}/check-suites/{}", j.run_id),
                    "before": ZERO, "after": sha, "pull_requests": prs.clone(), "app": app.clone(),
                    "created_at": ts(j.started), "updated_at": ts(j.completed)
                },
                "app": app, "pull_requests": prs
            }),
        ),
    ]);
    let sender = sender.map_or_else(
        || o::user_obj("buildkite[bot]", 1_230_002, "Bot"),
        |s| o::user(&org.people[s]),
    );
    o::envelope(b, repo, sender, j.completed)
}

#[allow(clippy::too_many_arguments)]
fn workflow_run(
    org: &Org,
    repo: &Repo,
    run: (u64, u64, &str, DateTime<Utc>),
    head: (&str, &str),
    pr: &Value,
    by: usize,
    at: DateTime<Utc>,
    title: &str,
) -> Value {
    let (id, number, name, created) = run;
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let p = &org.people[by];
    let tip = repo.git.commits.iter().find(|c| c.sha == head.0);
    let head_commit = tip.map(|c| json!({
        "id": c.sha, "tree_id": c.tree_id, "message": c.message.trim_end(), "timestamp": c.author.at.to_rfc3339(),
        "author": {"name": c.author.name, "email": c.author.email}, "committer": {"name": c.committer.name, "email": c.committer.email}
    }));
    let short = json!({"id": repo.id, "name": repo.full_name.split('/').nth(1), "full_name": repo.full_name});
    let b = body(vec![
        ("action", json!("requested")),
        ("workflow", Value::Null),
        (
            "workflow_run",
            json!({
                "id": id, "name": name, "node_id": format!("WFR_kwDO{id}"), "head_branch": head.1, "head_sha": head.0,
                "path": ".github/workflows/ci.yml", "display_title": title, "run_number": number, "event": "pull_request",
                "status": "queued", "conclusion": null, "workflow_id": 41_200_001, "check_suite_id": id + 1, "check_suite_node_id": format!("CS_kwDO{}", id + 1),
                "url": format!("{api}/actions/runs/{id}"), "html_url": format!("https://github.com/{}/actions/runs/{id}", repo.full_name),
                "pull_requests": [pr], "created_at": ts(created), "updated_at": ts(at), "actor": o::user(p), "run_attempt": 2,
                "referenced_workflows": [], "run_started_at": ts(at), "triggering_actor": o::user(p),
                "jobs_url": format!("{api}/actions/runs/{id}/jobs"), "logs_url": format!("{api}/actions/runs/{id}/logs"),
                "check_suite_url": format!("{api}/check-suites/{}", id + 1), "artifacts_url": format!("{api}/actions/runs/{id}/artifacts"),
                "cancel_url": format!("{api}/actions/runs/{id}/cancel"), "rerun_url": format!("{api}/actions/runs/{id}/rerun"),
                "previous_attempt_url": format!("{api}/actions/runs/{id}/attempts/1"), "workflow_url": format!("{api}/actions/workflows/41200001"),
                "head_commit": head_commit, "repository": short.clone(), "head_repository": short
            }),
        ),
    ]);
    o::envelope(b, repo, o::user(p), at)
}
