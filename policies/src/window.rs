//! Greener windows: the start time, within a deadline, whose run has the lowest emissions under
//! an intensity forecast. Mirrors the Carbon Aware SDK's best-window query (data start, data
//! end, window size) and solves it in O(n) over the series.
//!
//! The forecast is a step function: each point's value holds until the next point. A step much
//! longer than the series' usual step (more than `MAX_GAP_FACTOR` times the median) is a gap: the
//! value holds for one usual step and the rest is unknown, and no window may cover unknown time.

use serde::Serialize;

/// Steps longer than this many median steps are gaps in the data.
pub const MAX_GAP_FACTOR: i64 = 3;

/// An intensity series, sorted by time, values in gCO2e/kWh.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    times: Vec<i64>,
    values: Vec<f64>,
    step: i64,
    /// Every step equals `step` (no gaps): the search can index instead of scanning.
    uniform: bool,
}

/// Why a series or a window query was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WindowError {
    /// Fewer than two points.
    #[error("the intensity series needs at least two points, it has {0}")]
    TooShort(usize),
    /// Times not strictly increasing.
    #[error("the intensity series is not in time order at point {0}")]
    Unordered(usize),
    /// A value that is not a finite, non-negative number.
    #[error("intensity at point {0} is not a finite non-negative number")]
    BadValue(usize),
    /// Nonsense query.
    #[error("the window must be longer than zero and end no earlier than it starts")]
    BadQuery,
    /// The data does not cover a complete window between start and deadline.
    #[error(
        "no complete window of the job's duration fits between the start and the deadline with data for all of it"
    )]
    NoWindow,
}

/// A window and its average intensity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Start, epoch seconds.
    pub start: i64,
    /// End, epoch seconds.
    pub end: i64,
    /// Time-weighted average intensity over the window, gCO2e/kWh.
    pub avg_intensity: f64,
}

/// The best window and running now, compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Choice {
    /// The lowest-emission window.
    pub best: Window,
    /// The window starting at the query's start (absent when data is missing there).
    pub now: Option<Window>,
    /// Emissions saved by the best window against now, percent (0 when now is unknown).
    pub savings_pct: f64,
}

/// A best-window query, in the Carbon Aware SDK's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Query {
    /// Earliest start (the SDK's `dataStartAt`), epoch seconds.
    pub data_start: i64,
    /// Latest end (the SDK's `dataEndAt`; the deadline), epoch seconds.
    pub data_end: i64,
    /// Window size (the job's expected duration), seconds.
    pub duration: i64,
}

impl Series {
    /// A series from (epoch seconds, intensity) points; unsorted or bad points are rejected.
    pub fn new(points: Vec<(i64, f64)>) -> Result<Series, WindowError> {
        if points.len() < 2 {
            return Err(WindowError::TooShort(points.len()));
        }
        for (i, w) in points.windows(2).enumerate() {
            if w[1].0 <= w[0].0 {
                return Err(WindowError::Unordered(i + 1));
            }
        }
        if let Some(i) = points.iter().position(|p| !p.1.is_finite() || p.1 < 0.0) {
            return Err(WindowError::BadValue(i));
        }
        let mut steps: Vec<i64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
        steps.sort_unstable();
        let step = steps[steps.len() / 2];
        let uniform = steps[0] == steps[steps.len() - 1];
        let (times, values) = points.into_iter().unzip();
        Ok(Series {
            times,
            values,
            step,
            uniform,
        })
    }

    /// The usual (median) step, seconds.
    pub fn step(&self) -> i64 {
        self.step
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether the series is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// First and last known instant (the last point holds for one step).
    pub fn span(&self) -> (i64, i64) {
        (self.times[0], self.times[self.times.len() - 1] + self.step)
    }

    /// Points as (epoch seconds, intensity).
    pub fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.times.iter().copied().zip(self.values.iter().copied())
    }

    /// The same times with other values (e.g. a noisy forecast of this series).
    pub fn with_values(&self, values: Vec<f64>) -> Result<Series, WindowError> {
        Series::new(self.times.iter().copied().zip(values).collect())
    }

    /// End of the data that point `i` stands for.
    fn seg_end(&self, i: usize) -> i64 {
        let limit = self.times[i] + self.step;
        match self.times.get(i + 1) {
            Some(&next) if next - self.times[i] <= MAX_GAP_FACTOR * self.step => next,
            Some(&next) => next.min(limit),
            None => limit,
        }
    }

    /// Intensity at `t`, if the data covers it.
    pub fn at(&self, t: i64) -> Option<f64> {
        let i = self.times.partition_point(|&x| x <= t).checked_sub(1)?;
        (t < self.seg_end(i)).then(|| self.values[i])
    }

    /// Average intensity over `[start, start + duration)`, if the data covers all of it.
    pub fn average(&self, start: i64, duration: i64) -> Option<f64> {
        if duration <= 0 {
            return None;
        }
        let mut i = self.times.partition_point(|&x| x <= start).checked_sub(1)?;
        let end = start + duration;
        let mut t = start;
        let mut sum = 0.0;
        while t < end {
            let e = self.seg_end(i);
            if t >= e {
                return None;
            }
            let upto = e.min(end);
            sum += self.values[i] * (upto - t) as f64;
            t = upto;
            if t < end {
                i += 1;
                if i >= self.times.len() || self.times[i] != t {
                    return None;
                }
            }
        }
        Some(sum / duration as f64)
    }

    /// The start in `[q.data_start, q.data_end − q.duration]` with the lowest emissions over
    /// `q.duration`, comparing with starting at `q.data_start`. Ties go to the earliest start.
    ///
    /// The emissions of a window are piecewise linear in its start, with corners where either
    /// edge crosses a boundary of the data (a point, or the end of a gap's or the last
    /// segment), so the minimum is at a boundary or a boundary minus the duration (or at the
    /// query's ends). Both candidate lists are sorted, and the
    /// prefix integral is read with cursors that only move forward: O(n + candidates).
    pub fn best_window(&self, q: Query) -> Result<Choice, WindowError> {
        if q.duration <= 0 || q.data_end < q.data_start {
            return Err(WindowError::BadQuery);
        }
        let latest = q.data_end - q.duration;
        if latest < q.data_start {
            return Err(WindowError::NoWindow);
        }
        // Only the points that can matter: from the one holding at the start to the first one
        // at or after the deadline (so a segment's end is the same as in the whole series).
        let lo = self
            .times
            .partition_point(|&t| t <= q.data_start)
            .saturating_sub(1);
        let hi = (self.times.partition_point(|&t| t < q.data_end) + 1).min(self.times.len());
        if lo > 0 || hi < self.times.len() {
            let part = Series {
                times: self.times[lo..hi].to_vec(),
                values: self.values[lo..hi].to_vec(),
                step: self.step,
                uniform: self.uniform,
            };
            return part.search(q, latest);
        }
        self.search(q, latest)
    }

    fn search(&self, q: Query, latest: i64) -> Result<Choice, WindowError> {
        if self.uniform {
            return self.search_uniform(q, latest);
        }
        // Segments [time, end) with prefix integrals; a gap breaks the data.
        let n = self.times.len();
        let ends: Vec<i64> = (0..n).map(|i| self.seg_end(i)).collect();
        // (integral of intensity, seconds covered) before each point.
        let mut prefix: Vec<(f64, i64)> = Vec::with_capacity(n + 1);
        let mut acc = (0.0, 0i64);
        for (i, &end) in ends.iter().enumerate() {
            prefix.push(acc);
            let len = end - self.times[i];
            acc = (acc.0 + self.values[i] * len as f64, acc.1 + len);
        }
        prefix.push(acc);
        let tables = Tables {
            times: &self.times,
            values: &self.values,
            ends: &ends,
            prefix: &prefix,
        };
        let mut a = Cursor::default();
        let mut b = Cursor::default();
        let mut eval = |start: i64| -> Option<f64> {
            let (ia, ka) = a.integral(&tables, start);
            let (ib, kb) = b.integral(&tables, start + q.duration);
            (kb - ka == q.duration).then_some(ib - ia)
        };
        // Every boundary of the data: point times, and the ends of gaps' and the last segment.
        let bounds = || {
            (0..n).flat_map(|i| {
                let extra = (i + 1 == n || self.times[i + 1] != ends[i]).then_some(ends[i]);
                std::iter::once(self.times[i]).chain(extra)
            })
        };
        let starts = bounds();
        let shifted = bounds().map(|t| t - q.duration);
        let candidates = merge(starts, shifted)
            .filter(|&t| t > q.data_start && t <= latest)
            .chain(std::iter::once(latest).filter(|&l| l > q.data_start));
        let now = eval(q.data_start);
        let mut best: Option<(i64, f64)> = now.map(|e| (q.data_start, e));
        let mut last = q.data_start;
        for t in candidates {
            if t <= last {
                continue; // duplicates, and the trailing `latest` when already passed
            }
            last = t;
            if let Some(e) = eval(t)
                && best.is_none_or(|(_, be)| e < be - 1e-9 * be.abs())
            {
                best = Some((t, e));
            }
        }
        self.choice(q, now, best)
    }

    /// The same search on an evenly spaced series without gaps: the prefix integral at any
    /// instant is one index computation away, so no cursors or merging are needed.
    // Long: the prefix integral and the sliding search share their indices; apart they would
    // pass half a dozen of them between each other.
    fn search_uniform(&self, q: Query, latest: i64) -> Result<Choice, WindowError> {
        let n = self.times.len();
        let (t0, st) = (self.times[0], self.step);
        let end_all = self.times[n - 1] + st;
        let mut prefix = Vec::with_capacity(n + 1);
        let mut acc = 0.0;
        for &v in &self.values {
            prefix.push(acc);
            acc += v * st as f64;
        }
        prefix.push(acc);
        let integral = |x: i64| -> f64 {
            let off = x - t0;
            let i = (off / st) as usize;
            if i >= n {
                prefix[n]
            } else {
                prefix[i] + self.values[i] * (off - i as i64 * st) as f64
            }
        };
        let eval = |x: i64| -> Option<f64> {
            (x >= t0 && x + q.duration <= end_all).then(|| integral(x + q.duration) - integral(x))
        };
        let now = eval(q.data_start);
        let mut best: Option<(i64, f64)> = now.map(|e| (q.data_start, e));
        let consider_value = |t: i64, e: f64, best: &mut Option<(i64, f64)>| {
            let better = match *best {
                None => true,
                Some((bt, be)) => {
                    let tol = 1e-9 * be.abs();
                    e < be - tol || (e <= be + tol && t < bt)
                }
            };
            if better {
                *best = Some((t, e));
            }
        };
        let consider = |t: i64, best: &mut Option<(i64, f64)>| {
            if t > q.data_start
                && t <= latest
                && let Some(e) = eval(t)
            {
                consider_value(t, e, best);
            }
        };
        // Corners: grid points and grid points minus the duration (evaluated without division:
        // with d = k·step + r, a window starting at point i ends r seconds into point i + k),
        // then the end of the data and `latest`.
        let (k, r) = ((q.duration / st) as usize, q.duration % st);
        let lo_t = q.data_start + 1;
        let first = (((lo_t - t0).max(0) + st - 1) / st) as usize;
        let last = ((((latest - t0).max(-1)) / st + 1).max(0) as usize).min(n);
        for i in first..last {
            if t0 + i as i64 * st > latest {
                break;
            }
            let j = i + k;
            let end_integral = if j < n {
                prefix[j] + self.values[j] * r as f64
            } else if j == n && r == 0 {
                prefix[n]
            } else {
                break;
            };
            consider_value(t0 + i as i64 * st, end_integral - prefix[i], &mut best);
        }
        if r > 0 {
            // Windows ending on point i start r seconds before the end of point i − k − 1.
            for i in (k + 1)..=n {
                let a = i - k - 1;
                let start = t0 + (a as i64 + 1) * st - r;
                if start <= q.data_start {
                    continue;
                }
                if start > latest {
                    break;
                }
                let e = prefix[i] - (prefix[a] + self.values[a] * (st - r) as f64);
                consider_value(start, e, &mut best);
            }
        }
        consider(end_all - q.duration, &mut best);
        consider(latest, &mut best);
        self.choice(q, now, best)
    }

    fn choice(
        &self,
        q: Query,
        now: Option<f64>,
        best: Option<(i64, f64)>,
    ) -> Result<Choice, WindowError> {
        let (start, e) = best.ok_or(WindowError::NoWindow)?;
        let window = |s: i64, e: f64| Window {
            start: s,
            end: s + q.duration,
            avg_intensity: e / q.duration as f64,
        };
        let best = window(start, e);
        let now = now.map(|e| window(q.data_start, e));
        let savings_pct = now.map_or(0.0, |n| {
            if n.avg_intensity > 0.0 {
                (1.0 - best.avg_intensity / n.avg_intensity) * 100.0
            } else {
                0.0
            }
        });
        Ok(Choice {
            best,
            now,
            savings_pct,
        })
    }
}

/// The precomputed arrays a search reads.
struct Tables<'a> {
    times: &'a [i64],
    values: &'a [f64],
    ends: &'a [i64],
    prefix: &'a [(f64, i64)],
}

/// Reads the prefix integral at increasing times.
#[derive(Default)]
struct Cursor {
    i: usize,
}

impl Cursor {
    /// (integral of intensity, seconds covered) from the series start to `t`.
    fn integral(&mut self, s: &Tables<'_>, t: i64) -> (f64, i64) {
        let n = s.times.len();
        while self.i < n && s.times[self.i] <= t {
            self.i += 1;
        }
        // Segment self.i − 1 starts at or before t.
        if self.i == 0 {
            return (0.0, 0);
        }
        let j = self.i - 1;
        let covered = (s.ends[j].min(t) - s.times[j]).max(0);
        let (integral, known) = s.prefix[j];
        (integral + s.values[j] * covered as f64, known + covered)
    }
}

/// Merges two ascending sequences.
fn merge(a: impl Iterator<Item = i64>, b: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(&x), Some(&y)) if x <= y => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3600;

    fn hourly(values: &[f64]) -> Series {
        Series::new(
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as i64 * H, v))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn picks_the_lowest_window_and_reports_savings() {
        let s = hourly(&[400.0, 380.0, 300.0, 100.0, 120.0, 350.0, 400.0, 410.0]);
        let c = s
            .best_window(Query {
                data_start: 0,
                data_end: 8 * H,
                duration: 2 * H,
            })
            .unwrap();
        assert_eq!((c.best.start, c.best.end), (3 * H, 5 * H));
        assert!((c.best.avg_intensity - 110.0).abs() < 1e-9);
        assert!((c.now.unwrap().avg_intensity - 390.0).abs() < 1e-9);
        assert!((c.savings_pct - (1.0 - 110.0 / 390.0) * 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_window_may_start_between_points() {
        // A 90-minute job: starting at 3h covers (100 + 0.5·500)/1.5 = 233; starting at 2h30
        // covers (0.5·300 + 100)/1.5 = 167, a start between two points.
        let s = hourly(&[500.0, 500.0, 300.0, 100.0, 500.0, 500.0]);
        let c = s
            .best_window(Query {
                data_start: 0,
                data_end: 6 * H,
                duration: 90 * 60,
            })
            .unwrap();
        assert_eq!(c.best.start, 2 * H + 30 * 60);
        assert!((c.best.avg_intensity - (300.0 * 0.5 + 100.0) / 1.5).abs() < 1e-9);
    }

    #[test]
    fn gaps_are_never_covered_and_uneven_steps_weigh_by_time() {
        // Hourly, then a 10-hour hole after hour 3 (values at 0..3, then 14..18).
        let mut pts: Vec<(i64, f64)> = (0..4).map(|i| (i * H, 300.0)).collect();
        pts.extend((14..18).map(|i| (i * H, 50.0)));
        let s = Series::new(pts).unwrap();
        assert_eq!(s.at(5 * H), None);
        assert_eq!(s.average(3 * H, 2 * H), None);
        let c = s
            .best_window(Query {
                data_start: 0,
                data_end: 18 * H,
                duration: 2 * H,
            })
            .unwrap();
        assert_eq!(c.best.start, 14 * H);
        // Uneven steps: 15 minutes at 100, then 45 at 500 → average 400 over the hour.
        let s = Series::new(vec![(0, 100.0), (900, 500.0), (3600, 500.0), (7200, 500.0)]).unwrap();
        assert!((s.average(0, 3600).unwrap() - 400.0).abs() < 1e-9);
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(Series::new(vec![(0, 1.0)]), Err(WindowError::TooShort(1)));
        assert_eq!(
            Series::new(vec![(5, 1.0), (5, 2.0)]),
            Err(WindowError::Unordered(1))
        );
        assert_eq!(
            Series::new(vec![(0, 1.0), (5, f64::NAN)]),
            Err(WindowError::BadValue(1))
        );
        let s = hourly(&[1.0, 2.0, 3.0]);
        let q = |a, b, d| Query {
            data_start: a,
            data_end: b,
            duration: d,
        };
        assert_eq!(s.best_window(q(0, 3 * H, 0)), Err(WindowError::BadQuery));
        assert_eq!(s.best_window(q(0, H, 2 * H)), Err(WindowError::NoWindow));
        assert_eq!(
            s.best_window(q(10 * H, 20 * H, H)),
            Err(WindowError::NoWindow)
        );
    }

    proptest! {
        /// On an evenly spaced series (the indexed path), any duration and start in minutes.
        #[test]
        fn uniform_series_match_brute_force(
            values in proptest::collection::vec(0.0f64..600.0, 2..60),
            dur_m in 1i64..400,
            start_m in 0i64..200,
            span_m in 0i64..900,
        ) {
            let s = Series::new(values.iter().enumerate().map(|(i, &v)| (i as i64 * 900, v)).collect()).unwrap();
            prop_assert!(s.uniform);
            let q = Query { data_start: start_m * 60, data_end: (start_m + dur_m + span_m) * 60, duration: dur_m * 60 };
            let mut brute: Option<(i64, f64)> = None;
            let mut st = q.data_start;
            while st + q.duration <= q.data_end {
                if let Some(a) = s.average(st, q.duration)
                    && brute.is_none_or(|(_, b)| a < b - 1e-9 * b)
                {
                    brute = Some((st, a));
                }
                st += 60;
            }
            match (s.best_window(q), brute) {
                (Ok(c), Some((_, b))) => prop_assert!((c.best.avg_intensity - b).abs() < 1e-6 * b.max(1.0), "{} vs {}", c.best.avg_intensity, b),
                (Err(WindowError::NoWindow), None) => {}
                (f, b) => prop_assert!(false, "fast {:?}, brute {:?}", f, b),
            }
        }

        /// The O(n) search finds the same emissions as trying every start on a fine grid.
        #[test]
        fn matches_brute_force(
            values in proptest::collection::vec(0.0f64..600.0, 3..40),
            steps in proptest::collection::vec(1i64..5, 40),
            dur_q in 1i64..20,
            start_q in 0i64..10,
            span_q in 0i64..60,
        ) {
            let q15 = 900;
            let mut t = 0;
            let mut pts = Vec::new();
            for (i, v) in values.iter().enumerate() {
                pts.push((t, *v));
                t += steps[i] * q15;
            }
            let s = Series::new(pts).unwrap();
            let q = Query { data_start: start_q * q15, data_end: (start_q + dur_q + span_q) * q15, duration: dur_q * q15 };
            let fast = s.best_window(q);
            let mut brute: Option<f64> = None;
            let mut st = q.data_start;
            while st + q.duration <= q.data_end {
                if let Some(a) = s.average(st, q.duration) {
                    brute = Some(brute.map_or(a, |b: f64| b.min(a)));
                }
                st += 60;
            }
            match (fast, brute) {
                (Ok(c), Some(b)) => prop_assert!((c.best.avg_intensity - b).abs() < 1e-6 * b.max(1.0), "{} vs {}", c.best.avg_intensity, b),
                (Err(WindowError::NoWindow), None) => {}
                (f, b) => prop_assert!(false, "fast {:?}, brute {:?}", f, b),
            }
        }
    }
}
