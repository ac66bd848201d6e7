//! What people write: pull-request titles and descriptions, commit messages, review bodies and
//! comments in a range of tones, from warm to terse and uncivil.

use rand::RngExt;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use crate::cast::Tone;

/// The kind of a pull request, which shapes its title, size and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bug fix.
    Fix,
    /// A new feature.
    Feature,
    /// A refactoring.
    Refactor,
    /// Documentation only.
    Docs,
    /// Tests only.
    Tests,
    /// A dependency bump by the bot.
    Bump,
}

/// The tone of one remark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// Warm and thankful.
    Warm,
    /// Neutral and technical.
    Neutral,
    /// Terse.
    Terse,
    /// Uncivil.
    Uncivil,
}

const THINGS: [&str; 24] = [
    "span offsets",
    "the token cache",
    "retry backoff",
    "auth header parsing",
    "the pagination cursor",
    "config reload",
    "UTF-8 handling in the lexer",
    "error messages for bad input",
    "the connection pool",
    "request timeouts",
    "metrics labels",
    "the migration runner",
    "trailing commas",
    "nested expressions",
    "the health check",
    "date parsing",
    "rate limiting",
    "the CLI help text",
    "log levels",
    "graceful shutdown",
    "the order handler",
    "user lookups",
    "the release script",
    "memory use of the evaluator",
];

const CONDITIONS: [&str; 10] = [
    "the input is empty",
    "the server restarts",
    "two requests race",
    "the file ends without a newline",
    "the token expires",
    "the config has comments",
    "a user has no email",
    "the queue is full",
    "running on Windows",
    "the locale is not English",
];

const CRATES: [(&str, &str, &str); 8] = [
    ("serde", "1.0.210", "1.0.215"),
    ("tokio", "1.40.0", "1.41.1"),
    ("clap", "4.5.18", "4.5.21"),
    ("tracing", "0.1.40", "0.1.41"),
    ("regex", "1.10.6", "1.11.1"),
    ("thiserror", "1.0.64", "2.0.3"),
    ("anyhow", "1.0.89", "1.0.93"),
    ("hyper", "1.4.1", "1.5.1"),
];

/// A title for a pull request of `kind`.
pub fn title(kind: Kind, rng: &mut ChaCha8Rng) -> String {
    let thing = THINGS.choose(rng).copied().unwrap_or("it");
    match kind {
        Kind::Fix => {
            let cond = CONDITIONS.choose(rng).copied().unwrap_or("needed");
            format!("Fix {thing} when {cond}")
        }
        Kind::Feature => {
            let verb = ["Add", "Support", "Introduce"]
                .choose(rng)
                .copied()
                .unwrap_or("Add");
            format!("{verb} configurable {thing}")
        }
        Kind::Refactor => {
            let verb = ["Refactor", "Simplify", "Split up"]
                .choose(rng)
                .copied()
                .unwrap_or("Refactor");
            format!("{verb} {thing}")
        }
        Kind::Docs => format!("Docs: explain {thing}"),
        Kind::Tests => format!("Add tests for {thing}"),
        Kind::Bump => {
            let (c, a, b) = CRATES.choose(rng).copied().unwrap_or(CRATES[0]);
            format!("Bump {c} from {a} to {b}")
        }
    }
}

/// A description for a pull request titled `title`.
pub fn description(kind: Kind, title: &str, rng: &mut ChaCha8Rng) -> String {
    match kind {
        Kind::Bump => format!(
            "{title}.\n\n---\n\nDependabot will resolve any conflicts with this PR as long as you don't alter it yourself."
        ),
        _ => {
            let why = [
                "We hit this in production last week.",
                "Reported by a user on the forum.",
                "This came up in the last review.",
                "Small step towards the 2.0 plan.",
                "Found while profiling.",
            ]
            .choose(rng)
            .copied()
            .unwrap_or("");
            let issue = rng.random_range(10..400);
            format!("{why}\n\n{title}. Tests included where it made sense.\n\nCloses #{issue}")
        }
    }
}

/// A commit subject for the `n`-th commit of a pull request titled `title`.
pub fn commit_subject(title: &str, n: usize, rng: &mut ChaCha8Rng) -> String {
    if n == 0 {
        return title.to_string();
    }
    [
        "Address review comments",
        "Fix tests",
        "Handle the error case",
        "Rename per review",
        "Add a regression test",
        "Tidy up",
        "Fix clippy warnings",
    ]
    .choose(rng)
    .copied()
    .unwrap_or("Update")
    .to_string()
}

/// Picks a register from a tone, with `harsher` (0–1) moving weight towards terse and uncivil.
pub fn register(tone: &Tone, harsher: f64, rng: &mut ChaCha8Rng) -> Register {
    let warm = tone.warm * (1.0 - harsher);
    let neutral = tone.neutral * (1.0 - 0.5 * harsher);
    let terse = tone.terse + 0.35 * harsher;
    let uncivil = tone.uncivil * (1.0 + 2.0 * harsher);
    let total = warm + neutral + terse + uncivil;
    let mut x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (w, r) in [
        (warm, Register::Warm),
        (neutral, Register::Neutral),
        (terse, Register::Terse),
    ] {
        if x < w {
            return r;
        }
        x -= w;
    }
    Register::Uncivil
}

/// A review comment or PR comment by a reviewer, in `register`, about `file`.
pub fn remark(register: Register, file: &str, rng: &mut ChaCha8Rng) -> String {
    let pick = |options: &[&str], rng: &mut ChaCha8Rng| {
        options.choose(rng).copied().unwrap_or("").to_string()
    };
    match register {
        Register::Warm => pick(
            &[
                "Nice catch, thanks for fixing this!",
                "This reads much better now, thank you.",
                "Great test coverage here, really appreciated.",
                "Love this cleanup. Thanks for taking the time!",
                "Thanks! Small suggestion inline, otherwise great.",
            ],
            rng,
        ),
        Register::Neutral => {
            let t = pick(
                &[
                    "Could we move this into a helper? The same logic is in {file}.",
                    "Does this handle the empty case? A test for it in {file} would help.",
                    "nit: I'd name this after what it returns rather than how.",
                    "I think this needs a test for the error path.",
                    "What happens if this is called twice? {file} assumes it isn't.",
                    "Can we avoid the clone here? It runs on every request.",
                    "Please add a line to the changelog for this.",
                ],
                rng,
            );
            t.replace("{file}", file)
        }
        Register::Terse => pick(
            &[
                "No.",
                "Fix the tests first.",
                "Why?",
                "Not like this.",
                "Rebase.",
                "Again?",
                "See CONTRIBUTING.",
            ],
            rng,
        ),
        Register::Uncivil => pick(
            &[
                "This is sloppy. Did you even run it?",
                "Seriously, again? We went over this last week.",
                "I'm not reviewing this mess until the tests pass.",
                "Who thought this design was a good idea? It's garbage.",
                "Stop pushing half-finished work and wasting everyone's time.",
                "This is embarrassing. Read the code before you change it.",
            ],
            rng,
        ),
    }
}

/// The author's reply after addressing a review, in `register`.
pub fn reply(register: Register, rng: &mut ChaCha8Rng) -> String {
    let options: &[&str] = match register {
        Register::Warm => &[
            "Thanks for the careful review! Updated.",
            "Good point, fixed in the latest push. Thanks!",
        ],
        Register::Neutral => &[
            "Done, PTAL.",
            "Updated and added a test.",
            "Changed as suggested.",
        ],
        Register::Terse => &["fixed", "done", "ok"],
        Register::Uncivil => &["Whatever, changed it.", "Fine. It was working before."],
    };
    options.choose(rng).copied().unwrap_or("done").to_string()
}

/// The body of a review with `state` (`approved`, `changes_requested`, `commented`).
pub fn review_body(state: &str, register: Register, file: &str, rng: &mut ChaCha8Rng) -> String {
    match (state, register) {
        ("approved", Register::Terse | Register::Uncivil) => "LGTM".into(),
        ("approved", _) => [
            "Looks good, thanks!",
            "LGTM, nice work.",
            "Approving; one nit inline but fine to merge.",
        ]
        .choose(rng)
        .copied()
        .unwrap_or("LGTM")
        .to_string(),
        ("changes_requested", Register::Warm | Register::Neutral) => {
            format!("A few things to address inline, mostly in {file}.")
        }
        _ => remark(register, file, rng),
    }
}

/// A welcome for someone's first pull request.
pub fn welcome(rng: &mut ChaCha8Rng) -> String {
    [
        "Welcome, and thanks for your first contribution! We'll take a look soon.",
        "Thanks for opening this, and welcome to the project! The CONTRIBUTING guide explains how we review.",
    ]
    .choose(rng)
    .copied()
    .unwrap_or("Welcome!")
    .to_string()
}

/// A line of source code for a file at `path`; `n` makes every generated line unique, so the
/// line statistics git computes are exactly the lines the generator added and deleted.
pub fn code_line(path: &str, n: u64, rng: &mut ChaCha8Rng) -> String {
    const WORDS: [&str; 12] = [
        "widget", "span", "token", "order", "user", "config", "route", "cache", "retry", "frame",
        "queue", "scope",
    ];
    let w = WORDS.choose(rng).copied().unwrap_or("x");
    if path.ends_with(".md") {
        format!("The {w} step {n} is described here.")
    } else if path.ends_with(".sql") {
        format!("ALTER TABLE {w}s ADD COLUMN c{n} INTEGER;")
    } else if path.ends_with(".toml") || path.ends_with(".yml") {
        format!("{w}_{n} = true")
    } else {
        format!("    let {w}_{n} = {w}::step({n})?;")
    }
}
