//! `canopy healthcheck`: asks a running server whether it is ready (`GET /readyz`) and exits 0
//! when it answers 200 in time, else 1 with the reason on stderr. Made for a container's
//! HEALTHCHECK, whose image has no shell tools to ask with.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Url;

/// Where `canopy serve` answers by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/readyz";

/// Arguments of `canopy healthcheck`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the server answered 200 within the timeout; 1 when \
it could not be reached, answered anything else (the reason, and the JSON saying which worker \
is not running, go to stderr) or did not answer in time; 2 for invalid arguments. In a \
Dockerfile: HEALTHCHECK CMD [\"canopy\", \"healthcheck\"]."
)]
pub struct HealthcheckArgs {
    /// The server's readiness URL (http only); a URL without a path gets `/readyz`.
    #[arg(long, value_name = "URL", default_value = DEFAULT_URL, value_parser = parse_url)]
    pub url: Url,
    /// Seconds to wait for the whole answer, connecting included.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_timeout)]
    pub timeout: Duration,
}

/// An http URL; `/readyz` when it names no path.
fn parse_url(s: &str) -> Result<Url, String> {
    let mut url =
        Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e}); expected {DEFAULT_URL}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "{s:?}: only http:// is supported (the check asks the server on its own host or pod)"
        ));
    }
    if url.path() == "/" {
        url.set_path("/readyz");
    }
    Ok(url)
}

/// Seconds, more than 0 and at most an hour.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 3600.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{s:?} is not a timeout: expected seconds, more than 0 and at most 3600 (e.g. 2 or 0.5)"
        )),
    }
}

/// Runs `canopy healthcheck`.
pub fn run(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    match runtime.block_on(check(&args.url, args.timeout)) {
        Ok(()) => {
            println!(
                "ready: {} answered 200 in {} ms",
                args.url,
                started.elapsed().as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("not ready: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Asks `url` once; the reason it is not ready, as one line.
async fn check(url: &Url, timeout: Duration) -> Result<(), String> {
    // No proxy: a proxy configured for the container's outbound traffic must not answer for it.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            format!("{url} did not answer within {:.1} s", timeout.as_secs_f64())
        } else if e.is_connect() {
            format!(
                "cannot connect to {url} ({}); is `canopy serve` running and listening there?",
                root_cause(&e)
            )
        } else {
            format!("asking {url} failed: {}", root_cause(&e))
        }
    };
    let response = client.get(url.clone()).send().await.map_err(failed)?;
    let status = response.status();
    if status == reqwest::StatusCode::OK {
        return Ok(());
    }
    // /readyz says in JSON which part is not running; keep the line short.
    let body = response.text().await.unwrap_or_default();
    let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let body: String = body.chars().take(300).collect();
    Err(format!("{url} answered {status}: {body}"))
}

/// The innermost error's message (`Connection refused (os error 111)`), not reqwest's wrapper.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_timeouts_are_checked() {
        assert_eq!(
            parse_url("http://127.0.0.1:9000").unwrap().as_str(),
            "http://127.0.0.1:9000/readyz"
        );
        assert_eq!(
            parse_url("http://canopy:8080/healthz").unwrap().path(),
            "/healthz"
        );
        assert!(
            parse_url("https://canopy/readyz")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(parse_url("localhost:8080").is_err());
        assert!(parse_url("not a url").unwrap_err().contains("is not a URL"));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "soon", "NaN", "inf"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
