//! Labelled corpora as CSV bytes (the caller reads the file): a `text` column and one gold
//! column — `polarity` (negative / neutral / positive), `negative` (1/0: negative or not) or
//! `uncivil` (1/0) — and optionally `id` and a split column (`split_zhang2023` or `split`).

use std::collections::BTreeMap;

use super::{Label, label};

/// The gold labels of a corpus.
#[derive(Debug, Clone, PartialEq)]
pub enum Gold {
    /// Three-class polarity.
    Polarity(Vec<Label>),
    /// Negative or not.
    Negative(Vec<bool>),
    /// Uncivil (toxic) or not.
    Uncivil(Vec<bool>),
}

impl Gold {
    /// The gold column's name.
    pub fn column(&self) -> &'static str {
        match self {
            Gold::Polarity(_) => "polarity",
            Gold::Negative(_) => "negative",
            Gold::Uncivil(_) => "uncivil",
        }
    }
}

/// A labelled corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    /// Short name for tables.
    pub name: String,
    /// Row ids (the `id` column, or the row number).
    pub ids: Vec<String>,
    /// Texts.
    pub texts: Vec<String>,
    /// Gold labels, one per text.
    pub gold: Gold,
    /// Rows kept per value of the split column (empty without one).
    pub splits: BTreeMap<String, usize>,
}

/// Why a corpus could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorpusError {
    /// Not CSV, or a broken row.
    #[error("row {row}: {message}")]
    Csv {
        /// 1-based line of the row (the header is line 1).
        row: usize,
        /// What the CSV reader said.
        message: String,
    },
    /// No text or gold column.
    #[error(
        "needs `text` and `polarity` columns (or `negative` / `uncivil` 1/0 for a binary label); found {found}"
    )]
    Columns {
        /// The header found.
        found: String,
    },
    /// A split was asked for but there is no split column.
    #[error("--split given but the file has no split column (`split_zhang2023` or `split`)")]
    NoSplit,
    /// A gold value that is not allowed.
    #[error("row {row}: {source}")]
    Label {
        /// 1-based line of the row.
        row: usize,
        /// What was wrong.
        source: super::SentimentError,
    },
    /// A binary gold value that is not 0 or 1.
    #[error("row {row}: {column} must be 0 or 1, found {value:?}")]
    Binary {
        /// 1-based line of the row.
        row: usize,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// No rows (in the split asked for).
    #[error("no rows{0}")]
    Empty(String),
}

fn flag(v: &str, row: usize, column: &'static str) -> Result<bool, CorpusError> {
    match v.trim() {
        "1" | "1.0" | "true" | "yes" | "y" => Ok(true),
        "0" | "0.0" | "false" | "no" | "n" => Ok(false),
        _ => Err(CorpusError::Binary {
            row,
            column,
            value: v.to_string(),
        }),
    }
}

/// Parses a labelled CSV, keeping only rows of `split` if given.
pub fn parse(name: &str, csv_bytes: &[u8], split: Option<&str>) -> Result<Corpus, CorpusError> {
    let mut rdr = csv::Reader::from_reader(csv_bytes);
    let h = rdr
        .headers()
        .map_err(|e| CorpusError::Csv {
            row: 1,
            message: e.to_string(),
        })?
        .clone();
    let col = |n: &str| h.iter().position(|x| x == n);
    let gold_col = ["polarity", "negative", "uncivil"]
        .into_iter()
        .find_map(|n| col(n).map(|i| (n, i)));
    let (Some(t), Some((kind, g))) = (col("text"), gold_col) else {
        return Err(CorpusError::Columns {
            found: h.iter().collect::<Vec<_>>().join(", "),
        });
    };
    let s = col("split_zhang2023").or_else(|| col("split"));
    if split.is_some() && s.is_none() {
        return Err(CorpusError::NoSplit);
    }
    let id = col("id");
    let (mut ids, mut texts, mut pol, mut bin) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut splits: BTreeMap<String, usize> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| CorpusError::Csv {
            row,
            message: e.to_string(),
        })?;
        if let (Some(want), Some(s)) = (split, s)
            && rec.get(s) != Some(want)
        {
            continue;
        }
        let value = rec.get(g).unwrap_or("");
        match kind {
            "polarity" => {
                pol.push(label(value).map_err(|source| CorpusError::Label { row, source })?)
            }
            "negative" => bin.push(flag(value, row, "negative")?),
            _ => bin.push(flag(value, row, "uncivil")?),
        }
        ids.push(
            id.and_then(|c| rec.get(c))
                .map_or_else(|| format!("row{row}"), str::to_string),
        );
        texts.push(rec.get(t).unwrap_or("").to_string());
        if let Some(v) = s.and_then(|c| rec.get(c)) {
            *splits.entry(v.to_string()).or_default() += 1;
        }
    }
    if texts.is_empty() {
        return Err(CorpusError::Empty(
            split
                .map(|s| format!(" in split {s:?}"))
                .unwrap_or_default(),
        ));
    }
    let gold = match kind {
        "polarity" => Gold::Polarity(pol),
        "negative" => Gold::Negative(bin),
        _ => Gold::Uncivil(bin),
    };
    Ok(Corpus {
        name: name.to_string(),
        ids,
        texts,
        gold,
        splits,
    })
}

impl Corpus {
    /// (text, label) pairs of a polarity corpus; `None` for a binary one.
    pub fn polarity_pairs(&self) -> Option<Vec<(String, Label)>> {
        match &self.gold {
            Gold::Polarity(y) => Some(self.texts.iter().cloned().zip(y.iter().copied()).collect()),
            _ => None,
        }
    }

    /// (text, uncivil) pairs of an incivility corpus; `None` otherwise.
    pub fn uncivil_pairs(&self) -> Option<Vec<(String, bool)>> {
        match &self.gold {
            Gold::Uncivil(y) => Some(self.texts.iter().cloned().zip(y.iter().copied()).collect()),
            _ => None,
        }
    }

    /// Rows a model may have learned from or been tuned on: those of the `train` and `valid`
    /// (or `dev`, `validation`) splits, as the shipped model was on its corpora.
    pub fn training_rows(&self) -> usize {
        ["train", "valid", "dev", "validation"]
            .iter()
            .filter_map(|k| self.splits.get(*k))
            .sum()
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are no texts.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_gold_kind_and_names_what_is_wrong() {
        let c = parse(
            "g",
            b"id,polarity,text,split\n1,positive,great,train\n2,negative,bad,test\n",
            Some("test"),
        )
        .unwrap();
        assert_eq!(c.gold, Gold::Polarity(vec![0]));
        assert_eq!(c.training_rows(), 0);
        let all = parse(
            "g",
            b"polarity,text,split\npositive,a,train\nneutral,b,valid\nnegative,c,test\n",
            None,
        )
        .unwrap();
        assert_eq!(all.training_rows(), 2);
        assert_eq!(all.splits.get("test"), Some(&1));
        assert_eq!((c.ids[0].as_str(), c.texts[0].as_str()), ("2", "bad"));
        let n = parse("n", b"negative,text\n1,awful\n0,fine\n", None).unwrap();
        assert_eq!(n.gold, Gold::Negative(vec![true, false]));
        assert_eq!(n.ids[1], "row3");
        let u = parse("u", b"text,uncivil\nidiot,1\n", None).unwrap();
        assert_eq!(
            u.uncivil_pairs().unwrap(),
            vec![("idiot".to_string(), true)]
        );
        let e = parse("x", b"words\nhello\n", None).unwrap_err();
        assert!(
            e.to_string()
                .contains("needs `text` and `polarity` columns"),
            "{e}"
        );
        let e = parse("x", b"text,uncivil\nhm,maybe\n", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 2: uncivil must be 0 or 1, found \"maybe\""
        );
        let e = parse("x", b"text,polarity\nhm,angry\n", None).unwrap_err();
        assert!(e.to_string().starts_with("row 2: unknown label"), "{e}");
        assert_eq!(
            parse("x", b"text,polarity\n", Some("test")),
            Err(CorpusError::NoSplit)
        );
        assert_eq!(
            parse("x", b"text,polarity\n", None),
            Err(CorpusError::Empty(String::new()))
        );
    }
}
