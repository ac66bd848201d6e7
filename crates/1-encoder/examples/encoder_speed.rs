//! Scoring speed of a fine-tuned encoder on a file of texts (one a line):
//! `cargo run --release -p canopy-encoder --example encoder_speed -- DIR FILE [ROUNDS]`.
//! Prints texts/s per round and a digest of the probabilities (equal digests = same outputs).

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, file) = match (args.get(1), args.get(2)) {
        (Some(d), Some(f)) => (d, f),
        _ => anyhow::bail!("usage: encoder_speed DIR FILE [ROUNDS]"),
    };
    let rounds: usize = args.get(3).map_or(Ok(3), |r| r.parse())?;
    let texts: Vec<String> = std::fs::read_to_string(file)?
        .lines()
        .map(str::to_string)
        .collect();
    let t0 = Instant::now();
    let enc = canopy_encoder::Encoder::load(std::path::Path::new(dir))?;
    eprintln!("loaded in {:.2} s", t0.elapsed().as_secs_f64());
    for _ in 0..rounds {
        let t = Instant::now();
        let p = enc.probabilities(&texts)?;
        let s = t.elapsed().as_secs_f64();
        let digest: f64 = p
            .iter()
            .enumerate()
            .map(|(i, r)| (i + 1) as f64 * r[0] + r[2])
            .sum();
        let labels: Vec<usize> = p
            .iter()
            .map(|r| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(1))
            .collect();
        let lh: usize = labels.iter().enumerate().map(|(i, l)| (i + 1) * l).sum();
        println!(
            "{} texts in {s:.2} s = {:.1} texts/s; digest {digest:.6}; label hash {lh}",
            texts.len(),
            texts.len() as f64 / s
        );
    }
    Ok(())
}
