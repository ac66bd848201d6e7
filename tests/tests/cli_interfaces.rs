//! The stable JSON interfaces of `canopy carbon window`, `canopy sentiment eval` and
//! `canopy sentiment score --file`, run as the real binary on small fixtures written here.

use canopy_e2e::{run_canopy, stdout_json_lines};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

#[test]
fn carbon_window_prints_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ci.csv");
    // Hourly, in the Let's Wait Awhile format: dirty until 03:00, clean 03:00–05:00.
    let mut csv = String::from("Time,Carbon Intensity\n");
    for h in 0..12 {
        let v = if (3..5).contains(&h) { 100.0 } else { 400.0 };
        csv.push_str(&format!("2020-06-01 {h:02}:00:00,{v}\n"));
    }
    std::fs::write(&f, csv).unwrap();
    let window = |at: &str, extra: &[&str]| {
        let series = f.to_str().unwrap();
        let mut args = vec!["carbon", "window", "--series", series];
        args.extend_from_slice(&["--duration", "2h", "--deadline", "10h", "--at", at]);
        args.extend_from_slice(extra);
        run_canopy(BIN, &args)
    };
    let out = stdout_json_lines(&window("2020-06-01T00:00:00Z", &["--format", "json"]));
    let v = &out[0];
    assert_eq!(v["start"], "2020-06-01T03:00:00Z");
    assert_eq!(v["end"], "2020-06-01T05:00:00Z");
    assert_eq!(v["avg_intensity"], 100.0);
    assert_eq!(v["now_avg_intensity"], 400.0);
    assert_eq!(v["savings_pct"], 75.0);
    // Outside the series: a clear error naming the range.
    let bad = window("2021-01-01T00:00:00Z", &[]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("the series covers 2020-06-01T00:00:00Z to 2020-06-01T12:00:00Z")
    );
}

#[test]
fn sentiment_eval_and_score_print_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("gold.csv");
    std::fs::write(
        &f,
        "id,polarity,text\n1,positive,\"Thanks a lot, this looks great!\"\n2,negative,\"This is wrong and makes no sense at all.\"\n3,neutral,\"The function returns a list of widgets.\"\n",
    )
    .unwrap();
    let e = &stdout_json_lines(&run_canopy(
        BIN,
        &[
            "sentiment",
            "eval",
            "--data",
            f.to_str().unwrap(),
            "--format",
            "json",
        ],
    ))[0];
    assert_eq!(e["n"], 3);
    for k in ["macro_f1", "accuracy"] {
        assert!(
            e[k].as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)),
            "{k} in {e}"
        );
    }
    for l in ["negative", "neutral", "positive"] {
        assert!(e["per_class"][l].is_number(), "{e}");
    }
    let rows = stdout_json_lines(&run_canopy(
        BIN,
        &[
            "sentiment",
            "score",
            "--file",
            f.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["label"], "positive");
    assert_eq!(rows[1]["label"], "negative");
    assert!(rows[1]["negative"].as_f64().unwrap() > 0.5);
    assert!(rows.iter().all(|r| r["confidence"].is_number()));
    // A file with train and validation rows, read whole, says its figures may be in-sample;
    // its test split alone does not.
    let split = dir.path().join("split.csv");
    std::fs::write(
        &split,
        "polarity,text,split\npositive,\"Great, thanks!\",train\nneutral,\"It returns a list.\",valid\nnegative,\"This is wrong.\",test\n",
    )
    .unwrap();
    let eval_md = |extra: &[&str]| {
        let mut args = vec!["sentiment", "eval", "--data", split.to_str().unwrap()];
        args.extend_from_slice(extra);
        String::from_utf8_lossy(&run_canopy(BIN, &args).stdout).into_owned()
    };
    let whole = eval_md(&[]);
    assert!(
        whole.starts_with(
            "**Note.** 2 of these 3 texts are in the file's train or validation split."
        ) && whole.contains("`--split test` gives the held-out figure"),
        "{whole}"
    );
    let test = eval_md(&["--split", "test"]);
    assert!(
        test.starts_with("1 text:") && !test.contains("Note"),
        "{test}"
    );
    // A file without the needed columns is named as such.
    std::fs::write(&f, "words\nhello\n").unwrap();
    let bad = run_canopy(BIN, &["sentiment", "eval", "--data", f.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs `text` and `polarity` columns"));
}

#[test]
fn sentiment_train_base_refits_only_the_incivility_head() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc.csv");
    let mut csv = String::from("id,uncivil,text,split\n");
    for i in 0..30 {
        let split = if i < 20 { "train" } else { "valid" };
        csv.push_str(&format!(
            "r{i},1,\"zorbleflax quuxity garbage {i}\",{split}\n"
        ));
        csv.push_str(&format!(
            "c{i},0,\"please rename the helper {i}\",{split}\n"
        ));
    }
    std::fs::write(&inc, csv).unwrap();
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/src/sentiment/model.bin"
    );
    let out = dir.path().join("m.bin");
    let (inc_s, out_s) = (inc.to_str().unwrap(), out.to_str().unwrap());
    let train = |extra: &[&str]| {
        let mut args = vec!["sentiment", "train", "--base", base, "--out", out_s];
        args.extend_from_slice(extra);
        run_canopy(BIN, &args)
    };
    let ok = train(&["--incivility", inc_s, "--c", "1"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        std::fs::metadata(base).unwrap().len()
    );
    let score = |model: &str| {
        let args = ["sentiment", "score", "--model", model, "--format", "json"];
        let mut a = args.to_vec();
        a.push("zorbleflax quuxity, thanks a lot");
        stdout_json_lines(&run_canopy(BIN, &a))[0].clone()
    };
    let (old, new) = (score(base), score(out_s));
    assert_eq!(old["negative"], new["negative"], "{old} vs {new}");
    assert_eq!(new["uncivil"], true, "{new}");
    // --base trains the incivility head only: without --incivility it says so.
    let bad = train(&[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--incivility"));
}
