//! The model artifact: a compact little-endian binary.
//!
//! ```text
//! "CNPS" | version u32 = 2 | features u32
//! keys: LEB128 deltas of the sorted 32-bit n-gram keys
//! idf: min f32 | max f32 | one u8 per feature (linear between min and max)
//! sentiment head: bias 3 × f32 | scale f32 | 3 × i16 per feature (weight = q · scale)
//! incivility: present u8; if 1: threshold f32 | bias f32 | scale f32 | one i16 per feature
//! ```

use super::tfidf::Vocab;
use super::{Head, Incivility, Model, SentimentError};

const MAGIC: &[u8; 4] = b"CNPS";
const VERSION: u32 = 2;

fn put_f32(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_head(out: &mut Vec<u8>, h: &Head) {
    for &b in &h.b {
        put_f32(out, b);
    }
    let max = h.w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let scale = max / 32767.0;
    put_f32(out, scale);
    for &w in &h.w {
        out.extend_from_slice(&((w / scale).round() as i16).to_le_bytes());
    }
}

/// Encodes a model.
pub fn to_bytes(m: &Model) -> Vec<u8> {
    let n = m.vocab.len();
    let mut out = Vec::with_capacity(16 + n * 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    let mut prev = 0u32;
    for &k in m.vocab.keys() {
        let mut d = k - prev;
        prev = k;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    let idf = m.vocab.idf();
    let lo = idf.iter().cloned().fold(f32::MAX, f32::min).min(1.0);
    let hi = idf.iter().cloned().fold(f32::MIN, f32::max).max(lo + 1e-6);
    put_f32(&mut out, lo);
    put_f32(&mut out, hi);
    out.extend(
        idf.iter()
            .map(|v| ((v - lo) / (hi - lo) * 255.0).round() as u8),
    );
    put_head(&mut out, &m.sentiment);
    match &m.incivility {
        None => out.push(0),
        Some(inc) => {
            out.push(1);
            put_f32(&mut out, inc.threshold);
            put_head(&mut out, &inc.head);
        }
    }
    out
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SentimentError> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or(SentimentError::Format)?;
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, SentimentError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn f32(&mut self) -> Result<f32, SentimentError> {
        Ok(f32::from_bits(self.u32()?))
    }

    fn varint(&mut self) -> Result<u32, SentimentError> {
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| SentimentError::Format);
            }
        }
        Err(SentimentError::Format)
    }

    fn head(&mut self, n: usize, cols: usize) -> Result<Head, SentimentError> {
        let b = (0..cols)
            .map(|_| self.f32())
            .collect::<Result<Vec<_>, _>>()?;
        let scale = self.f32()?;
        let raw = self.take(n * cols * 2)?;
        let w = raw
            .chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) * scale)
            .collect();
        Ok(Head { cols, w, b })
    }
}

/// Decodes a model written by [`to_bytes`].
pub fn from_bytes(b: &[u8]) -> Result<Model, SentimentError> {
    let mut r = Reader { b, pos: 0 };
    if r.take(4)? != MAGIC || r.u32()? != VERSION {
        return Err(SentimentError::Format);
    }
    let n = r.u32()? as usize;
    if n > b.len() {
        return Err(SentimentError::Format);
    }
    let mut keys = Vec::with_capacity(n);
    let mut prev = 0u32;
    for i in 0..n {
        let d = r.varint()?;
        if i > 0 && d == 0 {
            return Err(SentimentError::Format);
        }
        prev = prev.checked_add(d).ok_or(SentimentError::Format)?;
        keys.push(prev);
    }
    let (lo, hi) = (r.f32()?, r.f32()?);
    let idf = r
        .take(n)?
        .iter()
        .map(|&q| lo + f32::from(q) / 255.0 * (hi - lo))
        .collect();
    let sentiment = r.head(n, 3)?;
    let incivility = match r.take(1)?[0] {
        0 => None,
        1 => {
            let threshold = r.f32()?;
            Some(Incivility {
                head: r.head(n, 1)?,
                threshold,
            })
        }
        _ => return Err(SentimentError::Format),
    };
    if r.pos != b.len() {
        return Err(SentimentError::Format);
    }
    Ok(Model {
        vocab: Vocab::new(keys, idf),
        sentiment,
        incivility,
    })
}
