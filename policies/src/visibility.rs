//! Who may see what of the burnout analysis, decided in one place: a person's score exists only
//! if they opted in and is shown only to them; maintainers see aggregates over at least k
//! people; nothing person-level is ever public; and a risk score (a person's, or the team's
//! buckets) is shown only when the active model has been validated — a ROC AUC of at least
//! [`MIN_VALIDATED_AUC`] on at least [`MIN_VALIDATED_POSITIVES`] disengagements it never saw.
//! Otherwise only the indicators and their trends are shown, with one sentence saying why.

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
    /// One person's risk score and its reasons.
    PersonScore {
        /// Whose.
        person: &'a str,
    },
    /// The team's risk scores in buckets.
    TeamScores {
        /// How many people they cover.
        group_size: usize,
    },
}

/// Smallest validated ROC AUC for which a score is shown.
pub const MIN_VALIDATED_AUC: f64 = 0.70;
/// Fewest disengagements the validation must rest on.
pub const MIN_VALIDATED_POSITIVES: usize = 30;

/// How well the active model predicted on data it never saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Its ROC AUC.
    pub auc: f64,
    /// Disengagements that figure rests on.
    pub positives: usize,
    /// Where it comes from ("hold-out of the shipped model", "this installation's history").
    pub source: String,
    /// The best simple baseline on the same weeks (name, ROC AUC), when it was measured: a
    /// model that does not beat it adds nothing a count of recent activity would not say.
    pub baseline: Option<(String, f64)>,
}

/// The rules in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Smallest group an aggregate may cover (never below 2).
    pub k: usize,
    /// People who opted in to person-level analysis.
    pub opted_in: BTreeSet<String>,
    /// The active model's validation; without it no score is shown.
    pub evidence: Option<Evidence>,
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
            evidence: None,
        }
    }

    /// The same rules with the active model's validation.
    pub fn with_evidence(mut self, evidence: Option<Evidence>) -> Rules {
        self.evidence = evidence;
        self
    }

    /// Whether risk scores may be shown at all, and if not, the one sentence saying why.
    // `!(auc >= min)` on purpose: a NaN AUC (no validation figure) is refused, not shown.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn scores_shown(&self) -> Decision {
        let instead = "so Canopy shows the indicators and their trends without a score";
        match &self.evidence {
            None => Decision::Deny(format!(
                "No risk score: the model has not been validated on histories it never saw, {instead}."
            )),
            Some(e) if e.positives < MIN_VALIDATED_POSITIVES => Decision::Deny(format!(
                "No risk score: the model's validation ({}) rests on {} disengagements, fewer than the {MIN_VALIDATED_POSITIVES} needed to trust it, {instead}.",
                e.source, e.positives
            )),
            Some(e) if !(e.auc >= MIN_VALIDATED_AUC) => Decision::Deny(format!(
                "No risk score: the model's validated ROC AUC is {:.2} ({}, {} disengagements), below the {MIN_VALIDATED_AUC:.2} a score needs to mean something, {instead}.",
                e.auc, e.source, e.positives
            )),
            Some(Evidence {
                auc,
                source,
                baseline: Some((name, b)),
                ..
            }) if !(auc > b) => Decision::Deny(format!(
                "No risk score: the model's validated ROC AUC ({auc:.2}, {source}) is no better than the simple baseline `{name}` ({b:.2}), {instead}."
            )),
            Some(_) => Decision::Allow,
        }
    }

    /// Whether a person's data may be analysed at all.
    pub fn analysable(&self, person: &str) -> bool {
        self.opted_in.contains(person)
    }

    /// Whether `viewer` may see `item`.
    pub fn may_see(&self, viewer: &Viewer, item: &Item<'_>) -> Decision {
        let scores = match item {
            Item::PersonScore { person } => Some(Item::PersonLevel { person }),
            Item::TeamScores { group_size } => Some(Item::Aggregate {
                group_size: *group_size,
            }),
            _ => None,
        };
        if let Some(underlying) = scores {
            return match self.may_see(viewer, &underlying) {
                Decision::Allow => self.scores_shown(),
                deny => deny,
            };
        }
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
            (_, Item::PersonScore { .. } | Item::TeamScores { .. }) => self.scores_shown(),
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

    #[test]
    fn scores_only_with_a_validated_model_on_both_sides_of_the_gate() {
        let ev = |auc, positives| {
            Some(Evidence {
                auc,
                positives,
                source: "hold-out".into(),
                baseline: None,
            })
        };
        let base = Rules::new(5, ["ada".to_string()]);
        let me = Viewer::Person("ada".into());
        let mine = Item::PersonScore { person: "ada" };
        let team = Item::TeamScores { group_size: 6 };
        // Not validated: no score, but the indicators are still hers to see.
        let r = base.clone();
        assert!(
            matches!(r.may_see(&me, &mine), Decision::Deny(m) if m.contains("not been validated") && m.contains("indicators"))
        );
        assert_eq!(
            r.may_see(&me, &Item::PersonLevel { person: "ada" }),
            Decision::Allow
        );
        assert!(matches!(
            r.may_see(&Viewer::Maintainer, &team),
            Decision::Deny(_)
        ));
        // Just below each threshold.
        let r = base.clone().with_evidence(ev(0.699, 500));
        assert!(
            matches!(r.may_see(&me, &mine), Decision::Deny(m) if m.contains("0.70") && m.contains("500"))
        );
        let r = base.clone().with_evidence(ev(0.9, 29));
        assert!(
            matches!(r.may_see(&Viewer::Maintainer, &team), Decision::Deny(m) if m.contains("29") && m.contains("30"))
        );
        assert!(matches!(
            base.clone().with_evidence(ev(f64::NAN, 100)).scores_shown(),
            Decision::Deny(_)
        ));
        // At the thresholds: shown.
        let r = base.clone().with_evidence(ev(0.70, 30));
        assert_eq!(r.may_see(&me, &mine), Decision::Allow);
        assert_eq!(r.may_see(&Viewer::Maintainer, &team), Decision::Allow);
        // Validation never overrides privacy.
        assert!(
            matches!(r.may_see(&Viewer::Maintainer, &mine), Decision::Deny(m) if m.contains("only to that person"))
        );
        assert!(
            matches!(r.may_see(&Viewer::Maintainer, &Item::TeamScores { group_size: 4 }), Decision::Deny(m) if m.contains("fewer than"))
        );
        assert!(matches!(
            r.may_see(&Viewer::Public, &team),
            Decision::Deny(_)
        ));
        assert!(
            matches!(r.may_see(&Viewer::Person("bob".into()), &Item::PersonScore { person: "bob" }), Decision::Deny(m) if m.contains("opted in"))
        );
    }

    #[test]
    fn no_score_when_the_model_does_not_beat_the_best_baseline() {
        let ev = |auc, b| Evidence {
            auc,
            positives: 400,
            source: "hold-out".into(),
            baseline: Some(("recency_and_trend".into(), b)),
        };
        let me = Viewer::Person("ada".into());
        let mine = Item::PersonScore { person: "ada" };
        let with = |e| Rules::new(5, ["ada".to_string()]).with_evidence(Some(e));
        for (auc, b) in [(0.75, 0.78), (0.75, 0.75)] {
            let d = with(ev(auc, b)).may_see(&me, &mine);
            assert!(
                matches!(&d, Decision::Deny(m) if m.contains("no better than") && m.contains("recency_and_trend") && m.contains("indicators")),
                "{d:?}"
            );
        }
        assert_eq!(with(ev(0.80, 0.73)).may_see(&me, &mine), Decision::Allow);
        // Above the baseline is not enough below the floor.
        assert!(matches!(
            with(ev(0.68, 0.60)).scores_shown(),
            Decision::Deny(m) if m.contains("0.70")
        ));
    }
}
