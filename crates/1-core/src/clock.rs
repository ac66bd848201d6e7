//! Time as a dependency: everything that reads the time or waits for a moment asks a `Clock`,
//! so tests can set the time and move it forward without waiting.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A boxed future, for object-safe async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where "now" comes from, and how to wait for a later moment.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once [`Clock::now`] has reached `t` (at once if it already has).
    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let wait = (t - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stays where a test puts it; sleepers wake when it is moved past their time.
#[derive(Debug)]
pub struct ManualClock(watch::Sender<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock(watch::Sender::new(t))
    }

    /// Moves the clock to `t` (backwards too, for tests of clock skew).
    pub fn set(&self, t: DateTime<Utc>) {
        self.0.send_replace(t);
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: chrono::Duration) {
        self.0.send_modify(|t| *t += d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.borrow()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let mut rx = self.0.subscribe();
        Box::pin(async move {
            if rx.wait_for(|now| *now >= t).await.is_err() {
                // The clock is gone: nothing will ever move it again.
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleeper_wakes_when_the_clock_passes_its_time() {
        let t0: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        let mut sleeper = clock.sleep_until(t0 + chrono::Duration::seconds(30));
        let poll = |f: &mut BoxFuture<'static, ()>| {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            f.as_mut().poll(&mut cx).is_ready()
        };
        assert!(!poll(&mut sleeper));
        clock.advance(chrono::Duration::seconds(29));
        assert!(!poll(&mut sleeper));
        clock.advance(chrono::Duration::seconds(1));
        assert!(poll(&mut sleeper));
        assert!(
            poll(&mut clock.sleep_until(t0)),
            "a past time is reached at once"
        );
    }
}
