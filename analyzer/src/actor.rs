//! `Actor`: an opaque identity as a platform gives it. Person-level merging (mailmap, noreply
//! addresses, mapping files) and pseudonymisation happen later on top of these keys.

use serde::{Deserialize, Serialize};

/// One identity as seen by a source: a git email, a GitHub login or a Gerrit account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// Stable key `namespace:value`: `email:ada@example.org`, `github:ada`,
    /// `gerrit:review.example.org/1000096`, or `unknown:` for an unreadable identity.
    pub key: String,
    /// Display name given by the source (personal data: never in reports or logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email given by the source, if any (personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Actor {
    /// A git identity; the key is the lower-cased email, or the name when the email is empty.
    pub fn git(name: &str, email: &str) -> Actor {
        let email_norm = email.trim().to_lowercase();
        let name = name.trim();
        let key = if !email_norm.is_empty() {
            format!("email:{email_norm}")
        } else if !name.is_empty() {
            format!("name:{}", name.to_lowercase())
        } else {
            "unknown:".to_string()
        };
        Actor {
            key,
            name: (!name.is_empty()).then(|| name.to_string()),
            email: (!email_norm.is_empty()).then_some(email_norm),
        }
    }

    /// A GitHub user by login (logins are case-insensitive, so the key is lower-cased).
    pub fn github(login: &str) -> Actor {
        Actor {
            key: format!("github:{}", login.trim().to_lowercase()),
            name: Some(login.trim().to_string()),
            email: None,
        }
    }

    /// A Gerrit account: by numeric account id when known, else by username, else by email.
    pub fn gerrit(
        host: &str,
        account_id: Option<u64>,
        username: Option<&str>,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Actor {
        let key = match (account_id, username, email) {
            (Some(id), _, _) => format!("gerrit:{host}/{id}"),
            (None, Some(u), _) if !u.is_empty() => format!("gerrit:{host}/{}", u.to_lowercase()),
            (None, _, Some(e)) if !e.is_empty() => format!("email:{}", e.trim().to_lowercase()),
            _ => format!(
                "gerrit:{host}/unknown:{}",
                name.unwrap_or("").to_lowercase()
            ),
        };
        Actor {
            key,
            name: name.or(username).map(str::to_string),
            email: email.map(|e| e.trim().to_lowercase()),
        }
    }

    /// The namespace part of the key (`email`, `github`, `gerrit`, `name`, `unknown`).
    pub fn namespace(&self) -> &str {
        self.key.split_once(':').map_or("", |(ns, _)| ns)
    }

    /// True when the identity could not be read at all.
    pub fn is_unknown(&self) -> bool {
        self.namespace() == "unknown"
    }

    /// Recognises automation accounts (dependabot, renovate, zuul, CI users, `[bot]` logins,
    /// GitHub's own web-flow committer), which are excluded from people-level analysis.
    pub fn is_bot(&self) -> bool {
        let lowered = |s: &Option<String>| s.as_deref().unwrap_or("").to_lowercase();
        let name = lowered(&self.name);
        let email = lowered(&self.email);
        let key = self.key.to_lowercase();
        if key.ends_with("[bot]")
            || name.ends_with("[bot]")
            || email.contains("[bot]@")
            || key == "email:noreply@github.com"
        {
            return true;
        }
        const BOT_WORDS: [&str; 12] = [
            "dependabot",
            "renovate",
            "zuul",
            "jenkins",
            "github-actions",
            "greenkeeper",
            "snyk-bot",
            "pre-commit-ci",
            "mergify",
            "openstack-proposal-bot",
            "lf-jenkins",
            "imgbot",
        ];
        let local = email.split('@').next().unwrap_or("");
        let login = key.strip_prefix("github:").unwrap_or("");
        // `w` followed by one of `seps` (no allocation: this runs for every event).
        let word_then = |s: &str, w: &str, seps: &[char]| {
            s.strip_prefix(w).is_some_and(|rest| rest.starts_with(seps))
        };
        BOT_WORDS.iter().any(|w| {
            name == *w
                || word_then(&name, w, &[' '])
                || local == *w
                || word_then(local, w, &['-', '+'])
                || login == *w
        }) || name.ends_with(" bot")
            || name == "bot"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_keys_are_normalised() {
        let a = Actor::git(" Ada Lovelace ", "Ada@Example.ORG ");
        assert_eq!(a.key, "email:ada@example.org");
        assert_eq!(a.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(Actor::git("Nobody", "").key, "name:nobody");
        assert!(Actor::git("", "").is_unknown());
    }

    #[test]
    fn bots_are_recognised() {
        for (name, email) in [
            (
                "dependabot[bot]",
                "49699333+dependabot[bot]@users.noreply.github.com",
            ),
            ("Renovate Bot", "bot@renovateapp.com"),
            ("Zuul", "zuul@openstack.org"),
            ("GitHub", "noreply@github.com"),
            (
                "OpenStack Proposal Bot",
                "openstack-infra@lists.openstack.org",
            ),
        ] {
            assert!(Actor::git(name, email).is_bot(), "{name} <{email}>");
        }
        assert!(Actor::github("dependabot[bot]").is_bot());
        assert!(!Actor::git("Ada Lovelace", "ada@example.org").is_bot());
        assert!(!Actor::git("Jenkinson", "jenkinson@example.org").is_bot());
        assert!(!Actor::github("robot-arm-fan").is_bot());
    }

    #[test]
    fn gerrit_prefers_account_id() {
        let a = Actor::gerrit(
            "review.example.org",
            Some(42),
            Some("ada"),
            Some("Ada"),
            None,
        );
        assert_eq!(a.key, "gerrit:review.example.org/42");
        let b = Actor::gerrit("review.example.org", None, Some("Ada"), None, None);
        assert_eq!(b.key, "gerrit:review.example.org/ada");
    }
}
