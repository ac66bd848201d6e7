//! Each repository's time-to-merge online state in the store, next to its model: the adaptive
//! interval's levels and recent scores, the rolling errors of model and running median that
//! decide which one the sticky comment shows, and the first prediction of each open change.
//! The reactor reads it, changes it as changes open, merge or close, and hands it back in its
//! [`crate::react::Reaction`]; the inbox writes it in the same transaction as the events, so a
//! restarted bot continues where it was and a retried delivery never counts a merge twice.
//! Also the words of the comment when the running median is shown instead of the model, and
//! of the model's record when it is shown.

use canopy_models::ttm::fallback::{Choice, Evidence, MARGIN, MIN_PAIRS, WINDOW};
use canopy_models::ttm::online::OnlineState;
use canopy_models::ttm::running_median::Spread;
use canopy_store::{MetaStore, StoreError};

use crate::messages::TtmView;
use crate::ttm::{duration_words, range_words};

/// Format version of the stored state (part of its key: a state of another format is not read).
const FORMAT: u32 = 1;

/// The store key of a repository's online state.
pub fn online_key(repo: &str) -> String {
    format!("ttm_online_v{FORMAT}:{repo}")
}

/// The stored form of a state.
pub fn encode_online(s: &OnlineState) -> Vec<u8> {
    // Only finite numbers are kept in the state, so encoding cannot fail; an empty value would
    // be read back as a corrupt state, never as a silently fresh one.
    serde_json::to_vec(s).unwrap_or_default()
}

/// A repository's online state, if one was stored; a value that cannot be read is an error.
pub fn load_online(store: &dyn MetaStore, repo: &str) -> Result<Option<OnlineState>, StoreError> {
    let key = online_key(repo);
    store
        .get_meta(&key)?
        .map(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| StoreError::Corrupt(format!("time-to-merge state {key}: {e}")))
        })
        .transpose()
}

/// Why the running median is shown rather than the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Why {
    /// No model has been trained for the repository yet.
    NoModel,
    /// The model has not (or not yet) clearly beaten the running median on recent merges.
    NotBetter(Evidence),
}

impl Why {
    /// The reason for a fallback choice.
    pub fn of(choice: &Choice) -> Why {
        Why::NotBetter(choice.evidence())
    }

    /// The reason in words (one sentence).
    pub fn words(&self) -> String {
        match self {
            Why::NoModel => {
                "No time-to-merge model has been trained for this repository yet.".into()
            }
            Why::NotBetter(e) if e.n < MIN_PAIRS => format!(
                "Canopy's own prediction is not shown yet: it has been checked against {} merged \
                 change{} here and needs {MIN_PAIRS} to show it is more accurate than this.",
                e.n,
                if e.n == 1 { "" } else { "s" }
            ),
            Why::NotBetter(e) => format!(
                "Canopy's own prediction is not shown: on the last {} merged changes it was \
                 typically off by a factor of {:.1}, the running median by {:.1}; it is shown \
                 once it is clearly ({:.0}%) closer.",
                e.n.min(WINDOW),
                e.model_mae.exp(),
                e.median_mae.exp(),
                (1.0 - MARGIN) * 100.0
            ),
        }
    }
}

/// The model's track record when its prediction is shown (one sentence): how far off it and
/// the running median typically were on the same recent merges, the evidence that put it there.
pub fn record_words(e: &Evidence) -> String {
    format!(
        "On the last {} merged changes here Canopy's predictions were typically off by a factor of \
         {:.1}, the running median by {:.1}.",
        e.n.min(WINDOW),
        e.model_mae.exp(),
        e.median_mae.exp()
    )
}

/// `note` with the model's track record (`choice`'s evidence) after it.
pub fn with_record(note: Option<String>, choice: &Choice) -> Option<String> {
    let record = record_words(&choice.evidence());
    Some(match note {
        Some(n) => format!("{n} {record}"),
        None => record,
    })
}

/// The comment section showing the repository's running median, labelled as such.
pub fn median_view(s: &Spread, why: Why) -> TtmView {
    TtmView {
        headline: format!(
            "Half of the last {} merged changes here took under {}; 80% took {}.",
            s.n,
            duration_words(s.p50_hours),
            range_words(s.p10_hours, s.p90_hours)
        ),
        reasons: Vec::new(),
        note: Some(why.words()),
        running_median: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_models::ttm::fallback::RollingError;

    #[test]
    fn fallback_reasons_read_well() {
        let few = RollingError::seeded(&[(0.5, 1.0); 12]).choice();
        assert!(
            Why::of(&few)
                .words()
                .contains("checked against 12 merged changes"),
            "{}",
            Why::of(&few).words()
        );
        let losing = RollingError::seeded(&[(1.5, 1.4); 80]).choice();
        assert_eq!(
            Why::of(&losing).words(),
            "Canopy's own prediction is not shown: on the last 80 merged changes it was \
             typically off by a factor of 4.5, the running median by 4.1; it is shown once it is \
             clearly (5%) closer."
        );
        let v = median_view(
            &Spread {
                p10_hours: 5.0,
                p50_hours: 30.0,
                p90_hours: 216.0,
                n: 100,
            },
            Why::NoModel,
        );
        assert_eq!(
            v.headline,
            "Half of the last 100 merged changes here took under 30 hours; 80% took 5 hours – 9 days."
        );
        assert!(v.running_median && v.reasons.is_empty());
    }

    #[test]
    fn a_shown_prediction_carries_its_track_record() {
        let winning = RollingError::seeded(&[(1.0, 1.4); 250]).choice();
        assert!(winning.is_model());
        assert_eq!(
            with_record(None, &winning).as_deref(),
            Some(
                "On the last 200 merged changes here Canopy's predictions were typically off by \
                 a factor of 2.7, the running median by 4.1."
            )
        );
        // After a caveat, not in place of it.
        let both = with_record(Some("Few changes to learn from (80).".into()), &winning).unwrap();
        assert!(
            both.starts_with("Few changes to learn from (80). On the last 200"),
            "{both}"
        );
    }

    #[test]
    fn a_state_that_cannot_be_read_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = canopy_store::RedbStore::open(dir.path()).unwrap();
        assert!(load_online(&store, "o/r").unwrap().is_none());
        let mut s = OnlineState::default();
        s.aci.update(true, false);
        store
            .put_meta(&online_key("o/r"), &encode_online(&s))
            .unwrap();
        let back = load_online(&store, "o/r").unwrap().unwrap().aci;
        // (JSON may round the last digit of a level.)
        assert_eq!(back.observed, s.aci.observed);
        assert!((back.alpha_lo - s.aci.alpha_lo).abs() < 1e-12);
        assert!((back.alpha_hi - s.aci.alpha_hi).abs() < 1e-12);
        store.put_meta(&online_key("o/r"), b"{not json").unwrap();
        assert!(matches!(
            load_online(&store, "o/r"),
            Err(StoreError::Corrupt(m)) if m.contains("ttm_online_v1:o/r")
        ));
    }
}
