//! Privacy-reviewed aggregate reports: a period of a scope's events → pseudonymised aggregate
//! tables → suppression (and optional noise) → a machine-checked privacy review → a draft in
//! the store that a configured reviewer must approve before it is published.

use std::ops::ControlFlow;
use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use canopy_analyzer::aggregate::{self, DEFAULT_CLIP};
use canopy_analyzer::identity::Identities;
use canopy_analyzer::{Actor, Event};
use canopy_models::energy::{Footprint, Utilisation};
use canopy_policies::privacy::{Budget, pseudonym};
use canopy_policies::report::{self as review, Mechanism, Noise, ReviewInput, RuleResult};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rand::RngExt;
use sha2::{Digest as _, Sha256};

use crate::react::sticky::profile_for;
use crate::repo_config::RepoConfig;
use canopy_store::{ReportStatus, Store, StoredReport, TimeRange};

/// A reporting period: whole days, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub start: NaiveDate,
    /// Day after the last.
    pub end: NaiveDate,
}

impl FromStr for Period {
    type Err = String;

    /// `2026-07-01..2026-09-30` (both days included), `2026-Q3`, `2026-07` or `2026`.
    fn from_str(s: &str) -> Result<Period, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "invalid period {s:?}: expected START..END (2026-07-01..2026-09-30), a quarter (2026-Q3), a month (2026-07) or a year (2026)"
            )
        };
        let day = |d: &str| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| bad());
        let month_start = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad);
        let next_month = |y: i32, m: u32| {
            if m == 12 {
                month_start(y + 1, 1)
            } else {
                month_start(y, m + 1)
            }
        };
        let p = if let Some((a, b)) = s.split_once("..") {
            Period {
                start: day(a)?,
                end: day(b)?.succ_opt().ok_or_else(bad)?,
            }
        } else if let Some((y, q)) = s.split_once("-Q") {
            let y: i32 = y.parse().map_err(|_| bad())?;
            let q: u32 = q.parse().map_err(|_| bad())?;
            if !(1..=4).contains(&q) {
                return Err(bad());
            }
            Period {
                start: month_start(y, 3 * q - 2)?,
                end: next_month(y, 3 * q)?,
            }
        } else if let Some((y, m)) = s.split_once('-') {
            let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            Period {
                start: month_start(y, m)?,
                end: next_month(y, m)?,
            }
        } else {
            let y: i32 = s.parse().map_err(|_| bad())?;
            Period {
                start: month_start(y, 1)?,
                end: month_start(y + 1, 1)?,
            }
        };
        if p.end <= p.start {
            return Err(format!("invalid period {s:?}: it ends before it starts"));
        }
        Ok(p)
    }
}

impl Period {
    /// `2026-07-01..2026-09-30`.
    pub fn label(&self) -> String {
        format!(
            "{}..{}",
            self.start,
            self.end.pred_opt().unwrap_or(self.end)
        )
    }

    fn utc(d: NaiveDate) -> DateTime<Utc> {
        d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }

    /// Start instant.
    pub fn from(&self) -> DateTime<Utc> {
        Period::utc(self.start)
    }

    /// End instant (exclusive).
    pub fn to(&self) -> DateTime<Utc> {
        Period::utc(self.end)
    }

    /// The budget's period: the calendar quarter the report starts in, so that reports over
    /// overlapping spans of the same quarter share one budget.
    pub fn budget_key(&self) -> String {
        format!(
            "privacy-budget:{}-Q{}",
            self.start.year(),
            (self.start.month() - 1) / 3 + 1
        )
    }
}

/// The pseudonym key: read from `path`, or created there with 32 random bytes (mode 0600).
pub fn load_or_create_key(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let key = match std::fs::read(path) {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => anyhow::bail!("the pseudonym key file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = vec![0u8; 32];
            rand::rng().fill(&mut k[..]);
            write_private(path, &k)
                .with_context(|| format!("creating the pseudonym key {}", path.display()))?;
            k
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading the pseudonym key {}", path.display()));
        }
    };
    // The key id names the key without revealing it, so a rotated key is visible in reports.
    let id = format!("k{}", &hex::encode(Sha256::digest(&key))[..6]);
    Ok((id, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(bytes)
}

/// What a report is made with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Period.
    pub period: Period,
    /// Organisation (repositories `ORG/...`) or one repository; `None` for the whole store.
    pub scope: Option<String>,
    /// k.
    pub k: u64,
    /// The policy's minimum k.
    pub min_k: u64,
    /// Epsilon of optional noise.
    pub epsilon: Option<f64>,
    /// The noise's mechanism (used only with `epsilon`).
    pub mechanism: Mechanism,
    /// Epsilon allowed per period.
    pub epsilon_per_period: f64,
    /// Pseudonym key id and bytes.
    pub key: (String, Vec<u8>),
    /// Repository defaults (CI runner profiles, grid intensity).
    pub repo_defaults: RepoConfig,
}

fn in_scope(repo: &str, scope: &Option<String>) -> bool {
    use crate::digest::Scope;
    scope
        .as_ref()
        .is_none_or(|s| Scope::Repo(s.clone()).covers(repo) || Scope::Org(s.clone()).covers(repo))
}

/// The identity strings of an actor that must never appear in a report.
fn raw_identities(a: &Actor, out: &mut std::collections::BTreeSet<String>) {
    if let Some((_, v)) = a.key.split_once(':') {
        out.insert(v.to_string());
        if let Some((_, id)) = v.rsplit_once('/') {
            // Gerrit account ids are numbers: only long ones can be told from counts.
            if id.len() >= 5 || id.parse::<u64>().is_err() {
                out.insert(id.to_string());
            }
        }
    }
    out.extend(a.name.clone());
    out.extend(a.email.clone());
}

/// The repositories in the report's scope and all their events up to the period's end.
fn scope_events(store: &dyn Store, o: &Options) -> anyhow::Result<(Vec<String>, Vec<Event>)> {
    let repos: Vec<String> = store
        .repos()?
        .into_iter()
        .filter(|r| in_scope(r, &o.scope))
        .collect();
    anyhow::ensure!(
        !repos.is_empty(),
        "no repository in the store matches scope {}",
        o.scope.as_deref().unwrap_or("(all)")
    );
    let mut events: Vec<Event> = Vec::new();
    let range = TimeRange {
        from: None,
        to: Some(o.period.to()),
    };
    for r in &repos {
        store.scan_repo(r, range, &mut |e| {
            events.push(e);
            ControlFlow::Continue(())
        })?;
    }
    Ok((repos, events))
}

/// The report's id: its period's start and a digest of its settings and creation time.
fn report_id(o: &Options, now: DateTime<Utc>) -> String {
    format!(
        "rpt-{}-{}",
        o.period.start.format("%Y%m%d"),
        &hex::encode(Sha256::digest(format!(
            "{}|{:?}|{}|{:?}|{:?}|{}",
            o.period.label(),
            o.scope,
            o.k,
            o.epsilon,
            o.mechanism,
            now.to_rfc3339()
        )))[..8]
    )
}

/// The period's privacy budget after the report's epsilon is spent (none without noise), and
/// the review rule saying so; an error when the budget does not allow it.
fn spend_budget(store: &dyn Store, o: &Options) -> anyhow::Result<(Option<Budget>, RuleResult)> {
    let Some(eps) = o.epsilon else {
        let rule = RuleResult::new(
            "privacy_budget",
            true,
            "no noise requested, no budget spent",
        );
        return Ok((None, rule));
    };
    let key = o.period.budget_key();
    let mut b = store.budget(&key)?.unwrap_or(Budget {
        allowed: o.epsilon_per_period,
        spent: 0.0,
    });
    b.allowed = o.epsilon_per_period;
    b.spend(eps).map_err(|e| {
        anyhow::anyhow!(
            "{e} ({}; reports.epsilon_per_period)",
            key.trim_start_matches("privacy-budget:")
        )
    })?;
    let rule = RuleResult::new(
        "privacy_budget",
        true,
        format!(
            "epsilon {eps} spent; {:.2} of {:.2} used for {}",
            b.spent,
            b.allowed,
            key.trim_start_matches("privacy-budget:")
        ),
    );
    Ok((Some(b), rule))
}

/// Makes a draft report (not yet stored) with its privacy review.
// Long: events → pseudonymised tables → suppression and noise → review, in one place a reader
// can check end to end for what reaches a report.
pub fn create(
    store: &dyn Store,
    ids: &Identities,
    o: &Options,
    now: DateTime<Utc>,
) -> anyhow::Result<(StoredReport, Option<Budget>)> {
    let (repos, events) = scope_events(store, o)?;
    let mut identities = std::collections::BTreeSet::new();
    for e in &events {
        for a in e.actors() {
            raw_identities(a, &mut identities);
        }
    }
    let (key_id, key) = &o.key;
    // People are counted under keyed pseudonyms: raw identities never reach the tables.
    let person = |a: &Actor| ids.person(a).map(|p| pseudonym(key_id, key, &p));
    let cfg = &o.repo_defaults;
    // A job's measured energy where its runner reported one, else the estimate.
    let measured = crate::measurement::measured_kwh_by_job(&events);
    let measured_jobs = std::cell::Cell::new(0u64);
    let ci = |j: &canopy_analyzer::event::CiJobEvent, at: DateTime<Utc>| {
        let mut f = Footprint::default();
        let p = profile_for(j, cfg);
        let key = (j.name.clone(), at.timestamp_millis(), j.run_id.clone());
        match measured.get(&key) {
            Some(kwh) => {
                measured_jobs.set(measured_jobs.get() + 1);
                f.add_measured_job(
                    *kwh,
                    j.duration_secs as f64,
                    &p,
                    cfg.carbon.intensity_g_per_kwh,
                )
            }
            None => f.add_job(
                j.duration_secs as f64,
                &p,
                Utilisation::around(cfg.carbon.utilisation),
                cfg.carbon.intensity_g_per_kwh,
            ),
        }
        (f.energy_kwh.value, f.total_g().value)
    };
    let clip = o.epsilon.map(|_| DEFAULT_CLIP);
    let agg = aggregate::aggregate(&events, o.period.from(), o.period.to(), &person, &ci, clip);
    drop(events);
    let id = report_id(o, now);
    let seed = u64::from_le_bytes(
        Sha256::digest(id.as_bytes())[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    let (budget, budget_rule) = spend_budget(store, o)?;
    let noise = o.epsilon.map(|epsilon| Noise {
        epsilon,
        mechanism: o.mechanism,
        clip: DEFAULT_CLIP,
        seed,
    });
    let (tables, note) = review::publish(&agg.tables, o.k, noise);
    let active = agg
        .tables
        .first()
        .and_then(|t| t.total.first())
        .map_or(0, |c| c.people);
    let ci_summary = (active >= o.min_k).then(|| {
        serde_json::json!({
            "jobs": agg.ci_jobs,
            // Energy per job: measured on the runner where it reported, estimated otherwise.
            "measured_jobs": measured_jobs.get(),
            "estimated_jobs": agg.ci_jobs.saturating_sub(measured_jobs.get()),
            "co2e_kg": (agg.ci_co2e_g / 10.0).round() / 100.0,
            "intensity_g_per_kwh": cfg.carbon.intensity_g_per_kwh,
        })
    });
    let mut doc = serde_json::json!({
        "id": id,
        "status": "draft",
        "created_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "period": { "start": o.period.start.to_string(), "end": o.period.end.pred_opt().unwrap_or(o.period.end).to_string() },
        "scope": o.scope.clone().unwrap_or_else(|| "all".into()),
        "repositories": repos.len(),
        "k": o.k,
        "epsilon": o.epsilon,
        "pseudonym_key_id": key_id,
        "tables": tables,
        "ci": ci_summary,
        "noise": note,
    });
    let identities: Vec<String> = identities.into_iter().collect();
    let mut rules = review::review(&ReviewInput {
        raw: &agg.tables,
        published: &tables,
        document: &doc,
        k: o.k,
        min_k: o.min_k,
        identities: &identities,
        key,
        noise: note.as_ref(),
    });
    rules.push(budget_rule);
    doc["privacy_review"] = serde_json::to_value(&rules)?;
    doc["approvable"] = serde_json::Value::Bool(rules.iter().all(|r| r.passed));
    Ok((
        StoredReport {
            id,
            status: ReportStatus::Draft,
            document: doc,
            raw: agg.tables,
        },
        budget,
    ))
}

/// The rules of a stored report that failed.
pub fn failed_rules(r: &StoredReport) -> Vec<String> {
    r.document["privacy_review"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter(|x| x["passed"].as_bool() != Some(true))
                .map(|x| {
                    format!(
                        "{} ({})",
                        x["rule"].as_str().unwrap_or("?"),
                        x["detail"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_else(|| vec!["the report has no privacy review".into()])
}

/// The report as CSV: `table,row,column,value,status`, then the review as
/// `privacy_review,RULE,passed,true|false,DETAIL`.
pub fn to_csv(doc: &serde_json::Value) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["table", "row", "column", "value", "status"])?;
    for t in doc["tables"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or("");
        let cols: Vec<&str> = t["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str())
            .collect();
        for row in t["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .chain([&t["total"]])
        {
            let label = row["label"].as_str().unwrap_or("");
            for (c, cell) in cols
                .iter()
                .zip(row["cells"].as_array().into_iter().flatten())
            {
                let v = cell["value"]
                    .as_f64()
                    .map(|v| format!("{v}"))
                    .unwrap_or_default();
                w.write_record([name, label, c, &v, cell["status"].as_str().unwrap_or("")])?;
            }
        }
    }
    for r in doc["privacy_review"].as_array().into_iter().flatten() {
        w.write_record([
            "privacy_review",
            r["rule"].as_str().unwrap_or(""),
            "passed",
            if r["passed"].as_bool() == Some(true) {
                "true"
            } else {
                "false"
            },
            r["detail"].as_str().unwrap_or(""),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The report as a self-contained HTML page.
pub fn to_html(doc: &serde_json::Value) -> String {
    crate::messages::report_html(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::aggregate::aggregate;
    use canopy_analyzer::event::{CommentEvent, CommitEvent, EventKind};
    use canopy_analyzer::{IsoWeek, Platform};
    use canopy_policies::report::{CellStatus, publish, tokens};
    use proptest::prelude::*;

    /// People with every kind of raw identity a source gives.
    const NAMES: [&str; 9] = [
        "Zelda Quartz",
        "Yusuf Ozturk",
        "Xia Wen",
        "Wanda Vole",
        "Uma Tindall",
        "Sven Rask",
        "Rhea Pomfrey",
        "Quincy Oddo",
        "Nadia Mirz",
    ];

    fn login(i: usize) -> String {
        format!(
            "user{i}-{}",
            NAMES[i].split(' ').next().unwrap_or("").to_lowercase()
        )
    }

    fn history(acts: &[(usize, u8, u16)]) -> Vec<Event> {
        acts.iter()
            .enumerate()
            .map(|(n, &(who, kind, day))| {
                let at = chrono::DateTime::parse_from_rfc3339("2026-07-01T09:00:00+02:00").unwrap()
                    + chrono::Duration::hours(day as i64 * 7);
                let name = NAMES[who];
                let email = format!("{}@mail.example", login(who));
                let kind = if kind == 0 {
                    let author = canopy_analyzer::Actor::git(name, &email);
                    EventKind::Commit(CommitEvent {
                        subject: format!("fix by {name}"),
                        ..CommitEvent::new(format!("{n:040x}"), author, at)
                    })
                } else {
                    EventKind::Comment(CommentEvent::on_change(
                        1,
                        n.to_string(),
                        canopy_analyzer::Actor::github(&login(who)),
                        format!("thanks {} for this", login(who)),
                    ))
                };
                Event::new(format!("e{n}"), Platform::Github, "o/r", at, kind)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn reports_and_digests_never_show_raw_identities_and_cells_count_k(
            acts in proptest::collection::vec((0usize..9, 0u8..2, 0u16..300), 1..120),
            k in 2u64..7,
        ) {
            let events = history(&acts);
            let ids = Identities::default();
            let key = b"proptest-key".to_vec();
            let person = |a: &Actor| ids.person(a).map(|p| pseudonym("k1", &key, &p));
            let from = "2026-07-01T00:00:00Z".parse().unwrap();
            let to = "2026-10-01T00:00:00Z".parse().unwrap();
            let agg = aggregate(&events, from, to, &person, &|_, _| (0.0, 0.0), None);
            let (tables, _) = publish(&agg.tables, k, None);
            for (raw, p) in agg.tables.iter().zip(&tables) {
                for j in 0..p.columns.len() {
                    let mut hidden = 0;
                    for (rr, pr) in raw.rows.iter().zip(&p.rows) {
                        if matches!(pr.cells[j].status, CellStatus::Shown) {
                            prop_assert!(rr.1[j].people == 0 || rr.1[j].people >= k);
                        } else {
                            hidden += 1;
                        }
                    }
                    if p.total.cells[j].value.is_some() {
                        prop_assert!(raw.total[j].people >= k);
                        prop_assert!(hidden != 1, "a lone hidden cell next to its total");
                    }
                }
            }
            let report_text = serde_json::to_string(&tables).unwrap().to_lowercase();
            let week = IsoWeek::of_utc(&events[0].at_utc());
            let d = canopy_analyzer::digest::build("o/r", &events, week, Some(&|_: &str| 0.5), Some(&|_: &str| false));
            let md = crate::messages::digest(&d, None, &crate::digest::charts::mermaid(&d)).to_lowercase();
            for text in [&report_text, &md] {
                let words = tokens(text);
                for (i, name) in NAMES.iter().enumerate() {
                    let email = format!("{}@mail.example", login(i));
                    prop_assert!(!text.contains(&email));
                    prop_assert!(!words.contains(&login(i).as_str()));
                    for part in name.to_lowercase().split(' ') {
                        prop_assert!(!words.contains(&part), "{part} in {text}");
                    }
                }
            }
        }
    }
}
