//! Trains the cross-repository time-to-merge model (`models/src/ttm/global.rs`) from public
//! pull-request histories in the Gousios et al. format and writes it as JSON. Each file's
//! changes are read as the headline evaluation reads them: the size at opening (the `*_at_open`
//! columns) in the size features' places, never the final totals. Run:
//! `cargo run --release -p canopy-models --example ttm_global -- LIST OUT.json`
//! (LIST: one CSV path per line; `#` comments and blank lines skipped).

use canopy_models::gbt::Params;
use canopy_models::ttm::PrRecord;
use canopy_models::ttm::global::GlobalModel;
use canopy_models::ttm::gousios::{GousiosRow, records};
use canopy_models::ttm::walk::{SizeFeatures, leak_free};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The records of one file with the size at opening in the size features' places.
fn read_at_open(path: &str) -> Res<Vec<PrRecord>> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| format!("{path}: {e}"))?;
    let rows: Vec<GousiosRow> = rdr
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(leak_free(&records(&rows), SizeFeatures::AtOpen))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [list, out] = args.as_slice() else {
        return Err("usage: ttm_global LIST OUT.json".into());
    };
    let files: Vec<String> = std::fs::read_to_string(list)
        .map_err(|e| format!("{list}: {e}"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let mut all = Vec::new();
    let mut names = Vec::new();
    for f in &files {
        let recs = read_at_open(f)?;
        eprintln!("{f}: {} changes", recs.len());
        all.extend(recs);
        names.push(
            std::path::Path::new(f)
                .file_name()
                .map_or_else(|| f.clone(), |n| n.to_string_lossy().into_owned()),
        );
    }
    let model = GlobalModel::train(&all, names, &Params::default());
    std::fs::write(out, serde_json::to_string(&model)?).map_err(|e| format!("{out}: {e}"))?;
    eprintln!(
        "{out}: learned from {} merged changes in {} files, {} trees",
        model.n_changes,
        files.len(),
        model.trees.trees.len()
    );
    Ok(())
}
