//! The evaluation suite behind `canopy sentiment eval --suite`: trains the TF-IDF model on
//! each training corpus (settings chosen on that corpus's validation texts), scores every test
//! corpus — within-corpus test splits and the held-out corpora — and any other scorer given
//! (the shipped artifact, a fine-tuned encoder), and lays the figures out as tables.

use serde::Serialize;

use super::corpus::Corpus;
use super::metrics::{GoldFigures, against_gold};
use super::train::{TrainConfig, TrainData, train};
use super::{Label, Model, Scored, SentimentError};

/// A scorer failed (not the text's fault: a model that cannot run).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("scoring failed: {0}")]
pub struct ScoreError(pub String);

/// Anything that scores texts like [`Model::score`].
pub trait Scorer {
    /// Scores of `texts`, in order.
    fn score_batch(&self, texts: &[String]) -> Result<Vec<Scored>, ScoreError>;
}

impl Scorer for Model {
    fn score_batch(&self, texts: &[String]) -> Result<Vec<Scored>, ScoreError> {
        Ok(texts.iter().map(|t| self.score(t)).collect())
    }
}

/// One figure: a model trained on one thing, tested on one corpus.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Which model ("tf-idf", "shipped", "encoder").
    pub model: String,
    /// What it was trained on.
    pub trained_on: String,
    /// The test corpus.
    pub tested_on: String,
    /// Whether the test corpus is from the same corpus family as the training data.
    pub within: bool,
    /// Texts scored.
    pub n: usize,
    /// Gold positives (binary corpora).
    pub positives: Option<usize>,
    /// What `value` is.
    pub metric: &'static str,
    /// The figure.
    pub value: f64,
    /// Its 95% bootstrap interval.
    pub ci: [f64; 2],
    /// Other figures, as text.
    pub detail: String,
}

/// A test corpus and the corpus family it belongs to.
#[derive(Debug, Clone)]
pub struct TestSet {
    /// The corpus.
    pub corpus: Corpus,
    /// Its family (a training corpus of the same family makes the figure within-corpus).
    pub family: String,
}

/// Figures of one scorer on one corpus (none for an incivility corpus when the scorer gives
/// no incivility).
// Long: one arm per kind of gold label, each its metric and the line that describes it.
pub fn rows_for(
    model: &str,
    trained_on: &str,
    families: &[String],
    scorer: &dyn Scorer,
    test: &TestSet,
) -> Result<Vec<Row>, ScoreError> {
    let c = &test.corpus;
    let scored = scorer.score_batch(&c.texts)?;
    let row = |metric, n, positives, value, ci, detail| Row {
        model: model.to_string(),
        trained_on: trained_on.to_string(),
        tested_on: c.name.clone(),
        within: families.contains(&test.family),
        n,
        positives,
        metric,
        value,
        ci,
        detail,
    };
    let Some(figures) = against_gold(&c.gold, &scored) else {
        return Ok(Vec::new());
    };
    match figures {
        GoldFigures::Polarity(e) => {
            let f = |l: &str| e.per_class[l];
            let detail = format!(
                "accuracy {:.3}; F1 neg/neu/pos {:.3}/{:.3}/{:.3}",
                e.accuracy,
                f("negative"),
                f("neutral"),
                f("positive")
            );
            Ok(vec![row(
                "macro-F1",
                e.n,
                None,
                e.macro_f1,
                e.macro_f1_ci,
                detail,
            )])
        }
        GoldFigures::Negative(b) => {
            let detail = format!(
                "P(negative) ≥ 0.5: precision {:.3}, recall {:.3}, F1 {:.3}",
                b.precision, b.recall, b.f1
            );
            Ok(vec![row(
                "AUC negative",
                b.n,
                Some(b.positives),
                b.auc,
                b.auc_ci,
                detail,
            )])
        }
        GoldFigures::Uncivil {
            flag: b,
            ranked: auc,
        } => {
            let detail = format!(
                "precision {:.3}, recall {:.3}; AUC {:.3} [{:.3}, {:.3}]",
                b.precision, b.recall, auc.auc, auc.auc_ci[0], auc.auc_ci[1]
            );
            Ok(vec![row(
                "F1 uncivil",
                b.n,
                Some(b.positives),
                b.f1,
                b.f1_ci,
                detail,
            )])
        }
    }
}

/// Why the suite could not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SuiteError {
    /// Training failed.
    #[error(transparent)]
    Train(#[from] SentimentError),
    /// A scorer failed.
    #[error(transparent)]
    Score(#[from] ScoreError),
}

/// A training recipe for the suite.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Name for tables.
    pub name: String,
    /// Corpus families it trains on.
    pub families: Vec<String>,
    /// The data.
    pub data: TrainData,
}

/// Labelled texts.
pub type Labelled = Vec<(String, Label)>;

/// Splits a polarity corpus into training and validation texts (every tenth row validates),
/// for corpora without a validation split of their own.
pub fn carve_validation(c: &Corpus) -> (Labelled, Labelled) {
    let pairs = c.polarity_pairs().unwrap_or_default();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (i, p) in pairs.into_iter().enumerate() {
        if i % 10 == 9 {
            valid.push(p);
        } else {
            train.push(p);
        }
    }
    (train, valid)
}

/// Trains each recipe and scores every test set with it and with the `others` (name, trained
/// on, families, scorer). `progress` hears about each step.
pub fn run(
    recipes: &[Recipe],
    tests: &[TestSet],
    others: &[(&str, &str, Vec<String>, &dyn Scorer)],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Row>, SuiteError> {
    let mut rows = Vec::new();
    for r in recipes {
        progress(&format!("training tf-idf on {}", r.name));
        let (m, _) = train(&r.data, cfg, progress)?;
        for t in tests {
            rows.extend(rows_for("tf-idf", &r.name, &r.families, &m, t)?);
        }
    }
    for (name, trained_on, families, scorer) in others {
        progress(&format!("scoring with {name}"));
        for t in tests {
            rows.extend(rows_for(name, trained_on, families, *scorer, t)?);
        }
    }
    Ok(rows)
}

/// The rows as two Markdown tables: within-corpus, then cross-corpus.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    for (title, within) in [
        ("Within-corpus", true),
        ("Cross-corpus (not trained on)", false),
    ] {
        out.push_str(&format!(
            "### {title}\n\n| model | trained on | tested on | n | positives | metric | value [95% CI] | details |\n|---|---|---|---:|---:|---|---:|---|\n"
        ));
        for r in rows.iter().filter(|r| r.within == within) {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.3} [{:.3}, {:.3}] | {} |\n",
                r.model,
                r.trained_on,
                r.tested_on,
                r.n,
                r.positives.map_or("—".to_string(), |p| p.to_string()),
                r.metric,
                r.value,
                r.ci[0],
                r.ci[1],
                r.detail
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::corpus::parse;

    fn corpus(name: &str, csv: &str) -> Corpus {
        parse(name, csv.as_bytes(), None).unwrap()
    }

    #[test]
    fn trains_scores_and_tables_within_and_cross_corpus() {
        let mut train_csv = String::from("text,polarity\n");
        for i in 0..20 {
            train_csv.push_str(&format!(
                "awful broken mess {i},negative\nreturns a list {i},neutral\nthanks great {i},positive\n"
            ));
        }
        let mut inc_csv = String::from("text,uncivil\n");
        for i in 0..20 {
            inc_csv.push_str(&format!("stupid idiot {i},1\nplease rename {i},0\n"));
        }
        let train_c = corpus("toy", &train_csv);
        let (tr, va) = carve_validation(&train_c);
        assert_eq!((tr.len(), va.len()), (54, 6));
        let inc = corpus("inc", &inc_csv).uncivil_pairs().unwrap();
        let recipe = Recipe {
            name: "toy train".into(),
            families: vec!["toy".into()],
            data: TrainData {
                main: tr,
                valid: va,
                incivility: inc[..30].to_vec(),
                incivility_valid: inc[30..].to_vec(),
                ..TrainData::default()
            },
        };
        let tests = vec![
            TestSet {
                corpus: corpus(
                    "toy test",
                    "text,polarity\nawful mess,negative\nreturns a list,neutral\nthanks!,positive\n",
                ),
                family: "toy".into(),
            },
            TestSet {
                corpus: corpus("reviews", "text,negative\nawful broken,1\ngreat,0\n"),
                family: "reviews".into(),
            },
            TestSet {
                corpus: corpus("toxic", "text,uncivil\nstupid idiot,1\nplease rename,0\n"),
                family: "toxic".into(),
            },
        ];
        let cfg = TrainConfig {
            c_grid: vec![4.0],
            ..TrainConfig::default()
        };
        let rows = run(&[recipe], &tests, &[], &cfg, &mut |_| {}).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].within && !rows[1].within && !rows[2].within);
        assert_eq!((rows[0].metric, rows[0].value), ("macro-F1", 1.0));
        assert_eq!((rows[1].metric, rows[1].value), ("AUC negative", 1.0));
        assert_eq!((rows[2].metric, rows[2].positives), ("F1 uncivil", Some(1)));
        let md = markdown(&rows);
        assert!(md.contains("### Within-corpus") && md.contains("### Cross-corpus"));
        assert!(
            md.contains("| tf-idf | toy train | reviews | 2 | 1 | AUC negative | 1.000"),
            "{md}"
        );
    }
}
