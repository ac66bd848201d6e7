//! Pull-request payloads: the pull request object as it was at a moment, `pull_request`
//! events, reviews with their inline comments, and conversation comments.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::objects::{self as o, ts};
use super::{Out, ZERO, body};
use crate::Org;
use crate::model::{Change, Note, Outcome, Review};
use crate::repos::{ORG, Repo};

/// The state of a pull request at a moment.
pub(super) struct Snap {
    pub(super) head: String,
    pub(super) base: String,
    commits: usize,
    additions: u64,
    deletions: u64,
    files: usize,
}

pub(super) fn snapshot(org: &Org, c: &Change, t: DateTime<Utc>) -> Snap {
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

pub(super) fn pull_request(org: &Org, c: &Change, t: DateTime<Utc>) -> Value {
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

pub(super) fn pr_event(
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

/// A review's deliveries: each inline comment, then the review.
pub(super) fn review(org: &Org, c: &Change, r: &Review, out: &mut Out) {
    let repo = &org.repos[c.repo];
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

/// An `issue_comment` delivery on the pull request's conversation.
pub(super) fn issue_comment(org: &Org, c: &Change, n: &Note) -> Value {
    let repo = &org.repos[c.repo];
    let issue = issue_obj(org, repo, c, n.at);
    let b = body(vec![
        ("action", json!("created")),
        ("issue", issue),
        (
            "comment",
            comment_obj(org, repo, c, n.id, n.author, &n.body, n.at),
        ),
    ]);
    o::envelope(b, repo, o::user(&org.people[n.author]), n.at)
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
