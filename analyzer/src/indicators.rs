//! Socio-technical indicators per person and ISO week, from events of every source. Each is
//! defined in docs/metrics.md. An indicator the sources cannot observe for a week is `None`,
//! never a guess (meeting hours are never observed here).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use crate::areas::{AreaFinder, Areas};
use crate::event::{
    ChangeAction, ChangeEvent, CommentEvent, CommitEvent, Event, EventKind, ReviewEvent,
};
use crate::identity::Identities;
use crate::week::IsoWeek;
use crate::weekly::{is_late_night, is_weekend};

/// Indicator names, in vector order.
pub const NAMES: [&str; 18] = [
    "commits",
    "churn",
    "rework",
    "open_changes",
    "reviews",
    "context_switching",
    "comments",
    "late_night_share",
    "weekend_share",
    "consecutive_days",
    "negative_written",
    "negative_received",
    "review_requests_pending",
    "time_to_first_review_hours",
    "meeting_hours",
    "active_days",
    "hour_spread",
    "areas",
];
/// Number of indicators.
pub const N: usize = NAMES.len();

/// Index of each indicator.
pub mod idx {
    pub const COMMITS: usize = 0;
    pub const CHURN: usize = 1;
    pub const REWORK: usize = 2;
    pub const OPEN_CHANGES: usize = 3;
    pub const REVIEWS: usize = 4;
    pub const CONTEXT: usize = 5;
    pub const COMMENTS: usize = 6;
    pub const LATE_NIGHT: usize = 7;
    pub const WEEKEND: usize = 8;
    pub const CONSECUTIVE: usize = 9;
    pub const NEG_WRITTEN: usize = 10;
    pub const NEG_RECEIVED: usize = 11;
    pub const REQUESTS_PENDING: usize = 12;
    pub const TIME_TO_FIRST_REVIEW: usize = 13;
    pub const MEETINGS: usize = 14;
    pub const ACTIVE_DAYS: usize = 15;
    pub const HOUR_SPREAD: usize = 16;
    pub const AREAS: usize = 17;
}

/// One person's indicators in one week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonWeek {
    /// Person id (from [`Identities`]).
    pub person: String,
    /// ISO week.
    pub week: IsoWeek,
    /// Values in [`NAMES`] order; `None` where unobservable.
    pub values: [Option<f64>; N],
}

/// Days of rework: lines changed in files the same person changed within this many days.
pub const REWORK_DAYS: i64 = 21;

#[derive(Default)]
struct Acc {
    commits: f64,
    churn: f64,
    rework: f64,
    reviews: f64,
    comments: f64,
    stamped: f64,
    late: f64,
    weekend: f64,
    /// Sum and sum of squares of the hours of day (from 06:00) of timestamped activity.
    hour_sum: f64,
    hour_sq: f64,
    days: BTreeSet<NaiveDate>,
    areas_by_day: BTreeMap<NaiveDate, BTreeSet<String>>,
    neg_written: Vec<f64>,
    neg_received: Vec<f64>,
}

impl Acc {
    /// Counts one activity at local time `t`, with its late-night and weekend flags.
    fn stamp(&mut self, t: &DateTime<FixedOffset>) {
        self.stamped += 1.0;
        self.late += f64::from(u8::from(is_late_night(t)));
        self.weekend += f64::from(u8::from(is_weekend(t)));
        let h = working_day_hour(t);
        self.hour_sum += h;
        self.hour_sq += h * h;
        self.days.insert(t.date_naive());
    }

    /// Standard deviation of the activity's hours of day, with at least two activities.
    fn hour_spread(&self) -> Option<f64> {
        (self.stamped >= 2.0).then(|| {
            let mean = self.hour_sum / self.stamped;
            (self.hour_sq / self.stamped - mean * mean).max(0.0).sqrt()
        })
    }

    /// Records work on `area` on `t`'s local day, for context switching.
    fn touch(&mut self, t: &DateTime<FixedOffset>, area: String) {
        self.areas_by_day
            .entry(t.date_naive())
            .or_default()
            .insert(area);
    }
}

/// Hours since 06:00 local time (0–24), so that a session from 23:00 to 01:00 spans two
/// hours rather than twenty-two: working days are taken to start at 06:00.
pub fn working_day_hour(t: &DateTime<FixedOffset>) -> f64 {
    use chrono::Timelike;
    let h = f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
    (h - 6.0).rem_euclid(24.0)
}

/// Builds person-weeks. Feed events in any order; `finish` sorts them.
pub struct IndicatorBuilder<'a> {
    ids: &'a Identities,
    offsets: HashMap<String, i32>,
    negative: Option<&'a dyn Fn(&str) -> f64>,
    events: Vec<Event>,
    meetings: HashMap<(String, IsoWeek), f64>,
}

impl<'a> IndicatorBuilder<'a> {
    /// A builder. `offsets` overrides a person's UTC offset in seconds (else it is inferred as
    /// the most common offset of their commits); `negative` scores a text's probability of
    /// being negative (sentiment indicators are absent without it).
    pub fn new(
        ids: &'a Identities,
        offsets: HashMap<String, i32>,
        negative: Option<&'a dyn Fn(&str) -> f64>,
    ) -> IndicatorBuilder<'a> {
        IndicatorBuilder {
            ids,
            offsets,
            negative,
            events: Vec::new(),
            meetings: HashMap::new(),
        }
    }

    /// Meeting hours imported from a calendar export (person, week, hours): the only source of
    /// the meeting indicator, which is absent without it.
    pub fn set_meetings(&mut self, meetings: HashMap<(String, IsoWeek), f64>) {
        self.meetings = meetings;
    }

    /// Adds an event.
    pub fn add(&mut self, e: Event) {
        self.events.push(e);
    }

    /// The person-weeks, sorted by person then week; only weeks with activity, plus the weeks
    /// between a person's first and last activity (as zero weeks).
    pub fn finish(mut self) -> Vec<PersonWeek> {
        self.events
            .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        let offsets = offsets(self.ids, &self.events, self.offsets.clone());
        let mut pass = Pass {
            ids: self.ids,
            negative: self.negative,
            offsets,
            areas: repository_areas(&self.events),
            acc: BTreeMap::new(),
            active_days: BTreeMap::new(),
            last_touch: HashMap::new(),
            change_author: HashMap::new(),
            lifetimes: HashMap::new(),
            has_reviews: false,
            requests: HashMap::new(),
            first_review_hours: HashMap::new(),
            change_touches: HashMap::new(),
        };
        for e in &self.events {
            pass.add(e);
        }
        pass.weeks(&self.meetings)
    }
}

/// Each person's UTC offset: the override in `given`, else the most common offset of their
/// commits.
fn offsets(
    ids: &Identities,
    events: &[Event],
    given: HashMap<String, i32>,
) -> HashMap<String, i32> {
    let mut offset_votes: HashMap<String, HashMap<i32, usize>> = HashMap::new();
    for e in events {
        if let EventKind::Commit(c) = &e.kind
            && let Some(p) = ids.person(&c.author)
        {
            *offset_votes
                .entry(p)
                .or_default()
                .entry(c.author_time.offset().local_minus_utc())
                .or_default() += 1;
        }
    }
    let mut offsets = given;
    for (p, votes) in offset_votes {
        offsets.entry(p).or_insert_with(|| {
            votes
                .into_iter()
                .max_by_key(|&(o, n)| (n, -o.abs()))
                .map_or(0, |(o, _)| o)
        });
    }
    offsets
}

/// `t` in person `p`'s time zone (UTC when unknown).
fn local(offsets: &HashMap<String, i32>, p: &str, t: DateTime<Utc>) -> DateTime<FixedOffset> {
    let o = offsets.get(p).copied().unwrap_or(0);
    t.with_timezone(&FixedOffset::east_opt(o).unwrap_or(FixedOffset::east_opt(0).expect("UTC")))
}

/// A change: (platform, repo, number).
type ChangeKey = (String, String, u64);
/// When a change opened and, if it did, closed.
type Lifetime = (DateTime<Utc>, Option<DateTime<Utc>>);
/// (change, reviewer person).
type ReqKey = (ChangeKey, String);
/// Items touched per local day.
type DayItems = BTreeMap<NaiveDate, BTreeSet<String>>;

/// What one pass over the events in time order gathers, before the weeks are built.
struct Pass<'a> {
    ids: &'a Identities,
    negative: Option<&'a dyn Fn(&str) -> f64>,
    offsets: HashMap<String, i32>,
    areas: HashMap<String, Areas>,
    acc: BTreeMap<(String, IsoWeek), Acc>,
    active_days: BTreeMap<String, BTreeSet<NaiveDate>>,
    last_touch: HashMap<(String, String, String), DateTime<Utc>>,
    /// Change → author person.
    change_author: HashMap<ChangeKey, String>,
    /// Lifetimes of authored changes.
    lifetimes: HashMap<ChangeKey, Lifetime>,
    has_reviews: bool,
    /// (change, reviewer person) → (requested at, first review at).
    requests: HashMap<ReqKey, (DateTime<Utc>, Option<DateTime<Utc>>)>,
    first_review_hours: HashMap<(String, IsoWeek), Vec<f64>>,
    /// Changes a person acted on, per week and day; merged into context switching for the
    /// weeks the person has (a change event alone does not make a person-week).
    change_touches: HashMap<(String, IsoWeek), DayItems>,
}

impl Pass<'_> {
    /// Takes in one event (events come in time order).
    fn add(&mut self, e: &Event) {
        match &e.kind {
            EventKind::Commit(c) => self.commit(e, c),
            EventKind::Change(ch) => self.change(e, ch),
            EventKind::Review(r) => self.review(e, r),
            EventKind::Comment(c) => self.comment(e, c),
            _ => {}
        }
    }

    fn commit(&mut self, e: &Event, c: &CommitEvent) {
        if c.parents.len() > 1 {
            return;
        }
        let Some(p) = self.ids.person(&c.author) else {
            return;
        };
        let at = e.at_utc();
        let t = c.author_time;
        let a = activity(&mut self.acc, &mut self.active_days, &p, &t);
        a.commits += 1.0;
        for f in &c.files {
            let lines = f64::from(f.added + f.deleted);
            a.churn += lines;
            let key = (p.clone(), e.repo.clone(), f.path.clone());
            if let Some(prev) = self.last_touch.get(&key)
                && at - *prev <= Duration::days(REWORK_DAYS)
            {
                a.rework += lines;
            }
            self.last_touch.insert(key, at);
            let area = self.areas.get(&e.repo).map_or(".", |x| x.area_of(&f.path));
            a.touch(&t, format!("{}:{area}", e.repo));
        }
    }

    fn change(&mut self, e: &Event, ch: &ChangeEvent) {
        let Some(p) = self.ids.person(&ch.author) else {
            return;
        };
        let at = e.at_utc();
        let k = change_key(e, ch.number);
        // The person acting on the change (the author, or who merged or closed it) touched it
        // that day, for context switching.
        let who = ch
            .actor
            .as_ref()
            .and_then(|a| self.ids.person(a))
            .unwrap_or(p.clone());
        let tw = local(&self.offsets, &who, at);
        self.change_touches
            .entry((who, IsoWeek::of_local(&tw)))
            .or_default()
            .entry(tw.date_naive())
            .or_default()
            .insert(format!("{}#{}", e.repo, ch.number));
        for r in &ch.reviewers_requested {
            if let Some(rp) = self.ids.person(r) {
                self.requests.entry((k.clone(), rp)).or_insert((at, None));
            }
        }
        self.change_author.entry(k.clone()).or_insert(p);
        let life = self
            .lifetimes
            .entry(k)
            .or_insert((ch.created_at.with_timezone(&Utc), None));
        match ch.action {
            ChangeAction::Merged | ChangeAction::Closed => life.1 = Some(at),
            ChangeAction::Reopened => life.1 = None,
            _ => {}
        }
    }

    fn review(&mut self, e: &Event, r: &ReviewEvent) {
        self.has_reviews = true;
        let Some(p) = self.ids.person(&r.reviewer) else {
            return;
        };
        let at = e.at_utc();
        let t = local(&self.offsets, &p, at);
        if let Some(req) = self.requests.get_mut(&(change_key(e, r.change), p.clone()))
            && req.1.is_none()
        {
            req.1 = Some(at);
            self.first_review_hours
                .entry((p.clone(), IsoWeek::of_local(&t)))
                .or_default()
                .push((at - req.0).num_seconds().max(0) as f64 / 3600.0);
        }
        let a = activity(&mut self.acc, &mut self.active_days, &p, &t);
        a.reviews += 1.0;
        a.touch(&t, format!("{}#{}", e.repo, r.change));
    }

    fn comment(&mut self, e: &Event, c: &CommentEvent) {
        let Some(p) = self.ids.person(&c.author) else {
            return;
        };
        let at = e.at_utc();
        let t = local(&self.offsets, &p, at);
        let neg = self.negative.map(|f| f(&c.body));
        let a = activity(&mut self.acc, &mut self.active_days, &p, &t);
        a.comments += 1.0;
        a.touch(&t, format!("{}#{}", e.repo, c.number));
        if let Some(n) = neg {
            a.neg_written.push(n);
        }
        if c.on_change
            && let Some(author) = self.change_author.get(&change_key(e, c.number))
            && author != &p
            && let Some(n) = neg
        {
            let ta = local(&self.offsets, author, at);
            self.acc
                .entry((author.clone(), IsoWeek::of_local(&ta)))
                .or_default()
                .neg_received
                .push(n);
        }
    }

    /// The person-weeks, filling the weeks between each person's first and last activity.
    fn weeks(mut self, meetings: &HashMap<(String, IsoWeek), f64>) -> Vec<PersonWeek> {
        let mut people_weeks: BTreeMap<String, (IsoWeek, IsoWeek)> = BTreeMap::new();
        for (p, w) in self.acc.keys() {
            let r = people_weeks.entry(p.clone()).or_insert((*w, *w));
            r.0 = r.0.min(*w);
            r.1 = r.1.max(*w);
        }
        let mut out = Vec::new();
        for (p, (first, last)) in people_weeks {
            let days = self.active_days.get(&p).cloned().unwrap_or_default();
            let mut w = first;
            loop {
                let mut a = self.acc.remove(&(p.clone(), w)).unwrap_or_default();
                let touched = self.change_touches.remove(&(p.clone(), w));
                for (day, items) in touched.unwrap_or_default() {
                    a.areas_by_day.entry(day).or_default().extend(items);
                }
                let mut values = self.values(&p, w, &a, &days);
                values[idx::MEETINGS] = meetings.get(&(p.clone(), w)).copied();
                out.push(PersonWeek {
                    person: p.clone(),
                    week: w,
                    values,
                });
                if w >= last {
                    break;
                }
                w = w.next();
            }
        }
        out
    }

    /// Person `p`'s indicators in week `w` from what was counted for it (`a`) and the days
    /// `p` was active; meeting hours are left to the caller.
    fn values(&self, p: &str, w: IsoWeek, a: &Acc, days: &BTreeSet<NaiveDate>) -> [Option<f64>; N] {
        let start = w.start_utc();
        let end = w.next().start_utc();
        let mut v = [None; N];
        v[idx::COMMITS] = Some(a.commits);
        v[idx::CHURN] = Some(a.churn);
        v[idx::REWORK] = Some(a.rework);
        if !self.lifetimes.is_empty() {
            let open = self
                .lifetimes
                .iter()
                .filter(|(k, (o, c))| {
                    self.change_author.get(*k).map(String::as_str) == Some(p)
                        && *o < end
                        && c.is_none_or(|c| c >= start)
                })
                .count();
            v[idx::OPEN_CHANGES] = Some(open as f64);
        }
        if self.has_reviews {
            v[idx::REVIEWS] = Some(a.reviews);
        }
        v[idx::CONTEXT] = Some(if a.areas_by_day.is_empty() {
            0.0
        } else {
            a.areas_by_day.values().map(|s| s.len() as f64).sum::<f64>()
                / a.areas_by_day.len() as f64
        });
        v[idx::COMMENTS] = Some(a.comments);
        if a.stamped > 0.0 {
            v[idx::LATE_NIGHT] = Some(a.late / a.stamped);
            v[idx::WEEKEND] = Some(a.weekend / a.stamped);
        }
        v[idx::CONSECUTIVE] = Some(longest_streak_in(days, w) as f64);
        let mean = |xs: &[f64]| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
        v[idx::NEG_WRITTEN] = mean(&a.neg_written);
        v[idx::NEG_RECEIVED] = mean(&a.neg_received);
        if !self.requests.is_empty() {
            let pending = self
                .requests
                .iter()
                .filter(|((k, who), (req, first))| {
                    who == p
                        && *req < end
                        && first.is_none_or(|f| f >= end)
                        && self
                            .lifetimes
                            .get(k)
                            .is_none_or(|(_, c)| c.is_none_or(|c| c >= end))
                })
                .count();
            v[idx::REQUESTS_PENDING] = Some(pending as f64);
            v[idx::TIME_TO_FIRST_REVIEW] = self
                .first_review_hours
                .get(&(p.to_string(), w))
                .and_then(|h| mean(h));
        }
        v[idx::ACTIVE_DAYS] = Some(a.days.len() as f64);
        v[idx::HOUR_SPREAD] = a.hour_spread();
        let areas: BTreeSet<&String> = a.areas_by_day.values().flatten().collect();
        v[idx::AREAS] = Some(areas.len() as f64);
        v
    }
}

/// Person `p`'s counts for the week of local time `t`, with one timestamped activity at `t`
/// counted (and `t`'s day recorded as one of `p`'s active days).
fn activity<'m>(
    acc: &'m mut BTreeMap<(String, IsoWeek), Acc>,
    active_days: &mut BTreeMap<String, BTreeSet<NaiveDate>>,
    p: &str,
    t: &DateTime<FixedOffset>,
) -> &'m mut Acc {
    active_days
        .entry(p.to_string())
        .or_default()
        .insert(t.date_naive());
    let a = acc
        .entry((p.to_string(), IsoWeek::of_local(t)))
        .or_default();
    a.stamp(t);
    a
}

/// The key of change `number` in `e`'s repository.
fn change_key(e: &Event, number: u64) -> ChangeKey {
    (e.platform.to_string(), e.repo.clone(), number)
}

/// Each repository's areas, from the file changes of its non-merge commits by people.
fn repository_areas(events: &[Event]) -> HashMap<String, Areas> {
    let mut finders: HashMap<&str, AreaFinder> = HashMap::new();
    for e in events {
        if let EventKind::Commit(c) = &e.kind
            && !c.is_merge()
            && !c.author.is_bot()
        {
            let f = finders.entry(e.repo.as_str()).or_default();
            for file in &c.files {
                f.add_path(&file.path);
            }
        }
    }
    finders
        .into_iter()
        .map(|(repo, f)| (repo.to_string(), f.finish()))
        .collect()
}

/// The longest run of consecutive active days that includes a day of week `w` (runs may start
/// before the week).
fn longest_streak_in(days: &BTreeSet<NaiveDate>, w: IsoWeek) -> u32 {
    let monday = w.monday();
    let mut best = 0;
    for i in 0..7 {
        let d = monday + Duration::days(i);
        if !days.contains(&d) {
            continue;
        }
        let mut n = 1;
        let mut back = d;
        while let Some(prev) = back.pred_opt() {
            if !days.contains(&prev) {
                break;
            }
            n += 1;
            back = prev;
        }
        best = best.max(n);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Actor;
    use crate::event::{CommitEvent, FileChange, Platform};

    fn commit(email: &str, at: &str, path: &str, lines: u32) -> Event {
        let t = DateTime::parse_from_rfc3339(at).unwrap();
        Event::new(
            format!("git:{email}:{at}:{path}"),
            Platform::Git,
            "o/r",
            t,
            EventKind::Commit(CommitEvent {
                parents: vec!["p".into()],
                subject: "s".into(),
                files: vec![FileChange {
                    path: path.into(),
                    added: lines,
                    deleted: 0,
                    ..Default::default()
                }],
                ..CommitEvent::new(format!("{at}{path}"), Actor::git("X", email), t)
            }),
        )
    }

    #[test]
    fn commits_churn_rework_local_time_and_streaks() {
        let ids = Identities::default();
        let mut b = IndicatorBuilder::new(&ids, HashMap::new(), None);
        // Ada works in UTC+02:00: 23:30 local on Saturday 2026-11-21 is late and weekend.
        b.add(commit(
            "ada@x.org",
            "2026-11-16T10:00:00+02:00",
            "src/a.rs",
            10,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-11-17T10:00:00+02:00",
            "src/a.rs",
            5,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-11-18T10:00:00+02:00",
            "docs/b.md",
            1,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-11-21T23:30:00+02:00",
            "src/c.rs",
            4,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-12-01T10:00:00+02:00",
            "src/c.rs",
            2,
        ));
        let pw = b.finish();
        assert_eq!(pw.len(), 3, "two active weeks and the quiet one between");
        let w = &pw[0].values;
        assert_eq!(w[idx::COMMITS], Some(4.0));
        assert_eq!(w[idx::CHURN], Some(20.0));
        assert_eq!(w[idx::REWORK], Some(5.0), "src/a.rs again within 3 weeks");
        assert_eq!(w[idx::LATE_NIGHT], Some(0.25));
        assert_eq!(w[idx::WEEKEND], Some(0.25));
        assert_eq!(w[idx::CONSECUTIVE], Some(3.0));
        assert_eq!(w[idx::ACTIVE_DAYS], Some(4.0));
        assert_eq!(w[idx::AREAS], Some(2.0), "o/r:src and o/r:docs");
        // Hours from 06:00: 4, 4, 4 and 17.5 → mean 7.375, sd √(31.640625) ≈ 5.85.
        let sd = w[idx::HOUR_SPREAD].unwrap();
        assert!((sd - 5.8457).abs() < 1e-3, "{sd}");
        assert_eq!(pw[1].values[idx::HOUR_SPREAD], None, "no activity: absent");
        assert_eq!(pw[1].values[idx::ACTIVE_DAYS], Some(0.0));
        assert_eq!(w[idx::REVIEWS], None, "no review source: absent, not zero");
        assert_eq!(w[idx::NEG_WRITTEN], None);
        assert_eq!(pw[1].values[idx::COMMITS], Some(0.0));
        assert_eq!(pw[2].values[idx::REWORK], Some(2.0));
    }

    #[test]
    fn context_switching_counts_areas_changes_and_reviews_per_day() {
        use crate::event::{ChangeEvent, ReviewEvent, ReviewVerdict};
        let ids = Identities::default();
        let mut b = IndicatorBuilder::new(&ids, HashMap::new(), None);
        // Areas of o/r: api, core and docs (a third each).
        for (i, path) in ["api/a.py", "core/b.py", "docs/c.md"].iter().enumerate() {
            b.add(commit(
                "bob@x.org",
                &format!("2026-11-0{}T10:00:00+00:00", i + 2),
                path,
                1,
            ));
        }
        // Ada on Monday 16 Nov: two commits in api, one in core (2 areas), a review of change
        // 7 and an update of her own change 9 (2 changes): 4 things. Tuesday: one commit (1).
        let ada = Actor::git("Ada", "ada@x.org");
        b.add(commit(
            "ada@x.org",
            "2026-11-16T09:00:00+00:00",
            "api/a.py",
            1,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-11-16T10:00:00+00:00",
            "api/x.py",
            1,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-11-16T11:00:00+00:00",
            "core/b.py",
            1,
        ));
        b.add(commit(
            "ada@x.org",
            "2026-11-17T11:00:00+00:00",
            "docs/c.md",
            1,
        ));
        let t = DateTime::parse_from_rfc3339("2026-11-16T12:00:00+00:00").unwrap();
        b.add(Event::new(
            "review",
            Platform::Github,
            "o/r",
            t,
            EventKind::Review(ReviewEvent::new(7, ada.clone(), ReviewVerdict::Approved)),
        ));
        b.add(Event::new(
            "update",
            Platform::Github,
            "o/r",
            t,
            EventKind::Change(ChangeEvent::new(9, ChangeAction::Updated, ada, t)),
        ));
        let pw = b.finish();
        let ada = pw
            .iter()
            .find(|w| w.person.contains("ada") && w.values[idx::COMMITS] == Some(4.0))
            .unwrap();
        assert_eq!(ada.values[idx::CONTEXT], Some((4.0 + 1.0) / 2.0));
    }
}
