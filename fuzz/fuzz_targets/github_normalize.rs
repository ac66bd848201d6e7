//! GitHub normaliser: the first byte picks the event name, the rest is the body. It must never
//! panic, whatever the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

const EVENTS: [&str; 13] = [
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "push",
    "check_run",
    "check_suite",
    "workflow_run",
    "workflow_job",
    "status",
    "ping",
    "installation",
    "unknown_event",
];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else { return };
    let event = EVENTS[*first as usize % EVENTS.len()];
    let received = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let _ = canopy_forge::github::normalize::normalize(event, "fuzz", body, received);
});
