//! Gerrit normaliser (including the lenient trailing-comma path): must never panic.
#![no_main]

use canopy_forge::gerrit::normalize::{GerritNormalizeConfig, normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = GerritNormalizeConfig::default();
    let received = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let _ = normalize(data, &cfg, received);
});
