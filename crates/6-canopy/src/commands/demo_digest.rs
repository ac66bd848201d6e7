//! The demo's digest of the latest week with activity and its draft privacy-reviewed report of
//! the last three months, built from the demo's store.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::demo_facts::ReportFacts;
use super::demo_progress::Progress;
use canopy_analyzer::identity::Identities;
use canopy_service::carbon::RegionData;

/// The digest of the latest week with activity and a draft privacy-reviewed report of the last
/// three months, from the demo's store.
pub(super) struct DigestAndReport {
    pub(super) week: String,
    pub(super) opened: usize,
    pub(super) merged: usize,
    pub(super) reviews: usize,
    pub(super) markdown: String,
    pub(super) html: String,
    pub(super) report_text: String,
    pub(super) report: ReportFacts,
}

impl DigestAndReport {
    /// Writes the report's section of the demo.
    pub(super) fn write_report(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "\n# Privacy-reviewed report of the last 3 months\n\n{}",
            self.report_text
        )
    }
}

/// The digest of the latest week with activity (Markdown and HTML) and a draft report of the
/// last three months, all from the demo's store (the report's pseudonym key in `key_path`).
pub(super) fn digest_and_report(
    store: &dyn canopy_store::Store,
    key_path: &Path,
    repo: &str,
    grid: Option<&RegionData>,
    ids: &Identities,
    p: &mut Progress<'_>,
) -> anyhow::Result<DigestAndReport> {
    use canopy_analyzer::week::IsoWeek;
    use canopy_store::TimeRange;
    let mut last = None;
    store.scan_repo(repo, TimeRange::ALL, &mut |e| {
        last = Some(e.at_utc());
        std::ops::ControlFlow::Continue(())
    })?;
    let last = last.context("the demo store has no events")?;
    let mut cfg = canopy_service::repo_config::RepoConfig::default();
    cfg.carbon.region = grid.map(|_| canopy_synth::grid::REGION.to_string());
    let built = canopy_service::digest::build(
        store,
        &canopy_service::digest::Scope::Repo(repo.to_string()),
        IsoWeek::of_utc(&last),
        &cfg,
        grid,
        ids,
        &[],
        None,
    )?;
    p.done("built the weekly digest");
    let end = last.date_naive();
    let start = end - chrono::Duration::days(91);
    let key = canopy_service::report::load_or_create_key(key_path)?;
    let opts = canopy_service::report::Options {
        period: format!("{start}..{end}")
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
        scope: None,
        k: 5,
        min_k: 5,
        epsilon: None,
        mechanism: canopy_policies::report::Mechanism::Laplace,
        epsilon_per_period: 3.0,
        key,
        repo_defaults: cfg,
    };
    let now = canopy_core::Clock::now(&canopy_core::SystemClock);
    let (r, _) = canopy_service::report::create(store, ids, &opts, now)?;
    let (report_text, report) = report_words(&r, start, end);
    p.done("created the privacy-reviewed report");
    let d = DigestAndReport {
        week: built.digest.week.clone(),
        opened: built.digest.opened,
        merged: built.digest.merged,
        reviews: built.digest.reviews,
        markdown: built.markdown(),
        html: built.html()?,
        report_text,
        report,
    };
    p.done("rendered the digest (Markdown, HTML with SVG charts)");
    Ok(d)
}

/// What the demo says about its draft report (cells shown and hidden, the privacy review), and
/// its figures.
fn report_words(
    r: &canopy_store::StoredReport,
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
) -> (String, ReportFacts) {
    let d = &r.document;
    let mut text = format!(
        "Draft {} for {} to {} (k = 5). `canopy report create --store DIR --period {}..{} --format json` makes it; a reviewer must `approve` it before `publish`.\n\n",
        r.id,
        d["period"]["start"].as_str().unwrap_or(""),
        d["period"]["end"].as_str().unwrap_or(""),
        start,
        end
    );
    let mut shown = 0;
    let mut hidden = 0;
    for t in d["tables"].as_array().into_iter().flatten() {
        for row in t["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .chain([&t["total"]])
        {
            for c in row["cells"].as_array().into_iter().flatten() {
                if c["value"].is_null() {
                    hidden += 1;
                } else {
                    shown += 1;
                }
            }
        }
    }
    text.push_str(&format!(
        "{shown} cells shown, {hidden} hidden because they count fewer than 5 people (or would reveal one that does).\n\nPrivacy review:\n"
    ));
    for rule in d["privacy_review"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "- {}: {} ({})\n",
            rule["rule"].as_str().unwrap_or(""),
            if rule["passed"] == true {
                "passed"
            } else {
                "FAILED"
            },
            rule["detail"].as_str().unwrap_or("")
        ));
    }
    let facts = ReportFacts {
        cells_shown: shown,
        cells_suppressed: hidden,
        approvable: d["approvable"] == true,
    };
    (text, facts)
}
