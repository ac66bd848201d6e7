//! TF-IDF over an explicit vocabulary of word and character n-grams. Each n-gram is known by
//! a 32-bit key folded from its 64-bit hash; when two kept n-grams fold to the same key both
//! are dropped at training time, so no two features share a weight. A text's vector is
//! sublinear term frequency × smoothed IDF, L2-normalised per family (as scikit-learn's
//! `TfidfVectorizer(sublinear_tf=True)` on each family, stacked).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::text::{Grams, key};

/// A hasher for keys that are already hashes: spreads them with one multiplication.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type KeyMap<V> = HashMap<u32, V, BuildHasherDefault<KeyHasher>>;

/// The vocabulary: sorted keys, their IDF, and an index for lookups.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    keys: Vec<u32>,
    idf: Vec<f32>,
    index: KeyMap<u32>,
}

/// How a vocabulary was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VocabStats {
    /// Documents it was built from.
    pub documents: usize,
    /// Distinct n-grams seen.
    pub seen: usize,
    /// Kept (seen in at least `min_df` documents, no key collision).
    pub features: usize,
    /// N-grams dropped because another kept n-gram folded to the same key.
    pub collisions: usize,
}

/// Smoothed inverse document frequency, as scikit-learn's `smooth_idf=True`.
pub fn idf(documents: usize, df: usize) -> f32 {
    (((1 + documents) as f64 / (1 + df) as f64).ln() + 1.0) as f32
}

impl Vocab {
    /// The n-grams seen in at least `min_df` of `docs`, with their IDF.
    pub fn build(docs: &[Grams], min_df: usize) -> (Vocab, VocabStats) {
        let mut df: HashMap<u64, u32> = HashMap::new();
        let mut seen_here: Vec<u64> = Vec::new();
        for g in docs {
            seen_here.clear();
            seen_here.extend(g.word.iter().chain(&g.char));
            seen_here.sort_unstable();
            seen_here.dedup();
            for h in &seen_here {
                *df.entry(*h).or_default() += 1;
            }
        }
        let seen = df.len();
        let mut by_key: KeyMap<(u64, u32, u32)> = KeyMap::default();
        for (h, d) in df.into_iter().filter(|(_, d)| *d as usize >= min_df.max(1)) {
            let e = by_key.entry(key(h)).or_insert((h, d, 0));
            if e.0 != h {
                e.2 += 1;
            }
        }
        let collisions = by_key
            .values()
            .filter(|e| e.2 > 0)
            .map(|e| e.2 + 1)
            .sum::<u32>();
        let mut kept: Vec<(u32, u32)> = by_key
            .into_iter()
            .filter(|(_, e)| e.2 == 0)
            .map(|(k, e)| (k, e.1))
            .collect();
        kept.sort_unstable();
        let n = docs.len();
        let vocab = Vocab::new(
            kept.iter().map(|p| p.0).collect(),
            kept.iter().map(|p| idf(n, p.1 as usize)).collect(),
        );
        let stats = VocabStats {
            documents: n,
            seen,
            features: vocab.len(),
            collisions: collisions as usize,
        };
        (vocab, stats)
    }

    /// A vocabulary from sorted, distinct keys and their IDF (same length).
    pub fn new(keys: Vec<u32>, idf: Vec<f32>) -> Vocab {
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]) && keys.len() == idf.len());
        let mut index = KeyMap::default();
        index.reserve(keys.len());
        for (i, k) in keys.iter().enumerate() {
            index.insert(*k, i as u32);
        }
        Vocab { keys, idf, index }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no features.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The sorted keys.
    pub fn keys(&self) -> &[u32] {
        &self.keys
    }

    /// IDF by feature index.
    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    /// The feature index of an n-gram hash, if it is in the vocabulary.
    pub fn index_of(&self, h: u64) -> Option<u32> {
        self.index.get(&key(h)).copied()
    }

    /// The TF-IDF vector of a text's n-grams as (feature index, value), into `out` (cleared);
    /// `scratch` is reused between calls.
    pub fn vectorize(&self, g: &Grams, scratch: &mut Vec<u32>, out: &mut Vec<(u32, f32)>) {
        out.clear();
        for family in [&g.word, &g.char] {
            scratch.clear();
            scratch.extend(family.iter().filter_map(|h| self.index_of(*h)));
            scratch.sort_unstable();
            let from = out.len();
            let mut i = 0;
            while i < scratch.len() {
                let f = scratch[i];
                let run = scratch[i..].iter().take_while(|&&x| x == f).count();
                out.push((f, (1.0 + (run as f32).ln()) * self.idf[f as usize]));
                i += run;
            }
            let norm = out[from..].iter().map(|p| p.1 * p.1).sum::<f32>().sqrt();
            if norm > 0.0 {
                for p in &mut out[from..] {
                    p.1 /= norm;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ngrams_by_document_frequency_with_smoothed_idf() {
        let docs: Vec<Grams> = ["great work", "great idea", "odd"]
            .iter()
            .map(|t| Grams::of(t))
            .collect();
        let (v, stats) = Vocab::build(&docs, 2);
        assert_eq!(stats.documents, 3);
        assert_eq!(stats.collisions, 0);
        let great = Grams::named("great")[0].0;
        let work = Grams::named("work")[0].0;
        let i = v.index_of(great).expect("great is in two documents");
        assert!(v.index_of(work).is_none(), "work is in one document only");
        assert!((v.idf()[i as usize] - idf(3, 2)).abs() < 1e-6);
        assert!((idf(3, 2) - ((4.0f32 / 3.0).ln() + 1.0)).abs() < 1e-6);
        // Both families are unit length.
        let (mut s, mut out) = (Vec::new(), Vec::new());
        v.vectorize(&Grams::of("great great idea"), &mut s, &mut out);
        let total: f32 = out.iter().map(|p| p.1 * p.1).sum();
        assert!((total - 2.0).abs() < 1e-4, "{total}");
        assert!(out.iter().any(|p| p.0 == i));
    }
}
