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

/// FNV-1a, 64-bit: a stable hash for feature buckets (the artifact depends on it).
pub fn fnv(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Hashed features of a text: word 1–2-grams and character 2–5-grams inside words, with
/// sublinear term frequency, each family L2-normalised. Returns (bucket, value) pairs.
pub fn features(text: &str, buckets: u32) -> Vec<(u32, f32)> {
    let c = clean(text);
    let ws = words(&c);
    let mut word_f: std::collections::HashMap<u32, f32> = std::collections::HashMap::new();
    let add = |m: &mut std::collections::HashMap<u32, f32>, key: &[u8], seed: u64| {
        *m.entry((fnv(key, seed) % u64::from(buckets)) as u32)
            .or_default() += 1.0;
    };
    for (i, w) in ws.iter().enumerate() {
        add(&mut word_f, w.as_bytes(), 1);
        if i + 1 < ws.len() {
            add(&mut word_f, format!("{w} {}", ws[i + 1]).as_bytes(), 2);
        }
    }
    let mut char_f = std::collections::HashMap::new();
    for w in &ws {
        let padded: Vec<char> = format!(" {w} ").chars().collect();
        for n in 2..=5 {
            if padded.len() < n {
                continue;
            }
            for win in padded.windows(n) {
                let s: String = win.iter().collect();
                add(&mut char_f, s.as_bytes(), 3);
            }
        }
    }
    let mut out = Vec::with_capacity(word_f.len() + char_f.len());
    for m in [word_f, char_f] {
        let norm: f32 = m
            .values()
            .map(|v| (1.0 + v.ln()).powi(2))
            .sum::<f32>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        for (k, v) in m {
            out.push((k, (1.0 + v.ln()) / norm));
        }
    }
    out.sort_unstable_by_key(|p| p.0);
    // Collisions between families add up.
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(out.len());
    for (k, v) in out {
        match merged.last_mut() {
            Some(last) if last.0 == k => last.1 += v,
            _ => merged.push((k, v)),
        }
    }
    merged
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
    fn features_are_stable_and_normalised() {
        let a = features("Thanks, great work!", 1 << 20);
        let b = features("Thanks, great work!", 1 << 20);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(features("```\ncode only\n```", 1 << 20).is_empty());
    }
}
