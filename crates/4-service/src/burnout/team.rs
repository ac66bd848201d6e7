//! The team's k-anonymous burnout view of one week (buckets and drivers, or the indicators'
//! trends and why there is no score).

use canopy_analyzer::indicators::{N, NAMES};
use canopy_analyzer::week::IsoWeek;
use canopy_models::burnout::Standardised;
use canopy_models::burnout::explain::GROUPS;
use canopy_models::burnout::model::Artifact;
use canopy_policies::visibility::{Decision, Item, Rules, Viewer};

/// The team's burnout view of one week: k-anonymous risk buckets (with complementary
/// suppression, so a hidden bucket cannot be recovered from the total) and the groups of
/// predictors raising scores most — or, when the model is not validated, the indicators
/// furthest from people's own usual and the sentence why there is no score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TeamBurnout {
    /// Week.
    pub week: String,
    /// People who opted in and were analysed that week.
    pub people: usize,
    /// Risk bucket label and its count, `None` when hidden; empty without a score.
    pub buckets: Vec<(String, Option<usize>)>,
    /// The smallest group shown.
    pub k: usize,
    /// Groups raising scores most, with mean points ("recent activity (+4.1 points)").
    pub drivers: Vec<String>,
    /// Why there is no score, when there is none.
    pub note: Option<String>,
    /// Indicators furthest from people's own usual, on average ("weekend share +0.8 sd").
    pub trends: Vec<String>,
}

impl TeamBurnout {
    /// As Markdown (a table and a sentence, or the trends and why there is no score).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Team burnout view, {} ({} people who opted in):\n\n",
            self.week, self.people
        );
        if let Some(note) = &self.note {
            out.push_str(note);
            out.push_str("\n\n");
        } else {
            out.push_str("| risk | people |\n|---|---:|\n");
            for (label, n) in &self.buckets {
                let shown = n.map_or_else(
                    || format!("hidden (fewer than {} or complementary)", self.k),
                    |n| n.to_string(),
                );
                out.push_str(&format!("| {label} | {shown} |\n"));
            }
            out.push_str("\nRaising scores most, on average: ");
            out.push_str(&self.drivers.join(", "));
            out.push_str("\n\n");
        }
        out.push_str("Indicators furthest from people's own usual, on average: ");
        out.push_str(&self.trends.join(", "));
        out.push('\n');
        out
    }
}

/// The team's burnout section for `week`, or why it may not be shown (fewer than k people).
#[allow(clippy::needless_range_loop)] // indexes several parallel arrays
pub fn team_burnout(
    rows: &[Standardised],
    week: IsoWeek,
    rules: &Rules,
) -> Result<TeamBurnout, String> {
    let members: Vec<&Standardised> = rows
        .iter()
        .filter(|r| r.week == week && rules.analysable(&r.person))
        .collect();
    let n = members.len();
    if let Decision::Deny(why) =
        rules.may_see(&Viewer::Maintainer, &Item::Aggregate { group_size: n })
    {
        return Err(why);
    }
    let mut mean_z = [0.0; N];
    for r in &members {
        for i in 0..N {
            mean_z[i] += r.z[i] / n as f64;
        }
    }
    let mut order: Vec<usize> = (0..N).filter(|&i| mean_z[i].abs() >= 0.1).collect();
    order.sort_by(|&a, &b| mean_z[b].abs().total_cmp(&mean_z[a].abs()));
    let trends = order
        .iter()
        .take(4)
        .map(|&i| format!("{} {:+.1} sd", NAMES[i].replace('_', " "), mean_z[i]))
        .collect();
    let mut t = TeamBurnout {
        week: week.to_string(),
        people: n,
        buckets: Vec::new(),
        k: rules.k,
        drivers: Vec::new(),
        note: None,
        trends,
    };
    if let Decision::Deny(why) =
        rules.may_see(&Viewer::Maintainer, &Item::TeamScores { group_size: n })
    {
        t.note = Some(why);
        return Ok(t);
    }
    let m = Artifact::shipped().map_err(|e| e.to_string())?;
    let reference = m.reference_row();
    let mut counts = [0u64; 4];
    let mut drive = [0.0; GROUPS.len()];
    for r in &members {
        let e = m.explain(&r.predictors(), &reference);
        counts[((e.score / 25.0) as usize).min(3)] += 1;
        for (g, c) in e.contributions.iter().enumerate() {
            drive[g] += c.max(0.0) / n as f64;
        }
    }
    let published = canopy_policies::privacy::suppress(&counts, rules.k as u64);
    t.buckets = ["0–24", "25–49", "50–74", "75–100"]
        .iter()
        .zip(&published.cells)
        .map(|(label, c)| {
            let n = match c {
                canopy_policies::privacy::Cell::Shown(v) => Some(*v as usize),
                _ => None,
            };
            (label.to_string(), n)
        })
        .collect();
    let mut groups: Vec<usize> = (0..GROUPS.len()).collect();
    groups.sort_by(|&a, &b| drive[b].total_cmp(&drive[a]));
    t.drivers = groups
        .iter()
        .take(3)
        .filter(|&&g| drive[g] > 0.05)
        .map(|&g| format!("{} (+{:.1} points)", GROUPS[g].0, drive[g]))
        .collect();
    Ok(t)
}
