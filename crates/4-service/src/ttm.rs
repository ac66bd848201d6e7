//! Time to merge inside the bot: training records from the store, models saved in the store
//! and cached in memory, each repository's history kept current as events arrive, and the
//! words of the comment section and of `/canopy explain`.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, RwLock};

use canopy_analyzer::{Event, EventKind};
use canopy_models::ttm::features::{GROUPS, N, TtmFeatures, idx};
use canopy_models::ttm::history::{RepoHistory, histories};
use canopy_models::ttm::model::MODEL_VERSION;
use canopy_models::ttm::running_median::Spread;
use canopy_models::ttm::{
    Explanation, PrRecord, Prediction, Scope, TrainConfig, TtmModel, from_log, train_for_repo,
};
use canopy_store::{EventStore, MetaStore, Store, StoreError, TimeRange};
use chrono::{DateTime, Utc};

use crate::messages::TtmView;

fn model_key(repo: &str) -> String {
    format!("ttm_model:{repo}")
}

/// The events a repository's time-to-merge history is built from (changes and reviews).
fn history_events(
    store: &dyn EventStore,
    repo: &str,
    out: &mut Vec<Event>,
) -> Result<(), StoreError> {
    store.scan_repo(repo, TimeRange::ALL, &mut |e| {
        if matches!(e.kind, EventKind::Change(_) | EventKind::Review(_)) {
            out.push(e);
        }
        ControlFlow::Continue(())
    })
}

/// Every change of every repository in the store, as training records.
pub fn history_records(store: &dyn EventStore) -> Result<Vec<PrRecord>, StoreError> {
    let mut events = Vec::new();
    for repo in store.repos()? {
        history_events(store, &repo, &mut events)?;
    }
    Ok(histories(&events)
        .into_values()
        .flat_map(|h| h.records())
        .collect())
}

/// Saves a repository's model.
pub fn save_model(store: &dyn MetaStore, repo: &str, model: &TtmModel) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(model).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.put_meta(&model_key(repo), &bytes)
}

/// Loads a repository's model, if one was trained. A model saved by an older Canopy (another
/// format version) is not used (the retrainer replaces it at startup, see [`TRAINED_AT`]); a
/// value that cannot be read at all is an error.
pub fn load_model(store: &dyn MetaStore, repo: &str) -> Result<Option<TtmModel>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let key = model_key(repo);
    let Some(bytes) = store.get_meta(&key)? else {
        return Ok(None);
    };
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt(format!("time-to-merge model {key}: {e}"));
    let v: Version = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if v.version != MODEL_VERSION {
        tracing::warn!(repo = %repo, version = v.version, expected = MODEL_VERSION, "time-to-merge model from another Canopy version; not used until retrained");
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
}

/// When the models were last trained. The key names the model format, so models of an older
/// format count as never trained and are retrained as soon as `canopy serve` starts.
const TRAINED_AT: &str = "ttm_trained_at_v3";

/// What training did for one repository.
#[derive(Debug)]
pub struct Trained {
    /// Repository.
    pub repo: String,
    /// The model saved, or why there is none.
    pub outcome: Result<TtmModel, canopy_models::ttm::TtmError>,
}

/// Trains and saves a model for every repository in the store with changes, and records when.
pub fn train_all(
    store: &dyn Store,
    min_repo: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Trained>, StoreError> {
    let all = history_records(store)?;
    // The repository's own model alone: blending its median with the shipped cross-repository
    // model was withdrawn after hold-out #8 (docs/models.md, session 11).
    let cfg = TrainConfig::default();
    let mut out = Vec::new();
    for repo in store.repos()? {
        if !all.iter().any(|x| x.repo == repo) {
            continue;
        }
        let outcome = train_for_repo(&all, &repo, min_repo, &cfg);
        if let Ok(model) = &outcome {
            save_model(store, &repo, model)?;
        }
        out.push(Trained { repo, outcome });
    }
    store.put_meta(TRAINED_AT, now.timestamp().to_string().as_bytes())?;
    Ok(out)
}

/// When the models were last trained, if ever.
pub fn last_trained(store: &dyn MetaStore) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .get_meta(TRAINED_AT)?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0)))
}

/// Models and histories in memory, for predictions in the reactor without rereading the store.
#[derive(Default)]
pub struct TtmCache {
    models: RwLock<HashMap<String, Option<Arc<TtmModel>>>>,
    histories: Mutex<HashMap<String, RepoHistory>>,
    explanations: Mutex<ExplanationMemo>,
}

/// Explanations already computed, by feature vector (bit for bit), each with the model that
/// computed it (held, so that its address is not reused while the entry exists).
type ExplanationMemo = HashMap<[u64; N], (Arc<TtmModel>, Arc<Explanation>)>;

/// Most explanations remembered; the memo starts again empty when it is full.
const EXPLANATIONS_KEPT: usize = 4096;

impl TtmCache {
    /// The model of a repository (loaded from the store once; a store error is returned and
    /// the load tried again next time).
    pub fn model(
        &self,
        store: &dyn MetaStore,
        repo: &str,
    ) -> Result<Option<Arc<TtmModel>>, StoreError> {
        if let Ok(m) = self.models.read()
            && let Some(cached) = m.get(repo)
        {
            return Ok(cached.clone());
        }
        let loaded = load_model(store, repo)?.map(Arc::new);
        if let Ok(mut m) = self.models.write() {
            m.insert(repo.to_string(), loaded.clone());
        }
        Ok(loaded)
    }

    /// Forgets the cached models, so each is loaded again from the store when next needed
    /// (after another replica trained new ones).
    pub fn forget_models(&self) {
        if let Ok(mut m) = self.models.write() {
            m.clear();
        }
    }

    /// Replaces a repository's model after training.
    pub fn set_model(&self, repo: &str, model: TtmModel) {
        if let Ok(mut m) = self.models.write() {
            m.insert(repo.to_string(), Some(Arc::new(model)));
        }
    }

    /// The model's explanation of a prediction from `f`: its exact Shapley values depend on the
    /// model and the features only, so one computed before for the same model and the same
    /// feature values (bit for bit) is returned instead of being computed again.
    pub fn explain(&self, model: &Arc<TtmModel>, f: &TtmFeatures) -> Arc<Explanation> {
        let key = f.0.map(f64::to_bits);
        if let Ok(memo) = self.explanations.lock()
            && let Some((m, e)) = memo.get(&key)
            && Arc::ptr_eq(m, model)
        {
            return e.clone();
        }
        let e = Arc::new(model.explain(f));
        if let Ok(mut memo) = self.explanations.lock() {
            if memo.len() >= EXPLANATIONS_KEPT {
                memo.clear();
            }
            memo.insert(key, (model.clone(), e.clone()));
        }
        e
    }

    /// Loads the model and the history of every repository with a trained model that are not
    /// in memory yet (when the server starts, so that the first delivery of a repository does
    /// not wait for its changes' summaries); returns how many histories it loaded.
    pub fn warm(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let mut loaded = 0;
        for repo in store.repos()? {
            if self.model(store, &repo)?.is_none() {
                continue;
            }
            let Ok(mut hs) = self.histories.lock() else {
                return Ok(loaded);
            };
            if let std::collections::hash_map::Entry::Vacant(v) = hs.entry(repo.clone()) {
                v.insert(load_history(store, &repo)?);
                loaded += 1;
            }
        }
        Ok(loaded)
    }

    /// Features of a change at `t`, from the repository's history plus `new` events, and the
    /// repository's running median then (merges before `t`).
    pub fn features_and_spread(
        &self,
        store: &dyn EventStore,
        repo: &str,
        new: &[Event],
        number: u64,
        t: DateTime<Utc>,
    ) -> Result<(TtmFeatures, Option<Spread>), StoreError> {
        let Ok(mut hs) = self.histories.lock() else {
            return Ok((TtmFeatures::default(), None));
        };
        let h = match hs.entry(repo.to_string()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(load_history(store, repo)?),
        };
        for e in new {
            h.add(e);
        }
        Ok((
            h.features_at(number, t),
            h.running_median().at(t.timestamp()),
        ))
    }
}

/// A repository's time-to-merge history from its changes' summaries, read by key.
fn load_history(store: &dyn EventStore, repo: &str) -> Result<RepoHistory, StoreError> {
    let mut summaries = Vec::new();
    store.scan_change_summaries(repo, &mut |n, s| {
        summaries.push((n, s));
        ControlFlow::Continue(())
    })?;
    Ok(RepoHistory::from_summaries(repo, summaries))
}

/// "under an hour", "5 hours", "3 days".
pub fn duration_words(hours: f64) -> String {
    let h = hours.max(0.0);
    if h < 1.0 {
        "under an hour".into()
    } else if h < 36.0 {
        let n = h.round() as u64;
        if n == 1 {
            "1 hour".into()
        } else {
            format!("{n} hours")
        }
    } else {
        let d = (h / 24.0).round() as u64;
        if d == 1 {
            "1 day".into()
        } else {
            format!("{d} days")
        }
    }
}

/// "+2 days", "−5 hours".
fn signed(hours: f64) -> String {
    let sign = if hours >= 0.0 { "+" } else { "−" };
    format!("{sign}{}", duration_words(hours.abs()))
}

/// A range in words: "1–3 days", "5 hours – 2 days".
pub fn range_words(lo: f64, hi: f64) -> String {
    let (a, b) = (duration_words(lo), duration_words(hi));
    let unit = |s: &str| {
        s.rsplit(' ')
            .next()
            .unwrap_or("")
            .trim_end_matches('s')
            .to_string()
    };
    let num = |s: &str| s.split(' ').next().unwrap_or("").to_string();
    if a == b {
        return a;
    }
    if unit(&a) == unit(&b) && !a.starts_with("under") {
        format!(
            "{}–{} {}",
            num(&a),
            num(&b),
            b.rsplit(' ').next().unwrap_or("")
        )
    } else {
        format!("{a} – {b}")
    }
}

fn thousands(n: f64) -> String {
    let s = format!("{}", n.round() as i64);
    let mut out = String::new();
    for (i, c) in s.chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out.chars().rev().collect()
}

/// What a feature group says about this change, in words.
pub fn describe(group: usize, f: &TtmFeatures, effect_hours: f64) -> String {
    let v = |i: usize| f.0[i];
    let name = GROUPS[group].0;
    match name {
        "size" if !v(idx::LINES).is_nan() => {
            let lines = v(idx::LINES).exp_m1();
            let adj = if effect_hours >= 0.0 {
                "large"
            } else {
                "small"
            };
            if v(idx::DOC_ONLY) == 1.0 {
                format!("documentation-only change ({} lines)", thousands(lines))
            } else {
                format!("{adj} change ({} lines)", thousands(lines))
            }
        }
        "author" if v(idx::FIRST_TIME) == 1.0 => "first-time contributor".into(),
        "author" if !v(idx::PRIOR).is_nan() => author_words(f),
        "backlog" if !v(idx::BACKLOG).is_nan() => {
            format!("{} other changes open", thousands(v(idx::BACKLOG)))
        }
        "pace" if !v(idx::RECENT_MEDIAN).is_nan() => pace_words(f),
        "timing" if !v(idx::HOUR).is_nan() => timing_words(f),
        "team" if !v(idx::TEAM).is_nan() => {
            format!("{} people merging lately", v(idx::TEAM) as u64)
        }
        "text" if !v(idx::TITLE_KIND).is_nan() => match v(idx::TITLE_KIND) as u8 {
            1 => "a fix, by its title".into(),
            2 => "a documentation change, by its title".into(),
            3 => "a dependency bump, by its title".into(),
            4 => "a revert, by its title".into(),
            _ => "title and description".into(),
        },
        "state" if v(idx::DRAFT) == 1.0 => "marked as draft or work in progress".into(),
        "state" => "labels".into(),
        "reviewers" if !v(idx::REVIEWERS).is_nan() => {
            let n = v(idx::REVIEWERS) as u64;
            let load = v(idx::REVIEWER_LOAD) as u64;
            if n == 0 {
                "no reviewer requested yet".into()
            } else {
                format!("{n} reviewer(s) requested, with {load} other review(s) waiting on them")
            }
        }
        other => other.to_string(),
    }
}

/// The author group in words: earlier changes, their merge rate and typical time.
fn author_words(f: &TtmFeatures) -> String {
    let v = |i: usize| f.0[i];
    let rate = v(idx::MERGE_RATE);
    let mut s = format!("author with {} earlier changes", thousands(v(idx::PRIOR)));
    if !rate.is_nan() {
        s.push_str(&format!(", {:.0}% merged", rate * 100.0));
    }
    if !v(idx::AUTHOR_MEDIAN).is_nan() {
        s.push_str(&format!(
            " (typically in {})",
            duration_words(from_log(v(idx::AUTHOR_MEDIAN)))
        ));
    }
    s
}

/// The pace group in words: the recent medians and the past week's merges.
fn pace_words(f: &TtmFeatures) -> String {
    let v = |i: usize| f.0[i];
    let mut s = format!(
        "recent changes merged in about {}",
        duration_words(from_log(v(idx::RECENT_MEDIAN)))
    );
    if !v(idx::SHORT_MEDIAN).is_nan() {
        s.push_str(&format!(
            " (the last 20 in about {}",
            duration_words(from_log(v(idx::SHORT_MEDIAN)))
        ));
        if !v(idx::MERGES_WEEK).is_nan() {
            s.push_str(&format!(
                "; {} merged in the past week",
                thousands(v(idx::MERGES_WEEK))
            ));
        }
        s.push(')');
    }
    s
}

/// The timing group in words: weekday and hour of opening.
fn timing_words(f: &TtmFeatures) -> String {
    let v = |i: usize| f.0[i];
    let day = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    .get(v(idx::WEEKDAY) as usize)
    .copied()
    .unwrap_or("");
    format!("opened {day} at {:02}:00 UTC", v(idx::HOUR) as u32)
}

/// The comment section for a prediction.
pub fn view(model: &TtmModel, f: &TtmFeatures, p: &Prediction, e: &Explanation) -> TtmView {
    // The middle 50% on the log scale from the 10/50/90 percentiles (normal approximation).
    let (l10, l50, l90) = (
        p.p10_hours.ln_1p(),
        p.p50_hours.ln_1p(),
        p.p90_hours.ln_1p(),
    );
    let k = 0.6745 / 1.2816;
    let p25 = from_log(l50 - (l50 - l10) * k);
    let p75 = from_log(l50 + (l90 - l50) * k);
    let basis = match &model.scope {
        Scope::Repository { .. } => format!(
            "based on {} earlier changes in this repository",
            thousands(model.n_merged as f64)
        ),
        Scope::Pooled { repos, .. } => format!(
            "based on {} earlier changes across {} repositories (this one has too few of its own yet)",
            thousands(model.n_merged as f64),
            repos.len()
        ),
    };
    let mut headline = format!(
        "Likely merged in {} (80% range {}), {basis}.",
        range_words(p25, p75),
        range_words(p.p10_hours, p.p90_hours)
    );
    if !p.p_merge_30d.is_nan() {
        headline.push_str(&format!(
            " Chance of merging within 30 days: {:.0}%.",
            p.p_merge_30d * 100.0
        ));
    }
    let reasons: Vec<String> = e
        .contributions
        .iter()
        .filter(|c| c.hours_effect.abs() >= 1.0)
        .take(3)
        .map(|c| {
            format!(
                "{}: {}",
                describe(c.group, f, c.hours_effect),
                signed(c.hours_effect)
            )
        })
        .collect();
    let note = (model.n_merged < 100).then(|| {
        format!(
            "Few changes to learn from ({}): treat this as a rough guide.",
            model.n_merged
        )
    });
    TtmView {
        headline,
        reasons,
        note,
        running_median: false,
    }
}

/// The full explanation for `/canopy explain`, as Markdown lines.
pub fn explanation_lines(f: &TtmFeatures, e: &Explanation) -> Vec<String> {
    let mut lines = vec![format!(
        "A typical change here (the training median on every factor) would take about {}; this one about {}.",
        duration_words(from_log(e.base_log)),
        duration_words(from_log(e.prediction_log))
    )];
    for c in &e.contributions {
        if c.log_effect == 0.0 {
            continue;
        }
        lines.push(format!(
            "- {}: {} (×{:.2} on the typical time)",
            describe(c.group, f, c.hours_effect),
            signed(c.hours_effect),
            c.log_effect.exp()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ranges_read_well() {
        assert_eq!(duration_words(0.4), "under an hour");
        assert_eq!(duration_words(5.2), "5 hours");
        assert_eq!(duration_words(60.0), "3 days");
        assert_eq!(
            range_words(26.0, 70.0),
            "1 hour – 3 days".replace("1 hour", "26 hours")
        );
        assert_eq!(range_words(40.0, 70.0), "2–3 days");
        assert_eq!(range_words(5.0, 216.0), "5 hours – 9 days");
        assert_eq!(signed(-5.0), "−5 hours");
        assert_eq!(thousands(1240.0), "1,240");
    }

    #[test]
    fn the_pace_reads_the_short_window_and_the_week_when_known() {
        let pace = GROUPS
            .iter()
            .position(|(name, _)| *name == "pace")
            .expect("a pace group");
        let mut f = TtmFeatures::default();
        f.0[idx::RECENT_MEDIAN] = 16f64.ln_1p();
        assert_eq!(
            describe(pace, &f, -3.0),
            "recent changes merged in about 16 hours"
        );
        f.0[idx::SHORT_MEDIAN] = 60f64.ln_1p();
        f.0[idx::MERGES_WEEK] = 12.0;
        assert_eq!(
            describe(pace, &f, -3.0),
            "recent changes merged in about 16 hours (the last 20 in about 3 days; 12 merged in the past week)"
        );
    }
}
