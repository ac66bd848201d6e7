//! Planning the history: every pull request's life (commits, pushes, review requests, reviews,
//! comments, CI runs with failures and reruns, merge or close), with times that follow each
//! person's time zone and habits. Commit ids are filled in afterwards by [`crate::repos`],
//! payloads rendered by [`crate::github`].

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::RngExt;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use crate::cast::{Person, Role};
use crate::ci;
use crate::git::Edit;
use crate::model::{Change, IdKind, Ids, Note, Outcome, PlannedCommit, Push};
use crate::text::{self, Kind};

mod review;

/// The planner's state.
pub struct Planner<'a> {
    /// The cast.
    pub people: &'a [Person],
    /// Monday of week 0.
    pub start: NaiveDate,
    /// Last moment of the history.
    pub now: DateTime<Utc>,
    /// Random source.
    pub rng: ChaCha8Rng,
    /// Id counters.
    pub ids: Ids,
    /// Next PR number per repository.
    pub numbers: [u64; 2],
    /// Files of each repository (paths that exist or will), by area.
    pub files: [Vec<String>; 2],
    /// Changes planned so far.
    pub changes: Vec<Change>,
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

fn hours(h: f64) -> Duration {
    Duration::seconds((h * 3600.0) as i64)
}

impl Planner<'_> {
    /// The history's week of `t`.
    pub fn week_of(&self, t: DateTime<Utc>) -> u32 {
        let start = self.start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        ((t - start).num_days().max(0) / 7) as u32
    }

    /// Whether `who` is still around at `t` (joined, not gone quiet).
    fn acts(&self, who: usize, t: DateTime<Utc>) -> bool {
        self.people[who].active(self.week_of(t))
    }

    fn next_moment(&mut self, who: usize, t: DateTime<Utc>) -> DateTime<Utc> {
        let w = self.week_of(t);
        self.people[who].next_work_moment(t, w, &mut self.rng)
    }

    /// Someone to review a change by `author` in `repo` during `week`: maintainers more often.
    pub fn pick_reviewer(&mut self, author: usize, repo: usize, week: u32, not: &[usize]) -> usize {
        let candidates: Vec<(usize, f64)> = self
            .people
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                *i != author
                    && !not.contains(i)
                    && p.role != Role::Bot
                    && p.role != Role::Newcomer
                    && p.active(week)
                    && p.active(week + 1)
            })
            .map(|(i, p)| {
                (
                    i,
                    p.repo_weights[repo] * if p.role == Role::Maintainer { 3.0 } else { 1.0 },
                )
            })
            .collect();
        let total: f64 = candidates.iter().map(|c| c.1).sum();
        let mut x = self.rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
        for (i, w) in &candidates {
            if x < *w {
                return *i;
            }
            x -= w;
        }
        candidates.last().map_or(0, |c| c.0)
    }

    fn maintainer(&mut self, not: usize) -> usize {
        let m: Vec<usize> = (0..self.people.len())
            .filter(|&i| self.people[i].role == Role::Maintainer && i != not)
            .collect();
        m.choose(&mut self.rng).copied().unwrap_or(0)
    }

    fn edits_for(&mut self, repo: usize, kind: Kind, lines: f64) -> Vec<Edit> {
        let (add_share, areas): (f64, &[&str]) = match kind {
            Kind::Fix => (0.6, &["src/", "tests/"]),
            Kind::Feature => (0.85, &["src/", "tests/", "docs/"]),
            Kind::Refactor => (0.45, &["src/"]),
            Kind::Docs => (0.75, &["docs/", "README.md"]),
            Kind::Tests => (0.9, &["tests/"]),
            Kind::Bump => {
                return vec![Edit {
                    path: "Cargo.toml".into(),
                    add: 1,
                    del: 1,
                }];
            }
        };
        let n_files = match kind {
            Kind::Docs | Kind::Tests => self.rng.random_range(1..=2),
            _ => self.rng.random_range(1..=4),
        };
        let mut paths: Vec<String> = Vec::new();
        for k in 0..n_files {
            let area = areas[if k == 0 {
                0
            } else {
                self.rng.random_range(0..areas.len())
            }];
            if kind == Kind::Feature && k == 0 && self.rng.random_bool(0.12) {
                let n = self.files[repo].len();
                let p = format!("src/feature_{n}.rs");
                self.files[repo].push(p.clone());
                paths.push(p);
                continue;
            }
            let options: Vec<&String> = self.files[repo]
                .iter()
                .filter(|f| f.starts_with(area))
                .collect();
            if let Some(p) = options.choose(&mut self.rng) {
                paths.push((*p).clone());
            }
        }
        paths.sort();
        paths.dedup();
        let per = lines / paths.len().max(1) as f64;
        paths
            .into_iter()
            .map(|path| {
                let l = (per * self.rng.random_range(0.6..1.4)).max(1.0);
                Edit {
                    path,
                    add: (l * add_share).round().max(1.0) as u32,
                    del: (l * (1.0 - add_share)).round() as u32,
                }
            })
            .collect()
    }

    fn commit(
        &mut self,
        author: usize,
        at: DateTime<Utc>,
        subject: String,
        edits: Vec<Edit>,
    ) -> PlannedCommit {
        let p = &self.people[author];
        let work_email = p.work_email.is_some() && self.rng.random_bool(0.4);
        PlannedCommit {
            author,
            at: at.with_timezone(&p.offset()),
            subject,
            edits,
            work_email,
            index: None,
        }
    }

    /// Plans a push of `commits` at `at` on `repo` and its CI; a real failure makes the
    /// author push a fix (returned as the time the change is ready again).
    fn push(
        &mut self,
        repo: usize,
        author: usize,
        at: DateTime<Utc>,
        commits: Vec<PlannedCommit>,
        pushes: &mut Vec<Push>,
    ) -> DateTime<Utc> {
        let run = ci::pull_request_run(self, repo, at);
        let mut ready = run.done;
        pushes.push(Push {
            at,
            commits,
            jobs: run.jobs,
            reruns: Vec::new(),
        });
        if let Some(failed) = run.failed {
            let idx = pushes.len() - 1;
            if failed.flaky {
                let delay = hours(self.rng.random_range(0.1..1.0));
                let t = self.next_moment(author, failed.at + delay);
                if !self.acts(author, t) {
                    return ready;
                }
                let (rerun, jobs, done) = ci::rerun(self, repo, &pushes[idx].jobs, author, t);
                pushes[idx].reruns.push(rerun);
                pushes[idx].jobs.extend(jobs);
                ready = done;
            } else if at < self.now {
                let delay = hours(self.rng.random_range(0.3..2.0));
                let t = self.next_moment(author, failed.at + delay);
                if !self.acts(author, t) {
                    return ready;
                }
                let edits: Vec<Edit> = pushes[idx].commits[0]
                    .edits
                    .iter()
                    .take(1)
                    .map(|e| Edit {
                        path: e.path.clone(),
                        add: 3,
                        del: 2,
                    })
                    .collect();
                let c = self.commit(author, t - Duration::minutes(3), "Fix CI".into(), edits);
                ready = self.push(repo, author, t, vec![c], pushes);
            }
        }
        ready
    }

    /// Plans one pull request by `author` in `repo`, started in `week`.
    pub fn change(&mut self, author: usize, repo: usize, week: u32, kind: Kind) {
        let shape = self.shape(author, repo, week, kind);
        let title = text::title(kind, &mut self.rng);
        let body = text::description(kind, &title, &mut self.rng);
        let edits = self.edits_for(repo, kind, shape.lines);
        let (commits, last) = self.initial_commits(author, week, kind, &title, &edits);
        let opened_at = last + Duration::minutes(self.rng.random_range(3..40));
        if !self.acts(author, opened_at) {
            return;
        }
        let mut c = self.new_change(author, repo, kind, title, body, opened_at);
        let pushed = opened_at - Duration::minutes(2);
        let mut ready = self.push(repo, author, pushed, commits, &mut c.pushes);
        if kind != Kind::Bump && self.rng.random_bool(0.08) {
            let delay = hours(exp(&mut self.rng, 20.0));
            let r = self.next_moment(author, opened_at + delay);
            if self.acts(author, r) {
                c.ready_at = Some(r);
                ready = ready.max(r);
            }
        }
        let (reviewers, requested) = self.request_reviews(&mut c, week);
        self.review_rounds(&mut c, ready.max(requested), reviewers, &shape);
        self.changes.push(c);
    }

    fn shape(&mut self, author: usize, repo: usize, week: u32, kind: Kind) -> Shape {
        let p = &self.people[author];
        let drift = p.drift_level(week);
        let newcomer = p.role == Role::Newcomer
            && !self
                .changes
                .iter()
                .any(|c| c.author == author && c.repo == repo);
        let median = match kind {
            Kind::Fix => 30.0,
            Kind::Feature => 120.0,
            Kind::Refactor => 150.0,
            Kind::Docs => 25.0,
            Kind::Tests => 60.0,
            Kind::Bump => 2.0,
        } * (1.0 + drift);
        let spread = (self.rng.random::<f64>() * 2.0 - 1.0).exp() * self.rng.random_range(0.5..1.5);
        Shape {
            week,
            drift,
            newcomer,
            lines: (median * spread).max(2.0),
        }
    }

    /// The commits written before the pull request is opened, and when the last was written.
    fn initial_commits(
        &mut self,
        author: usize,
        week: u32,
        kind: Kind,
        title: &str,
        edits: &[Edit],
    ) -> (Vec<PlannedCommit>, DateTime<Utc>) {
        let p = &self.people[author];
        let monday = self.start + Duration::days(7 * i64::from(week));
        let mut t = if p.role == Role::Bot {
            p.local(monday, self.rng.random_range(3.0..6.0))
        } else {
            p.work_time(monday, week, &mut self.rng)
        }
        .with_timezone(&Utc);
        let n: u32 = if kind == Kind::Bump {
            1
        } else {
            self.rng.random_range(1..=3)
        };
        let mut commits = Vec::new();
        for k in 0..n {
            let first = u32::from(k == 0);
            let part: Vec<Edit> = edits
                .iter()
                .map(|e| Edit {
                    path: e.path.clone(),
                    add: e.add / n + first * (e.add % n),
                    del: e.del / n + first * (e.del % n),
                })
                .collect();
            let subject = text::commit_subject(title, k as usize, &mut self.rng);
            commits.push(self.commit(author, t, subject, part));
            t += hours(exp(&mut self.rng, 0.8));
        }
        (commits, t)
    }

    fn new_change(
        &mut self,
        author: usize,
        repo: usize,
        kind: Kind,
        title: String,
        body: String,
        opened_at: DateTime<Utc>,
    ) -> Change {
        let number = self.numbers[repo];
        self.numbers[repo] += 1;
        let slug: String = title
            .to_lowercase()
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join("-")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Change {
            repo,
            number,
            id: self.ids.next(IdKind::Pr),
            author,
            kind,
            branch: if kind == Kind::Bump {
                format!("dependabot/cargo/{slug}")
            } else {
                slug
            },
            title,
            body,
            labels: match kind {
                Kind::Fix => vec!["bug"],
                Kind::Feature => vec!["enhancement"],
                Kind::Docs => vec!["documentation"],
                Kind::Bump => vec!["dependencies"],
                _ => vec![],
            },
            from_fork: self.people[author].role == Role::Newcomer,
            ready_at: None,
            opened_at,
            pushes: Vec::new(),
            requests: Vec::new(),
            reviews: Vec::new(),
            comments: Vec::new(),
            outcome: Outcome::Open,
        }
    }
}

/// What shapes a pull request's review: its week, the author's drift, whether the author is
/// new to the repository, and its size in lines.
struct Shape {
    week: u32,
    drift: f64,
    newcomer: bool,
    lines: f64,
}

/// Welcomes each newcomer on their first pull request (by opening time).
pub fn welcome_newcomers(p: &mut Planner<'_>) {
    let people = p.people;
    for (i, _) in people
        .iter()
        .enumerate()
        .filter(|(_, x)| x.role == Role::Newcomer)
    {
        let Some(first) = (0..p.changes.len())
            .filter(|&k| p.changes[k].author == i)
            .min_by_key(|&k| p.changes[k].opened_at)
        else {
            continue;
        };
        let m = p.maintainer(i);
        let delay = hours(exp(&mut p.rng, 6.0));
        let at = p.next_moment(m, p.changes[first].opened_at + delay);
        let body = text::welcome(&mut p.rng);
        let id = p.ids.next(IdKind::Comment);
        p.changes[first].comments.push(Note {
            at,
            id,
            author: m,
            body,
            path: None,
        });
    }
}

/// A kind of change, weighted.
pub fn pick_kind(rng: &mut ChaCha8Rng) -> Kind {
    let x = rng.random_range(0..100);
    match x {
        0..=34 => Kind::Fix,
        35..=59 => Kind::Feature,
        60..=74 => Kind::Refactor,
        75..=87 => Kind::Docs,
        _ => Kind::Tests,
    }
}
