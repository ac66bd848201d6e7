//! The digest's charts: inline SVG drawn with plotters (for HTML and email) and Mermaid
//! `xychart-beta` blocks (for GitHub, which renders them). Team-level series only.

use canopy_analyzer::digest::Digest;
use plotters::prelude::*;

/// Bars of changes merged per day.
pub const GREEN: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
/// Reviews per day and the time-to-merge line.
pub const BLUE: RGBColor = RGBColor(0x15, 0x65, 0xc0);
/// CI hours per day.
pub const ORANGE: RGBColor = RGBColor(0xef, 0x6c, 0x00);

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 { 1.0 } else { (v * 1.15).ceil() }
}

/// Grouped daily bars drawn on an SVG string: one series per (name, colour, values).
fn daily_bars(title: &str, series: &[(&str, RGBColor, Vec<f64>)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 260)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let top = series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(-0.5f64..6.5f64, 0f64..nice_max(top))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(14)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                DAYS.get(i as usize)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            })
            .y_labels(5)
            .draw()
            .map_err(|x| e(&x))?;
        let width = 0.8 / series.len().max(1) as f64;
        for (k, (name, colour, values)) in series.iter().enumerate() {
            let colour = *colour;
            chart
                .draw_series(values.iter().enumerate().map(|(i, v)| {
                    let x0 = i as f64 - 0.4 + k as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, *v)], colour.filled())
                }))
                .map_err(|x| e(&x))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

/// Merges and reviews per day.
pub fn activity_svg(d: &Digest) -> Result<String, String> {
    daily_bars(
        "Merged changes and reviews per day",
        &[
            (
                "merged",
                GREEN,
                d.daily.iter().map(|x| x.merged as f64).collect(),
            ),
            (
                "reviews",
                BLUE,
                d.daily.iter().map(|x| x.reviews as f64).collect(),
            ),
        ],
    )
}

/// CI runtime per day.
pub fn ci_svg(d: &Digest) -> Result<String, String> {
    daily_bars(
        "CI runtime per day (hours)",
        &[(
            "CI hours",
            ORANGE,
            d.daily.iter().map(|x| x.ci_hours).collect(),
        )],
    )
}

/// Median time to merge per week, with points where changes merged.
pub fn ttm_svg(d: &Digest) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 240)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let pts: Vec<(f64, f64)> = d
            .ttm_weekly
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.median_hours.map(|h| (i as f64, h)))
            .collect();
        let top = pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let n = d.ttm_weekly.len().max(1);
        let labels: Vec<String> = d.ttm_weekly.iter().map(|w| w.week.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("Median hours to merge, by week", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..nice_max(top))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                labels.get(i as usize).cloned().unwrap_or_default()
            })
            .y_labels(5)
            .draw()
            .map_err(|x| e(&x))?;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), BLUE.stroke_width(3)))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 5, BLUE.filled())))
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

/// Mermaid charts for GitHub: daily merges and reviews, and the weekly median time to merge.
pub fn mermaid(d: &Digest) -> String {
    let list = |v: Vec<String>| v.join(", ");
    let ints = |f: &dyn Fn(&canopy_analyzer::digest::DayActivity) -> usize| {
        list(d.daily.iter().map(|x| f(x).to_string()).collect())
    };
    let top = d
        .daily
        .iter()
        .map(|x| x.merged.max(x.reviews))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut out = format!(
        "```mermaid\nxychart-beta\n    title \"Merged (bars) and reviews (line) per day\"\n    x-axis [{}]\n    y-axis \"count\" 0 --> {}\n    bar [{}]\n    line [{}]\n```\n",
        DAYS.join(", "),
        top,
        ints(&|x| x.merged),
        ints(&|x| x.reviews)
    );
    if d.ttm_weekly.iter().any(|w| w.median_hours.is_some()) {
        let weeks: Vec<String> = d
            .ttm_weekly
            .iter()
            .map(|w| format!("\"{}\"", w.week))
            .collect();
        let vals: Vec<String> = d
            .ttm_weekly
            .iter()
            .map(|w| format!("{:.0}", w.median_hours.unwrap_or(0.0)))
            .collect();
        out.push_str(&format!(
            "\n```mermaid\nxychart-beta\n    title \"Median hours to merge by week (0 = nothing merged)\"\n    x-axis [{}]\n    y-axis \"hours\"\n    line [{}]\n```\n",
            list(weeks),
            list(vals)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_their_series_in_their_colours() {
        let mut d =
            canopy_analyzer::digest::build("o/r", &[], "2026-W47".parse().unwrap(), None, None);
        d.daily[1].merged = 3;
        d.daily[2].reviews = 5;
        d.daily[3].ci_hours = 2.5;
        d.ttm_weekly[4].median_hours = Some(20.0);
        d.ttm_weekly[2].median_hours = Some(8.0);
        let a = activity_svg(&d).unwrap();
        assert!(a.starts_with("<svg") && a.contains("#2E7D32") && a.contains("#1565C0"));
        assert!(ci_svg(&d).unwrap().contains("#EF6C00"));
        let t = ttm_svg(&d).unwrap();
        assert!(t.contains("2026-W47") && t.contains("polyline"));
        let m = mermaid(&d);
        assert!(m.contains("bar [0, 3, 0, 0, 0, 0, 0]"), "{m}");
        assert!(m.contains("line [0, 0, 8, 0, 20]"), "{m}");
    }
}
