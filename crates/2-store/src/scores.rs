//! Cached sentiment scores of comments, so that a digest or burnout run over a large store
//! scores each comment once. A score is kept under the identity of the model that produced it
//! and the comment's event (repository, event id): a new model finds nothing under its own
//! identity and scores afresh; [`ScoreStore::drop_scores_except`] frees what older models left.

use crate::StoreError;

/// A comment's scores as cached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CachedScore {
    /// Probability that the comment is negative.
    pub negative: f64,
    /// Whether the incivility head flags it.
    pub uncivil: bool,
}

impl CachedScore {
    /// Bytes of [`CachedScore::to_bytes`].
    pub const BYTES: usize = 9;

    /// The score as stored on redb: `negative` as little-endian f64 bits, then 0 or 1.
    pub fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut b = [0u8; Self::BYTES];
        b[..8].copy_from_slice(&self.negative.to_le_bytes());
        b[8] = u8::from(self.uncivil);
        b
    }

    /// Reads [`CachedScore::to_bytes`]; `None` if the bytes are not a score.
    pub fn from_bytes(b: &[u8]) -> Option<CachedScore> {
        let (neg, flag) = (b.get(..8)?, *b.get(8)?);
        if b.len() != Self::BYTES || flag > 1 {
            return None;
        }
        let negative = f64::from_le_bytes(neg.try_into().ok()?);
        negative.is_finite().then_some(CachedScore {
            negative,
            uncivil: flag == 1,
        })
    }
}

/// A comment: its repository and event id (unique within the repository).
pub type CommentKey<'a> = (&'a str, &'a str);

/// Stores sentiment scores of comments by (model identity, repository, event id).
pub trait ScoreStore: Send + Sync {
    /// The cached scores of `comments` under `model`, one per comment in order (`None` where
    /// nothing is cached).
    fn cached_scores(
        &self,
        model: &str,
        comments: &[CommentKey<'_>],
    ) -> Result<Vec<Option<CachedScore>>, StoreError>;

    /// Caches scores under `model` in one transaction, replacing any of the same comment.
    fn put_scores(
        &self,
        model: &str,
        scores: &[(CommentKey<'_>, CachedScore)],
    ) -> Result<(), StoreError>;

    /// Drops every cached score not made by `model`; returns how many were dropped.
    fn drop_scores_except(&self, model: &str) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_round_trips_and_damaged_bytes_are_refused() {
        let s = CachedScore {
            negative: 0.125,
            uncivil: true,
        };
        assert_eq!(CachedScore::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(CachedScore::from_bytes(&s.to_bytes()[..8]), None);
        let mut b = s.to_bytes();
        b[8] = 2;
        assert_eq!(CachedScore::from_bytes(&b), None);
        assert_eq!(CachedScore::from_bytes(&f64::NAN.to_le_bytes()), None);
    }
}
