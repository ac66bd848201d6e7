//! Measured energy of a finished CI job from Prometheus: a runner profile's source (base URL,
//! PromQL template, what the samples are), the query for the job's window, and the reason when
//! there is no usable measurement (the caller then keeps the estimate and retries once later).

use std::collections::BTreeMap;
use std::time::Duration;

use canopy_models::measured;
use canopy_models::measured::response::{self, ResponseError};
pub use canopy_models::measured::{Measured, MetricKind, Unmeasured};
use serde::{Deserialize, Serialize};

/// Where a runner profile's measured energy comes from (`[prometheus.<runner label>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Prometheus base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// PromQL with placeholders `{host}`, `{pod}`, `{job}`, `{runner}`, `{run_id}` (inserted as
    /// escaped string contents) and `{window}` (the job's duration, e.g. `1800s`), e.g.
    /// `kepler_container_joules_total{pod="{pod}"}` or
    /// `sum(increase(node_rapl_package_joules_total{instance=~"{host}:.*"}[{window}]))`.
    pub query: String,
    /// What the samples are: `counter_joules`, `power_watts`, `power_microwatts` (range query),
    /// or `joules` (instant query at the job's end).
    pub kind: MetricKind,
    /// Range-query resolution, seconds. Default 15.
    #[serde(default = "default_step")]
    pub step_secs: u64,
    /// Seconds before a query is abandoned. Default 10.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_step() -> u64 {
    15
}

fn default_timeout() -> u64 {
    10
}

/// The placeholders a query template may use.
pub const PLACEHOLDERS: [&str; 6] = ["host", "pod", "job", "runner", "run_id", "window"];

impl PrometheusSource {
    /// Checks the URL and the template's placeholders; the error names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        reqwest::Url::parse(&self.url).map_err(|e| format!("url {:?}: {e}", self.url))?;
        if self.step_secs == 0 {
            return Err("step_secs must be at least 1".into());
        }
        for name in placeholders(&self.query) {
            if !PLACEHOLDERS.contains(&name.as_str()) {
                return Err(format!(
                    "query: unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Placeholder names (`{name}` with a lowercase identifier) in a template; PromQL's own braces
/// (`{pod="x"}`) are not identifiers and pass through.
fn placeholders(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        if let Some(j) = rest.find('}') {
            let name = &rest[..j];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// A finished job to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct JobWindow {
    /// Start, epoch seconds.
    pub start: i64,
    /// End, epoch seconds.
    pub end: i64,
    /// Values for the placeholders that the job has (`host`, `pod`, `job`, `runner`, `run_id`).
    pub labels: BTreeMap<String, String>,
}

/// Why a job has no measured energy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasureError {
    /// The template needs a value the job does not have.
    #[error("the query needs {{{0}}}, which this job does not report")]
    MissingLabel(String),
    /// Prometheus could not be reached.
    #[error("Prometheus unreachable: {0}")]
    Unreachable(String),
    /// Prometheus answered with an HTTP error.
    #[error("Prometheus answered HTTP {0}")]
    Http(u16),
    /// The answer was an error or not a query response.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// The answer holds no usable measurement.
    #[error(transparent)]
    Unmeasured(#[from] Unmeasured),
}

impl MeasureError {
    /// Whether asking again later may help (Prometheus down or busy, the last scrape not in yet).
    pub fn retryable(&self) -> bool {
        match self {
            MeasureError::Unreachable(_) => true,
            MeasureError::Http(code) => *code >= 500 || *code == 429,
            MeasureError::Response(ResponseError::Api { error_type, .. }) => {
                matches!(error_type.as_str(), "timeout" | "unavailable" | "internal")
            }
            MeasureError::Unmeasured(u) => matches!(
                u,
                Unmeasured::NoSeries
                    | Unmeasured::TooFewSamples { .. }
                    | Unmeasured::PartialCoverage { .. }
            ),
            MeasureError::MissingLabel(_) | MeasureError::Response(_) => false,
        }
    }
}

/// A PromQL string literal's contents: backslashes and quotes escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The template with the job's values in place.
pub fn render_query(template: &str, w: &JobWindow) -> Result<String, MeasureError> {
    let mut q = template.to_string();
    for name in placeholders(template) {
        let value = if name == "window" {
            format!("{}s", (w.end - w.start).max(1))
        } else {
            escape(
                w.labels
                    .get(&name)
                    .ok_or_else(|| MeasureError::MissingLabel(name.clone()))?,
            )
        };
        q = q.replace(&format!("{{{name}}}"), &value);
    }
    Ok(q)
}

/// Queries the source for the job's window and measures its energy.
pub async fn measure(
    http: &reqwest::Client,
    src: &PrometheusSource,
    w: &JobWindow,
) -> Result<Measured, MeasureError> {
    let query = render_query(&src.query, w)?;
    let base = src.url.trim_end_matches('/');
    let range = src.kind != MetricKind::Joules;
    let path = if range { "query_range" } else { "query" };
    let mut url = reqwest::Url::parse(&format!("{base}/api/v1/{path}"))
        .map_err(|e| MeasureError::Unreachable(format!("bad url: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("query", &query);
        if range {
            q.append_pair("start", &w.start.to_string());
            q.append_pair("end", &w.end.to_string());
            q.append_pair("step", &format!("{}s", src.step_secs));
        } else {
            q.append_pair("time", &w.end.to_string());
        }
    }
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(src.timeout_secs.max(1)))
        .send()
        .await
        .map_err(|e| MeasureError::Unreachable(without_url(&e)))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| MeasureError::Unreachable(without_url(&e)))?;
    // Prometheus answers bad queries with 400/422 and a JSON error body: read it when there.
    let parsed = response::parse(&body);
    if !status.is_success() {
        return match parsed {
            Err(e @ ResponseError::Api { .. }) => Err(e.into()),
            _ => Err(MeasureError::Http(status.as_u16())),
        };
    }
    let result = parsed?;
    Ok(measured::measure(
        &result,
        src.kind,
        w.start as f64,
        w.end as f64,
    )?)
}

fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> JobWindow {
        JobWindow {
            start: 1_700_000_000,
            end: 1_700_001_800,
            labels: [("pod".to_string(), "runner-\"x\"".to_string())].into(),
        }
    }

    #[test]
    fn templates_fill_escaped_values_and_name_what_is_missing() {
        let q = render_query(
            r#"sum(increase(kepler_container_joules_total{pod="{pod}"}[{window}]))"#,
            &window(),
        )
        .unwrap();
        assert_eq!(
            q,
            r#"sum(increase(kepler_container_joules_total{pod="runner-\"x\""}[1800s]))"#
        );
        let e = render_query(r#"x{instance="{host}"}"#, &window()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the query needs {host}, which this job does not report"
        );
        let src = PrometheusSource {
            url: "http://127.0.0.1:9090".into(),
            query: "x{nodename}".into(),
            kind: MetricKind::CounterJoules,
            step_secs: 15,
            timeout_secs: 10,
        };
        assert!(src.validate().unwrap_err().contains("{nodename}"));
        assert!(
            PrometheusSource {
                url: "not a url".into(),
                ..src
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn what_is_worth_retrying() {
        assert!(MeasureError::Unreachable("connection failed".into()).retryable());
        assert!(MeasureError::Http(503).retryable());
        assert!(!MeasureError::Http(404).retryable());
        assert!(MeasureError::Unmeasured(Unmeasured::NoSeries).retryable());
        assert!(
            !MeasureError::Unmeasured(Unmeasured::CounterReset {
                resets: 1,
                series: 1
            })
            .retryable()
        );
    }
}
