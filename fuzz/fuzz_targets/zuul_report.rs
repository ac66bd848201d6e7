//! Zuul report parser and recheck detection: must never panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(report) = canopy_forge::gerrit::zuul::parse(&text) {
        for job in &report.jobs {
            let _ = job.ci_result();
            let _ = job.build_id();
        }
    }
    let _ = canopy_forge::gerrit::zuul::is_recheck(&text);
    let _ = canopy_forge::gerrit::zuul::parse_duration(&text);
});
