//! `push` payloads with the pushed commits as GitHub lists them (at most 20).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::objects as o;
use super::{ZERO, body};
use crate::Org;
use crate::repos::Repo;

#[allow(clippy::too_many_arguments)]
pub(super) fn push(
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
