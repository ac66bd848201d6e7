//! Measuring finished CI jobs' energy: which jobs are due (the first try once the job's last
//! scrape is in, then one retry of a failure that may pass), the `ci_energy_measured` event each
//! try records — a measurement, or the reason the estimate stands — and the inbox delivery the
//! events enter the store as, so that the reactor refreshes the change's comment like after any
//! other delivery. The server's loop (`canopy_server::measure_loop`) drives it on the clock.

use std::collections::{BTreeMap, HashMap};

use canopy_analyzer::event::{CiJobEvent, EnergyMeasuredEvent, MeasureOutcome};
use canopy_analyzer::{Event, EventKind, Platform};
pub use canopy_forge::measured::{DELIVERY_EVENT, delivery};
use chrono::{DateTime, Duration, Utc};

use crate::prometheus::{self, JobWindow, MeasureError, Measured, PrometheusSource};

/// How long after a job ends it may still be measured: a job whose report reaches Canopy later
/// keeps its estimate. Also the window of events the loop looks at.
pub const HORIZON: Duration = Duration::hours(6);

/// The configured sources by runner label or CI system.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources(pub BTreeMap<String, PrometheusSource>);

impl Sources {
    /// The source of a job: by its runner label, else (for reports naming no runner, such as
    /// Zuul's) by its CI system.
    pub fn for_job(&self, j: &CiJobEvent) -> Option<(&str, &PrometheusSource)> {
        let key = j.runner.as_deref().unwrap_or(&j.system);
        self.0.get_key_value(key).map(|(k, s)| (k.as_str(), s))
    }

    /// Whether any source is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A job to measure now.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// Platform of the job.
    pub platform: Platform,
    /// Repository.
    pub repo: String,
    /// The job's event id.
    pub job_id: String,
    /// The job.
    pub job: CiJobEvent,
    /// The source's key.
    pub source: String,
    /// The query window and labels.
    pub window: JobWindow,
    /// 1 for the first try, 2 for the retry.
    pub attempt: u32,
}

/// What the loop should do: the jobs due now, and when the next one falls due.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Jobs to measure now.
    pub due: Vec<Due>,
    /// When the earliest job not due yet will be.
    pub next: Option<DateTime<Utc>>,
}

/// The tries recorded for each job: `(platform, repo, job id)` → measurement events.
pub fn tries(events: &[Event]) -> HashMap<(Platform, String, String), Vec<EnergyMeasuredEvent>> {
    let mut out: HashMap<_, Vec<EnergyMeasuredEvent>> = HashMap::new();
    for e in events {
        if let EventKind::CiEnergyMeasured(m) = &e.kind {
            out.entry((e.platform, e.repo.clone(), m.job_id.clone()))
                .or_default()
                .push(m.clone());
        }
    }
    out
}

/// The jobs among `events` (the last [`HORIZON`] of the store) that are due for a try at `now`.
pub fn plan(events: &[Event], sources: &Sources, now: DateTime<Utc>) -> Plan {
    let tried = tries(events);
    let mut plan = Plan::default();
    for e in events {
        let EventKind::CiJobFinished(j) = &e.kind else {
            continue;
        };
        let Some((key, src)) = sources.for_job(j) else {
            continue;
        };
        if e.platform == Platform::Git || j.duration_secs == 0 || e.at_utc() < now - HORIZON {
            continue;
        }
        let done = tried
            .get(&(e.platform, e.repo.clone(), e.id.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (attempt, at) = match done.iter().max_by_key(|m| m.attempt) {
            None => (1, e.at_utc() + Duration::seconds(src.settle_secs as i64)),
            Some(EnergyMeasuredEvent {
                attempt: 1,
                outcome:
                    MeasureOutcome::Unmeasured {
                        retry_at: Some(t), ..
                    },
                ..
            }) => (2, *t),
            Some(_) => continue,
        };
        if at > now {
            plan.next = Some(plan.next.map_or(at, |n| n.min(at)));
            continue;
        }
        plan.due.push(Due {
            platform: e.platform,
            repo: e.repo.clone(),
            job_id: e.id.clone(),
            job: j.clone(),
            source: key.to_string(),
            window: window(e, j),
            attempt,
        });
    }
    plan
}

/// The job's window (start and end, epoch seconds) and its placeholder values.
pub fn window(e: &Event, j: &CiJobEvent) -> JobWindow {
    let end = e.at_utc().timestamp();
    let start = j
        .started_at
        .map(|t| t.timestamp())
        .unwrap_or(end - j.duration_secs as i64);
    let mut labels = BTreeMap::new();
    labels.insert("job".to_string(), j.name.clone());
    if let Some(h) = &j.host {
        labels.insert("host".to_string(), h.clone());
        labels.insert("pod".to_string(), h.clone());
    }
    if let Some(r) = &j.runner {
        labels.insert("runner".to_string(), r.clone());
    }
    if let Some(r) = &j.run_id {
        labels.insert("run_id".to_string(), r.clone());
    }
    JobWindow {
        start: start.min(end - 1),
        end,
        labels,
    }
}

/// The event recording a try: the measurement, or the reason the estimate stands and when the
/// one retry is due (only after a first try whose failure may pass).
pub fn record(
    due: &Due,
    result: &Result<Measured, MeasureError>,
    retry_after: Duration,
    now: DateTime<Utc>,
) -> Event {
    let outcome = match result {
        Ok(m) => MeasureOutcome::Measured {
            joules: m.joules,
            series: m.series,
            coverage: m.coverage,
        },
        Err(e) => MeasureOutcome::Unmeasured {
            reason: e.to_string(),
            retry_at: (due.attempt == 1 && e.retryable()).then(|| now + retry_after),
        },
    };
    let m = EnergyMeasuredEvent {
        job_id: due.job_id.clone(),
        name: due.job.name.clone(),
        source: due.source.clone(),
        change: due.job.change,
        patchset: due.job.patchset,
        head_sha: due.job.head_sha.clone(),
        attempt: due.attempt,
        outcome,
    };
    Event::new(
        format!("energy:{}:{}", due.job_id, due.attempt),
        due.platform,
        due.repo.clone(),
        now.fixed_offset(),
        EventKind::CiEnergyMeasured(m),
    )
}

/// Measures one due job, logging why when the estimate has to stand.
pub async fn measure(
    http: &reqwest::Client,
    sources: &Sources,
    due: &Due,
    now: DateTime<Utc>,
) -> Option<Event> {
    let src = sources.0.get(&due.source)?;
    let result = prometheus::measure(http, src, &due.window).await;
    let retry_after = Duration::seconds(src.retry_after_secs as i64);
    let ev = record(due, &result, retry_after, now);
    match (&result, &ev.kind) {
        (Ok(m), _) => tracing::info!(
            repo = %due.repo, job_id = %due.job_id, source = %due.source, attempt = due.attempt,
            kwh = m.kwh(), series = m.series, "CI job energy measured"
        ),
        (Err(e), EventKind::CiEnergyMeasured(r)) => {
            let retry = matches!(
                r.outcome,
                MeasureOutcome::Unmeasured {
                    retry_at: Some(_),
                    ..
                }
            );
            tracing::warn!(
                repo = %due.repo, job_id = %due.job_id, source = %due.source, attempt = due.attempt,
                reason = %e, retry, "CI job energy not measured; the estimate stands"
            )
        }
        _ => {}
    }
    Some(ev)
}

/// What a change's comment shows of a job's measurement: the last try's outcome, a
/// measurement winning over failures.
pub fn latest_by_job(events: &[Event]) -> HashMap<String, EnergyMeasuredEvent> {
    let mut out: HashMap<String, EnergyMeasuredEvent> = HashMap::new();
    for e in events {
        if let EventKind::CiEnergyMeasured(m) = &e.kind {
            let keep = out.get(&m.job_id).is_some_and(|old| {
                matches!(old.outcome, MeasureOutcome::Measured { .. })
                    && !matches!(m.outcome, MeasureOutcome::Measured { .. })
            });
            if !keep {
                out.insert(m.job_id.clone(), m.clone());
            }
        }
    }
    out
}

/// Measured energy, kWh, of the jobs among `events` that have a measurement, by the job's
/// (name, end in epoch milliseconds, run id) — for callers that see jobs without their event ids.
pub fn measured_kwh_by_job(events: &[Event]) -> HashMap<(String, i64, Option<String>), f64> {
    let latest = latest_by_job(events);
    let mut out = HashMap::new();
    for e in events {
        if let EventKind::CiJobFinished(j) = &e.kind
            && let Some(kwh) = latest.get(&e.id).and_then(|m| m.outcome.kwh())
        {
            out.insert((j.name.clone(), e.at_millis(), j.run_id.clone()), kwh);
        }
    }
    out
}

/// A digest's measured-energy figures: each of the week's jobs as `(job event id, estimate)`,
/// and the measurements among `events`; `None` when no job of the week was measured or tried.
pub fn figures(
    events: &[Event],
    estimates: &[(String, canopy_models::energy::Range)],
) -> Option<canopy_analyzer::digest::MeasuredFigures> {
    let latest = latest_by_job(events);
    let mut f = canopy_analyzer::digest::MeasuredFigures::default();
    let mut errors = Vec::new();
    let mut tried = false;
    for (id, est) in estimates {
        let Some(m) = latest.get(id) else { continue };
        tried = true;
        let Some(kwh) = m.outcome.kwh() else {
            f.unmeasured += 1;
            continue;
        };
        let c = canopy_models::measured::compare(kwh, *est);
        f.jobs += 1;
        f.measured_kwh += kwh;
        f.estimated_kwh += est.value;
        f.within_range += usize::from(c.within_range);
        errors.extend(c.relative_error.map(f64::abs));
    }
    if !tried {
        return None;
    }
    if f.measured_kwh > 0.0 {
        f.total_error = (f.estimated_kwh - f.measured_kwh) / f.measured_kwh;
    }
    errors.sort_by(f64::total_cmp);
    if !errors.is_empty() {
        let n = errors.len();
        f.median_abs_error = if n % 2 == 1 {
            errors[n / 2]
        } else {
            (errors[n / 2 - 1] + errors[n / 2]) / 2.0
        };
    }
    Some(f)
}

#[cfg(test)]
mod tests;
