//! `/canopy` commands in PR and Gerrit comments: a typed parser that ignores code blocks and
//! quotes, typed errors for a helpful reply, and one exhaustive list that `/canopy help` is
//! rendered from, so the help can never miss a command.

use chrono::{DateTime, Duration, NaiveTime, Utc};

/// The prefix every command starts with.
pub const PREFIX: &str = "/canopy";

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotCommand {
    /// List the commands.
    Help,
    /// Explain the predicted time to merge.
    Explain,
    /// Run the suggested rerun in the greenest window, optionally before a deadline.
    Defer {
        /// Latest start wanted; the configured default when absent.
        by: Option<Deadline>,
    },
    /// Run the held-back rerun now.
    Now,
    /// Include me in person-level analysis (my own burnout-risk view).
    OptIn,
    /// Exclude me from person-level analysis.
    OptOut,
}

/// When a deferred rerun must have started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Within this long from the command.
    Within(Duration),
    /// At or before this instant.
    At(DateTime<Utc>),
}

impl Deadline {
    /// The instant, given the command's time.
    pub fn resolve(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Deadline::Within(d) => now + *d,
            Deadline::At(t) => *t,
        }
    }
}

/// Why a command line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing after the prefix.
    #[error("`/canopy` needs a command")]
    Missing,
    /// A word that is not a command.
    #[error("`{0}` is not a Canopy command")]
    Unknown(String),
    /// A command that takes no argument got one.
    #[error("`{command}` takes no argument, but got `{argument}`")]
    UnexpectedArgument {
        /// The command.
        command: &'static str,
        /// What followed it.
        argument: String,
    },
    /// A time that could not be read.
    #[error("`{value}` is not a time: {reason}")]
    InvalidTime {
        /// The text given.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// Every command, for help and for exhaustiveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `help`.
    Help,
    /// `explain`.
    Explain,
    /// `defer`.
    Defer,
    /// `now`.
    Now,
    /// `opt-in`.
    OptIn,
    /// `opt-out`.
    OptOut,
}

impl CommandKind {
    /// All commands, in the order help lists them.
    pub const ALL: [CommandKind; 6] = [
        CommandKind::Help,
        CommandKind::Explain,
        CommandKind::Defer,
        CommandKind::Now,
        CommandKind::OptIn,
        CommandKind::OptOut,
    ];

    /// (usage, what it does, who may use it). The match is exhaustive: a new command cannot be
    /// added without its help line.
    pub fn help(self) -> (&'static str, &'static str, &'static str) {
        match self {
            CommandKind::Help => ("/canopy help", "list these commands", "anyone"),
            CommandKind::Explain => (
                "/canopy explain",
                "explain the predicted time to merge: the factors behind it and their weight",
                "anyone",
            ),
            CommandKind::Defer => (
                "/canopy defer [by TIME]",
                "run the held-back CI rerun in the greenest window before TIME (`6h`, `90m`, `1d`, `18:00` UTC, or RFC 3339)",
                "the author, maintainers, or whoever asked for the rerun",
            ),
            CommandKind::Now => (
                "/canopy now",
                "run the held-back CI rerun now",
                "the author, maintainers, or whoever asked for the rerun",
            ),
            CommandKind::OptIn => (
                "/canopy opt-in",
                "include yourself in person-level analysis, visible only to you",
                "anyone, for themselves",
            ),
            CommandKind::OptOut => (
                "/canopy opt-out",
                "remove yourself from person-level analysis",
                "anyone, for themselves",
            ),
        }
    }
}

impl BotCommand {
    /// Its kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            BotCommand::Help => CommandKind::Help,
            BotCommand::Explain => CommandKind::Explain,
            BotCommand::Defer { .. } => CommandKind::Defer,
            BotCommand::Now => CommandKind::Now,
            BotCommand::OptIn => CommandKind::OptIn,
            BotCommand::OptOut => CommandKind::OptOut,
        }
    }
}

/// Finds every command line in a comment: lines starting with `/canopy`, outside fenced or
/// indented code blocks and outside `>` quotes. `now` resolves times like `18:00`.
pub fn parse_comment(text: &str, now: DateTime<Utc>) -> Vec<Result<BotCommand, ParseError>> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if trimmed.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        if line.starts_with("    ") || line.starts_with('\t') || trimmed.starts_with('>') {
            continue;
        }
        let Some(rest) = trimmed.strip_prefix(PREFIX) else {
            continue;
        };
        // `/canopyfoo` is not a command line.
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue;
        }
        out.push(parse_line(rest.trim(), now));
    }
    out
}

fn parse_line(rest: &str, now: DateTime<Utc>) -> Result<BotCommand, ParseError> {
    let mut words = rest.split_whitespace();
    let Some(cmd) = words.next() else {
        return Err(ParseError::Missing);
    };
    let args: Vec<&str> = words.collect();
    let no_args = |command: &'static str, c: BotCommand| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::UnexpectedArgument {
                command,
                argument: args.join(" "),
            })
        }
    };
    match cmd.to_ascii_lowercase().as_str() {
        "help" => no_args("help", BotCommand::Help),
        "explain" => no_args("explain", BotCommand::Explain),
        "now" => no_args("now", BotCommand::Now),
        "opt-in" | "optin" => no_args("opt-in", BotCommand::OptIn),
        "opt-out" | "optout" => no_args("opt-out", BotCommand::OptOut),
        "defer" => match args.as_slice() {
            [] => Ok(BotCommand::Defer { by: None }),
            ["by", t] => Ok(BotCommand::Defer {
                by: Some(parse_deadline(t, now)?),
            }),
            [t] => Ok(BotCommand::Defer {
                by: Some(parse_deadline(t, now)?),
            }),
            _ => Err(ParseError::UnexpectedArgument {
                command: "defer",
                argument: args.join(" "),
            }),
        },
        other => Err(ParseError::Unknown(other.to_string())),
    }
}

/// Parses `90m`, `6h`, `1d`, `18:00` (UTC, the next such time) or an RFC 3339 instant.
pub fn parse_deadline(s: &str, now: DateTime<Utc>) -> Result<Deadline, ParseError> {
    let bad = |reason| ParseError::InvalidTime {
        value: s.to_string(),
        reason,
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let t = t.with_timezone(&Utc);
        return if t > now {
            Ok(Deadline::At(t))
        } else {
            Err(bad("that time has passed"))
        };
    }
    if let Ok(hm) = NaiveTime::parse_from_str(s, "%H:%M") {
        let today = now.date_naive().and_time(hm).and_utc();
        let t = if today > now {
            today
        } else {
            today + Duration::days(1)
        };
        return Ok(Deadline::At(t));
    }
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| bad("add a unit: 90m, 6h, 1d"))?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| bad("expected a number before the unit"))?;
    let d = match unit {
        "m" | "min" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => return Err(bad("units are m, h or d")),
    }
    .ok_or_else(|| bad("too large"))?;
    if d <= Duration::zero() || d > Duration::days(7) {
        return Err(bad("give a deadline between 1 minute and 7 days"));
    }
    Ok(Deadline::Within(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    fn ok(text: &str) -> Vec<BotCommand> {
        parse_comment(text, now())
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(ok("/canopy help"), [BotCommand::Help]);
        assert_eq!(ok("/canopy explain"), [BotCommand::Explain]);
        assert_eq!(ok("/canopy now"), [BotCommand::Now]);
        assert_eq!(
            ok("/canopy opt-in\n/canopy opt-out"),
            [BotCommand::OptIn, BotCommand::OptOut]
        );
        assert_eq!(ok("/canopy defer"), [BotCommand::Defer { by: None }]);
        assert_eq!(
            ok("/canopy defer by 6h"),
            [BotCommand::Defer {
                by: Some(Deadline::Within(Duration::hours(6)))
            }]
        );
        let at = ok("/canopy defer by 18:00");
        assert_eq!(
            at,
            [BotCommand::Defer {
                by: Some(Deadline::At("2026-11-23T18:00:00Z".parse().unwrap()))
            }]
        );
        let early = ok("/canopy defer 09:00");
        assert_eq!(
            early,
            [BotCommand::Defer {
                by: Some(Deadline::At("2026-11-24T09:00:00Z".parse().unwrap()))
            }]
        );
    }

    #[test]
    fn ignores_code_quotes_and_prose() {
        let text = "Thanks!\n```\n/canopy now\n```\n> /canopy opt-in\n    /canopy help\nSee `/canopy help` inline.\n/canopyhelp\n~~~\n/canopy now\n~~~\n/canopy explain";
        assert_eq!(ok(text), [BotCommand::Explain]);
    }

    #[test]
    fn typed_errors_for_malformed_commands() {
        let errs: Vec<ParseError> = parse_comment("/canopy\n/canopy dance\n/canopy help me\n/canopy defer by soon\n/canopy defer by 30d\n/canopy defer by 2020-01-01T00:00:00Z", now())
            .into_iter()
            .map(|r| r.unwrap_err())
            .collect();
        assert_eq!(errs[0], ParseError::Missing);
        assert_eq!(errs[1], ParseError::Unknown("dance".into()));
        assert!(matches!(
            errs[2],
            ParseError::UnexpectedArgument {
                command: "help",
                ..
            }
        ));
        assert!(matches!(errs[3], ParseError::InvalidTime { .. }));
        assert!(errs[4].to_string().contains("between 1 minute and 7 days"));
        assert!(errs[5].to_string().contains("passed"));
    }

    #[test]
    fn every_command_in_help_parses_from_its_own_usage() {
        for kind in CommandKind::ALL {
            let (usage, _, _) = kind.help();
            let example = usage.replace("[by TIME]", "by 2h");
            let parsed = ok(&example);
            assert_eq!(parsed.len(), 1, "{usage}");
            assert_eq!(parsed[0].kind(), kind, "{usage}");
        }
    }
}
