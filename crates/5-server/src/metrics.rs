//! Prometheus metrics in the text exposition format: deliveries by platform, event and outcome,
//! time to acknowledge, processing latency and outcome, queue depth and the backlog's age.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histograms: about 1.25 to 1.5 apart, so that a
/// quantile read from them (bench/processing/metrics.py interpolates inside its bucket) is
/// known to within a quarter or so, enough to compare p99s a factor of two apart.
const BUCKETS: [f64; 32] = [
    0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02,
    0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5,
    5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, name: &str, labels: &str, out: &mut String) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    deliveries: BTreeMap<(String, String, String), u64>,
    processed: BTreeMap<(String, String), u64>,
    ack: BTreeMap<String, Histogram>,
    processing: BTreeMap<String, Histogram>,
}

/// The server's metrics registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Counts a delivery by its HTTP outcome and records the time taken to answer it. `event`
    /// must come from a bounded set (see `http::event_label`), so a sender cannot grow the
    /// label set.
    pub fn observe_delivery(
        &self,
        platform: &str,
        event: &'static str,
        outcome: &str,
        seconds: f64,
    ) {
        if let Ok(mut m) = self.inner.lock() {
            *m.deliveries
                .entry((platform.to_string(), event.to_string(), outcome.to_string()))
                .or_default() += 1;
            m.ack
                .entry(platform.to_string())
                .or_default()
                .observe(seconds);
        }
    }

    /// Counts a processed delivery by outcome and records how long processing took.
    pub fn observe_processing(&self, platform: &str, outcome: &str, seconds: f64) {
        if let Ok(mut m) = self.inner.lock() {
            *m.processed
                .entry((platform.to_string(), outcome.to_string()))
                .or_default() += 1;
            m.processing
                .entry(platform.to_string())
                .or_default()
                .observe(seconds);
        }
    }

    /// Renders every metric; `queue_depth` is read from the store by the caller.
    pub fn render(&self, queue_depth: Option<u64>) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        out.push_str("# HELP canopy_deliveries_total Webhook deliveries received, by platform, event and outcome.\n");
        out.push_str("# TYPE canopy_deliveries_total counter\n");
        for ((p, e, o), n) in &m.deliveries {
            let _ = writeln!(
                out,
                "canopy_deliveries_total{{platform=\"{p}\",event=\"{e}\",outcome=\"{o}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP canopy_ack_seconds Time from request to response for webhook deliveries.\n",
        );
        out.push_str("# TYPE canopy_ack_seconds histogram\n");
        for (p, h) in &m.ack {
            h.render("canopy_ack_seconds", &format!("platform=\"{p}\""), &mut out);
        }
        out.push_str("# HELP canopy_processed_total Deliveries turned into events, by platform and outcome.\n");
        out.push_str("# TYPE canopy_processed_total counter\n");
        for ((p, o), n) in &m.processed {
            let _ = writeln!(
                out,
                "canopy_processed_total{{platform=\"{p}\",outcome=\"{o}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP canopy_processing_seconds Time to normalise a delivery and store its events.\n",
        );
        out.push_str("# TYPE canopy_processing_seconds histogram\n");
        for (p, h) in &m.processing {
            h.render(
                "canopy_processing_seconds",
                &format!("platform=\"{p}\""),
                &mut out,
            );
        }
        if let Some(d) = queue_depth {
            out.push_str(
                "# HELP canopy_inbox_queue_depth Deliveries stored and waiting to be processed.\n",
            );
            out.push_str("# TYPE canopy_inbox_queue_depth gauge\n");
            let _ = writeln!(out, "canopy_inbox_queue_depth {d}");
        }
        out
    }
}

/// The backlog's age and the age at which `/readyz` turns unready, as gauges.
pub fn render_backlog_age(age_secs: f64, limit_secs: f64) -> String {
    let mut out = String::new();
    out.push_str("# HELP canopy_inbox_backlog_age_seconds How long the oldest delivery waiting to be processed has waited (0 when none waits).\n");
    out.push_str("# TYPE canopy_inbox_backlog_age_seconds gauge\n");
    let _ = writeln!(out, "canopy_inbox_backlog_age_seconds {age_secs}");
    out.push_str("# HELP canopy_inbox_backlog_age_limit_seconds Backlog age beyond which /readyz answers 503.\n");
    out.push_str("# TYPE canopy_inbox_backlog_age_limit_seconds gauge\n");
    let _ = writeln!(out, "canopy_inbox_backlog_age_limit_seconds {limit_secs}");
    out
}

/// The request byte budget as gauges and a counter.
pub fn render_budget(b: &crate::budget::Budget) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP canopy_request_bytes_in_flight Request body bytes held by the server now.\n",
    );
    out.push_str("# TYPE canopy_request_bytes_in_flight gauge\n");
    let _ = writeln!(out, "canopy_request_bytes_in_flight {}", b.in_use());
    out.push_str(
        "# HELP canopy_request_bytes_budget The budget of request body bytes in flight.\n",
    );
    out.push_str("# TYPE canopy_request_bytes_budget gauge\n");
    let _ = writeln!(out, "canopy_request_bytes_budget {}", b.limit());
    out.push_str("# HELP canopy_requests_shed_total Requests answered 503 for lack of budget.\n");
    out.push_str("# TYPE canopy_requests_shed_total counter\n");
    let _ = writeln!(out, "canopy_requests_shed_total {}", b.refused());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.observe_delivery("github", "pull_request", "accepted", 0.002);
        m.observe_delivery("github", "other", "bad_request", 0.001);
        m.observe_processing("github", "processed", 0.0004);
        let text = m.render(Some(3));
        assert!(text.contains("canopy_deliveries_total{platform=\"github\",event=\"pull_request\",outcome=\"accepted\"} 1"));
        assert!(text.contains("event=\"other\",outcome=\"bad_request\"} 1"));
        assert!(text.contains("canopy_ack_seconds_bucket{platform=\"github\",le=\"0.0025\"} 2"));
        assert!(text.contains("canopy_processing_seconds_count{platform=\"github\"} 1"));
        assert!(text.contains("canopy_inbox_queue_depth 3"));
    }
}
