//! A Gerrit bot against the fake Gerrit: the fake with change 4711 at a patch set, a
//! configuration pointing at it and the environment holding its password (the helpers of the
//! Gerrit action, CI insight, rerun and energy tests).

use crate::fake_gerrit::FakeGerrit;

/// The bot's Gerrit user.
pub const USER: &str = "canopy";
/// The bot's Gerrit HTTP password.
pub const PASSWORD: &str = "gerrit-http-password";
/// The environment that hands the bot its password.
pub const ENV: [(&str, &str); 1] = [("CANOPY_GERRIT_PASSWORD", PASSWORD)];
/// Quick outbox retries (a 20 ms backoff), to go into a configuration's `extra`.
pub const QUICK_RETRIES: &str = "[outbox]\nbackoff_base_ms = 20\n";

/// The fake Gerrit accepting the bot, with change 4711 at patch set `patchset`.
pub async fn fake_with_change(patchset: u32) -> FakeGerrit {
    let fake = FakeGerrit::start(USER, PASSWORD).await;
    fake.model.lock().unwrap().current.insert(4711, patchset);
    fake
}

/// A configuration pointing at the fake (host `review.example.org`, 1 s timeout), then `extra`
/// (more tables).
pub fn gerrit_config(fake: &FakeGerrit, extra: &str) -> String {
    format!(
        "[gerrit]\nhost = \"review.example.org\"\nurl = \"{}\"\nusername = \"{USER}\"\ntimeout_secs = 1\n{extra}",
        fake.url()
    )
}
