//! The review part of a pull request's life: review requests, review rounds with their
//! verdicts and remarks, the author's fixes and replies, and the merge or close.

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use rand::seq::IndexedRandom;

use super::{Planner, Shape, exp, hours};
use crate::cast::{Role, Tone};
use crate::git::Edit;
use crate::model::{Change, IdKind, Note, Outcome, Review};
use crate::text::{self, Kind};

impl Planner<'_> {
    /// Requests one or two reviewers (a maintainer asks for forks and the bot); returns them
    /// and when they were asked.
    pub(super) fn request_reviews(
        &mut self,
        c: &mut Change,
        week: u32,
    ) -> (Vec<usize>, DateTime<Utc>) {
        let author = c.author;
        let bot = self.people[author].role == Role::Bot;
        let mut requester = if c.from_fork || bot {
            self.maintainer(author)
        } else {
            author
        };
        let first = self.pick_reviewer(author, c.repo, week, &[]);
        let mut reviewers = vec![first];
        if !bot && self.rng.random_bool(0.3) {
            let second = self.pick_reviewer(author, c.repo, week, &[first]);
            reviewers.push(second);
        }
        let delay = Duration::minutes(self.rng.random_range(1..90));
        let mut at = self.next_moment(requester, c.opened_at + delay);
        if !self.acts(requester, at) {
            // The author has gone quiet before asking: a maintainer asks instead.
            requester = self.maintainer(author);
            at = self.next_moment(requester, c.opened_at + delay);
        }
        for r in &reviewers {
            c.requests.push((at, *r, requester));
        }
        (reviewers, at)
    }

    /// Up to three rounds of review and fixes, then the merge (or, rarely, a close).
    pub(super) fn review_rounds(
        &mut self,
        c: &mut Change,
        mut t: DateTime<Utc>,
        mut reviewers: Vec<usize>,
        s: &Shape,
    ) {
        for round in 0..3 {
            let Some(review) = self.review(c, t, &mut reviewers[0], round, s) else {
                return;
            };
            let (at, state) = (review.at, review.state);
            c.reviews.push(review);
            if state == "approved" {
                self.finish(c, at, s.newcomer);
                return;
            }
            match self.address(c, at, reviewers[0], s) {
                Some(ready) => t = ready,
                None => return,
            }
        }
    }

    /// The next review once the change is ready at `t`, or `None` past the end of the history.
    fn review(
        &mut self,
        c: &Change,
        t: DateTime<Utc>,
        reviewer: &mut usize,
        round: u32,
        s: &Shape,
    ) -> Option<Review> {
        let author = c.author;
        let bot = self.people[author].role == Role::Bot;
        let mean_wait = 3.0
            * (1.0 + s.lines / 400.0)
            * if s.newcomer { 2.5 } else { 1.0 }
            * if bot { 0.3 } else { 1.0 }
            * if c.kind == Kind::Docs { 0.6 } else { 1.0 };
        let wait = hours(exp(&mut self.rng, mean_wait));
        let mut at = self.next_moment(*reviewer, t + wait);
        if !self.acts(*reviewer, at) {
            // The requested reviewer has gone quiet: someone else picks it up.
            *reviewer = self.pick_reviewer(author, c.repo, self.week_of(at), &[]);
            at = self.next_moment(*reviewer, t + wait + hours(24.0));
        }
        if at > self.now {
            return None;
        }
        let who = &self.people[*reviewer];
        // A harsh reviewer is harsher still with someone who is struggling.
        let harsh =
            if self.people[author].drift_level(self.week_of(at)) > 0.0 && who.tone.uncivil > 0.1 {
                0.7
            } else {
                0.0
            };
        let state = self.verdict(bot, round, s, harsh);
        let tone = who.tone;
        let paths = c.paths();
        let file = paths
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_else(|| "README.md".into());
        let reg = text::register(&tone, harsh, &mut self.rng);
        let body = text::review_body(state, reg, &file, &mut self.rng);
        let inline = if state == "approved" {
            Vec::new()
        } else {
            self.inline_remarks(&paths, &file, tone, harsh, at, *reviewer)
        };
        let id = self.ids.next(IdKind::Review);
        Some(Review {
            at,
            id,
            reviewer: *reviewer,
            state,
            body,
            inline,
        })
    }

    /// A review's verdict: changes are requested more often on large changes, from newcomers,
    /// from drifting authors and by harsh reviewers, never in the third round; a bot's change
    /// is approved.
    fn verdict(&mut self, bot: bool, round: u32, s: &Shape, harsh: f64) -> &'static str {
        let p_changes = if round == 2 {
            0.0
        } else {
            0.15 + 0.25 * (s.lines / 500.0).min(1.0)
                + if s.newcomer { 0.2 } else { 0.0 }
                + 0.2 * s.drift
                + harsh * 0.3
        };
        if bot {
            "approved"
        } else if self.rng.random_bool(p_changes.min(0.9)) {
            "changes_requested"
        } else if self.rng.random_bool(0.15) {
            "commented"
        } else {
            "approved"
        }
    }

    /// One to three inline remarks of a review that is not an approval, on the change's files.
    fn inline_remarks(
        &mut self,
        paths: &[String],
        file: &str,
        tone: Tone,
        harsh: f64,
        at: DateTime<Utc>,
        reviewer: usize,
    ) -> Vec<Note> {
        let n = self.rng.random_range(1..=3);
        (0..n)
            .map(|_| {
                let reg = text::register(&tone, harsh, &mut self.rng);
                let path = paths
                    .choose(&mut self.rng)
                    .cloned()
                    .unwrap_or_else(|| file.to_string());
                let body = text::remark(reg, &path, &mut self.rng);
                let id = self.ids.next(IdKind::Comment);
                Note {
                    at,
                    id,
                    author: reviewer,
                    body,
                    path: Some(path),
                }
            })
            .collect()
    }

    /// The author pushes a fix for the review at `at` and replies; sometimes another reviewer
    /// chimes in. Returns when the change is ready again, or `None` if the author has gone
    /// quiet or the history ends first.
    fn address(
        &mut self,
        c: &mut Change,
        at: DateTime<Utc>,
        reviewer: usize,
        s: &Shape,
    ) -> Option<DateTime<Utc>> {
        let author = c.author;
        let delay = hours(exp(&mut self.rng, 4.0 * (1.0 + s.drift)));
        let fix_at = self.next_moment(author, at + delay);
        if fix_at > self.now || !self.acts(author, fix_at) {
            return None;
        }
        let paths = c.paths();
        let edits: Vec<Edit> = paths
            .iter()
            .take(2)
            .map(|p| Edit {
                path: p.clone(),
                add: self.rng.random_range(3..40),
                del: self.rng.random_range(1..20),
            })
            .collect();
        let subject = text::commit_subject(&c.title, 1, &mut self.rng);
        let delay = Duration::minutes(self.rng.random_range(2..30));
        let commit = self.commit(author, fix_at - delay, subject, edits);
        let ready = self.push(c.repo, author, fix_at, vec![commit], &mut c.pushes);
        let drift = self.people[author].drift_level(self.week_of(fix_at));
        let reg = text::register(&self.people[author].tone, drift, &mut self.rng);
        let body = text::reply(reg, &mut self.rng);
        let id = self.ids.next(IdKind::Comment);
        let reply_at = fix_at + Duration::minutes(self.rng.random_range(1..15));
        c.comments.push(Note {
            at: reply_at,
            id,
            author,
            body,
            path: None,
        });
        if self.rng.random_bool(0.35) {
            let other = self.pick_reviewer(author, c.repo, s.week, &[reviewer]);
            let delay = hours(exp(&mut self.rng, 5.0));
            let at = self.next_moment(other, fix_at + delay);
            if self.acts(other, at) {
                let reg = text::register(&self.people[other].tone, 0.0, &mut self.rng);
                let file = paths.first().cloned().unwrap_or_else(|| "README.md".into());
                let body = text::remark(reg, &file, &mut self.rng);
                let id = self.ids.next(IdKind::Comment);
                c.comments.push(Note {
                    at,
                    id,
                    author: other,
                    body,
                    path: None,
                });
            }
        }
        Some(ready)
    }

    /// A maintainer (or the author, when a maintainer) merges the approved change; a few are
    /// closed instead (superseded, or not wanted after all).
    pub(super) fn finish(&mut self, c: &mut Change, approved: DateTime<Utc>, newcomer: bool) {
        let author = c.author;
        let close = self.rng.random_bool(if newcomer { 0.12 } else { 0.05 });
        let by = if self.people[author].role == Role::Maintainer && self.rng.random_bool(0.5) {
            author
        } else {
            self.maintainer(author)
        };
        let delay = hours(exp(&mut self.rng, 2.0));
        let at = self.next_moment(by, approved + delay);
        c.outcome = if close {
            Outcome::Closed { at, by }
        } else {
            Outcome::Merged { at, by }
        };
    }
}
