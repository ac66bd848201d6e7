//! `canopy demo` with no path runs the whole product on the bundled team history, as a real
//! process: weekly reports of both repositories, the open PR's sticky comment with a trained
//! time-to-merge prediction and CI energy, the latest week's digest (non-zero, with Mermaid
//! charts and the burnout distribution) and its HTML page, and a report that passes its privacy
//! review, with no person's name, login or email anywhere in the output.
//!
//! The tests run the demo on a shorter history of the same seeded generator (`--weeks`, see
//! [`WEEKS`]): three months instead of nine, a quarter of the deliveries, every section still
//! filled (the time-to-merge model trained, the burnout views shown). The full-length default
//! is timed in release mode by `bench/demo/time.sh`.

use canopy_e2e::{run_canopy, stdout_ok};
use canopy_synth::cast::{Role, cast};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

/// Weeks of bundled history the tests ask for (`canopy demo --weeks`; the default is 39): the
/// debug build's demo takes about a fifth of the time, and with seed 2026 every section
/// still has content (both repositories over 100 merged changes, 7 people in the burnout view).
const WEEKS: u32 = 12;

/// The number before `word` in `text` (`"11 opened"` → 11).
fn count_before(text: &str, word: &str) -> u64 {
    let i = text
        .find(word)
        .unwrap_or_else(|| panic!("no {word:?} in the output"));
    text[..i]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_bundled_demo_shows_every_section_and_names_nobody() {
    let out = stdout_ok(&run_canopy(BIN, &["demo", "--weeks", &WEEKS.to_string()]));
    for section in [
        "# Team activity: fernhill/loom",
        "# Team activity: fernhill/quay",
        "0 quarantined",
        "- fernhill/loom: trained on",
        "- fernhill/quay: trained on",
        "**Time to merge.** Likely merged in",
        "Chance of merging within 30 days",
        "Main reasons:",
        "**CI energy.**",
        "```mermaid",
        "Team burnout view",
        "Privacy review:",
    ] {
        assert!(out.contains(section), "missing {section:?} in:\n{out}");
    }
    let line = |start: &str| {
        out.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?}"))
    };
    let changes = line("**Changes.**");
    assert!(count_before(changes, "opened") > 0 && count_before(changes, "merged,") > 0);
    assert!(count_before(line("**Reviews.**"), "reviews by") > 0);
    assert!(count_before(&out, "cells shown") > 0);
    assert!(!out.contains("FAILED"), "a privacy rule failed:\n{out}");
    let page = out
        .lines()
        .find_map(|l| l.strip_prefix("The same digest as an HTML page with SVG charts: "))
        .expect("the HTML digest's path is printed");
    let html = std::fs::read_to_string(page.trim()).expect("the HTML digest exists");
    assert!(html.contains("<svg"));
    let _ = std::fs::remove_dir_all(std::path::Path::new(page.trim()).parent().unwrap());
    for section in [
        "# Greener CI reruns",
        "The job is not critical",
        "`/canopy defer`",
        "`rerun_failed_jobs` due",
        "# Burnout risk",
    ] {
        assert!(out.contains(section), "missing {section:?} in:\n{out}");
    }
    assert_names_nobody(&out, "the demo's output");
    assert_names_nobody(&html, "the HTML digest");
}

/// Fails if any person's login, name or email address appears in `text`.
fn assert_names_nobody(text: &str, what: &str) {
    let lower = text.to_lowercase();
    for p in cast(WEEKS).iter().filter(|p| p.role != Role::Bot) {
        let mut ids = vec![p.login.clone(), p.name.clone(), p.email.clone()];
        ids.extend(p.work_email.clone());
        for id in ids {
            assert!(
                !lower.contains(&id.to_lowercase()),
                "{id} appears in {what}"
            );
        }
    }
}

fn time(v: &serde_json::Value, what: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{what} is not an RFC 3339 time ({v}): {e}"))
}

fn num(v: &serde_json::Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// `canopy demo --format json` prints the issue's interface: every section present and
/// plausible, in one object that names nobody (nor does the HTML page it points to).
#[test]
fn the_json_demo_has_every_section_plausible_and_names_nobody() {
    let out = run_canopy(
        BIN,
        &["demo", "--format", "json", "--weeks", &WEEKS.to_string()],
    );
    let text = stdout_ok(&out);
    let j: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}\n{text}"));
    let weeks = j["weeks"].as_u64().expect("weeks");
    assert!(
        (2 * u64::from(WEEKS)..=2 * u64::from(WEEKS + 6)).contains(&weeks),
        "weeks {weeks}"
    );
    let people = j["people"].as_u64().expect("people");
    let humans = cast(WEEKS).iter().filter(|p| p.role != Role::Bot).count() as u64;
    assert_eq!(
        people, humans,
        "distinct people, the .mailmap applied, bots excluded"
    );

    ttm_section(&j["ttm"]);
    energy_and_rerun_sections(&j);
    burnout_sections(&j["burnout_team"], &j["burnout_me"]);
    let d = &j["digest"];
    for k in ["opened", "merged", "reviews"] {
        assert!(d[k].as_u64().is_some_and(|n| n > 0), "digest.{k}: {d}");
    }
    let page = std::path::PathBuf::from(d["html_path"].as_str().expect("digest.html_path"));
    let html = std::fs::read_to_string(&page).expect("the HTML digest exists");
    assert!(html.contains("<svg"));
    let _ = std::fs::remove_dir_all(page.parent().expect("its directory"));

    let r = &j["report"];
    assert!(r["cells_shown"].as_u64().is_some_and(|n| n > 0), "{r}");
    assert!(r["cells_suppressed"].as_u64().is_some(), "{r}");
    assert_eq!(r["approvable"], true, "{r}");

    assert_names_nobody(&text, "the JSON demo");
    assert_names_nobody(&html, "the HTML digest");
    assert_names_nobody(&String::from_utf8_lossy(&out.stderr), "the demo's log");
}

/// The time-to-merge range of a trained model, with reasons.
fn ttm_section(t: &serde_json::Value) {
    let (lo, med, hi) = (
        num(&t["low_hours"], "ttm.low_hours"),
        num(&t["median_hours"], "ttm.median_hours"),
        num(&t["high_hours"], "ttm.high_hours"),
    );
    assert!(
        0.0 < lo && lo <= med && med <= hi && hi < 24.0 * 365.0,
        "{t}"
    );
    assert_eq!(t["running_median"], false, "a trained model predicts: {t}");
    let p = num(&t["p_merge"], "ttm.p_merge");
    assert!(p > 0.0 && p <= 1.0, "{t}");
    let reasons = t["reasons"].as_array().expect("ttm.reasons");
    assert!(
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|r| r.as_str().is_some_and(|s| s.len() > 5))
    );
}

/// The change's energy and CO2e, the rerun advice and the deferred rerun at its start.
fn energy_and_rerun_sections(j: &serde_json::Value) {
    let e = &j["energy"];
    let (kwh, g) = (
        num(&e["kwh"], "energy.kwh"),
        num(&e["gco2e"], "energy.gco2e"),
    );
    assert!(kwh > 0.0 && kwh < 10.0, "{e}");
    // Operational at the bundled grid's 200–450 g/kWh plus embodied emissions.
    assert!(g / kwh > 150.0 && g / kwh < 1500.0, "{e}");

    let a = &j["rerun_advice"];
    let (asked, start, deadline) = (
        time(&a["requested"], "rerun_advice.requested"),
        time(&a["start"], "rerun_advice.start"),
        time(&a["deadline"], "rerun_advice.deadline"),
    );
    assert!(asked < start && start < deadline, "{a}");
    let share = num(&a["saving_share"], "rerun_advice.saving_share");
    assert!((0.1..1.0).contains(&share), "{a}");
    assert_eq!(a["critical"], false, "{a}");
    let scheduled = j["defer"].as_array().expect("defer");
    let rerun = scheduled
        .iter()
        .find(|s| s["action"] == "rerun_failed_jobs")
        .unwrap_or_else(|| panic!("/canopy defer scheduled no rerun: {scheduled:?}"));
    assert_eq!(
        time(&rerun["due"], "defer.due"),
        start,
        "scheduled at the greenest start"
    );
}

/// The team buckets (none under k people) and the person's own view, or why they are withheld.
fn burnout_sections(team: &serde_json::Value, me: &serde_json::Value) {
    match team["withheld"].as_str() {
        Some(why) => assert!(!why.is_empty()),
        None => {
            let buckets = team["buckets"].as_array().expect("burnout_team.buckets");
            assert_eq!(buckets.len(), 4, "{team}");
            let n = team["people"].as_u64().expect("burnout_team.people");
            assert!(n >= 5, "{team}");
            let shown: u64 = buckets.iter().filter_map(|b| b["people"].as_u64()).sum();
            assert!(shown > 0 && shown <= n, "{team}");
            let small = |c: u64| c > 0 && c < 5;
            assert!(
                !buckets
                    .iter()
                    .any(|b| b["people"].as_u64().is_some_and(small)),
                "a bucket of fewer than k people is shown: {team}"
            );
        }
    }
    match me["withheld"].as_str() {
        Some(why) => assert!(!why.is_empty()),
        None => {
            let score = num(&me["score"], "burnout_me.score");
            assert!((0.0..=100.0).contains(&score), "{me}");
            assert!(me["reasons"].as_array().is_some(), "{me}");
        }
    }
}

/// `--weeks` is checked before any work and applies to the bundled history only.
#[test]
fn the_history_length_is_checked_and_only_for_the_bundled_history() {
    let out = run_canopy(BIN, &["demo", "--weeks", "4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--weeks"));
    let out = run_canopy(BIN, &["demo", "--weeks", "12", "--own"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
