//! A deterministic, realistic organisation history for Canopy's demo and tests: about fifteen
//! people in several time zones over nine months in two repositories, with pull requests,
//! pushes, reviews, comments in a range of tones (some terse and uncivil), CI jobs with
//! durations, failures and reruns, two people drifting into late nights and weekends before
//! going quiet, two newcomers and a dependency bot.
//!
//! It emits what Canopy reads from the world: GitHub webhook deliveries in GitHub's real
//! payload format ([`Org::deliveries`]) and each repository's git history as a `git
//! fast-import` stream ([`Org::fast_import`]) whose commit ids are the ones the payloads name.
//! Pure: no I/O, no clock; the same [`Config`] gives the same bytes. Every name is invented.
#![forbid(unsafe_code)]
// `json!` of a whole pull request object nests deeper than the default limit.
#![recursion_limit = "256"]

pub mod cast;
pub mod ci;
pub mod git;
pub mod github;
pub mod model;
pub mod repos;
pub mod sha1;
pub mod story;
pub mod text;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use cast::{Person, Role};
pub use github::Delivery;
use model::{Change, IdKind, MainPush, MainWhat, Nightly, Note, Outcome};
use repos::Repo;
use story::Planner;
use text::Kind;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Seed of every random choice.
    pub seed: u64,
    /// Monday of the first week.
    pub start: NaiveDate,
    /// Number of weeks (the history ends on the Friday of the last week, 17:30 UTC).
    pub weeks: u32,
    /// Multiplies everyone's pace (pull requests per week).
    pub pace: f64,
}

impl Default for Config {
    /// Seed 2026, 39 weeks (nine months) from Monday 2 March 2026.
    fn default() -> Config {
        Config {
            seed: 2026,
            start: NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date"),
            weeks: 39,
            pace: 1.0,
        }
    }
}

/// The open pull request the demo shows: its CI failed only in a non-critical job (docs), and
/// its author asked for a rerun at the end of the history, late on a Friday afternoon.
#[derive(Debug, Clone, PartialEq)]
pub struct Showcase {
    /// Repository `owner/name`.
    pub repo: String,
    /// PR number.
    pub number: u64,
    /// When the rerun was requested (the last delivery of the history).
    pub rerun_at: DateTime<Utc>,
}

/// A generated organisation history.
#[derive(Debug, Clone)]
pub struct Org {
    /// What it was generated from.
    pub config: Config,
    /// The end of the history: nothing happens after it.
    pub now: DateTime<Utc>,
    /// Everyone, the bot included.
    pub people: Vec<Person>,
    /// The two repositories with their git histories.
    pub repos: Vec<Repo>,
    /// Every pull request.
    pub changes: Vec<Change>,
    /// Pushes to `main` (merges and direct commits).
    pub mains: Vec<MainPush>,
    /// Nightly benchmark jobs.
    pub nightly: Vec<Nightly>,
    /// The PR the demo shows.
    pub showcase: Showcase,
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l || k > 50 {
            return k;
        }
        k += 1;
    }
}

/// Generates the history of `config`.
pub fn generate(config: &Config) -> Org {
    let weeks = config.weeks.max(2);
    let people = cast::cast(weeks);
    let last_monday = config.start + Duration::days(7 * i64::from(weeks - 1));
    let now = (last_monday + Duration::days(4))
        .and_hms_opt(17, 30, 0)
        .expect("valid time")
        .and_utc();
    let mut p = Planner {
        people: &people,
        start: config.start,
        now,
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        ids: model::Ids::default(),
        numbers: [1, 1],
        files: [repos::paths(0), repos::paths(1)],
        changes: Vec::new(),
    };
    let mut mains = Vec::new();
    let mut nightly = Vec::new();
    for week in 0..weeks {
        plan_week(&mut p, config, week, &mut mains, &mut nightly);
    }
    p.changes.retain(|c| c.opened_at <= now);
    let showcase_at = p.changes.len();
    showcase(&mut p, weeks - 1);
    close_stale(&mut p);
    opt_ins(&mut p);
    story::welcome_newcomers(&mut p);
    let mut changes = std::mem::take(&mut p.changes);
    let showcase_number = renumber(&mut changes, showcase_at);
    for (i, c) in changes.iter().enumerate() {
        if let Outcome::Merged { at, by } = c.outcome
            && at <= now
        {
            let jobs = ci::main_run(&mut p, c.repo, at);
            mains.push(MainPush {
                at,
                pusher: by,
                repo: c.repo,
                what: MainWhat::Merge(i),
                jobs,
                tip: None,
            });
        }
    }
    mains.sort_by_key(|m| m.at);
    let mut repos = repos::specs();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x9e37_79b9);
    let first = config
        .start
        .and_hms_opt(10, 0, 0)
        .expect("valid time")
        .and_utc()
        - Duration::days(30);
    for (i, r) in repos.iter_mut().enumerate() {
        repos::initial(r, i, &people, first, &mut rng);
    }
    repos::build(&mut repos, &people, &mut changes, &mut mains, now, &mut rng);
    let showcase = Showcase {
        repo: repos[0].full_name.clone(),
        number: showcase_number,
        rerun_at: now,
    };
    Org {
        config: config.clone(),
        now,
        people,
        repos,
        changes,
        mains,
        nightly,
        showcase,
    }
}

fn plan_week(
    p: &mut Planner<'_>,
    config: &Config,
    week: u32,
    mains: &mut Vec<MainPush>,
    nightly: &mut Vec<Nightly>,
) {
    let people = p.people;
    for (i, person) in people.iter().enumerate() {
        if person.role == Role::Bot {
            for repo in 0..2 {
                if p.rng.random_bool(0.6) {
                    p.change(i, repo, week, Kind::Bump);
                }
            }
            continue;
        }
        if !person.active(week) {
            continue;
        }
        let n = poisson(
            &mut p.rng,
            person.pace * config.pace * (1.0 + 0.5 * person.drift_level(week)),
        );
        for _ in 0..n {
            let repo = usize::from(p.rng.random::<f64>() >= person.repo_weights[0]);
            let kind = story::pick_kind(&mut p.rng);
            p.change(i, repo, week, kind);
        }
        if person.role == Role::Maintainer && p.rng.random_bool(0.3) {
            let monday = config.start + Duration::days(7 * i64::from(week));
            let at = person
                .work_time(monday, week, &mut p.rng)
                .with_timezone(&Utc);
            let repo = usize::from(p.rng.random_bool(0.5));
            let path = if p.rng.random_bool(0.5) {
                "README.md"
            } else {
                "docs/"
            };
            let path = p.files[repo]
                .iter()
                .find(|f| f.starts_with(path))
                .cloned()
                .unwrap_or_else(|| "README.md".into());
            let commit = model::PlannedCommit {
                author: i,
                at: at.with_timezone(&person.offset()),
                subject: "Fix typos in the docs".into(),
                edits: vec![git::Edit {
                    path,
                    add: p.rng.random_range(1..6),
                    del: p.rng.random_range(1..6),
                }],
                work_email: false,
                index: None,
            };
            let jobs = ci::main_run(p, repo, at);
            mains.push(MainPush {
                at,
                pusher: i,
                repo,
                what: MainWhat::Direct(commit),
                jobs,
                tip: None,
            });
        }
    }
    for day in 0..5 {
        let at = (config.start + Duration::days(7 * i64::from(week) + day))
            .and_hms_opt(2, 0, 0)
            .expect("valid time")
            .and_utc();
        if at <= p.now {
            let job = ci::nightly(p, at);
            nightly.push(Nightly { repo: 0, job });
        }
    }
}

/// The demo's PR: opened on the Thursday of the last week by a steady member, reviewed once,
/// its docs job failed, and its author asks for a rerun at the end of the history.
fn showcase(p: &mut Planner<'_>, week: u32) {
    let author = p
        .people
        .iter()
        .position(|x| x.login == "hveit")
        .unwrap_or(4);
    let before = p.changes.len();
    // Plan a fix the usual way, then shape its end: opened Thursday, docs failed, no merge yet.
    p.change(author, 0, week, Kind::Fix);
    let now = p.now;
    let thursday = (p.start + Duration::days(7 * i64::from(week) + 3))
        .and_hms_opt(9, 40, 0)
        .expect("valid time")
        .and_utc();
    let Some(c) = p.changes.get_mut(before) else {
        return;
    };
    let shift = thursday - c.opened_at;
    c.opened_at = thursday;
    c.ready_at = None;
    c.pushes.truncate(1);
    let push = &mut c.pushes[0];
    push.at += shift;
    for commit in &mut push.commits {
        commit.at += shift;
    }
    push.reruns.clear();
    push.jobs.retain(|j| j.attempt == 1);
    for j in &mut push.jobs {
        j.started += shift;
        j.completed += shift;
        j.conclusion = if j.name == "docs" {
            "failure"
        } else {
            "success"
        };
    }
    c.requests.retain(|_| false);
    c.reviews.clear();
    c.comments.clear();
    c.outcome = Outcome::Open;
    let reviewer = p
        .people
        .iter()
        .position(|x| x.login == "mokafor")
        .unwrap_or(0);
    c.requests
        .push((thursday + Duration::minutes(12), reviewer, author));
    let failed = c.pushes[0].jobs.iter().find(|j| j.name == "docs").cloned();
    if let Some(j) = failed {
        c.pushes[0].reruns.push(ci::Rerun {
            at: now,
            by: author,
            target: ci::RerunTarget::WorkflowRun {
                run_id: j.run_id,
                run_number: j.run_number,
                workflow: "CI",
                created: j.started,
            },
        });
    }
}

/// Pull requests left open by people who went quiet are closed as stale by a maintainer two
/// weeks later.
fn close_stale(p: &mut Planner<'_>) {
    let people = p.people;
    let maintainer = people
        .iter()
        .position(|x| x.role == Role::Maintainer)
        .unwrap_or(0);
    for c in &mut p.changes {
        let Some(d) = people[c.author].drift else {
            continue;
        };
        if c.outcome != Outcome::Open {
            continue;
        }
        let quiet = (p.start + Duration::days(7 * i64::from(d.quiet_week + 2) + 1))
            .and_hms_opt(9, 15, 0)
            .expect("valid time")
            .and_utc();
        if quiet <= p.now && c.opened_at < quiet {
            let id = p.ids.next(IdKind::Comment);
            c.comments.push(Note {
                at: quiet - Duration::minutes(1),
                id,
                author: maintainer,
                body: "Closing as stale for now; feel free to reopen when you pick it up again."
                    .into(),
                path: None,
            });
            c.outcome = Outcome::Closed {
                at: quiet,
                by: maintainer,
            };
        }
    }
}

/// Each person who opts in writes `/canopy opt-in` on their first pull request from that week on.
fn opt_ins(p: &mut Planner<'_>) {
    let people = p.people;
    for (i, person) in people.iter().enumerate() {
        let Some(week) = person.opts_in_week else {
            continue;
        };
        let from = (p.start + Duration::days(7 * i64::from(week)))
            .and_hms_opt(0, 0, 0)
            .expect("valid time")
            .and_utc();
        let now = p.now;
        let target = p
            .changes
            .iter_mut()
            .filter(|c| c.author == i && c.opened_at >= from && c.opened_at < now)
            .min_by_key(|c| c.opened_at);
        if let Some(c) = target {
            let id = p.ids.next(IdKind::Comment);
            c.comments.push(Note {
                at: c.opened_at + Duration::minutes(9),
                id,
                author: i,
                body: "/canopy opt-in".into(),
                path: None,
            });
        }
    }
}

/// Numbers pull requests in the order they were opened (each repository continues from its
/// earlier history); returns the showcase's number.
fn renumber(changes: &mut [Change], showcase: usize) -> u64 {
    let opened = changes.get(showcase).map(|c| (c.repo, c.opened_at));
    changes.sort_by_key(|c| (c.opened_at, c.repo));
    let mut next = [118u64, 342u64];
    let mut found = 0;
    for c in changes.iter_mut() {
        c.number = next[c.repo];
        next[c.repo] += 1;
        if Some((c.repo, c.opened_at)) == opened {
            found = c.number;
        }
    }
    found
}

impl Org {
    /// Every webhook delivery, in the order GitHub would send them.
    pub fn deliveries(&self) -> Vec<Delivery> {
        github::deliveries(self)
    }

    /// The `git fast-import` stream of repository `index` (0 or 1).
    pub fn fast_import(&self, index: usize) -> Vec<u8> {
        self.repos[index].git.fast_import()
    }

    /// The people who are not bots.
    pub fn humans(&self) -> impl Iterator<Item = &Person> {
        self.people.iter().filter(|p| p.role != Role::Bot)
    }

    /// The week of the history `t` falls in.
    pub fn week_of(&self, t: DateTime<Utc>) -> u32 {
        let start = self
            .config
            .start
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        ((t - start).num_days().max(0) / 7) as u32
    }
}
