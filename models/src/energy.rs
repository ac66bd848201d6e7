//! Energy and emissions of a CI job: energy = duration × power(runner, utilisation) × PUE,
//! reported with a low–high range from the utilisation assumption; CO2e = energy × grid
//! intensity; plus embodied emissions in the manner of the Green Software Foundation's SCI,
//! `((E × I) + M) per R`. Every coefficient names its source. All figures are estimates.

use serde::{Deserialize, Serialize};

/// Memory power per GB used by the Green Algorithms formula: 0.3725 W/GB (Lannelongue et al.,
/// Adv. Sci. 2021; `data/v2.2/referenceValues.csv` of the green-algorithms-tool).
pub const GA_MEMORY_W_PER_GB: f64 = 0.3725;
/// Green Algorithms' default power per core when the CPU is unknown: 12.0 W (`Any` row of
/// `TDP_cpu.csv`).
pub const GA_DEFAULT_W_PER_CORE: f64 = 12.0;
/// Green Algorithms' PUE when the data centre is unknown: 1.56 (`defaults_PUE.csv`, Uptime 2024).
pub const GA_UNKNOWN_PUE: f64 = 1.56;
/// Azure's average PUE, which GitHub-hosted runners run on: 1.185 (Cloud Carbon Footprint,
/// `@cloud-carbon-footprint/azure@1.8.0`, `AzureFootprintEstimationConstants.ts` PUE_AVG).
pub const AZURE_PUE: f64 = 1.185;
/// Expected server lifespan for embodied emissions: 4 years = 35,040 h (Cloud Carbon Footprint,
/// SERVER_EXPECTED_LIFESPAN).
pub const SERVER_LIFESPAN_HOURS: f64 = 35_040.0;
/// Utilisation assumed when none is measured (Cloud Carbon Footprint's default, 50%).
pub const DEFAULT_UTILISATION: f64 = 0.5;

/// Power as a function of utilisation, piecewise linear between measured points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerCurve {
    /// (utilisation 0–1, watts), sorted by utilisation.
    pub points: Vec<(f64, f64)>,
}

impl PowerCurve {
    /// Eco-CI's published curve for GitHub's shared 4-vCPU Linux runner: 1.76 W idle, 5.16 W at
    /// 50%, 8.18 W at 100% (Green Coding Solutions, Eco-CI energy estimation).
    pub fn eco_ci_github_4vcpu() -> PowerCurve {
        PowerCurve {
            points: vec![(0.0, 1.76), (0.5, 5.16), (1.0, 8.18)],
        }
    }

    /// Watts at a utilisation (clamped to 0–1).
    pub fn watts(&self, utilisation: f64) -> f64 {
        let u = utilisation.clamp(0.0, 1.0);
        let pts = &self.points;
        match pts.len() {
            0 => 0.0,
            1 => pts[0].1,
            _ => {
                for w in pts.windows(2) {
                    let ((u0, p0), (u1, p1)) = (w[0], w[1]);
                    if u <= u1 {
                        let t = if u1 > u0 { (u - u0) / (u1 - u0) } else { 0.0 };
                        return p0 + t.clamp(0.0, 1.0) * (p1 - p0);
                    }
                }
                pts[pts.len() - 1].1
            }
        }
    }
}

/// How a runner's power is modelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum PowerModel {
    /// A measured power curve for the whole runner.
    Curve(PowerCurve),
    /// Green Algorithms: cores × W/core × utilisation + memory × 0.3725 W/GB.
    GreenAlgorithms {
        /// Power per core at full load (TDP per core), W.
        watts_per_core: f64,
    },
}

/// A kind of machine CI jobs run on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerProfile {
    /// Name shown in comments (`GitHub-hosted ubuntu-latest (4 vCPU)`).
    pub name: String,
    /// vCPUs of the runner.
    pub vcpus: u32,
    /// Memory in GB.
    pub memory_gb: f64,
    /// Power model.
    pub power: PowerModel,
    /// Power usage effectiveness of the data centre.
    pub pue: f64,
    /// Where the coefficients come from.
    pub source: String,
    /// Embodied emissions of the whole host, kgCO2e (an assumption unless configured).
    pub host_embodied_kg: f64,
    /// vCPUs of the whole host, to share its embodied emissions.
    pub host_vcpus: u32,
}

impl RunnerProfile {
    /// GitHub-hosted standard Linux and Windows runners (4 vCPU, 16 GB since 2024) with
    /// Eco-CI's curve and Azure's PUE.
    pub fn github_hosted(label: &str) -> RunnerProfile {
        RunnerProfile {
            name: format!("GitHub-hosted {label} (4 vCPU)"),
            vcpus: 4,
            memory_gb: 16.0,
            power: PowerModel::Curve(PowerCurve::eco_ci_github_4vcpu()),
            pue: AZURE_PUE,
            source: "Eco-CI power curve for GitHub's 4-vCPU runner; PUE 1.185 (Cloud Carbon Footprint, Azure)".into(),
            host_embodied_kg: DEFAULT_HOST_EMBODIED_KG,
            host_vcpus: DEFAULT_HOST_VCPUS,
        }
    }

    /// The generic fallback: Green Algorithms' formula with its defaults for an unknown CPU
    /// and data centre.
    pub fn generic(vcpus: u32, memory_gb: f64) -> RunnerProfile {
        RunnerProfile {
            name: format!(
                "unknown runner ({vcpus} vCPU, {memory_gb} GB; Green Algorithms defaults)"
            ),
            vcpus,
            memory_gb,
            power: PowerModel::GreenAlgorithms {
                watts_per_core: GA_DEFAULT_W_PER_CORE,
            },
            pue: GA_UNKNOWN_PUE,
            source: "Green Algorithms: 12 W/core, 0.3725 W/GB, PUE 1.56".into(),
            host_embodied_kg: DEFAULT_HOST_EMBODIED_KG,
            host_vcpus: DEFAULT_HOST_VCPUS,
        }
    }

    /// Power at a utilisation, before PUE, in watts.
    pub fn watts(&self, utilisation: f64) -> f64 {
        match &self.power {
            PowerModel::Curve(c) => c.watts(utilisation),
            PowerModel::GreenAlgorithms { watts_per_core } => {
                f64::from(self.vcpus) * watts_per_core * utilisation.clamp(0.0, 1.0)
                    + self.memory_gb * GA_MEMORY_W_PER_GB
            }
        }
    }
}

/// Embodied emissions assumed for a host when none is configured: 1,000 kgCO2e. This is an
/// assumption of the order of published server life-cycle assessments, not a measurement;
/// set `host_embodied_kg` per runner in the configuration when you know better.
pub const DEFAULT_HOST_EMBODIED_KG: f64 = 1_000.0;
/// vCPUs assumed for the host a runner shares (a 2-socket cloud server): 48.
pub const DEFAULT_HOST_VCPUS: u32 = 48;

/// The utilisation assumed, with the range reported around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Utilisation {
    /// Central value (0–1).
    pub assumed: f64,
    /// Low end of the range.
    pub low: f64,
    /// High end of the range.
    pub high: f64,
}

impl Default for Utilisation {
    fn default() -> Self {
        Utilisation::around(DEFAULT_UTILISATION)
    }
}

impl Utilisation {
    /// `u` with a range of ±25 percentage points, clamped to 0–1.
    pub fn around(u: f64) -> Utilisation {
        let u = u.clamp(0.0, 1.0);
        Utilisation {
            assumed: u,
            low: (u - 0.25).max(0.0),
            high: (u + 0.25).min(1.0),
        }
    }
}

/// An amount with its estimate range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Central estimate.
    pub value: f64,
    /// Low end.
    pub low: f64,
    /// High end.
    pub high: f64,
}

impl Range {
    /// Sum of ranges.
    pub fn plus(self, other: Range) -> Range {
        Range {
            value: self.value + other.value,
            low: self.low + other.low,
            high: self.high + other.high,
        }
    }

    /// Scaled range.
    pub fn scale(self, k: f64) -> Range {
        Range {
            value: self.value * k,
            low: self.low * k,
            high: self.high * k,
        }
    }
}

/// Energy of one job, kWh, with the utilisation range.
pub fn job_energy_kwh(duration_secs: f64, profile: &RunnerProfile, u: Utilisation) -> Range {
    let hours = duration_secs.max(0.0) / 3600.0;
    let kwh = |util: f64| hours * profile.watts(util) * profile.pue / 1000.0;
    Range {
        value: kwh(u.assumed),
        low: kwh(u.low),
        high: kwh(u.high),
    }
}

/// Operational emissions, gCO2e: energy × grid intensity (gCO2e/kWh).
pub fn operational_g(energy_kwh: Range, intensity_g_per_kwh: f64) -> Range {
    energy_kwh.scale(intensity_g_per_kwh.max(0.0))
}

/// Embodied emissions charged to a job, gCO2e: `M = TE × (TiR / EL) × (RR / ToR)` — total host
/// embodied × (time reserved / expected lifespan) × (vCPUs reserved / host vCPUs) (GSF SCI).
pub fn embodied_g(duration_secs: f64, profile: &RunnerProfile) -> f64 {
    let hours = duration_secs.max(0.0) / 3600.0;
    let share = f64::from(profile.vcpus) / f64::from(profile.host_vcpus.max(1));
    profile.host_embodied_kg * 1000.0 * (hours / SERVER_LIFESPAN_HOURS) * share.min(1.0)
}

/// The footprint of a set of jobs: energy, operational and embodied emissions, and the SCI per
/// functional unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// Energy, kWh.
    pub energy_kwh: Range,
    /// Operational emissions, gCO2e.
    pub operational_g: Range,
    /// Embodied emissions, gCO2e.
    pub embodied_g: f64,
    /// Jobs counted.
    pub jobs: u32,
}

impl Footprint {
    /// Adds one job.
    pub fn add_job(
        &mut self,
        duration_secs: f64,
        profile: &RunnerProfile,
        u: Utilisation,
        intensity: f64,
    ) {
        let e = job_energy_kwh(duration_secs, profile, u);
        self.energy_kwh = self.energy_kwh.plus(e);
        self.operational_g = self.operational_g.plus(operational_g(e, intensity));
        self.embodied_g += embodied_g(duration_secs, profile);
        self.jobs += 1;
    }

    /// Adds one job whose energy was measured (`measured_kwh`, no range); its embodied share
    /// is still charged from its duration and runner profile.
    pub fn add_measured_job(
        &mut self,
        measured_kwh: f64,
        duration_secs: f64,
        profile: &RunnerProfile,
        intensity: f64,
    ) {
        let e = Range {
            value: measured_kwh,
            low: measured_kwh,
            high: measured_kwh,
        };
        self.energy_kwh = self.energy_kwh.plus(e);
        self.operational_g = self.operational_g.plus(operational_g(e, intensity));
        self.embodied_g += embodied_g(duration_secs, profile);
        self.jobs += 1;
    }

    /// Total emissions `(E × I) + M`, gCO2e, with the range.
    pub fn total_g(&self) -> Range {
        Range {
            value: self.operational_g.value + self.embodied_g,
            low: self.operational_g.low + self.embodied_g,
            high: self.operational_g.high + self.embodied_g,
        }
    }

    /// SCI per functional unit: total divided by `units` (builds, or merged changes).
    pub fn sci_per(&self, units: u32) -> Range {
        self.total_g().scale(1.0 / f64::from(units.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eco_ci_curve_interpolates_between_published_points() {
        let c = PowerCurve::eco_ci_github_4vcpu();
        assert_eq!(c.watts(0.0), 1.76);
        assert!((c.watts(0.5) - 5.16).abs() < 1e-12);
        assert!((c.watts(1.0) - 8.18).abs() < 1e-12);
        assert!((c.watts(0.25) - (1.76 + 5.16) / 2.0).abs() < 1e-12);
        assert_eq!(c.watts(2.0), 8.18);
    }

    #[test]
    fn an_hour_on_a_github_runner() {
        let p = RunnerProfile::github_hosted("ubuntu-latest");
        let e = job_energy_kwh(3600.0, &p, Utilisation::default());
        // 5.16 W × 1 h × 1.185 = 6.1146 Wh.
        assert!((e.value - 0.0061146).abs() < 1e-9, "{e:?}");
        assert!(e.low < e.value && e.value < e.high);
        let g = operational_g(e, 400.0);
        assert!((g.value - 2.44584).abs() < 1e-6);
    }

    #[test]
    fn green_algorithms_fallback_formula() {
        let p = RunnerProfile::generic(2, 8.0);
        // (2 × 12 × 0.5 + 8 × 0.3725) W × 1.56 = 23.3 W... for one hour.
        let e = job_energy_kwh(3600.0, &p, Utilisation::around(0.5));
        let expected = (2.0 * 12.0 * 0.5 + 8.0 * 0.3725) * 1.56 / 1000.0;
        assert!((e.value - expected).abs() < 1e-12);
    }

    #[test]
    fn embodied_share_and_sci() {
        let p = RunnerProfile::github_hosted("ubuntu-latest");
        // 1,000 kg × (1 h / 35,040 h) × (4 / 48) = 2.378 g.
        let m = embodied_g(3600.0, &p);
        assert!((m - 1_000_000.0 / 35_040.0 * 4.0 / 48.0).abs() < 1e-9);
        let mut f = Footprint::default();
        f.add_job(1800.0, &p, Utilisation::default(), 300.0);
        f.add_job(1800.0, &p, Utilisation::default(), 300.0);
        assert_eq!(f.jobs, 2);
        let total = f.total_g();
        assert!((f.sci_per(2).value - total.value / 2.0).abs() < 1e-12);
        assert!((total.value - (0.0061146 * 300.0 + m)).abs() < 1e-9);
    }
}
