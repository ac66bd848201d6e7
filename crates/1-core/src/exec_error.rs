//! How an action failed, and when it may be tried again: classified from HTTP status and
//! rate-limit headers the same way for GitHub and Gerrit.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A failed attempt at an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// Worth retrying (network trouble, 5xx, rate limits) or not (4xx, bad configuration).
    pub transient: bool,
    /// When the platform said to come back (`Retry-After`, `x-ratelimit-reset`).
    pub retry_at: Option<DateTime<Utc>>,
    /// What happened, for logs and the dead-letter list (never a token or a body).
    pub message: String,
}

impl ExecError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> ExecError {
        ExecError {
            transient: true,
            retry_at: None,
            message: message.into(),
        }
    }

    /// A failure that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> ExecError {
        ExecError {
            transient: false,
            retry_at: None,
            message: message.into(),
        }
    }

    /// Classifies an HTTP response that was not a success.
    ///
    /// - 429, and 403 with `Retry-After`, `x-ratelimit-remaining: 0` or a "secondary rate limit"
    ///   message: rate limited, retried at `Retry-After` or `x-ratelimit-reset` (else in a minute);
    /// - 408, 5xx: transient;
    /// - other 4xx: permanent.
    pub fn from_status(
        what: &str,
        status: u16,
        header: impl Fn(&str) -> Option<String>,
        body: &str,
        now: DateTime<Utc>,
    ) -> ExecError {
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| now + chrono::Duration::seconds(s.min(86_400) as i64));
        let remaining_zero = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
        let reset = header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .filter(|t| *t > now);
        let secondary = body.to_ascii_lowercase().contains("secondary rate limit");
        let short = |b: &str| b.chars().take(200).collect::<String>();
        if status == 429
            || (status == 403 && (retry_after.is_some() || remaining_zero || secondary))
        {
            let retry_at = retry_after
                .or(if remaining_zero { reset } else { None })
                .unwrap_or(now + chrono::Duration::seconds(60));
            return ExecError {
                transient: true,
                retry_at: Some(retry_at),
                message: format!(
                    "{what}: rate limited (HTTP {status}); retrying at {}",
                    retry_at.to_rfc3339()
                ),
            };
        }
        if status == 408 || status >= 500 {
            return ExecError {
                transient: true,
                retry_at: retry_after,
                message: format!("{what}: HTTP {status}: {}", short(body)),
            };
        }
        ExecError::permanent(format!("{what}: HTTP {status}: {}", short(body)))
    }
}

/// Exponential backoff with jitter for attempt `n` (1-based): `base` × 2, 4, 8 … capped at
/// 30 minutes, each ±20% by `jitter` in [0, 1) (seeded by the caller, so runs are reproducible).
pub fn backoff(attempt: u32, jitter: f64, base: Duration) -> Duration {
    let factor = 2f64.powi(attempt.clamp(1, 20) as i32);
    let secs = (base.as_secs_f64() * factor).min(1800.0);
    Duration::from_secs_f64(secs * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn rate_limits_are_transient_with_their_time() {
        let h = |k: &str| (k == "retry-after").then(|| "30".to_string());
        let e = ExecError::from_status(
            "x",
            403,
            h,
            "You have exceeded a secondary rate limit",
            now(),
        );
        assert!(e.transient);
        assert_eq!(e.retry_at, Some(now() + chrono::Duration::seconds(30)));
        let reset = (now() + chrono::Duration::minutes(5))
            .timestamp()
            .to_string();
        let h = |k: &str| match k {
            "x-ratelimit-remaining" => Some("0".to_string()),
            "x-ratelimit-reset" => Some(reset.clone()),
            _ => None,
        };
        let e = ExecError::from_status("x", 403, h, "API rate limit exceeded", now());
        assert_eq!(e.retry_at, Some(now() + chrono::Duration::minutes(5)));
        let e = ExecError::from_status("x", 429, |_| None, "", now());
        assert_eq!(e.retry_at, Some(now() + chrono::Duration::seconds(60)));
    }

    #[test]
    fn server_errors_retry_and_client_errors_do_not() {
        assert!(ExecError::from_status("x", 502, |_| None, "bad gateway", now()).transient);
        assert!(!ExecError::from_status("x", 404, |_| None, "Not Found", now()).transient);
        assert!(
            !ExecError::from_status(
                "x",
                403,
                |_| None,
                "Resource not accessible by integration",
                now()
            )
            .transient
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(1, 0.5, s), Duration::from_secs(2));
        assert_eq!(backoff(3, 0.5, s), Duration::from_secs(8));
        assert_eq!(backoff(30, 0.5, s), Duration::from_secs(1800));
        assert!(backoff(2, 0.0, s) < backoff(2, 0.99, s));
        assert_eq!(
            backoff(2, 0.5, Duration::from_millis(10)),
            Duration::from_millis(40)
        );
    }
}
