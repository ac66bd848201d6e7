//! GitHub's JSON objects as webhook payloads carry them (users, the repository, the
//! organisation, the installation, pull requests, apps), with every field GitHub sends, in the
//! shapes of the real-format fixtures under `tests/fixtures/github`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::cast::{Person, Role};
use crate::repos::{ORG, ORG_ID, Repo};

/// An RFC 3339 time in GitHub's style (`2026-11-03T16:21:00Z`).
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A user object.
pub fn user_obj(login: &str, id: u64, kind: &str) -> Value {
    let u = format!("https://api.github.com/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

/// A person's user object.
pub fn user(p: &Person) -> Value {
    user_obj(
        &p.login,
        p.id,
        if p.role == Role::Bot { "Bot" } else { "User" },
    )
}

/// The `github-actions[bot]` user that sends workflow job events.
pub fn actions_bot() -> Value {
    user_obj("github-actions[bot]", 41_898_282, "Bot")
}

/// The organisation as a repository owner.
pub fn org_owner() -> Value {
    user_obj(ORG, ORG_ID, "Organization")
}

/// A repository object (the same in every payload of one repository).
// Long: one line per field of GitHub's repository object, in the order GitHub sends them, so
// it can be checked against a real payload side by side.
pub fn repository(r: &Repo, pushed: DateTime<Utc>) -> Value {
    let api = format!("https://api.github.com/repos/{}", r.full_name);
    let html = format!("https://github.com/{}", r.full_name);
    let name = r.full_name.split('/').nth(1).unwrap_or("");
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id));
    m.insert("node_id".into(), json!(format!("R_kgDO{}", r.id)));
    m.insert("name".into(), json!(name));
    m.insert("full_name".into(), json!(r.full_name));
    m.insert("private".into(), json!(false));
    m.insert("owner".into(), org_owner());
    m.insert("html_url".into(), json!(html));
    m.insert("description".into(), json!(r.description));
    m.insert("fork".into(), json!(false));
    m.insert("url".into(), json!(api));
    for k in [
        "forks",
        "keys",
        "collaborators",
        "teams",
        "hooks",
        "issue_events",
        "events",
        "assignees",
        "branches",
        "tags",
        "blobs",
        "git_tags",
        "git_refs",
        "trees",
        "statuses",
        "languages",
        "stargazers",
        "contributors",
        "subscribers",
        "subscription",
        "commits",
        "git_commits",
        "comments",
        "issue_comment",
        "contents",
        "compare",
        "merges",
        "archive",
        "downloads",
        "issues",
        "pulls",
        "milestones",
        "notifications",
        "labels",
        "releases",
        "deployments",
    ] {
        m.insert(format!("{k}_url"), json!(format!("{api}/{k}")));
    }
    let rest = json!({
        "created_at": "2023-05-15T09:00:00Z",
        "updated_at": ts(pushed),
        "pushed_at": ts(pushed),
        "git_url": format!("git://github.com/{}.git", r.full_name),
        "ssh_url": format!("git@github.com:{}.git", r.full_name),
        "clone_url": format!("{html}.git"),
        "svn_url": html,
        "homepage": null,
        "size": 4096,
        "stargazers_count": 310,
        "watchers_count": 310,
        "language": "Rust",
        "has_issues": true,
        "has_projects": true,
        "has_downloads": true,
        "has_wiki": false,
        "has_pages": false,
        "has_discussions": true,
        "forks_count": 24,
        "mirror_url": null,
        "archived": false,
        "disabled": false,
        "open_issues_count": 17,
        "license": {"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0", "url": "https://api.github.com/licenses/apache-2.0", "node_id": "MDc6TGljZW5zZTI="},
        "allow_forking": true,
        "is_template": false,
        "web_commit_signoff_required": false,
        "topics": [name, "rust"],
        "visibility": "public",
        "forks": 24,
        "open_issues": 17,
        "watchers": 310,
        "default_branch": "main"
    });
    if let Value::Object(extra) = rest {
        m.extend(extra);
    }
    Value::Object(m)
}

/// Adds the fields every repository event carries: repository, organization, sender, installation.
pub fn envelope(
    mut body: Map<String, Value>,
    repo: &Repo,
    sender: Value,
    at: DateTime<Utc>,
) -> Value {
    body.insert("repository".into(), repository(repo, at));
    body.insert(
        "organization".into(),
        json!({"login": ORG, "id": ORG_ID, "node_id": format!("O_kgDO{ORG_ID}"), "url": format!("https://api.github.com/orgs/{ORG}"), "description": "Fernhill builds configuration and ordering tools"}),
    );
    body.insert("sender".into(), sender);
    body.insert(
        "installation".into(),
        json!({"id": 61_200_001, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNjEyMDAwMDE="}),
    );
    Value::Object(body)
}

/// The GitHub Actions app object of check runs.
pub fn actions_app() -> Value {
    json!({
        "id": 15368, "slug": "github-actions", "node_id": "MDM6QXBwMTUzNjg=", "owner": user_obj("github", 9919, "Organization"),
        "name": "GitHub Actions", "description": "Automate your workflow from idea to production",
        "external_url": "https://help.github.com/en/actions", "html_url": "https://github.com/apps/github-actions",
        "created_at": "2018-07-30T09:30:17Z", "updated_at": "2024-04-10T20:33:16Z",
        "permissions": {"actions": "write", "checks": "write", "contents": "write"},
        "events": ["check_run", "check_suite", "push"]
    })
}

/// The Buildkite app object of its check runs.
pub fn buildkite_app() -> Value {
    json!({
        "id": 88001, "slug": "buildkite", "node_id": "A_kwDOBuildkite", "owner": user_obj("buildkite", 1_230_001, "Organization"),
        "name": "Buildkite", "description": "Fast, secure and scalable CI/CD pipelines",
        "external_url": "https://buildkite.com", "html_url": "https://github.com/apps/buildkite",
        "created_at": "2019-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {"checks": "write", "statuses": "write"}, "events": ["check_run", "pull_request", "push"]
    })
}

/// A label object.
pub fn label(repo: &Repo, name: &str) -> Value {
    let (color, description) = match name {
        "bug" => ("d73a4a", "Something isn't working"),
        "enhancement" => ("a2eeef", "New feature or request"),
        "documentation" => ("0075ca", "Improvements or additions to documentation"),
        _ => ("0366d6", "Pull requests that update a dependency file"),
    };
    json!({
        "id": 77_000 + name.len() as u64, "node_id": format!("LA_kwDO{name}"),
        "url": format!("https://api.github.com/repos/{}/labels/{name}", repo.full_name),
        "name": name, "color": color, "default": name == "bug" || name == "enhancement" || name == "documentation",
        "description": description
    })
}

/// The short PR reference of check runs and workflow runs.
pub fn pr_ref(repo: &Repo, id: u64, number: u64, head: (&str, &str), base: (&str, &str)) -> Value {
    let name = repo.full_name.split('/').nth(1).unwrap_or("");
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let r = json!({"id": repo.id, "url": api, "name": name});
    json!({
        "url": format!("{api}/pulls/{number}"), "id": id, "number": number,
        "head": {"ref": head.0, "sha": head.1, "repo": r},
        "base": {"ref": base.0, "sha": base.1, "repo": r}
    })
}
