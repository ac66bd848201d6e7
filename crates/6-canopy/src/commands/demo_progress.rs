//! The bundled demo's progress on stderr: each step as it finishes, with how long it took and
//! the time so far, so a user waiting for the demo sees where it is (and where time goes).

use std::io::Write;
use std::time::{Duration, Instant};

/// Steps finished so far and when, written to a sink (stderr in the demo).
pub struct Progress<'w> {
    start: Instant,
    last: Instant,
    steps: Vec<(String, Duration)>,
    out: Box<dyn Write + 'w>,
}

impl<'w> Progress<'w> {
    /// Starts timing now; steps are reported to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Progress<'w> {
        let now = Instant::now();
        Progress {
            start: now,
            last: now,
            steps: Vec::new(),
            out,
        }
    }

    /// Progress on stderr.
    pub fn stderr() -> Progress<'static> {
        Progress::new(Box::new(std::io::stderr()))
    }

    /// Records that `step` finished now (it began when the previous one finished) and reports it.
    pub fn done(&mut self, step: &str) {
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        // Progress is a courtesy: a closed stderr must not stop the demo.
        let _ = writeln!(
            self.out,
            "demo: {step} ({:.1} s; {:.1} s so far)",
            took.as_secs_f64(),
            (now - self.start).as_secs_f64()
        );
        self.steps.push((step.to_string(), took));
    }

    /// Records a step that ran apart from the sequence (on another thread) and took `took`.
    pub fn done_apart(&mut self, step: &str, took: Duration) {
        let _ = writeln!(
            self.out,
            "demo: {step} ({:.1} s, alongside)",
            took.as_secs_f64()
        );
        self.steps.push((step.to_string(), took));
    }

    /// The steps reported so far with their durations.
    pub fn steps(&self) -> &[(String, Duration)] {
        &self.steps
    }

    /// Reports the total.
    pub fn finish(&mut self) {
        let _ = writeln!(
            self.out,
            "demo: finished in {:.1} s",
            self.start.elapsed().as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_is_reported_with_its_duration_and_the_total() {
        let mut buf = Vec::new();
        {
            let mut p = Progress::new(Box::new(&mut buf));
            p.done("generating the history");
            p.done_apart("training", Duration::from_millis(1500));
            p.finish();
            assert_eq!(p.steps().len(), 2);
            assert_eq!(p.steps()[1].1, Duration::from_millis(1500));
        }
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("demo: generating the history ("));
        assert!(lines[0].ends_with(" s so far)"));
        assert_eq!(lines[1], "demo: training (1.5 s, alongside)");
        assert!(lines[2].starts_with("demo: finished in "));
    }
}
