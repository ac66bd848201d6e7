//! A lenient parser of raw commit objects. Real histories hold malformed identities and dates
//! (missing emails, impossible offsets, timestamps out of range); this parser never fails on
//! them: it keeps what it can and reports what it repaired.

use canopy_analyzer::Actor;
use canopy_analyzer::event::Trailer;
use chrono::{DateTime, FixedOffset, Offset};

/// What a raw commit object says, before any diff.
#[derive(Debug, Clone, PartialEq)]
pub struct RawCommit {
    /// Root tree id in hex.
    pub tree: Option<String>,
    /// Parent ids in hex.
    pub parents: Vec<String>,
    /// Author line.
    pub author: Signature,
    /// Committer line.
    pub committer: Signature,
    /// Message (everything after the header), lossily decoded as UTF-8.
    pub message: String,
}

/// An identity line with its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// Name and email as an actor.
    pub actor: Actor,
    /// Time with the signer's offset; `None` when missing or out of range.
    pub time: Option<DateTime<FixedOffset>>,
    /// Something was malformed and repaired (bad offset, missing email brackets...).
    pub repaired: bool,
}

impl Signature {
    fn missing() -> Signature {
        Signature {
            actor: Actor::git("", ""),
            time: None,
            repaired: true,
        }
    }
}

/// Parses a raw commit object (the bytes after the object header).
pub fn parse_commit(data: &[u8]) -> RawCommit {
    let (header, message) = match find_subslice(data, b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut c = RawCommit {
        tree: None,
        parents: Vec::new(),
        author: Signature::missing(),
        committer: Signature::missing(),
        message: String::from_utf8_lossy(message).into_owned(),
    };
    for line in header.split(|b| *b == b'\n') {
        // Continuation lines (gpgsig, mergetag) start with a space.
        if line.first() == Some(&b' ') {
            continue;
        }
        let (key, value) = match line.iter().position(|b| *b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        match key {
            b"tree" => c.tree = Some(String::from_utf8_lossy(value).trim().to_string()),
            b"parent" => c
                .parents
                .push(String::from_utf8_lossy(value).trim().to_string()),
            b"author" => c.author = parse_signature(value),
            b"committer" => c.committer = parse_signature(value),
            _ => {}
        }
    }
    c
}

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses `Name <email> 1700000000 +0100`, tolerating every part being absent or malformed.
pub fn parse_signature(raw: &[u8]) -> Signature {
    let s = String::from_utf8_lossy(raw);
    let mut repaired = false;
    let (name, email, rest): (String, String, String) = match (s.find('<'), s.rfind('>')) {
        (Some(lt), Some(gt)) if lt < gt => {
            (s[..lt].into(), s[lt + 1..gt].into(), s[gt + 1..].into())
        }
        _ => {
            repaired = true;
            // No brackets: keep a trailing "secs [tz]" if present, the rest is the name.
            let tokens: Vec<&str> = s.split_whitespace().collect();
            let is_secs = |t: &&str| t.parse::<i64>().is_ok();
            let n = tokens.len();
            let split = if n >= 2 && is_secs(&tokens[n - 2]) {
                n - 2
            } else if n >= 1 && is_secs(&tokens[n - 1]) {
                n - 1
            } else {
                n
            };
            (
                tokens[..split].join(" "),
                String::new(),
                tokens[split..].join(" "),
            )
        }
    };
    let mut fields = rest.split_whitespace();
    let secs = fields.next().and_then(|x| x.parse::<i64>().ok());
    let tz = fields.next();
    let offset = match tz.map(parse_offset) {
        Some(Some(o)) => o,
        Some(None) | None => {
            repaired = true;
            utc_offset()
        }
    };
    let time = secs
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| t.with_timezone(&offset));
    if time.is_none() {
        repaired = true;
    }
    let name = name.trim();
    let email = email.trim();
    if email.is_empty() || name.is_empty() {
        repaired = true;
    }
    Signature {
        actor: Actor::git(name, email),
        time,
        repaired,
    }
}

fn utc_offset() -> FixedOffset {
    chrono::Utc.fix()
}

/// Parses `+HHMM`/`-HHMM`; `None` when malformed or beyond ±23:59.
pub fn parse_offset(tz: &str) -> Option<FixedOffset> {
    let bytes = tz.as_bytes();
    if bytes.len() != 5 || !(bytes[0] == b'+' || bytes[0] == b'-') {
        return None;
    }
    let hh: i32 = tz[1..3].parse().ok()?;
    let mm: i32 = tz[3..5].parse().ok()?;
    if mm >= 60 {
        return None;
    }
    let secs = (hh * 60 + mm) * 60;
    let secs = if bytes[0] == b'-' { -secs } else { secs };
    FixedOffset::east_opt(secs)
}

/// The first line of a message.
pub fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim()
}

/// Trailers of a message: `Key: value` lines in its last paragraph, when at least three
/// quarters of that paragraph's lines have that form (as `git interpret-trailers` requires of
/// paragraphs without a recognised git trailer). The subject alone never holds trailers.
pub fn trailers(message: &str) -> Vec<Trailer> {
    let trimmed = message.trim_end();
    let paragraphs: Vec<&str> = trimmed.split("\n\n").collect();
    if paragraphs.len() < 2 {
        return Vec::new();
    }
    let Some(last) = paragraphs.last() else {
        return Vec::new();
    };
    let mut out: Vec<Trailer> = Vec::new();
    let mut other = 0usize;
    for line in last.lines() {
        if line.starts_with([' ', '\t']) {
            // Folded continuation of the previous trailer.
            if let Some(t) = out.last_mut() {
                t.value.push(' ');
                t.value.push_str(line.trim());
            }
            continue;
        }
        match line.split_once(':') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                    && !v.trim().is_empty() =>
            {
                out.push(Trailer {
                    key: k.to_string(),
                    value: v.trim().to_string(),
                })
            }
            _ => other += 1,
        }
    }
    if out.is_empty() || other * 4 > (out.len() + other) {
        return Vec::new();
    }
    out
}

/// PR number from GitHub's merge subjects: `Merge pull request #12 from ...` or a squash
/// merge's `Title (#12)`.
pub fn merged_pr(subject: &str) -> Option<u64> {
    if let Some(rest) = subject.strip_prefix("Merge pull request #") {
        return rest
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok();
    }
    let inner = subject.trim_end().strip_suffix(')')?;
    let start = inner.rfind("(#")?;
    inner[start + 2..].parse().ok()
}

/// `Co-authored-by: Name <email>` as an actor.
pub fn co_author(value: &str) -> Actor {
    parse_signature(value.as_bytes()).actor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_normal_commit() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\
parent bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n\
author Ada Lovelace <ada@example.org> 1700000000 +0530\n\
committer Bob <bob@example.org> 1700000100 -0800\n\
gpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\
\n\
Merge pull request #42 from ada/feature\n\nBody.\n";
        let c = parse_commit(raw);
        assert_eq!(c.parents.len(), 2);
        assert_eq!(c.author.actor.key, "email:ada@example.org");
        let t = c.author.time.unwrap();
        assert_eq!(t.offset().local_minus_utc(), 5 * 3600 + 30 * 60);
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(
            c.committer.time.unwrap().offset().local_minus_utc(),
            -8 * 3600
        );
        assert!(!c.author.repaired);
        assert_eq!(merged_pr(subject(&c.message)), Some(42));
    }

    #[test]
    fn repairs_malformed_identities_and_dates() {
        // No email brackets at all.
        let s = parse_signature(b"Just A Name 1700000000 +0000");
        assert!(s.repaired);
        assert_eq!(s.actor.key, "name:just a name");
        assert!(s.time.is_some());
        // Empty email, impossible offset.
        let s = parse_signature(b"Ann <> 1700000000 +9999");
        assert!(s.repaired);
        assert_eq!(s.time.unwrap().offset().local_minus_utc(), 0);
        // Timestamp far out of range and a missing zone.
        let s = parse_signature(b"Ann <ann@x> 99999999999999999999");
        assert!(s.repaired && s.time.is_none());
        // Nothing at all.
        let s = parse_signature(b"");
        assert!(s.repaired && s.actor.is_unknown());
        // Non-UTF-8 bytes in the name.
        let s = parse_signature(b"J\xf6rg <jorg@example.org> 1700000000 +0100");
        assert_eq!(s.actor.key, "email:jorg@example.org");
    }

    #[test]
    fn finds_trailers_only_in_a_trailer_paragraph() {
        let msg = "Fix the thing\n\nLonger text: with a colon in prose\nthat goes on.\n\nChange-Id: I0123456789abcdef0123456789abcdef01234567\nCo-authored-by: Bob <bob@example.org>\nSigned-off-by: Ada <ada@example.org>\n";
        let t = trailers(msg);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].key, "Change-Id");
        assert_eq!(co_author(&t[1].value).key, "email:bob@example.org");
        assert!(trailers("Subject: with colon").is_empty());
        assert!(trailers("Subject\n\nJust prose here.\nAnd: one line like a trailer\nand more prose\nand more").is_empty());
    }

    #[test]
    fn squash_merge_subjects_name_their_pr() {
        assert_eq!(merged_pr("Add feature (#1234)"), Some(1234));
        assert_eq!(merged_pr("Add feature (#abc)"), None);
        assert_eq!(merged_pr("Plain commit"), None);
    }
}
