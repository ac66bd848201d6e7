//! Disengagement labels with censoring. A person-week is *eligible* when the person was active
//! in at least `min_active` of the `window` weeks ending with it (the whole window inside the
//! data); its outcome is *disengaged* when the person has no activity in the `horizon` weeks
//! after it. Only weeks whose whole horizon lies inside the data are labelled — the same rule
//! for both outcomes, so the silence at the end of a history is never read as a departure.

use serde::{Deserialize, Serialize};

/// The eligibility and outcome rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRule {
    /// Weeks looked back for eligibility, the week itself included. Default 12.
    pub window: usize,
    /// Active weeks needed within the window. Default 4.
    pub min_active: usize,
    /// Weeks of silence after the week that make it a disengagement. Default 12.
    pub horizon: usize,
}

impl Default for LabelRule {
    fn default() -> Self {
        LabelRule {
            window: 12,
            min_active: 4,
            horizon: 12,
        }
    }
}

/// What a person-week is, under a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    /// Not active enough in the window (or the window starts before the data).
    NotEligible,
    /// Eligible, but its horizon reaches past the data's end: the outcome is unknown.
    Censored,
    /// Eligible, and no activity in the whole horizon.
    Disengaged,
    /// Eligible, and active again within the horizon.
    Stayed,
}

impl Label {
    /// The outcome as a boolean (`true` = disengaged), for labelled weeks only.
    pub fn outcome(self) -> Option<bool> {
        match self {
            Label::Disengaged => Some(true),
            Label::Stayed => Some(false),
            Label::NotEligible | Label::Censored => None,
        }
    }
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// `min_active` must be between 1 and `window`.
    #[error("min_active must be between 1 and the window of {window} weeks, not {min_active}")]
    MinActive {
        /// The window.
        window: usize,
        /// The value given.
        min_active: usize,
    },
    /// The horizon must be at least one week.
    #[error("the horizon must be at least 1 week")]
    Horizon,
}

impl LabelRule {
    /// A checked rule.
    pub fn new(window: usize, min_active: usize, horizon: usize) -> Result<LabelRule, RuleError> {
        if min_active == 0 || min_active > window {
            return Err(RuleError::MinActive { window, min_active });
        }
        if horizon == 0 {
            return Err(RuleError::Horizon);
        }
        Ok(LabelRule {
            window,
            min_active,
            horizon,
        })
    }

    /// The label of every week of `active`, one person's activity over the data's whole span
    /// (index 0 = the data's first week, the last index = the data's last week).
    pub fn labels(&self, active: &[bool]) -> Vec<Label> {
        let n = active.len();
        // prefix[i] = active weeks among the first i.
        let mut prefix = Vec::with_capacity(n + 1);
        prefix.push(0usize);
        for &a in active {
            let last = prefix.last().copied().unwrap_or(0);
            prefix.push(last + usize::from(a));
        }
        (0..n)
            .map(|k| {
                if k + 1 < self.window
                    || prefix[k + 1] - prefix[k + 1 - self.window] < self.min_active
                {
                    return Label::NotEligible;
                }
                if k + self.horizon >= n {
                    return Label::Censored;
                }
                if prefix[k + 1 + self.horizon] == prefix[k + 1] {
                    Label::Disengaged
                } else {
                    Label::Stayed
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Activity from a string: `#` active, `.` quiet.
    fn act(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '#').collect()
    }

    fn rule(window: usize, min_active: usize, horizon: usize) -> LabelRule {
        LabelRule::new(window, min_active, horizon).unwrap()
    }

    #[test]
    fn default_rule_is_4_of_12_then_12_weeks() {
        assert_eq!(LabelRule::default(), rule(12, 4, 12));
        assert!(matches!(
            LabelRule::new(12, 13, 12),
            Err(RuleError::MinActive { .. })
        ));
        assert!(LabelRule::new(12, 0, 12).is_err());
        assert_eq!(LabelRule::new(12, 4, 0), Err(RuleError::Horizon));
    }

    #[test]
    fn the_datas_end_censors_both_outcomes_alike() {
        // Active every week, then silent for the last 3 weeks of the data; horizon 4.
        let a = act("######.....");
        let l = rule(4, 2, 4).labels(&a);
        // Weeks 0–2: window starts before the data.
        assert_eq!(&l[..3], &[Label::NotEligible; 3]);
        // Week 3: next 4 weeks (4–7) hold activity.
        assert_eq!(l[3], Label::Stayed);
        // Week 5, the last active week: weeks 6–9 silent, all inside the data → disengaged.
        assert_eq!(l[5], Label::Disengaged);
        // Week 6: silent since week 6, still 2 of its 4-week window active; horizon 7–10 in
        // the data (index 10 is the last week) → disengaged.
        assert_eq!(l[6], Label::Disengaged);
        // Weeks 7 onwards: their horizon reaches past the end → censored, though silent so far,
        // exactly as an active week there would be.
        assert_eq!(l[7], Label::Censored);
        let b = act("###########");
        assert_eq!(rule(4, 2, 4).labels(&b)[7], Label::Censored);
        // Week 8: its window 5–8 holds one active week.
        assert_eq!(l[8], Label::NotEligible);
    }

    #[test]
    fn a_gap_shorter_than_the_horizon_is_not_a_departure() {
        // Active, 3 quiet weeks, active again; horizon 4.
        let a = act("#####...#####");
        let l = rule(4, 2, 4).labels(&a);
        assert_eq!(l[4], Label::Stayed, "active again at week 8, inside 5–8");
        assert!(l.iter().all(|x| *x != Label::Disengaged));
    }

    #[test]
    fn returners_leave_first_and_are_eligible_again_later() {
        // Active weeks 0–4, silent 5–10, back 11–16, silent 17–22; window 4, 3 active, horizon 5.
        let a = act("#####......######......");
        let l = rule(4, 3, 5).labels(&a);
        assert_eq!(l[4], Label::Disengaged, "weeks 5–9 silent");
        assert_eq!(
            l[5],
            Label::Disengaged,
            "window 2–5 holds 3 active weeks; 6–10 silent"
        );
        assert_eq!(l[6], Label::NotEligible, "window 3–6 holds only 2");
        // Back at week 11: eligible again once 3 of the last 4 weeks are active (week 13).
        assert_eq!(l[12], Label::NotEligible);
        assert_eq!(l[13], Label::Stayed, "active in 14–16");
        assert_eq!(l[16], Label::Disengaged, "silent 17–21");
        assert_eq!(
            l[17],
            Label::Disengaged,
            "silent 18–22, the data's last week"
        );
        assert_eq!(l[18], Label::NotEligible);
    }

    #[test]
    fn one_week_wonders_are_never_eligible() {
        let a = act("....#...................");
        let l = LabelRule::default().labels(&a);
        assert!(l.iter().all(|x| *x == Label::NotEligible));
        // Three weeks are not enough under 4 of 12, four are.
        let three = act("##.#......................");
        assert!(
            LabelRule::default()
                .labels(&three)
                .iter()
                .all(|x| *x == Label::NotEligible)
        );
        let four = act("##.##.......................");
        let l = LabelRule::default().labels(&four);
        assert_eq!(l[11], Label::Disengaged, "weeks 12–23 silent");
        assert_eq!(l[10], Label::NotEligible, "window not inside the data yet");
    }

    #[test]
    fn outcome_only_for_labelled_weeks() {
        assert_eq!(Label::Disengaged.outcome(), Some(true));
        assert_eq!(Label::Stayed.outcome(), Some(false));
        assert_eq!(Label::Censored.outcome(), None);
        assert_eq!(Label::NotEligible.outcome(), None);
    }
}
