//! A weekly digest of a repository with 100,000 events: figures (with the shipped sentiment
//! model scoring the comments), Markdown with Mermaid charts, and HTML with SVG charts; and the
//! comment scores of those 100,000 events (30,000 comments, every text distinct) through the
//! store's score cache, cold (every comment scored and cached) and warm (every score read).
//! `cargo bench -p canopy-service --bench digest`

use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, CiJobEvent, CiResult, CommentEvent, EventKind, ReviewEvent,
    ReviewVerdict,
};
use canopy_analyzer::{Actor, Event, IsoWeek, Platform};
use canopy_models::sentiment::Model;
use canopy_service::comment_scores::CommentScores;
use canopy_service::digest::Built;
use canopy_store::{RedbStore, Store};
use chrono::{DateTime, Duration, FixedOffset};
use criterion::{Criterion, criterion_group, criterion_main};

const TEXTS: [&str; 4] = [
    "Thanks, this looks good to me.",
    "Could you add a test for the empty case?",
    "This is wrong and breaks the build again.",
    "Nit: rename this variable, otherwise fine.",
];

/// 100,000 events over 12 weeks: 12,000 changes (opened and merged), 30,000 reviews, 30,000
/// comments and 16,000 CI jobs by 300 people.
fn history() -> Vec<Event> {
    history_with(|_, _, i| TEXTS[i].into())
}

/// The benchmark's xorshift generator (seeded, so every run builds the same history).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn person(i: u64) -> Actor {
    Actor::github(&format!("dev{}", i % 300))
}

fn event(id: String, at: DateTime<FixedOffset>, kind: EventKind) -> Event {
    Event::new(id, Platform::Github, "o/r", at, kind)
}

/// [`history`] with each comment's text made by `text(change, round, template)`.
fn history_with(text: impl Fn(u64, u64, usize) -> String) -> Vec<Event> {
    let start: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2026-09-07T08:00:00+00:00").expect("date");
    let mut out = Vec::with_capacity(100_000);
    let mut rng = Rng(42);
    for n in 0..12_000u64 {
        let opened = start + Duration::minutes((n * 10) as i64);
        let merged = opened + Duration::hours((rng.next() % 200) as i64);
        let author = person(rng.next());
        for (action, at) in [
            (ChangeAction::Opened, opened),
            (ChangeAction::Merged, merged),
        ] {
            let change = ChangeEvent::new(n, action, author.clone(), opened);
            out.push(event(
                format!("c{n}{action:?}"),
                at,
                EventKind::Change(change),
            ));
        }
        for r in 0..5u64 {
            let at = opened + Duration::minutes((rng.next() % 3000) as i64);
            let kind = if r < 2 || (r == 2 && n % 2 == 0) {
                EventKind::Review(ReviewEvent {
                    change_author: Some(author.clone()),
                    ..ReviewEvent::new(n, person(rng.next()), ReviewVerdict::Approved)
                })
            } else {
                let author = person(rng.next());
                let body = text(n, r, (rng.next() % 4) as usize);
                EventKind::Comment(CommentEvent::on_change(n, format!("{n}-{r}"), author, body))
            };
            out.push(event(format!("e{n}-{r}"), at, kind));
        }
        if n % 3 != 0 {
            ci_jobs(n, opened, &mut rng, &mut out);
        }
    }
    out.truncate(100_000);
    out
}

/// Two CI jobs of change `n`, twenty minutes after it opened; one in ten fails.
fn ci_jobs(n: u64, opened: DateTime<FixedOffset>, rng: &mut Rng, out: &mut Vec<Event>) {
    for j in 0..2u64 {
        let secs = 300 + rng.next() % 900;
        let result = if rng.next().is_multiple_of(10) {
            CiResult::Failure
        } else {
            CiResult::Success
        };
        let job = CiJobEvent {
            runner: Some("ubuntu-latest".into()),
            change: Some(n),
            run_id: Some(n.to_string()),
            ..CiJobEvent::new(format!("test-{j}"), "github-actions", secs, result)
        };
        let at = opened + Duration::minutes(20);
        out.push(event(
            format!("j{n}-{j}"),
            at,
            EventKind::CiJobFinished(job),
        ));
    }
}

fn bench(c: &mut Criterion) {
    let events = history();
    assert_eq!(events.len(), 100_000);
    let model = Model::shipped().expect("shipped sentiment model");
    let week: IsoWeek = "2026-W47".parse().expect("week");
    let mut g = c.benchmark_group("digest_100k_events");
    g.sample_size(10);
    g.bench_function("figures_markdown_html", |b| {
        b.iter(|| {
            let negative = |t: &str| model.probabilities(t)[0];
            let uncivil = |t: &str| model.score(t).uncivil;
            let digest = canopy_analyzer::digest::build(
                "o/r",
                &events,
                week,
                Some(&negative),
                Some(&uncivil),
            );
            let built = Built {
                digest,
                burnout: None,
                private: vec![],
            };
            let md = built.markdown();
            let html = built.html().expect("html");
            (md.len(), html.len())
        })
    });
    g.bench_function("figures_markdown_without_sentiment", |b| {
        b.iter(|| {
            let digest = canopy_analyzer::digest::build("o/r", &events, week, None, None);
            let built = Built {
                digest,
                burnout: None,
                private: vec![],
            };
            built.markdown().len()
        })
    });
    g.finish();
}

/// Comment scores of the 100,000 events, through a redb store's score cache, and the digest's
/// figures with them; every comment's text is distinct (as in a real repository).
fn bench_cache(c: &mut Criterion) {
    let events = history_with(|n, r, i| format!("{} (change {n}, round {r})", TEXTS[i]));
    let model = Model::shipped().expect("shipped sentiment model");
    let week: IsoWeek = "2026-W47".parse().expect("week");
    let figures = |scores: &CommentScores| {
        let negative = |t: &str| scores.negative(t);
        canopy_analyzer::digest::build("o/r", &events, week, Some(&negative), None)
    };
    let mut g = c.benchmark_group("comment_scores_100k_events");
    g.sample_size(10);
    g.bench_function("uncached_figures", |b| {
        b.iter(|| {
            let negative = |t: &str| model.probabilities(t)[0];
            canopy_analyzer::digest::build("o/r", &events, week, Some(&negative), None)
        })
    });
    g.bench_function("cold_cache_score_all_and_figures", |b| {
        b.iter_batched(
            fresh_store,
            |(_dir, store)| {
                let s = CommentScores::for_events(&store, model.clone(), &events).expect("score");
                assert_eq!(s.stats().scored, 30_000);
                figures(&s)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let (_dir, store) = fresh_store();
    CommentScores::for_events(&store, model.clone(), &events).expect("fill the cache");
    let warm = |store: &dyn Store| {
        let s = CommentScores::for_events(store, model.clone(), &events).expect("score");
        assert_eq!(s.stats().cached, 30_000);
        s
    };
    g.bench_function("warm_cache_read_all", |b| b.iter(|| warm(&store).stats()));
    g.bench_function("warm_cache_read_all_and_figures", |b| {
        b.iter(|| figures(&warm(&store)))
    });
    // What the digest does now: score (and cache) only the comments of the week and its
    // trend weeks, the ones the figures read.
    let (from, to) = canopy_analyzer::digest::sentiment_span(week);
    let span: Vec<&canopy_analyzer::Event> = events
        .iter()
        .filter(|e| (from..to).contains(&e.at_utc()))
        .collect();
    g.bench_function("cold_cache_span_and_figures", |b| {
        b.iter_batched(
            fresh_store,
            |(_dir, store)| {
                let s = CommentScores::for_events(&store, model.clone(), span.iter().copied())
                    .expect("score");
                assert_eq!(s.stats().cached, 0);
                figures(&s)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let (_span_dir, span_store) = fresh_store();
    CommentScores::for_events(&span_store, model.clone(), span.iter().copied()).expect("fill");
    g.bench_function("warm_cache_span_and_figures", |b| {
        b.iter(|| {
            let s = CommentScores::for_events(&span_store, model.clone(), span.iter().copied())
                .expect("score");
            assert_eq!(s.stats().scored, 0);
            figures(&s)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_cache);
criterion_main!(benches);

/// An empty store in a temporary directory (kept alive with it).
fn fresh_store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path()).expect("store");
    (dir, store)
}
