//! Grid-intensity providers: a fixed value, a CSV series, the UK National Grid Carbon Intensity
//! API (free, no key, 48-hour forecasts, national or regional) and Electricity Maps (token).
//! Each returns (epoch seconds, gCO2e/kWh) points; the cache in `carbon::cache` keeps the last
//! good ones when a provider is down.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::csv_series::{parse_time, read_series};

/// Default base URL of the UK Carbon Intensity API.
pub const UK_API: &str = "https://api.carbonintensity.org.uk";
/// Default base URL of the Electricity Maps API.
pub const ELECTRICITY_MAPS_API: &str = "https://api.electricitymap.org";

/// Where a region's intensity comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// One value at all times.
    Fixed(f64),
    /// A CSV time series (history or a forecast exported elsewhere).
    Csv {
        /// File.
        path: PathBuf,
        /// Intensity column, when not guessed.
        column: Option<String>,
    },
    /// UK National Grid Carbon Intensity API.
    UkGrid {
        /// Base URL.
        api_url: String,
        /// Regional id (1–17), or national when absent.
        region_id: Option<u32>,
    },
    /// Electricity Maps forecast API.
    ElectricityMaps {
        /// Base URL.
        api_url: String,
        /// Zone, e.g. `DE`.
        zone: String,
        /// API token (from the environment, never the config file).
        token: String,
    },
}

/// Why a provider returned nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// Network or HTTP failure.
    #[error("{provider}: {message}")]
    Unavailable {
        /// Provider name.
        provider: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The response was not in the provider's format.
    #[error("{provider}: unexpected response: {message}")]
    Format {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl Provider {
    /// A short name for messages ("UK National Grid ESO API").
    pub fn describe(&self) -> String {
        match self {
            Provider::Fixed(v) => format!("fixed value {v} gCO2e/kWh"),
            Provider::Csv { path, .. } => format!("series {}", path.display()),
            Provider::UkGrid {
                region_id: None, ..
            } => "UK Carbon Intensity API, national".into(),
            Provider::UkGrid {
                region_id: Some(r), ..
            } => format!("UK Carbon Intensity API, region {r}"),
            Provider::ElectricityMaps { zone, .. } => format!("Electricity Maps, zone {zone}"),
        }
    }

    /// Points of the providers that need no network (a fixed value covers a week around `now`;
    /// a CSV file is read), or `None` for the APIs.
    pub fn offline_points(
        &self,
        now: DateTime<Utc>,
    ) -> Option<Result<Vec<(i64, f64)>, ProviderError>> {
        match self {
            Provider::Fixed(v) => {
                let t = now.timestamp() - 86_400;
                Some(Ok(vec![(t, *v), (t + 7 * 86_400, *v)]))
            }
            Provider::Csv { path, column } => Some(
                read_series(path, column.as_deref())
                    .map(|s| s.points().collect())
                    .map_err(|e| ProviderError::Unavailable {
                        provider: "csv",
                        message: format!("{e:#}"),
                    }),
            ),
            Provider::UkGrid { .. } | Provider::ElectricityMaps { .. } => None,
        }
    }

    /// Points covering at least `now` and, where the provider forecasts, the next 24–48 hours.
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, f64)>, ProviderError> {
        match self {
            // Answered without the network; `offline_points` is `Some` for both.
            Provider::Fixed(_) | Provider::Csv { .. } => {
                self.offline_points(now).unwrap_or_else(|| Ok(Vec::new()))
            }
            Provider::UkGrid { api_url, region_id } => {
                let from = now.format("%Y-%m-%dT%H:%MZ");
                let base = api_url.trim_end_matches('/');
                let url = match region_id {
                    None => format!("{base}/intensity/{from}/fw48h"),
                    Some(r) => format!("{base}/regional/intensity/{from}/fw48h/regionid/{r}"),
                };
                let body = get(http, "uk-carbon-intensity", &url, None).await?;
                parse_uk(&body, region_id.is_some())
            }
            Provider::ElectricityMaps {
                api_url,
                zone,
                token,
            } => {
                let url = format!(
                    "{}/v3/carbon-intensity/forecast?zone={zone}",
                    api_url.trim_end_matches('/')
                );
                let body = get(http, "electricity-maps", &url, Some(token)).await?;
                parse_electricity_maps(&body)
            }
        }
    }
}

async fn get(
    http: &reqwest::Client,
    provider: &'static str,
    url: &str,
    token: Option<&str>,
) -> Result<String, ProviderError> {
    let unavailable = |message: String| ProviderError::Unavailable { provider, message };
    let mut req = http
        .get(url)
        .header("accept", "application/json")
        .timeout(Duration::from_secs(20));
    if let Some(t) = token {
        req = req.header("auth-token", t);
    }
    let resp = req.send().await.map_err(|e| unavailable(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(unavailable(format!("HTTP {}", status.as_u16())));
    }
    resp.text().await.map_err(|e| unavailable(e.to_string()))
}

#[derive(Deserialize)]
struct UkPoint {
    from: String,
    intensity: UkIntensity,
}

#[derive(Deserialize)]
struct UkIntensity {
    forecast: Option<f64>,
    actual: Option<f64>,
}

#[derive(Deserialize)]
struct UkNational {
    data: Vec<UkPoint>,
}

#[derive(Deserialize)]
struct UkRegional {
    data: UkRegionalData,
}

#[derive(Deserialize)]
struct UkRegionalData {
    data: Vec<UkPoint>,
}

/// Parses a UK Carbon Intensity API response (national `/intensity/...` or regional
/// `/regional/intensity/.../regionid/N`); actual values win over forecasts where both exist.
pub fn parse_uk(body: &str, regional: bool) -> Result<Vec<(i64, f64)>, ProviderError> {
    let format = |message: String| ProviderError::Format {
        provider: "uk-carbon-intensity",
        message,
    };
    let points = if regional {
        serde_json::from_str::<UkRegional>(body)
            .map_err(|e| format(e.to_string()))?
            .data
            .data
    } else {
        serde_json::from_str::<UkNational>(body)
            .map_err(|e| format(e.to_string()))?
            .data
    };
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let t = parse_time(&p.from).ok_or_else(|| format(format!("bad time {:?}", p.from)))?;
        if let Some(v) = p.intensity.actual.or(p.intensity.forecast) {
            out.push((t, v));
        }
    }
    if out.len() < 2 {
        return Err(format("fewer than two points".into()));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmForecast {
    forecast: Vec<EmPoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmPoint {
    carbon_intensity: Option<f64>,
    datetime: String,
}

/// Parses an Electricity Maps `/v3/carbon-intensity/forecast` response.
pub fn parse_electricity_maps(body: &str) -> Result<Vec<(i64, f64)>, ProviderError> {
    let format = |message: String| ProviderError::Format {
        provider: "electricity-maps",
        message,
    };
    let f: EmForecast = serde_json::from_str(body).map_err(|e| format(e.to_string()))?;
    let mut out = Vec::with_capacity(f.forecast.len());
    for p in f.forecast {
        let t =
            parse_time(&p.datetime).ok_or_else(|| format(format!("bad time {:?}", p.datetime)))?;
        if let Some(v) = p.carbon_intensity {
            out.push((t, v));
        }
    }
    if out.len() < 2 {
        return Err(format("fewer than two points".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uk_national_regional_and_electricity_maps_formats() {
        let national = r#"{"data":[{"from":"2026-11-25T12:00Z","to":"2026-11-25T12:30Z","intensity":{"forecast":266,"actual":263,"index":"moderate"}},{"from":"2026-11-25T12:30Z","to":"2026-11-25T13:00Z","intensity":{"forecast":240,"actual":null,"index":"moderate"}}]}"#;
        let p = parse_uk(national, false).unwrap();
        assert_eq!(p.iter().map(|x| x.1).collect::<Vec<_>>(), [263.0, 240.0]);
        assert_eq!(p[1].0 - p[0].0, 1800);
        let regional = r#"{"data":{"regionid":13,"dnoregion":"UKPN London","shortname":"London","data":[{"from":"2026-11-25T12:00Z","to":"2026-11-25T12:30Z","intensity":{"forecast":180,"index":"moderate"},"generationmix":[{"fuel":"gas","perc":40.1}]},{"from":"2026-11-25T12:30Z","to":"2026-11-25T13:00Z","intensity":{"forecast":170,"index":"low"},"generationmix":[]}]}}"#;
        assert_eq!(parse_uk(regional, true).unwrap()[1].1, 170.0);
        let em = r#"{"zone":"DE","forecast":[{"carbonIntensity":351,"datetime":"2026-11-25T12:00:00.000Z"},{"carbonIntensity":330,"datetime":"2026-11-25T13:00:00.000Z"}],"updatedAt":"2026-11-25T11:53:00.000Z"}"#;
        assert_eq!(parse_electricity_maps(em).unwrap()[0].1, 351.0);
        assert!(matches!(
            parse_uk("<html>", false),
            Err(ProviderError::Format { .. })
        ));
    }
}
