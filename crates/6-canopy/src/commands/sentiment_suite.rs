//! `canopy sentiment eval --suite`: trains each recipe of the suite and tests it on every
//! corpus, within and across corpora, beside the shipped model and the optional encoder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_models::sentiment::corpus::Corpus;
use canopy_models::sentiment::suite::{self, Scorer};
use canopy_models::sentiment::{TrainConfig, TrainData};

use super::analyze::ReportFormat;
use super::sentiment::{EvalArgs, load, read_corpus, scorer};

/// `canopy sentiment eval --suite`: within- and cross-corpus tables for the default model and
/// the encoder.
pub(super) fn eval_suite(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let (recipes, tests) = suite_corpora(&a.shared, &a.extra)?;
    let shipped = load(a.model.as_deref())?;
    let encoder = a
        .encoder
        .as_deref()
        .map(|d| scorer(shipped.clone(), Some(d)))
        .transpose()?;
    let all = recipes
        .last()
        .map(|r| r.families.clone())
        .unwrap_or_default();
    let mut others: Vec<(&str, &str, Vec<String>, &dyn Scorer)> = vec![(
        "shipped",
        "GitHub + Senti4SD + Jira + SO (artifact)",
        all.clone(),
        &shipped,
    )];
    if let Some(e) = &encoder {
        others.push(("encoder", "see the encoder's ARTIFACT.md", all, e.as_ref()));
    }
    let rows = suite::run(
        &recipes,
        &tests,
        &others,
        &TrainConfig::default(),
        &mut |m| eprintln!("{m}"),
    )?;
    let mut out = std::io::stdout().lock();
    match a.format {
        ReportFormat::Json => {
            for r in &rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        ReportFormat::Md => write!(out, "{}", suite::markdown(&rows))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The suite's training recipes and test sets, from the shared and fetched corpus folders
/// (file names as in their READMEs).
// Long: a declarative list of the suite's recipes and test sets with their file names.
fn suite_corpora(
    shared: &Path,
    extra: &Path,
) -> anyhow::Result<(Vec<suite::Recipe>, Vec<suite::TestSet>)> {
    let gold = shared.join("github_gold_novielli2020.csv");
    let s4sd = shared.join("senti4sd_stackoverflow.csv");
    let named = |p: PathBuf, split: Option<&str>, name: &str| -> anyhow::Result<Corpus> {
        let mut c = read_corpus(&p, split)?;
        c.name = name.to_string();
        Ok(c)
    };
    let pairs = |c: Corpus| c.polarity_pairs().unwrap_or_default();
    let gh_train = pairs(named(gold.clone(), Some("train"), "")?);
    let gh_valid = pairs(named(gold.clone(), Some("valid"), "")?);
    let (s4_train, s4_valid) = suite::carve_validation(&named(s4sd.clone(), Some("train"), "")?);
    let mut others = s4_train.clone();
    for f in ["jira_lin2018.csv", "so_lin2018.csv"] {
        others.extend(pairs(named(extra.join(f), None, "")?));
    }
    let inc = |s| -> anyhow::Result<Vec<(String, bool)>> {
        let c = named(extra.join("incivility_train.csv"), Some(s), "")?;
        c.uncivil_pairs()
            .context("incivility_train.csv: needs an `uncivil` column")
    };
    let recipe = |name: &str, families: &[&str], data: TrainData| suite::Recipe {
        name: name.to_string(),
        families: families.iter().map(|f| f.to_string()).collect(),
        data,
    };
    let recipes = vec![
        recipe(
            "GitHub gold train",
            &["GitHub gold"],
            TrainData {
                main: gh_train.clone(),
                valid: gh_valid.clone(),
                ..TrainData::default()
            },
        ),
        recipe(
            "Senti4SD train",
            &["Senti4SD"],
            TrainData {
                main: s4_train,
                valid: s4_valid,
                ..TrainData::default()
            },
        ),
        recipe(
            "GitHub + Senti4SD + Jira + SO train; incivility ToxiCR + GitHub issues",
            &[
                "GitHub gold",
                "Senti4SD",
                "Jira",
                "Stack Overflow (Lin)",
                "ToxiCR",
            ],
            TrainData {
                main: gh_train,
                extra: others,
                valid: gh_valid,
                incivility: inc("train")?,
                incivility_valid: inc("valid")?,
            },
        ),
    ];
    let test = |p: PathBuf, split, name: &str, family: &str| -> anyhow::Result<suite::TestSet> {
        Ok(suite::TestSet {
            corpus: named(p, split, name)?,
            family: family.to_string(),
        })
    };
    let tests = vec![
        test(gold, Some("test"), "GitHub gold test", "GitHub gold")?,
        test(s4sd, Some("test"), "Senti4SD test", "Senti4SD")?,
        test(
            extra.join("premo_pr_discussions.csv"),
            None,
            "PRemo PR discussions (held out)",
            "PRemo",
        )?,
        test(
            extra.join("senticr_code_review.csv"),
            None,
            "SentiCR code review (held out)",
            "SentiCR",
        )?,
        test(
            extra.join("incivility_train.csv"),
            Some("test"),
            "ToxiCR test (incivility, within corpus)",
            "ToxiCR",
        )?,
        test(
            extra.join("lkml_code_review.csv"),
            None,
            "LKML code review (incivility, held out)",
            "LKML",
        )?,
    ];
    Ok((recipes, tests))
}
