//! Prints what the default history holds (counts by event, sizes, time span): `cargo run -p
//! canopy-synth --example stats`.

use std::collections::BTreeMap;

fn main() {
    let t = std::time::Instant::now();
    let org = canopy_synth::generate(&canopy_synth::Config::default());
    let gen_time = t.elapsed();
    let d = org.deliveries();
    let render_time = t.elapsed() - gen_time;
    let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for x in &d {
        let e = by.entry(x.event).or_default();
        e.0 += 1;
        e.1 += x.body.len();
    }
    for (k, (n, b)) in &by {
        println!("{k:32} {n:6} {:8.1} MB", *b as f64 / 1e6);
    }
    let total: usize = d.iter().map(|x| x.body.len()).sum();
    println!(
        "deliveries {} ({:.1} MB), changes {}, commits {:?}, fast-import {:?} bytes",
        d.len(),
        total as f64 / 1e6,
        org.changes.len(),
        org.repos
            .iter()
            .map(|r| r.git.commits.len())
            .collect::<Vec<_>>(),
        (0..2).map(|i| org.fast_import(i).len()).collect::<Vec<_>>()
    );
    println!(
        "first {:?} last {:?} now {}",
        d.first().map(|x| x.at),
        d.last().map(|x| (x.at, x.event)),
        org.now
    );
    println!("generate {gen_time:?}, render {render_time:?}");
}
