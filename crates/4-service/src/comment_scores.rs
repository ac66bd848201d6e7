//! Sentiment of the comments a digest or burnout run reads, scored once per comment: scores
//! are cached in the store ([`ScoreStore`]) under the model's identity and the comment's event
//! (repository, event id), so a run over 100,000 events scores only the comments it has not
//! seen before, and a new model scores everything afresh (the old model's scores are dropped
//! the first time it runs).

use std::collections::HashMap;

use anyhow::Context;
use canopy_analyzer::{Event, EventKind};
use canopy_models::sentiment::Model as Sentiment;
use canopy_store::{CachedScore, CommentKey, Store};

/// Meta key naming the model whose scores the cache holds.
const CACHE_MODEL: &str = "sentiment_cache_model";

/// What a run found in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Comments whose scores were read from the cache.
    pub cached: usize,
    /// Comments scored (and cached) by this run.
    pub scored: usize,
}

/// Scores of a set of comments, looked up by text (the analyzer's scorers take text).
pub struct CommentScores {
    model: Sentiment,
    by_text: HashMap<String, CachedScore>,
    stats: CacheStats,
}

impl CommentScores {
    /// Scores every comment among `events` with `model`, through the store's cache.
    pub fn for_events<'a>(
        store: &dyn Store,
        model: Sentiment,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> anyhow::Result<CommentScores> {
        let comments: Vec<(CommentKey<'a>, &'a str)> = events
            .into_iter()
            .filter_map(|e| match &e.kind {
                EventKind::Comment(c) => Some(((e.repo.as_str(), e.id.as_str()), c.body.as_str())),
                _ => None,
            })
            .collect();
        let identity = model.identity();
        if store.get_meta(CACHE_MODEL)?.as_deref() != Some(identity.as_bytes()) {
            let dropped = store
                .drop_scores_except(&identity)
                .context("dropping sentiment scores of an older model")?;
            store.put_meta(CACHE_MODEL, identity.as_bytes())?;
            tracing::info!(model = %identity, dropped, "sentiment score cache: new model");
        }
        let keys: Vec<CommentKey<'a>> = comments.iter().map(|c| c.0).collect();
        let cached = store
            .cached_scores(&identity, &keys)
            .context("reading cached sentiment scores")?;
        let mut by_text = HashMap::with_capacity(comments.len());
        let mut fresh: Vec<(CommentKey<'a>, CachedScore)> = Vec::new();
        for ((key, body), hit) in comments.iter().zip(cached) {
            let s = match hit {
                Some(s) => s,
                None => {
                    let s = by_text
                        .get(*body)
                        .copied()
                        .unwrap_or_else(|| score(&model, body));
                    fresh.push((*key, s));
                    s
                }
            };
            by_text.insert((*body).to_string(), s);
        }
        if !fresh.is_empty() {
            store
                .put_scores(&identity, &fresh)
                .context("caching sentiment scores")?;
        }
        let stats = CacheStats {
            cached: comments.len() - fresh.len(),
            scored: fresh.len(),
        };
        tracing::debug!(
            cached = stats.cached,
            scored = stats.scored,
            "comment scores"
        );
        Ok(CommentScores {
            model,
            by_text,
            stats,
        })
    }

    /// Scores every comment in the store (all repositories).
    pub fn for_store(store: &dyn Store, model: Sentiment) -> anyhow::Result<CommentScores> {
        let mut events = Vec::new();
        for repo in store.repos()? {
            store.scan_repo(&repo, canopy_store::TimeRange::ALL, &mut |e| {
                if matches!(e.kind, EventKind::Comment(_)) {
                    events.push(e);
                }
                std::ops::ControlFlow::Continue(())
            })?;
        }
        CommentScores::for_events(store, model, &events)
    }

    /// Probability that `text` is negative (scored now if it was not among the comments).
    pub fn negative(&self, text: &str) -> f64 {
        self.get(text).negative
    }

    /// Whether the incivility head flags `text`.
    pub fn uncivil(&self, text: &str) -> bool {
        self.get(text).uncivil
    }

    /// What the cache held.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    fn get(&self, text: &str) -> CachedScore {
        self.by_text
            .get(text)
            .copied()
            .unwrap_or_else(|| score(&self.model, text))
    }
}

fn score(model: &Sentiment, text: &str) -> CachedScore {
    let s = model.score(text);
    CachedScore {
        negative: s.negative,
        uncivil: s.uncivil,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::event::CommentEvent;
    use canopy_analyzer::{Actor, Platform};
    use canopy_store::{MetaStore, RedbStore, ScoreStore};

    fn comment(id: &str, body: &str) -> Event {
        Event::new(
            id,
            Platform::Github,
            "o/r",
            chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00+00:00").unwrap(),
            EventKind::Comment(CommentEvent::on_change(1, id, Actor::github("ann"), body)),
        )
    }

    #[test]
    fn scores_each_comment_once_and_a_new_model_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let model = Sentiment::shipped().unwrap();
        let id = model.identity();
        // An older model's scores, to be dropped when this model first runs.
        store.put_meta(CACHE_MODEL, b"tfidf-old").unwrap();
        let stale = CachedScore {
            negative: 0.5,
            uncivil: false,
        };
        store
            .put_scores("tfidf-old", &[(("o/r", "a"), stale)])
            .unwrap();
        let events = [
            comment("a", "This is wrong and breaks the build."),
            comment("b", "Thanks, looks good to me!"),
            comment("c", "Thanks, looks good to me!"),
        ];
        let cold = CommentScores::for_events(&store, model.clone(), &events).unwrap();
        assert_eq!(
            cold.stats(),
            CacheStats {
                cached: 0,
                scored: 3
            }
        );
        assert_eq!(
            store.cached_scores("tfidf-old", &[("o/r", "a")]).unwrap(),
            [None]
        );
        assert_eq!(
            store.get_meta(CACHE_MODEL).unwrap(),
            Some(id.clone().into_bytes())
        );
        let text = "This is wrong and breaks the build.";
        assert_eq!(cold.negative(text), model.probabilities(text)[0]);
        assert!(cold.negative(text) > 0.5);
        // Warm: nothing is scored, and what is read is what the cache holds.
        let marked = CachedScore {
            negative: 0.25,
            uncivil: true,
        };
        store.put_scores(&id, &[(("o/r", "a"), marked)]).unwrap();
        let warm = CommentScores::for_events(&store, model.clone(), &events).unwrap();
        assert_eq!(
            warm.stats(),
            CacheStats {
                cached: 3,
                scored: 0
            }
        );
        assert_eq!(warm.negative(text), 0.25);
        assert!(warm.uncivil(text));
        // A text that was not among the comments is scored on the spot.
        let other = "Please rename this variable.";
        assert_eq!(warm.negative(other), model.probabilities(other)[0]);
    }
}
