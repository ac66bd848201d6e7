//! `canopy demo` with no path runs the whole product on the bundled team history, as a real
//! process: weekly reports of both repositories, the open PR's sticky comment with a trained
//! time-to-merge prediction and CI energy, the latest week's digest (non-zero, with Mermaid
//! charts and the burnout distribution) and its HTML page, and a report that passes its privacy
//! review, with no person's name, login or email anywhere in the output.

use canopy_e2e::{run_canopy, stdout_ok};
use canopy_synth::cast::{Role, cast};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

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
    let out = stdout_ok(&run_canopy(BIN, &["demo"]));
    for section in [
        "# Team activity: fernhill/loom",
        "# Team activity: fernhill/quay",
        "0 quarantined",
        "trained on",
        "**Time to merge.** Likely merged in",
        "Chance of merging within 30 days",
        "Main reasons:",
        "**CI energy.**",
        "```mermaid",
        "Team burnout-risk distribution",
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
    let lower = out.to_lowercase();
    for p in cast(39).iter().filter(|p| p.role != Role::Bot) {
        let mut ids = vec![p.login.clone(), p.name.clone(), p.email.clone()];
        ids.extend(p.work_email.clone());
        for id in ids {
            assert!(
                !lower.contains(&id.to_lowercase()),
                "{id} appears in the demo's output"
            );
        }
    }
}
