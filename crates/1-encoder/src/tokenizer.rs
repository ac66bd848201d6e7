//! BERT's uncased WordPiece tokenizer: clean control characters, lowercase and strip common
//! Latin accents, split on whitespace and punctuation (and around CJK ideographs), then
//! greedy longest-match word pieces (`##` continuations), wrapped in `[CLS] … [SEP]`.
//!
//! Accent stripping covers Latin-1 and Latin Extended-A by table rather than full Unicode
//! decomposition; texts are developer comments, so the rest is rare, and the same tokenizer
//! is used for fine-tuning and scoring.

use std::collections::HashMap;

/// Why a vocabulary could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VocabError {
    /// A special token is missing.
    #[error("the vocabulary has no {0} token")]
    Missing(&'static str),
    /// `tokenizer.json` is not a WordPiece tokenizer.
    #[error("tokenizer.json: {0}")]
    Json(String),
}

/// A WordPiece tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    tokens: Vec<String>,
    cls: u32,
    sep: u32,
    unk: u32,
    pad: u32,
}

const ACCENTED: &str = "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽž";
const PLAIN: &str = "AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOOooooooUUUUuuuuYyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZz";

fn strip_accent(c: char) -> char {
    ACCENTED
        .chars()
        .position(|a| a == c)
        .and_then(|i| PLAIN.chars().nth(i))
        .unwrap_or(c)
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || ('\u{2000}'..='\u{206F}').contains(&c)
        || ('\u{3000}'..='\u{303F}').contains(&c)
        || matches!(c, '¡' | '¿' | '«' | '»' | '§' | '¶' | '·')
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
}

impl Tokenizer {
    /// A tokenizer over `tokens` (the id of a token is its position).
    pub fn new(tokens: Vec<String>) -> Result<Tokenizer, VocabError> {
        let vocab: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let id = |t: &'static str| vocab.get(t).copied().ok_or(VocabError::Missing(t));
        Ok(Tokenizer {
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            unk: id("[UNK]")?,
            pad: id("[PAD]")?,
            vocab,
            tokens,
        })
    }

    /// Reads `vocab.txt` (one token a line).
    pub fn from_vocab_txt(text: &str) -> Result<Tokenizer, VocabError> {
        Tokenizer::new(text.lines().map(str::to_string).collect())
    }

    /// Reads the vocabulary of a Hugging Face `tokenizer.json` (WordPiece model).
    pub fn from_tokenizer_json(text: &str) -> Result<Tokenizer, VocabError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| VocabError::Json(e.to_string()))?;
        let map = v["model"]["vocab"]
            .as_object()
            .ok_or_else(|| VocabError::Json("no model.vocab object".into()))?;
        let mut tokens = vec![String::new(); map.len()];
        for (t, id) in map {
            let i = id
                .as_u64()
                .filter(|&i| (i as usize) < tokens.len())
                .ok_or_else(|| VocabError::Json(format!("bad id for {t:?}")))?;
            tokens[i as usize] = t.clone();
        }
        Tokenizer::new(tokens)
    }

    /// The vocabulary as `vocab.txt`.
    pub fn to_vocab_txt(&self) -> String {
        let mut s = self.tokens.join("\n");
        s.push('\n');
        s
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The padding id.
    pub fn pad(&self) -> u32 {
        self.pad
    }

    /// Normalised words and punctuation of a text.
    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in text.chars() {
            if c == '\u{0}' || c == '\u{FFFD}' || (c.is_control() && !c.is_whitespace()) {
                continue;
            }
            if c.is_whitespace() || is_punctuation(c) || is_cjk(c) {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if !c.is_whitespace() {
                    out.push(c.to_string());
                }
                continue;
            }
            for l in c.to_lowercase() {
                cur.push(strip_accent(l));
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    fn pieces(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > 100 {
            out.push(self.unk);
            return;
        }
        let mut start = 0;
        let mut ids = Vec::new();
        while start < chars.len() {
            let mut end = chars.len();
            let found = loop {
                if end <= start {
                    break None;
                }
                let mut s: String = chars[start..end].iter().collect();
                if start > 0 {
                    s.insert_str(0, "##");
                }
                if let Some(&id) = self.vocab.get(&s) {
                    break Some(id);
                }
                end -= 1;
            };
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    out.push(self.unk);
                    return;
                }
            }
        }
        out.extend(ids);
    }

    /// Token ids of `text`: `[CLS]`, at most `max_len - 2` word pieces, `[SEP]`.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        let mut pieces = Vec::new();
        for w in Tokenizer::words(text) {
            self.pieces(&w, &mut pieces);
            if pieces.len() >= max_len.saturating_sub(2) {
                break;
            }
        }
        pieces.truncate(max_len.saturating_sub(2));
        ids.extend(pieces);
        ids.push(self.sep);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Tokenizer {
        let v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthis\nis\nwrong\n!\nun\n##believ\n##able\ncafe\n,\n";
        Tokenizer::from_vocab_txt(v).unwrap()
    }

    #[test]
    fn splits_punctuation_lowercases_strips_accents_and_finds_word_pieces() {
        let t = tok();
        assert_eq!(t.encode("This is WRONG!", 16), vec![2, 4, 5, 6, 7, 3]);
        assert_eq!(
            t.encode("unbelievable, café", 16),
            vec![2, 8, 9, 10, 12, 11, 3]
        );
        // An unknown word is one [UNK]; truncation keeps [CLS] and [SEP].
        assert_eq!(t.encode("zzz this", 16), vec![2, 1, 4, 3]);
        assert_eq!(t.encode("this is wrong", 4), vec![2, 4, 5, 3]);
        assert_eq!(ACCENTED.chars().count(), PLAIN.chars().count());
    }

    #[test]
    fn reads_tokenizer_json_and_round_trips_vocab_txt() {
        let j = r#"{"model":{"type":"WordPiece","vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"ok":4}}}"#;
        let t = Tokenizer::from_tokenizer_json(j).unwrap();
        assert_eq!(t.encode("OK", 8), vec![2, 4, 3]);
        let back = Tokenizer::from_vocab_txt(&t.to_vocab_txt()).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(
            Tokenizer::from_vocab_txt("a\nb\n").unwrap_err(),
            VocabError::Missing("[CLS]")
        );
    }
}
