//! Who may see what of the burnout analysis, decided in one place: a person's score exists only
//! if they opted in and is shown only to them; maintainers see aggregates over at least k
//! people; nothing person-level is ever public.

use std::collections::BTreeSet;

/// Who is looking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Anyone: a PR comment, a public report.
    Public,
    /// A maintainer of the repository or organisation.
    Maintainer,
    /// One person (their own view).
    Person(String),
}

/// What would be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// One person's score, indicators or reasons.
    PersonLevel {
        /// Whose.
        person: &'a str,
    },
    /// A figure over a group of people.
    Aggregate {
        /// How many people it covers.
        group_size: usize,
    },
}

/// The rules in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Smallest group an aggregate may cover (never below 2).
    pub k: usize,
    /// People who opted in to person-level analysis.
    pub opted_in: BTreeSet<String>,
}

/// A decision, with the reason when denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// May be shown.
    Allow,
    /// May not be shown, and why.
    Deny(String),
}

impl Rules {
    /// Rules with a minimum group size (raised to 2 if lower).
    pub fn new(k: usize, opted_in: impl IntoIterator<Item = String>) -> Rules {
        Rules {
            k: k.max(2),
            opted_in: opted_in.into_iter().collect(),
        }
    }

    /// Whether a person's data may be analysed at all.
    pub fn analysable(&self, person: &str) -> bool {
        self.opted_in.contains(person)
    }

    /// Whether `viewer` may see `item`.
    pub fn may_see(&self, viewer: &Viewer, item: &Item<'_>) -> Decision {
        match (viewer, item) {
            (_, Item::PersonLevel { person }) if !self.analysable(person) => {
                Decision::Deny("this person has not opted in to person-level analysis".into())
            }
            (Viewer::Person(me), Item::PersonLevel { person }) if me == person => Decision::Allow,
            (_, Item::PersonLevel { .. }) => {
                Decision::Deny("a person's score is shown only to that person".into())
            }
            (Viewer::Public, Item::Aggregate { .. }) => Decision::Deny(
                "aggregates are for maintainers; public figures go through a reviewed report"
                    .into(),
            ),
            (_, Item::Aggregate { group_size }) if *group_size < self.k => Decision::Deny(format!(
                "the group has {group_size} people, fewer than the minimum of {}",
                self.k
            )),
            (_, Item::Aggregate { .. }) => Decision::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule() {
        let r = Rules::new(5, ["ada".to_string(), "bob".to_string()]);
        let me = |p: &str| Viewer::Person(p.into());
        let pl = |p| Item::PersonLevel { person: p };
        assert_eq!(r.may_see(&me("ada"), &pl("ada")), Decision::Allow);
        assert!(matches!(
            r.may_see(&me("bob"), &pl("ada")),
            Decision::Deny(_)
        ));
        assert!(matches!(
            r.may_see(&Viewer::Maintainer, &pl("ada")),
            Decision::Deny(_)
        ));
        assert!(matches!(
            r.may_see(&Viewer::Public, &pl("ada")),
            Decision::Deny(_)
        ));
        assert!(
            matches!(r.may_see(&me("carol"), &pl("carol")), Decision::Deny(m) if m.contains("opted in"))
        );
        assert_eq!(
            r.may_see(&Viewer::Maintainer, &Item::Aggregate { group_size: 5 }),
            Decision::Allow
        );
        assert!(matches!(
            r.may_see(&Viewer::Maintainer, &Item::Aggregate { group_size: 4 }),
            Decision::Deny(_)
        ));
        assert!(matches!(
            r.may_see(&Viewer::Public, &Item::Aggregate { group_size: 50 }),
            Decision::Deny(_)
        ));
        assert_eq!(Rules::new(1, []).k, 2);
    }
}
