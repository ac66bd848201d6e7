//! Loading, fine-tuning and batched scoring on a tiny randomly initialised encoder that the
//! test builds itself (no downloaded weights).

use canopy_encoder::{
    Config, Encoder, EncoderError, FineTune, WithIncivility, fine_tune, write_random_base,
};
use canopy_models::sentiment::suite::Scorer;
use canopy_models::sentiment::{Model, TrainData};

fn tiny() -> (Config, Vec<String>) {
    let words = "[PAD] [UNK] [CLS] [SEP] this is awful terrible broken the function returns a list thanks great work , ! ##s";
    let config = Config {
        vocab_size: words.split(' ').count(),
        hidden_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        intermediate_size: 32,
        max_position_embeddings: 32,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: "gelu".into(),
    };
    (config, words.split(' ').map(str::to_string).collect())
}

fn toy() -> Vec<(String, usize)> {
    let mut d = Vec::new();
    for _ in 0..8 {
        d.push(("this is awful, terrible".to_string(), 0));
        d.push(("the function returns a list".to_string(), 1));
        d.push(("thanks, great work!".to_string(), 2));
    }
    d
}

#[test]
fn fine_tunes_a_tiny_random_encoder_and_scores_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (base, out) = (dir.path().join("base"), dir.path().join("tuned"));
    let (config, tokens) = tiny();
    write_random_base(&base, &config, &tokens).unwrap();
    // A base model is not a fine-tuned one, and says how to make one.
    let err = Encoder::load(&base).err().unwrap();
    assert!(matches!(err, EncoderError::NotFineTuned(_)), "{err}");
    assert!(err.to_string().contains("canopy sentiment train --encoder"));
    let data = TrainData {
        main: toy(),
        valid: toy()[..3].to_vec(),
        ..TrainData::default()
    };
    let cfg = FineTune {
        epochs: 12,
        batch: 8,
        lr: 5e-3,
        dropout: 0.0,
        ..FineTune::default()
    };
    let mut heard = Vec::new();
    let report = fine_tune(&base, &data, &cfg, &out, &mut |m| heard.push(m.to_string())).unwrap();
    assert_eq!(report.valid.len(), 12);
    assert!(heard.iter().any(|m| m.contains("validation macro-F1")));
    let best = report.valid[report.epoch - 1];
    assert!(best >= 0.99, "{report}");
    let enc = Encoder::load(&out).unwrap();
    assert_eq!(enc.meta().epoch, report.epoch);
    let texts: Vec<String> = [
        "thanks, great work!",
        "this is awful",
        "the function returns a list",
        "this is awful, terrible",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    let p = enc.probabilities(&texts).unwrap();
    let best_class = |p: &[f64; 3]| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    assert_eq!(
        p.iter().map(best_class).collect::<Vec<_>>(),
        vec![2, 0, 1, 0]
    );
    assert!(p.iter().all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-4));
    // Scoring order does not depend on batching by length.
    let one = enc.probabilities(&texts[1..2]).unwrap();
    assert!((one[0][0] - p[1][0]).abs() < 1e-4);
    let s = WithIncivility::new(enc, Model::shipped().unwrap());
    let scored = s.score_batch(&texts).unwrap();
    assert_eq!(scored[0].label, "positive");
    assert!(scored[0].incivility.is_some());
}
