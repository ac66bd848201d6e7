//! Text preparation for sentiment: code, stack traces, quoted replies and URLs are removed
//! before scoring (they carry no sentiment of the writer and drown the words that do), then
//! hashed word and character n-grams.

/// Removes fenced and inline code, quoted lines (`> ...`), stack-trace lines, URLs and
/// @-mentions; lowercases.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || t.starts_with('>') || is_trace_line(t) {
            continue;
        }
        let mut in_code = false;
        for word in line.split_inclusive('`') {
            let w = word.strip_suffix('`');
            let body = w.unwrap_or(word);
            if !in_code {
                out.push_str(body);
                out.push(' ');
            }
            if w.is_some() {
                in_code = !in_code;
            }
        }
        out.push('\n');
    }
    let mut cleaned = String::with_capacity(out.len());
    for tok in out.split_whitespace() {
        let lower = tok.to_lowercase();
        if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
        {
            cleaned.push_str(" url");
        } else if lower.starts_with('@') && lower.len() > 1 {
            cleaned.push_str(" @user");
        } else {
            cleaned.push(' ');
            cleaned.push_str(&lower);
        }
    }
    cleaned.trim().to_string()
}

fn is_trace_line(t: &str) -> bool {
    (t.starts_with("at ") && t.contains('(') && t.contains(')'))
        || t.starts_with("Traceback (most recent call last)")
        || (t.starts_with("File \"") && t.contains(", line "))
        || t.starts_with("Caused by: ")
        || (t.starts_with("thread '") && t.contains("panicked at"))
}

/// Words: runs of letters, digits and apostrophes; punctuation that carries tone (`!`, `?`,
/// `:)`-style smileys) kept as tokens.
pub fn words(clean: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = clean.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '\'' || c == '@' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if c == '!' || c == '?' {
                out.push(c.to_string());
            } else if (c == ':' || c == ';')
                && i + 1 < chars.len()
                && matches!(chars[i + 1], ')' | '(' | 'd' | 'p' | '/')
            {
                out.push(format!("{c}{}", chars[i + 1]));
                i += 1;
            }
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// FNV-1a, 64-bit, continued from `h` (start with [`fnv_start`]): a stable hash for feature
/// keys (the artifact depends on it).
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The FNV-1a offset basis, mixed with a family seed.
pub fn fnv_start(seed: u64) -> u64 {
    0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Folds a 64-bit n-gram hash to the 32-bit key stored in the artifact.
pub fn key(h: u64) -> u32 {
    ((h >> 32) ^ h) as u32
}

const WORD_SEED: u64 = 1;
const BIGRAM_SEED: u64 = 2;
const CHAR_SEED: u64 = 3;

/// The 64-bit n-gram hashes of one text, by family (each family is normalised on its own).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Grams {
    /// Word 1- and 2-grams.
    pub word: Vec<u64>,
    /// Character 2–5-grams inside words padded with a space each side.
    pub char: Vec<u64>,
}

/// Number of characters in the shortest and longest character n-gram.
pub const CHAR_N: (usize, usize) = (2, 5);

impl Grams {
    /// The hashes of `text` (cleaned with [`clean`], split with [`words`]), with repeats.
    pub fn of(text: &str) -> Grams {
        let mut g = Grams::default();
        g.fill(text);
        g
    }

    /// Refills `self` with the hashes of `text`, reusing its buffers.
    pub fn fill(&mut self, text: &str) {
        self.word.clear();
        self.char.clear();
        let cleaned = clean(text);
        let ws = words(&cleaned);
        let mut buf = [0u8; 4];
        let mut chars: Vec<char> = Vec::new();
        for (i, w) in ws.iter().enumerate() {
            self.word.push(fnv(fnv_start(WORD_SEED), w.as_bytes()));
            if let Some(next) = ws.get(i + 1) {
                let h = fnv(fnv(fnv_start(BIGRAM_SEED), w.as_bytes()), b" ");
                self.word.push(fnv(h, next.as_bytes()));
            }
        }
        for w in cleaned.split_whitespace() {
            chars.clear();
            chars.push(' ');
            chars.extend(w.chars());
            chars.push(' ');
            for start in 0..chars.len() {
                let mut h = fnv_start(CHAR_SEED);
                for (n, c) in chars[start..].iter().take(CHAR_N.1).enumerate() {
                    h = if c.is_ascii() {
                        fnv(h, &[*c as u8])
                    } else {
                        fnv(h, c.encode_utf8(&mut buf).as_bytes())
                    };
                    if n + 1 >= CHAR_N.0 {
                        self.char.push(h);
                    }
                }
            }
        }
    }

    /// The word n-gram hashes with the text each stands for (for inspecting a model).
    pub fn named(text: &str) -> Vec<(u64, String)> {
        let ws = words(&clean(text));
        let mut out = Vec::new();
        for (i, w) in ws.iter().enumerate() {
            out.push((fnv(fnv_start(WORD_SEED), w.as_bytes()), w.clone()));
            if let Some(next) = ws.get(i + 1) {
                let h = fnv(fnv(fnv_start(BIGRAM_SEED), w.as_bytes()), b" ");
                out.push((fnv(h, next.as_bytes()), format!("{w} {next}")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_quotes_traces_and_links_are_removed() {
        let t = "> you broke it\nThis is `fn terrible()` fine!\n```\npanic!(\"awful\")\n```\n  at com.x.Y.z(Y.java:10)\nsee https://x.org/a @bob";
        assert_eq!(clean(t), "this is fine! see url @user");
        assert_eq!(
            words("this is fine! :) ok"),
            ["this", "is", "fine", "!", ":)", "ok"]
        );
    }

    #[test]
    fn grams_are_stable_and_cover_words_bigrams_and_padded_characters() {
        let a = Grams::of("Thanks, great work!");
        assert_eq!(a, Grams::of("THANKS,   great\nwork!"));
        let spaced = Grams::of("thanks great work !");
        assert_eq!(a.word, spaced.word);
        // Character n-grams run over whitespace tokens: "work!" keeps its "k!" n-gram.
        assert_ne!(a.char, spaced.char);
        // thanks, great, work, ! and three bigrams between four tokens.
        assert_eq!(a.word.len(), 7);
        // " ab " has 3 + 2 + 1 character n-grams of length 2..=4 (no 5-gram fits).
        assert_eq!(Grams::of("ab").char.len(), 6);
        assert!(Grams::of("```\ncode only\n```").word.is_empty());
        let named = Grams::named("great work");
        assert_eq!(named[1].1, "great work");
        assert!(a.word.contains(&named[1].0));
    }
}
