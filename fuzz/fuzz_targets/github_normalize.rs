//! GitHub normaliser: the first byte picks the event (one of those Canopy knows, or an unknown
//! name), the rest is the body. It must never panic, whatever the body.
#![no_main]

use canopy_forge::github::event::GithubEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else { return };
    let pick = *first as usize % (GithubEvent::ALL.len() + 1);
    let event = GithubEvent::ALL
        .get(pick)
        .map_or("unknown_event", |e| e.as_str());
    let received = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let _ = canopy_forge::github::normalize::normalize(event, "fuzz", body, received);
});
