//! One person across git emails, GitHub logins and Gerrit accounts. Sources, strongest first:
//! an explicit mapping (person → actor keys), `.mailmap`, GitHub noreply addresses
//! (`12345+login@users.noreply.github.com` is `github:login`), and Gerrit accounts that carry an
//! email. Bots are recognised and excluded. Pure: the caller reads the files.

use std::collections::HashMap;

use crate::actor::Actor;

/// A `.mailmap`: commit email (and optionally commit name) → proper email.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mailmap {
    by_email: HashMap<String, String>,
    by_email_and_name: HashMap<(String, String), String>,
}

fn emails(line: &str) -> Vec<(String, String)> {
    // (name before the <email>, email)
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let name = rest[..open].trim().to_string();
        let email = rest[open + 1..open + close].trim().to_lowercase();
        out.push((name, email));
        rest = &rest[open + close + 1..];
    }
    out
}

impl Mailmap {
    /// Parses mailmap text (`Proper Name <proper@x> Commit Name <commit@x>` and the shorter
    /// forms); comments and malformed lines are skipped.
    pub fn parse(text: &str) -> Mailmap {
        let mut m = Mailmap::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let e = emails(line);
            match e.as_slice() {
                [(_, proper), (commit_name, commit)] => {
                    if commit_name.is_empty() {
                        m.by_email.insert(commit.clone(), proper.clone());
                    } else {
                        m.by_email_and_name
                            .insert((commit.clone(), commit_name.to_lowercase()), proper.clone());
                    }
                }
                [(_, proper)] => {
                    // `Proper Name <email>`: only fixes the name; the email stays.
                    m.by_email
                        .entry(proper.clone())
                        .or_insert_with(|| proper.clone());
                }
                _ => {}
            }
        }
        m
    }

    /// The proper email of a commit identity.
    pub fn email(&self, name: Option<&str>, email: &str) -> String {
        let e = email.to_lowercase();
        if let Some(n) = name
            && let Some(p) = self.by_email_and_name.get(&(e.clone(), n.to_lowercase()))
        {
            return p.clone();
        }
        self.by_email.get(&e).cloned().unwrap_or(e)
    }
}

/// The GitHub login of a noreply address, if it is one.
pub fn noreply_login(email: &str) -> Option<String> {
    let local = email
        .to_lowercase()
        .strip_suffix("@users.noreply.github.com")?
        .to_string();
    let login = local
        .split_once('+')
        .map_or(local.as_str(), |(_, l)| l)
        .to_string();
    (!login.is_empty()).then_some(login)
}

/// Resolves actors to people.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    mailmap: Mailmap,
    /// Actor key → person id (from the explicit mapping and learned links).
    key_to_person: HashMap<String, String>,
}

impl Identities {
    /// Resolver with a mailmap and an explicit mapping of person ids to actor keys
    /// (`email:…`, `github:…`, `gerrit:host/id`).
    pub fn new(mailmap: Mailmap, mapping: &[(String, Vec<String>)]) -> Identities {
        let mut key_to_person = HashMap::new();
        for (person, keys) in mapping {
            for k in keys {
                key_to_person.insert(k.to_lowercase(), person.clone());
            }
        }
        Identities {
            mailmap,
            key_to_person,
        }
    }

    /// The canonical key of an actor before the explicit mapping: mailmap applied, noreply
    /// addresses turned into GitHub logins.
    fn canonical(&self, a: &Actor) -> String {
        match a.namespace() {
            "email" => {
                let e = self
                    .mailmap
                    .email(a.name.as_deref(), a.key.trim_start_matches("email:"));
                match noreply_login(&e) {
                    Some(login) => format!("github:{login}"),
                    None => format!("email:{e}"),
                }
            }
            _ => a.key.to_lowercase(),
        }
    }

    /// The person an actor is, or `None` for bots and unknown actors.
    pub fn person(&self, a: &Actor) -> Option<String> {
        if a.is_bot() || a.is_unknown() {
            return None;
        }
        if let Some(p) = self.key_to_person.get(&a.key.to_lowercase()) {
            return Some(p.clone());
        }
        let c = self.canonical(a);
        if let Some(p) = self.key_to_person.get(&c) {
            return Some(p.clone());
        }
        // A Gerrit account that carries an email is the same person as that email.
        if a.namespace() == "gerrit"
            && let Some(e) = &a.email
        {
            let ek = format!("email:{}", self.mailmap.email(a.name.as_deref(), e));
            if let Some(p) = self.key_to_person.get(&ek) {
                return Some(p.clone());
            }
            return Some(ek);
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailmap_noreply_mapping_gerrit_and_bots_merge_one_person() {
        let mm = Mailmap::parse(
            "# comment\nAda Lovelace <ada@example.org> <ada@old-laptop.local>\nAda Lovelace <ada@example.org> Ada L <ADA@corp.example>\nBob <bob@example.org>\n",
        );
        let ids = Identities::new(
            mm,
            &[(
                "ada".into(),
                vec!["email:ada@example.org".into(), "github:ada-l".into()],
            )],
        );
        let ada = Some("ada".to_string());
        assert_eq!(ids.person(&Actor::git("Ada", "ada@old-laptop.local")), ada);
        assert_eq!(ids.person(&Actor::git("Ada L", "ada@corp.example")), ada);
        assert_eq!(
            ids.person(&Actor::git("Ada", "12345+Ada-L@users.noreply.github.com")),
            ada
        );
        assert_eq!(ids.person(&Actor::github("ada-l")), ada);
        assert_eq!(
            ids.person(&Actor::gerrit(
                "review.example.org",
                Some(1000042),
                Some("ada"),
                Some("Ada"),
                Some("ada@example.org")
            )),
            ada
        );
        // Without a mapping entry, people resolve to their canonical key.
        assert_eq!(
            ids.person(&Actor::git("Bob", "bob@example.org")),
            Some("email:bob@example.org".into())
        );
        assert_eq!(
            ids.person(&Actor::git("x", "carol@users.noreply.github.com")),
            Some("github:carol".into())
        );
        // Bots are excluded.
        assert_eq!(ids.person(&Actor::github("dependabot[bot]")), None);
        assert_eq!(ids.person(&Actor::git("Zuul", "zuul@openstack.org")), None);
    }
}
