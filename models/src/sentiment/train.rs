//! Training: one vocabulary over all training texts, then each head's penalty (and the weight
//! of corpora other than the main one, and the incivility threshold) chosen on validation
//! texts that are not trained on.

use serde::Serialize;

use super::logreg::{self, Csr, Fit, Problem};
use super::metrics::{best_threshold, macro_f1};
use super::text::Grams;
use super::tfidf::{Vocab, VocabStats};
use super::{Head, Incivility, Label, Model, SentimentError};

/// What to train on. Validation texts are only scored, to choose settings.
#[derive(Debug, Clone, Default)]
pub struct TrainData {
    /// The main sentiment corpus (weight 1).
    pub main: Vec<(String, Label)>,
    /// Other sentiment corpora (their weight is chosen on validation).
    pub extra: Vec<(String, Label)>,
    /// Sentiment validation texts.
    pub valid: Vec<(String, Label)>,
    /// Incivility training texts (true = uncivil); empty for a model without incivility.
    pub incivility: Vec<(String, bool)>,
    /// Incivility validation texts.
    pub incivility_valid: Vec<(String, bool)>,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Candidate penalties `C` (larger = weaker L2 penalty).
    pub c_grid: Vec<f64>,
    /// Candidate weights of the extra corpora relative to the main one.
    pub extra_weights: Vec<f64>,
    /// Keep only n-grams seen in at least this many training texts.
    pub min_df: usize,
    /// L-BFGS iterations per fit, at most.
    pub max_iter: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            c_grid: vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
            extra_weights: vec![0.25, 0.5, 1.0],
            min_df: 2,
            max_iter: 300,
        }
    }
}

/// One validated setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trial {
    /// Penalty `C`.
    pub c: f64,
    /// Weight of the extra corpora (1 for incivility).
    pub extra_weight: f64,
    /// Validation figure: macro-F1 (sentiment) or F1 at the best threshold (incivility).
    pub valid: f64,
    /// Best threshold on validation (incivility only).
    pub threshold: Option<f64>,
}

/// What training did and chose.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The vocabulary.
    pub vocab: VocabStats,
    /// Sentiment settings tried, in order.
    pub sentiment: Vec<Trial>,
    /// The chosen sentiment setting.
    pub sentiment_chosen: Trial,
    /// Incivility settings tried.
    pub incivility: Vec<Trial>,
    /// The chosen incivility setting (with its threshold).
    pub incivility_chosen: Option<Trial>,
}

fn rows(vocab: &Vocab, grams: &[Grams]) -> Csr {
    let mut x = Csr::new();
    let (mut scratch, mut v) = (Vec::new(), Vec::new());
    for g in grams {
        vocab.vectorize(g, &mut scratch, &mut v);
        x.push(&v);
    }
    x
}

/// Row weights: corpus weight × balanced class weight over the weighted counts.
fn weights(y: &[usize], corpus: &[f64], classes: usize) -> Vec<f64> {
    let mut per = vec![0.0; classes];
    for (&c, &w) in y.iter().zip(corpus) {
        per[c] += w;
    }
    let total: f64 = per.iter().sum();
    y.iter()
        .zip(corpus)
        .map(|(&c, &w)| w * total / (classes as f64 * per[c].max(1e-12)))
        .collect()
}

fn head_of(fit: &Fit, classes: usize) -> Head {
    Head {
        cols: classes,
        w: fit.w.iter().map(|&v| v as f32).collect(),
        b: fit.b.iter().map(|&v| v as f32).collect(),
    }
}

struct Split {
    x: Csr,
    y: Vec<usize>,
}

fn split(vocab: &Vocab, texts: &[&str], y: Vec<usize>) -> Split {
    let g: Vec<Grams> = texts.iter().map(|t| Grams::of(t)).collect();
    Split {
        x: rows(vocab, &g),
        y,
    }
}

fn predict_all(x: &Csr, y: &[usize], fit: &Fit, classes: usize, features: usize) -> Vec<Vec<f64>> {
    let ones = vec![1.0; y.len()];
    let p = Problem {
        x,
        y,
        weight: &ones,
        classes,
        features,
    };
    (0..x.rows()).map(|i| logreg::predict(&p, fit, i)).collect()
}

/// Trains a model; `progress` hears about each fit.
// Long: vectorise, fit each head on its validation split, then report — one recipe read top
// to bottom; the fits are `choose_sentiment` and `choose_incivility` below.
pub fn train(
    data: &TrainData,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<(Model, TrainReport), SentimentError> {
    if data.main.is_empty() {
        return Err(SentimentError::Empty);
    }
    if data.valid.is_empty() || (!data.incivility.is_empty() && data.incivility_valid.is_empty()) {
        return Err(SentimentError::NoValidation);
    }
    let train_texts: Vec<&str> = (data.main.iter().chain(&data.extra))
        .map(|r| r.0.as_str())
        .chain(data.incivility.iter().map(|r| r.0.as_str()))
        .collect();
    let grams: Vec<Grams> = train_texts.iter().map(|t| Grams::of(t)).collect();
    let (vocab, stats) = Vocab::build(&grams, cfg.min_df);
    progress(&format!(
        "vocabulary: {} features from {} texts ({} n-grams seen, {} dropped for key collisions)",
        stats.features, stats.documents, stats.seen, stats.collisions
    ));
    let n_sent = data.main.len() + data.extra.len();
    let sent = Split {
        x: rows(&vocab, &grams[..n_sent]),
        y: data.main.iter().chain(&data.extra).map(|r| r.1).collect(),
    };
    let valid_texts: Vec<&str> = data.valid.iter().map(|r| r.0.as_str()).collect();
    let valid = split(
        &vocab,
        &valid_texts,
        data.valid.iter().map(|r| r.1).collect(),
    );
    let (sentiment_fit, trials) = choose_sentiment(data, cfg, &vocab, &sent, &valid, progress);
    let chosen = trials
        .iter()
        .copied()
        .fold(None::<Trial>, |b, t| match b {
            Some(b) if b.valid >= t.valid => Some(b),
            _ => Some(t),
        })
        .ok_or(SentimentError::Empty)?;
    let mut report = TrainReport {
        vocab: stats,
        sentiment: trials,
        sentiment_chosen: chosen,
        incivility: Vec::new(),
        incivility_chosen: None,
    };
    let mut incivility = None;
    if !data.incivility.is_empty() {
        let inc = Split {
            x: rows(&vocab, &grams[n_sent..]),
            y: data.incivility.iter().map(|r| usize::from(r.1)).collect(),
        };
        let (head, trials, best) =
            fit_incivility(cfg, &vocab, inc, &data.incivility_valid, progress);
        incivility = Some(head);
        report.incivility = trials;
        report.incivility_chosen = Some(best);
    }
    let model = Model {
        vocab,
        sentiment: head_of(&sentiment_fit, 3),
        incivility,
    };
    // What is shipped is what is quantised: return exactly that.
    let model = Model::from_bytes(&model.to_bytes())?;
    Ok((model, report))
}

/// Fits the incivility head on `inc` (vectorised with `vocab`), its penalty and threshold
/// chosen on `valid`.
fn fit_incivility(
    cfg: &TrainConfig,
    vocab: &Vocab,
    inc: Split,
    valid: &[(String, bool)],
    progress: &mut dyn FnMut(&str),
) -> (Incivility, Vec<Trial>, Trial) {
    let vt: Vec<&str> = valid.iter().map(|r| r.0.as_str()).collect();
    let vy = valid.iter().map(|r| usize::from(r.1)).collect();
    let (fit, trials, best) = choose_incivility(cfg, vocab, &inc, &split(vocab, &vt, vy), progress);
    // Two-class softmax → one logistic: w = w₁ − w₀.
    let head = Head {
        cols: 1,
        w: fit
            .w
            .chunks_exact(2)
            .map(|c| (c[1] - c[0]) as f32)
            .collect(),
        b: vec![(fit.b[1] - fit.b[0]) as f32],
    };
    let threshold = best.threshold.unwrap_or(0.5) as f32;
    (Incivility { head, threshold }, trials, best)
}

/// Keeps `base`'s vocabulary and sentiment head and fits a new incivility head on `data`'s
/// incivility texts (penalty and threshold chosen on its incivility validation texts): the
/// sentiment figures of `base` stay exactly what they were.
pub fn retrain_incivility(
    base: &Model,
    data: &TrainData,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<(Model, Vec<Trial>, Trial), SentimentError> {
    if data.incivility.is_empty() {
        return Err(SentimentError::Empty);
    }
    if data.incivility_valid.is_empty() {
        return Err(SentimentError::NoValidation);
    }
    let texts: Vec<&str> = data.incivility.iter().map(|r| r.0.as_str()).collect();
    let inc = split(
        &base.vocab,
        &texts,
        data.incivility.iter().map(|r| usize::from(r.1)).collect(),
    );
    progress(&format!(
        "incivility on {} texts over the base model's {} features",
        texts.len(),
        base.vocab.len()
    ));
    let (head, trials, best) =
        fit_incivility(cfg, &base.vocab, inc, &data.incivility_valid, progress);
    let model = Model {
        vocab: base.vocab.clone(),
        sentiment: base.sentiment.clone(),
        incivility: Some(head),
    };
    Ok((Model::from_bytes(&model.to_bytes())?, trials, best))
}

fn choose_sentiment(
    data: &TrainData,
    cfg: &TrainConfig,
    vocab: &Vocab,
    sent: &Split,
    valid: &Split,
    progress: &mut dyn FnMut(&str),
) -> (Fit, Vec<Trial>) {
    let extra_weights = if data.extra.is_empty() {
        vec![1.0]
    } else {
        cfg.extra_weights.clone()
    };
    let mut trials = Vec::new();
    let mut best: Option<(f64, Fit)> = None;
    for &ew in &extra_weights {
        let corpus: Vec<f64> = (0..sent.y.len())
            .map(|i| if i < data.main.len() { 1.0 } else { ew })
            .collect();
        let w = weights(&sent.y, &corpus, 3);
        let p = Problem {
            x: &sent.x,
            y: &sent.y,
            weight: &w,
            classes: 3,
            features: vocab.len(),
        };
        let mut warm: Option<Fit> = None;
        for &c in &cfg.c_grid {
            let fit = logreg::fit(&p, c, warm.as_ref(), cfg.max_iter);
            let pred: Vec<usize> = predict_all(&valid.x, &valid.y, &fit, 3, vocab.len())
                .iter()
                .map(|p| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(1))
                .collect();
            let f1 = macro_f1(&valid.y, &pred);
            progress(&format!(
                "sentiment C={c} extra weight {ew}: validation macro-F1 {f1:.4} ({} iterations)",
                fit.iterations
            ));
            trials.push(Trial {
                c,
                extra_weight: ew,
                valid: f1,
                threshold: None,
            });
            if best.as_ref().is_none_or(|b| f1 > b.0) {
                best = Some((f1, fit.clone()));
            }
            warm = Some(fit);
        }
    }
    let fit = best.map(|b| b.1).unwrap_or(Fit {
        w: vec![0.0; vocab.len() * 3],
        b: vec![0.0; 3],
        iterations: 0,
    });
    (fit, trials)
}

fn choose_incivility(
    cfg: &TrainConfig,
    vocab: &Vocab,
    inc: &Split,
    valid: &Split,
    progress: &mut dyn FnMut(&str),
) -> (Fit, Vec<Trial>, Trial) {
    let w = weights(&inc.y, &vec![1.0; inc.y.len()], 2);
    let p = Problem {
        x: &inc.x,
        y: &inc.y,
        weight: &w,
        classes: 2,
        features: vocab.len(),
    };
    let gold: Vec<bool> = valid.y.iter().map(|&v| v == 1).collect();
    let mut trials = Vec::new();
    let mut best: Option<(Trial, Fit)> = None;
    let mut warm: Option<Fit> = None;
    for &c in &cfg.c_grid {
        let fit = logreg::fit(&p, c, warm.as_ref(), cfg.max_iter);
        let score: Vec<f64> = predict_all(&valid.x, &valid.y, &fit, 2, vocab.len())
            .iter()
            .map(|p| p[1])
            .collect();
        let (threshold, f1) = best_threshold(&gold, &score);
        progress(&format!(
            "incivility C={c}: validation F1 {f1:.4} at threshold {threshold:.3} ({} iterations)",
            fit.iterations
        ));
        let t = Trial {
            c,
            extra_weight: 1.0,
            valid: f1,
            threshold: Some(threshold),
        };
        trials.push(t);
        if best.as_ref().is_none_or(|b| f1 > b.0.valid) {
            best = Some((t, fit.clone()));
        }
        warm = Some(fit);
    }
    let (t, fit) = best.unwrap_or((
        Trial {
            c: 1.0,
            extra_weight: 1.0,
            valid: 0.0,
            threshold: Some(0.5),
        },
        Fit {
            w: vec![0.0; vocab.len() * 2],
            b: vec![0.0; 2],
            iterations: 0,
        },
    ));
    (fit, trials, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize, offset: usize) -> Vec<(String, Label)> {
        let mut d = Vec::new();
        for i in offset..offset + n {
            d.push((format!("this is terrible and broken, awful work {i}"), 0));
            d.push((format!("the function returns a list of items {i}"), 1));
            d.push((format!("thanks, great work, this is excellent {i}"), 2));
        }
        d
    }

    #[test]
    fn retraining_incivility_keeps_the_sentiment_head_and_learns_the_new_label() {
        let data = TrainData {
            main: toy(20, 0),
            valid: toy(5, 200),
            ..TrainData::default()
        };
        let cfg = TrainConfig {
            c_grid: vec![1.0, 4.0],
            ..TrainConfig::default()
        };
        let (base, _) = train(&data, &cfg, &mut |_| {}).unwrap();
        assert!(!base.has_incivility());
        let mut rude = Vec::new();
        for i in 0..20 {
            rude.push((format!("this is terrible broken garbage code {i}"), true));
            rude.push((format!("the function returns a list {i}"), false));
        }
        let inc = TrainData {
            incivility: rude[..30].to_vec(),
            incivility_valid: rude[30..].to_vec(),
            ..TrainData::default()
        };
        let (m, trials, best) = retrain_incivility(&base, &inc, &cfg, &mut |_| {}).unwrap();
        assert_eq!(trials.len(), 2);
        assert!(best.valid > 0.9, "{best:?}");
        for t in ["awful and terrible", "great, thanks!", "returns a list"] {
            assert_eq!(m.probabilities(t), base.probabilities(t));
        }
        assert!(m.score("terrible garbage").uncivil);
        assert!(!m.score("returns a list").uncivil);
        assert_eq!(
            retrain_incivility(&base, &TrainData::default(), &cfg, &mut |_| {}),
            Err(SentimentError::Empty)
        );
    }

    #[test]
    fn learns_both_heads_chooses_on_validation_and_round_trips() {
        let mut uncivil = Vec::new();
        for i in 0..20 {
            uncivil.push((format!("this is stupid garbage, idiot {i}"), true));
            uncivil.push((format!("please rename this variable {i}"), false));
        }
        let data = TrainData {
            main: toy(20, 0),
            extra: toy(5, 100),
            valid: toy(5, 200),
            incivility: uncivil[..30].to_vec(),
            incivility_valid: uncivil[30..].to_vec(),
        };
        let cfg = TrainConfig {
            c_grid: vec![1.0, 4.0],
            extra_weights: vec![0.5, 1.0],
            ..TrainConfig::default()
        };
        let mut heard = 0;
        let (m, report) = train(&data, &cfg, &mut |_| heard += 1).unwrap();
        assert_eq!(report.sentiment.len(), 4);
        assert_eq!(report.incivility.len(), 2);
        assert!(heard >= 6);
        assert!(report.sentiment_chosen.valid > 0.9, "{report:?}");
        assert_eq!(m.score("awful and terrible").label, "negative");
        assert_eq!(m.score("great, thanks!").label, "positive");
        assert!(m.score("stupid garbage").uncivil);
        assert!(!m.score("please rename it").uncivil);
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        for t in ["awful", "thanks", "returns a list", "stupid"] {
            let (a, b) = (m.score(t), back.score(t));
            assert!((a.negative - b.negative).abs() < 1e-5, "{a:?} vs {b:?}");
            assert_eq!(a.uncivil, b.uncivil);
        }
        assert_eq!(Model::from_bytes(b"nope"), Err(SentimentError::Format));
        let mut bytes = m.to_bytes();
        bytes.push(0);
        assert_eq!(Model::from_bytes(&bytes), Err(SentimentError::Format));
    }

    #[test]
    fn refuses_to_train_without_validation_texts() {
        let data = TrainData {
            main: toy(3, 0),
            ..TrainData::default()
        };
        let r = train(&data, &TrainConfig::default(), &mut |_| {});
        assert_eq!(r.err(), Some(SentimentError::NoValidation));
    }
}
