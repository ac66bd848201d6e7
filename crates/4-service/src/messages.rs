//! Every text Canopy posts, in one place: a named constructor per message, rendered from a
//! template in `templates/` of this crate, snapshot-tested. Nothing else builds comment text.

use std::sync::OnceLock;

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::bot_command::{CommandKind, ParseError};
use canopy_core::STICKY_MARKER;

/// The time-to-merge section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TtmView {
    /// "Likely merged in 1–3 days (80% range 5 hours – 9 days), based on 412 earlier changes…"
    pub headline: String,
    /// Top factors in words ("large change (1,240 lines): +2 days").
    pub reasons: Vec<String>,
    /// A caveat (pooled model, little history, why the model is not shown), if any.
    pub note: Option<String>,
    /// The section shows the repository's running median, not a prediction of the model.
    pub running_median: bool,
}

/// The CI energy section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnergyView {
    /// "3 builds so far: 0.021 kWh (0.015–0.027), 8.4 gCO2e …"
    pub summary: String,
    /// How it was estimated, with sources and assumptions.
    pub method: String,
    /// Each job, "measured" or "estimated", when any job of the change was measured or a
    /// measurement was tried (empty otherwise: every job is an estimate, as `method` says).
    pub jobs: Vec<JobEnergyLine>,
}

/// One job's energy, measured or estimated, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEnergyLine {
    /// Job name.
    pub job: String,
    /// Whether the energy shown is measured.
    pub measured: bool,
    /// `measured` or `estimated`.
    pub label: &'static str,
    /// Measured energy, kWh (when measured).
    pub kwh: Option<String>,
    /// The estimate, kWh, with its range: "0.0100 (0.00800–0.0130)".
    pub estimate: String,
    /// The estimate against the measurement: "the estimate is 19% low".
    pub error: Option<String>,
    /// Where the measurement came from: "Prometheus source `kepler`".
    pub source: Option<String>,
    /// Why there is no measurement, when one was tried.
    pub note: Option<String>,
}

/// A job's energy line: `measured_kwh` is the measurement, if any; `failure` why a tried
/// measurement failed and whether a retry is coming.
pub fn job_energy(
    job: &str,
    estimate: canopy_models::energy::Range,
    measured_kwh: Option<f64>,
    source: &str,
    failure: Option<(&str, bool)>,
) -> JobEnergyLine {
    let num = crate::react::sticky::num;
    let est = format!(
        "{} ({}–{})",
        num(estimate.value),
        num(estimate.low),
        num(estimate.high)
    );
    let error = measured_kwh.map(|m| {
        let c = canopy_models::measured::compare(m, estimate);
        let within = if c.within_range {
            "within its range"
        } else {
            "outside its range"
        };
        match c.relative_error {
            Some(e) if e.abs() < 0.005 => format!("the estimate matches, {within}"),
            Some(e) => format!(
                "the estimate is {:.0}% {}, {within}",
                e.abs() * 100.0,
                if e > 0.0 { "high" } else { "low" }
            ),
            None => "measured zero".to_string(),
        }
    });
    JobEnergyLine {
        job: job.to_string(),
        measured: measured_kwh.is_some(),
        label: if measured_kwh.is_some() {
            "measured"
        } else {
            "estimated"
        },
        kwh: measured_kwh.map(num),
        estimate: est,
        error,
        source: measured_kwh.map(|_| format!("Prometheus source `{source}`")),
        note: failure.map(|(reason, retry)| {
            if retry {
                format!("{reason}; trying once more later")
            } else {
                reason.to_string()
            }
        }),
    }
}

/// The rerun advice section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RerunView {
    /// The advice in words.
    pub text: String,
}

/// Everything the sticky comment (or a Gerrit patchset message) can show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StickyView {
    /// Time to merge, when predicted.
    pub ttm: Option<TtmView>,
    /// CI energy, when any job ran.
    pub energy: Option<EnergyView>,
    /// Rerun advice, when a rerun is held back.
    pub rerun: Option<RerunView>,
    /// "Merged 2 days 3 hours after opening.", when closed.
    pub status: Option<String>,
    /// Failed CI jobs of the change that ran past their stopping point.
    pub stopping: Vec<crate::ci_insights::StoppingNote>,
}

impl StickyView {
    /// Whether there is anything to say at all.
    pub fn is_empty(&self) -> bool {
        self.ttm.is_none()
            && self.energy.is_none()
            && self.rerun.is_none()
            && self.status.is_none()
            && self.stopping.is_empty()
    }
}

const TEMPLATES: [(&str, &str); 18] = [
    ("private.html", include_str!("../templates/private.html.j2")),
    ("report.html", include_str!("../templates/report.html.j2")),
    ("digest", include_str!("../templates/digest.md.j2")),
    // The `.html` name turns on HTML escaping.
    ("digest.html", include_str!("../templates/digest.html.j2")),
    (
        "digest_chat",
        include_str!("../templates/digest_chat.md.j2"),
    ),
    (
        "rerun_advice",
        include_str!("../templates/rerun_advice.md.j2"),
    ),
    (
        "gerrit_rerun",
        include_str!("../templates/gerrit_rerun.txt.j2"),
    ),
    (
        "defer_reply",
        include_str!("../templates/defer_reply.md.j2"),
    ),
    ("explain", include_str!("../templates/explain.md.j2")),
    (
        "explain_fallback",
        include_str!("../templates/explain_fallback.md.j2"),
    ),
    (
        "explain_unavailable",
        include_str!("../templates/explain_unavailable.md.j2"),
    ),
    ("sticky", include_str!("../templates/sticky.md.j2")),
    (
        "gerrit_measured",
        include_str!("../templates/gerrit_measured.txt.j2"),
    ),
    (
        "gerrit_patchset",
        include_str!("../templates/gerrit_patchset.txt.j2"),
    ),
    ("help", include_str!("../templates/help.md.j2")),
    (
        "command_error",
        include_str!("../templates/command_error.md.j2"),
    ),
    (
        "permission_denied",
        include_str!("../templates/permission_denied.md.j2"),
    ),
    ("consent", include_str!("../templates/consent.md.j2")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("h", |hours: f64| crate::ttm::duration_words(hours));
        env.add_function("pct", |share: f64| format!("{:.0}%", share * 100.0));
        for (name, source) in TEMPLATES {
            // The templates are compiled into the binary and covered by tests.
            env.add_template(name, source)
                .expect("bundled template parses");
        }
        env
    })
}

fn render(name: &str, ctx: Value) -> String {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(s) => s.trim_end().to_string() + "\n",
        Err(e) => {
            // Only a programming error can get here (tests render every template).
            tracing::error!(template = name, error = %e, "rendering a message failed");
            String::new()
        }
    }
}

/// The hidden marker of a reply to the comment `comment_id`.
pub fn reply_marker(comment_id: &str) -> String {
    format!("<!-- canopy:reply:{comment_id} -->")
}

/// The sticky comment on a GitHub PR.
pub fn sticky(view: &StickyView) -> String {
    render(
        "sticky",
        context! {
            marker => STICKY_MARKER,
            ttm => Value::from(Serde(&view.ttm)),
            energy => Value::from(Serde(&view.energy)),
            rerun => Value::from(Serde(&view.rerun)),
            status => view.status.clone(),
            stopping => Value::from(Serde(&view.stopping)),
        },
    )
}

/// The review message for a Gerrit patchset.
pub fn gerrit_patchset(patchset: u32, view: &StickyView) -> String {
    render(
        "gerrit_patchset",
        context! {
            patchset,
            ttm => Value::from(Serde(&view.ttm)),
            energy => Value::from(Serde(&view.energy)),
            rerun => Value::from(Serde(&view.rerun)),
            stopping => Value::from(Serde(&view.stopping)),
        },
    )
}

/// The Gerrit message when a patchset's jobs were measured after its CI report.
pub fn gerrit_measured(patchset: u32, energy: &EnergyView) -> String {
    render(
        "gerrit_measured",
        context! { patchset, energy => Value::from(Serde(energy)) },
    )
}

/// The answer to `/canopy help`.
pub fn help(marker: &str) -> String {
    let commands: Vec<Value> = CommandKind::ALL
        .iter()
        .map(|k| {
            let (usage, what, who) = k.help();
            context! { usage, what, who }
        })
        .collect();
    render("help", context! { marker, commands })
}

/// The answer to a command that could not be parsed.
pub fn command_error(marker: &str, line: &str, error: &ParseError) -> String {
    let hint = match error {
        ParseError::Missing => "Write a command after `/canopy`, for example `/canopy explain`.",
        ParseError::Unknown(_) => "Commands are help, explain, defer, now, opt-in and opt-out.",
        ParseError::UnexpectedArgument { .. } => {
            "Only `defer` takes an argument: `/canopy defer by 6h`."
        }
        ParseError::InvalidTime { .. } => {
            "Times look like `90m`, `6h`, `1d`, `18:00` (UTC) or `2026-11-24T06:00:00Z`."
        }
    };
    render(
        "command_error",
        context! { marker, line, error => error.to_string(), hint },
    )
}

/// The answer to a command the commenter may not run.
pub fn permission_denied(marker: &str, user: &str, kind: CommandKind) -> String {
    let (usage, _, who) = kind.help();
    render("permission_denied", context! { marker, user, usage, who })
}

/// The answer to `/canopy explain`.
pub fn explain(marker: &str, headline: &str, lines: &[String]) -> String {
    render(
        "explain",
        context! { marker, headline, lines => lines.to_vec() },
    )
}

/// The answer to `/canopy explain` when the repository is shown its running median instead of
/// the model's prediction, with why (a sentence).
pub fn explain_fallback(marker: &str, why: &str) -> String {
    render("explain_fallback", context! { marker, why })
}

/// The answer to `/canopy explain` when there is no prediction, with the reason.
pub fn explain_unavailable(marker: &str, reason: &str) -> String {
    render("explain_unavailable", context! { marker, reason })
}

/// The confirmation of `/canopy opt-in` or `/canopy opt-out`.
pub fn consent(marker: &str, user: &str, opted_in: bool, k: usize) -> String {
    render("consent", context! { marker, user, opted_in, k })
}

/// Facts of a rerun advice, in words and rounded numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RerunAdvice {
    /// `github` or `gerrit`.
    pub platform: String,
    /// "`docs-build`, `lint`".
    pub jobs: String,
    /// Why it may wait ("non-voting job").
    pub reason: String,
    /// Grid region and source.
    pub region: String,
    /// Average intensity over the job now, gCO2e/kWh (rounded).
    pub now_g: String,
    /// Average intensity over the best window (rounded).
    pub best_g: String,
    /// Saving, percent (rounded).
    pub savings: String,
    /// Start of the best window in words.
    pub start: String,
    /// Expected duration in words.
    pub duration: String,
    /// Deadline in words ("12h").
    pub deadline: String,
    /// The rerun is scheduled.
    pub deferred: bool,
    /// The scheduled rerun was started.
    pub ran: bool,
    /// Why the intensity data is stale, if it is.
    pub stale: Option<String>,
}

/// The rerun advice section of the sticky comment (and the body of a Gerrit advice message).
pub fn rerun_advice(a: &RerunAdvice) -> RerunView {
    RerunView {
        text: render("rerun_advice", Value::from(Serde(a)))
            .trim_end()
            .to_string(),
    }
}

/// A Gerrit review message carrying rerun advice.
pub fn gerrit_rerun(view: &RerunView) -> String {
    render("gerrit_rerun", context! { text => view.text.clone() })
}

/// The reply to `/canopy defer` or `/canopy now`: when the rerun will start, or why there is
/// nothing to do.
pub fn defer_reply(
    marker: &str,
    user: &str,
    command: &str,
    jobs: &str,
    when: Option<&str>,
    savings: Option<&str>,
    reason: &str,
) -> String {
    render(
        "defer_reply",
        context! { marker, user, command, jobs, when, savings, reason },
    )
}

/// Where the digest's figures are defined (absolute, so links work in issues and emails).
pub const METRICS_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/metrics.md");

/// The weekly digest in Markdown: team-level figures, the k-anonymous burnout section (or none)
/// and suggestions.
pub fn digest(d: &canopy_analyzer::digest::Digest, burnout: Option<&str>, charts: &str) -> String {
    let waiting: Vec<(String, f64)> = d.waiting.iter().take(3).cloned().collect();
    render(
        "digest",
        context! { d => Value::from(Serde(d)), waiting, burnout, charts, docs => METRICS_URL, suggestions => d.suggestions() },
    )
}

/// The weekly digest as a self-contained HTML page with inline SVG charts (file and email).
pub fn digest_html(
    d: &canopy_analyzer::digest::Digest,
    burnout: Option<&crate::burnout::TeamBurnout>,
    charts: &[String],
) -> String {
    let waiting: Vec<(String, f64)> = d.waiting.iter().take(3).cloned().collect();
    render(
        "digest.html",
        context! {
            d => Value::from(Serde(d)),
            waiting,
            burnout => burnout.map(|b| Value::from(Serde(b))),
            charts => charts.to_vec(),
            docs => METRICS_URL,
            suggestions => d.suggestions()
        },
    )
}

/// A person's private digest section as HTML (for an email to that person only).
pub fn private_digest_html(week: &str, text: &str) -> String {
    render("private.html", context! { week, text })
}

/// A privacy-reviewed report as an HTML page (its tables and its review).
pub fn report_html(doc: &serde_json::Value) -> String {
    render("report.html", context! { r => Value::from(Serde(doc)) })
}

/// The weekly digest in a few lines for a chat webhook (Slack, Matrix).
pub fn digest_chat(d: &canopy_analyzer::digest::Digest) -> String {
    render(
        "digest_chat",
        context! { d => Value::from(Serde(d)), suggestions => d.suggestions() },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> StickyView {
        StickyView {
            ttm: Some(TtmView {
                headline: "Likely merged in 1–3 days (80% range 5 hours – 9 days), based on 412 earlier changes in this repository.".into(),
                reasons: vec!["large change (1,240 lines): +2 days".into(), "first-time contributor: +1 day".into()],
                note: Some("On the last 200 merged changes here Canopy's predictions were typically off by a factor of 2.7, the running median by 4.1.".into()),
                running_median: false,
            }),
            energy: Some(EnergyView {
                summary: "3 builds so far: 0.021 kWh (0.015–0.027), 8.4 gCO2e (6.1–10.7).".into(),
                method: "Estimate: Eco-CI power curve, 50% utilisation assumed.".into(),
                jobs: vec![],
            }),
            rerun: None,
            status: Some("Merged 1 day 2 hours after opening.".into()),
            stopping: vec![],
        }
    }

    fn past_stop() -> Vec<crate::ci_insights::StoppingNote> {
        vec![crate::ci_insights::StoppingNote {
            job: "tempest-full (check)".into(),
            ran: "2 hours".into(),
            past: "35 minutes".into(),
            stopping_point: "1 hour".into(),
            fail_share: 0.62,
            runs: 412,
            past_s: 2100.0,
        }]
    }

    #[test]
    fn sticky_comment_with_a_job_past_its_stopping_point() {
        let v = StickyView {
            ttm: None,
            status: None,
            stopping: past_stop(),
            ..full()
        };
        insta::assert_snapshot!(sticky(&v));
        insta::assert_snapshot!("gerrit_message_past_stopping_point", gerrit_patchset(3, &v));
    }

    /// Two jobs on a runner with a Prometheus source (one measured, one whose measurement
    /// failed and will be retried) and one on a GitHub-hosted runner.
    fn measured_energy() -> EnergyView {
        use canopy_models::energy::Range;
        let est = |value: f64| Range {
            value,
            low: value * 0.8,
            high: value * 1.3,
        };
        EnergyView {
            summary: "3 CI jobs so far (1 measured, 2 estimated): 0.0412 kWh, 19.6 gCO2e.".into(),
            method: "Measured: the runner's exporter via Prometheus. Estimated: Eco-CI power curve, 50% utilisation assumed.".into(),
            jobs: vec![
                job_energy("build", est(0.0250), Some(0.0310), "kepler", None),
                job_energy(
                    "integration",
                    est(0.0081),
                    None,
                    "kepler",
                    Some(("Prometheus unreachable: connection failed", true)),
                ),
                job_energy("lint", est(0.0021), None, "", None),
            ],
        }
    }

    #[test]
    fn sticky_comment_with_measured_and_estimated_jobs() {
        let v = StickyView {
            ttm: None,
            status: None,
            energy: Some(measured_energy()),
            ..full()
        };
        insta::assert_snapshot!(sticky(&v));
        insta::assert_snapshot!("gerrit_message_measured_jobs", gerrit_patchset(3, &v));
        insta::assert_snapshot!("gerrit_measured", gerrit_measured(3, &measured_energy()));
    }

    #[test]
    fn a_job_line_compares_the_estimate_with_the_measurement() {
        use canopy_models::energy::Range;
        let est = Range {
            value: 0.010,
            low: 0.008,
            high: 0.013,
        };
        let high = job_energy("a", est, Some(0.008), "k", None);
        assert_eq!(
            high.error.as_deref(),
            Some("the estimate is 25% high, within its range")
        );
        let low = job_energy("a", est, Some(0.02), "k", None);
        assert_eq!(
            low.error.as_deref(),
            Some("the estimate is 50% low, outside its range")
        );
        let failed = job_energy("a", est, None, "k", Some(("counter reset", false)));
        assert_eq!(failed.label, "estimated");
        assert_eq!(failed.note.as_deref(), Some("counter reset"));
    }

    #[test]
    fn sticky_comment() {
        insta::assert_snapshot!(sticky(&full()));
    }

    #[test]
    fn sticky_comment_with_only_energy() {
        let v = StickyView {
            ttm: None,
            status: None,
            ..full()
        };
        insta::assert_snapshot!(sticky(&v));
    }

    #[test]
    fn gerrit_message() {
        insta::assert_snapshot!(gerrit_patchset(3, &full()));
    }

    /// The model has not beaten the running median here: the comment shows the running
    /// median's range, labelled as such, and says why.
    fn running_median_fallback() -> StickyView {
        use canopy_models::ttm::fallback::RollingError;
        use canopy_models::ttm::running_median::Spread;
        let losing = RollingError::seeded(&[(1.52, 1.47); 100]).choice();
        StickyView {
            ttm: Some(crate::ttm_online::median_view(
                &Spread {
                    p10_hours: 2.0,
                    p50_hours: 26.0,
                    p90_hours: 430.0,
                    n: 100,
                },
                crate::ttm_online::Why::of(&losing),
            )),
            ..full()
        }
    }

    #[test]
    fn sticky_comment_with_the_running_median_instead_of_the_model() {
        insta::assert_snapshot!(sticky(&running_median_fallback()));
        let why = running_median_fallback().ttm.and_then(|t| t.note).unwrap();
        insta::assert_snapshot!(
            "explain_fallback",
            explain_fallback(&reply_marker("7"), &why)
        );
    }

    #[test]
    fn gerrit_message_with_the_running_median_instead_of_the_model() {
        insta::assert_snapshot!(gerrit_patchset(3, &running_median_fallback()));
    }

    #[test]
    fn help_lists_every_command() {
        let text = help(&reply_marker("42"));
        for k in CommandKind::ALL {
            assert!(text.contains(k.help().0), "{:?} missing from help", k);
        }
        insta::assert_snapshot!(text);
    }

    #[test]
    fn command_errors_and_denials() {
        let m = reply_marker("7");
        insta::assert_snapshot!(
            "unknown",
            command_error(&m, "/canopy dance", &ParseError::Unknown("dance".into()))
        );
        insta::assert_snapshot!("denied", permission_denied(&m, "mallory", CommandKind::Now));
        insta::assert_snapshot!("opt_in", consent(&m, "ada", true, 5));
        insta::assert_snapshot!("opt_out", consent(&m, "ada", false, 5));
        insta::assert_snapshot!(
            "explain",
            explain(
                &m,
                "Likely merged in 1–3 days (80% range 5 hours – 9 days), based on 412 earlier changes in this repository.",
                &[
                    "A typical change here would take about 1 day; this one about 2 days.".into(),
                    "- large change (1,240 lines): +1 day (×1.80 on the typical time)".into()
                ]
            )
        );
        insta::assert_snapshot!(
            "explain_unavailable",
            explain_unavailable(
                &m,
                "no time-to-merge model has been trained for this repository yet"
            )
        );
    }

    #[test]
    fn rerun_and_defer_messages() {
        let m = reply_marker("7");
        let advice = RerunAdvice {
            platform: "github".into(),
            jobs: "`docs-build`".into(),
            reason: "non-voting job".into(),
            region: "gb, UK Carbon Intensity API, national".into(),
            now_g: "312".into(),
            best_g: "118".into(),
            savings: "62".into(),
            start: "03:30 UTC".into(),
            duration: "25 minutes".into(),
            deadline: "12h".into(),
            ..RerunAdvice::default()
        };
        insta::assert_snapshot!("rerun_advice", rerun_advice(&advice).text);
        insta::assert_snapshot!(
            "rerun_deferred",
            rerun_advice(&RerunAdvice {
                deferred: true,
                stale: Some("HTTP 503 since 02:00 UTC".into()),
                ..advice.clone()
            })
            .text
        );
        insta::assert_snapshot!(
            "gerrit_rerun",
            gerrit_rerun(&rerun_advice(&RerunAdvice {
                platform: "gerrit".into(),
                ..advice
            }))
        );
        insta::assert_snapshot!(
            "defer_scheduled",
            defer_reply(
                &m,
                "ada",
                "defer",
                "`docs-build`",
                Some("03:30 UTC"),
                Some("62"),
                ""
            )
        );
        insta::assert_snapshot!(
            "defer_nothing",
            defer_reply(
                &m,
                "ada",
                "defer",
                "",
                None,
                None,
                "the rerun is critical (gate pipeline)"
            )
        );
    }

    /// A week of a repository with every digest section filled.
    fn sample_digest() -> canopy_analyzer::digest::Digest {
        canopy_analyzer::digest::Digest {
            repo: "canopy-demo/widgets".into(),
            week: "2026-W47".into(),
            opened: 4,
            merged: 3,
            abandoned: 1,
            ttm_median_hours: Some(30.0),
            ttm_p90_hours: Some(200.0),
            ttm_median_before: Some(12.0),
            first_review_median_hours: Some(5.0),
            reviews: 20,
            reviewers: 6,
            busiest_fifth_share: Some(0.6),
            review_gini: Some(0.41),
            waiting: vec![("#12".into(), 9.2), ("#15".into(), 3.0)],
            after_hours_share: Some(0.12),
            weekend_share: Some(0.05),
            negative_share: Some(0.18),
            negative_share_before: Some(0.12),
            uncivil: Some(1),
            ci_jobs: 40,
            ci_hours: 12.5,
            ci_failed: 6,
            ci_kwh: Some(1.84),
            ci_co2e_g: Some(702.0),
            measured: Some(canopy_analyzer::digest::MeasuredFigures {
                jobs: 12,
                measured_kwh: 0.412,
                estimated_kwh: 0.305,
                total_error: -0.26,
                median_abs_error: 0.22,
                within_range: 7,
                unmeasured: 1,
            }),
            deferred_reruns: 2,
            deferred_saved_g: Some(61.0),
            past_stop: Some(canopy_analyzer::digest::PastStopFigures {
                failed_runs: 3,
                failed_hours: 2.25,
                failed_kwh: 0.41,
                passing_runs_past: 1,
                passing_runs: 31,
            }),
            daily: (0..7)
                .map(|i| canopy_analyzer::digest::DayActivity {
                    date: format!("2026-11-{}", 16 + i),
                    opened: i % 2,
                    merged: i % 3,
                    reviews: 2 + i,
                    comments: 3,
                    ci_jobs: 5,
                    ci_hours: 1.5 + i as f64 * 0.2,
                })
                .collect(),
            ttm_weekly: ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
                .iter()
                .zip([Some(10.0), Some(14.0), None, Some(12.0), Some(30.0)])
                .map(|(w, m)| canopy_analyzer::digest::WeekMedian {
                    week: w.to_string(),
                    median_hours: m,
                    merged: 3,
                })
                .collect(),
        }
    }

    #[test]
    fn digest_messages() {
        let d = sample_digest();
        insta::assert_snapshot!(
            "digest",
            digest(
                &d,
                Some("| risk | people |\n|---|---:|\n| 0–24 | 5 |"),
                &crate::digest::charts::mermaid(&d)
            )
        );
        let burnout = crate::burnout::TeamBurnout {
            week: "2026-W47".into(),
            people: 7,
            buckets: vec![
                ("0–24".into(), Some(5)),
                ("25–49".into(), None),
                ("50–74".into(), None),
                ("75–100".into(), Some(0)),
            ],
            k: 5,
            drivers: vec!["recent activity (+4.1 points)".into()],
            note: None,
            trends: vec!["weekend share +0.8 sd".into()],
        };
        let charts = [
            crate::digest::charts::activity_svg(&d).unwrap(),
            crate::digest::charts::ttm_svg(&d).unwrap(),
            crate::digest::charts::ci_svg(&d).unwrap(),
        ];
        insta::assert_snapshot!("digest_html", digest_html(&d, Some(&burnout), &charts));
        insta::assert_snapshot!("digest_chat", digest_chat(&d));
    }

    #[test]
    fn report_page() {
        let report = serde_json::json!({
            "id": "rpt-20260701-0a1b2c3d", "status": "draft",
            "period": {"start": "2026-07-01", "end": "2026-09-30"},
            "scope": "acme", "repositories": 3, "k": 5, "epsilon": null, "noise": null,
            "pseudonym_key_id": "k3f9a1c",
            "tables": [{
                "name": "tenure_band", "columns": ["people"],
                "rows": [
                    {"label": "under 6 months", "cells": [{"value": 7.0, "status": "shown"}]},
                    {"label": "6 to 24 months", "cells": [{"value": null, "status": "suppressed"}]},
                    {"label": "over 2 years", "cells": [{"value": null, "status": "complementary"}]}
                ],
                "total": {"label": "total", "cells": [{"value": 16.0, "status": "shown"}]}
            }],
            "ci": {"jobs": 120, "co2e_kg": 1.42, "intensity_g_per_kwh": 475.0},
            "privacy_review": [
                {"rule": "cells_at_least_k", "passed": true, "detail": "3 cells shown, 0 of them count fewer than 5 people; 1 suppressed"},
                {"rule": "min_group_size", "passed": false, "detail": "made with k = 2; the policy requires at least 5"}
            ]
        });
        insta::assert_snapshot!("report_html", report_html(&report));
    }
}
