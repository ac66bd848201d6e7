//! Exact Shapley values of a logistic score (100·σ(b + w·x)) against one reference row, for
//! the comparison with Python's shap in `bench/burnout/shap_compare.py`. Reads
//! `{"bias": b, "weights": [...], "reference": [...], "inputs": [[...], ...]}` on stdin and
//! prints `{"values": [[...], ...], "seconds_per_explanation": t}`.

use std::io::Read;
use std::time::Instant;

use canopy_models::shapley::shapley;

fn main() {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("stdin");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON input");
    let vec = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .expect(k)
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    let bias = v["bias"].as_f64().expect("bias");
    let (w, r) = (vec("weights"), vec("reference"));
    let inputs: Vec<Vec<f64>> = v["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect();
    let n = w.len();
    let explain = |x: &[f64]| {
        shapley(n, |mask| {
            let z: f64 = (0..n)
                .map(|i| w[i] * if mask & (1 << i) != 0 { x[i] } else { r[i] })
                .sum();
            100.0 / (1.0 + (-(bias + z)).exp())
        })
        .expect("at most 20 features")
    };
    let values: Vec<Vec<f64>> = inputs.iter().map(|x| explain(x)).collect();
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        for x in &inputs {
            std::hint::black_box(explain(x));
        }
    }
    let per = t.elapsed().as_secs_f64() / (reps * inputs.len()) as f64;
    println!(
        "{}",
        serde_json::json!({"values": values, "seconds_per_explanation": per})
    );
}
