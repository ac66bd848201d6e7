//! Grid carbon intensity inside the bot: providers per region, a cache of the last good data
//! (kept in the store, so a restart or an outage of the provider does not lose it), refreshed
//! by the server's grid loop. The reactor only reads the cache, never the network.

pub mod csv_series;
pub mod provider;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use canopy_policies::window::Series;
use canopy_store::{MetaStore, Store, StoreError};
use chrono::{DateTime, Utc};

pub use provider::{Provider, ProviderError};

/// A region's data as last fetched.
#[derive(Debug, Clone)]
pub struct RegionData {
    /// The series (the last good one).
    pub series: Series,
    /// Where it came from.
    pub source: String,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
    /// The latest failure since then, if the provider is down: the data is stale.
    pub stale: Option<String>,
}

/// Intensity data per region name (as used in `carbon.region` of a repository).
#[derive(Debug, Default)]
pub struct IntensityCache {
    regions: RwLock<HashMap<String, RegionData>>,
}

fn meta_key(region: &str) -> String {
    format!("grid:{region}")
}

impl IntensityCache {
    /// The data of a region, if any was ever fetched.
    pub fn get(&self, region: &str) -> Option<RegionData> {
        self.regions.read().ok()?.get(region).cloned()
    }

    /// Records fresh data.
    pub fn set(&self, region: &str, data: RegionData) {
        if let Ok(mut m) = self.regions.write() {
            m.insert(region.to_string(), data);
        }
    }

    /// Marks a region's data as stale after a failed refresh (the data itself is kept).
    pub fn mark_stale(&self, region: &str, error: String) {
        if let Ok(mut m) = self.regions.write()
            && let Some(d) = m.get_mut(region)
        {
            d.stale = Some(error);
        }
    }

    /// Loads the last good data of every region from the store (at startup); saved data that
    /// no longer parses is skipped with a warning, a store error is returned.
    pub fn load(&self, store: &dyn MetaStore, regions: &[String]) -> Result<(), StoreError> {
        for r in regions {
            let Some(bytes) = store.get_meta(&meta_key(r))? else {
                continue;
            };
            let saved = serde_json::from_slice::<Saved>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|saved| {
                    Ok((
                        Series::new(saved.points.clone()).map_err(|e| e.to_string())?,
                        saved,
                    ))
                });
            match saved {
                Ok((series, saved)) => self.set(
                    r,
                    RegionData {
                        series,
                        source: saved.source,
                        fetched_at: saved.fetched_at,
                        stale: Some("not refreshed since the restart yet".into()),
                    },
                ),
                Err(e) => {
                    tracing::warn!(region = %r, error = %e, "saved grid data is unreadable; ignored")
                }
            }
        }
        Ok(())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    source: String,
    fetched_at: DateTime<Utc>,
    points: Vec<(i64, f64)>,
}

/// Fetches one region and updates the cache and the store; on failure the last good data stays
/// and is marked stale.
pub async fn refresh_region(
    http: &reqwest::Client,
    store: &Arc<dyn Store>,
    cache: &IntensityCache,
    region: &str,
    provider: &Provider,
    now: DateTime<Utc>,
) -> Result<(), ProviderError> {
    match provider.fetch(http, now).await {
        Ok(points) => {
            let series = Series::new(points.clone()).map_err(|e| ProviderError::Format {
                provider: "series",
                message: e.to_string(),
            })?;
            let saved = Saved {
                source: provider.describe(),
                fetched_at: now,
                points,
            };
            if let Ok(bytes) = serde_json::to_vec(&saved) {
                let (s, key) = (store.clone(), meta_key(region));
                let saving = tokio::task::spawn_blocking(move || s.put_meta(&key, &bytes)).await;
                if let Err(e) = saving
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    tracing::error!(region = %region, error = %e, "saving grid data failed; kept in memory only");
                }
            }
            cache.set(
                region,
                RegionData {
                    series,
                    source: saved.source,
                    fetched_at: now,
                    stale: None,
                },
            );
            Ok(())
        }
        Err(e) => {
            cache.mark_stale(region, e.to_string());
            Err(e)
        }
    }
}

/// Fills the cache without the network (for `canopy replay` and `canopy inbox drain`): fixed
/// values and CSV files are read directly, API regions use their last good data in the store.
pub fn load_offline(
    cache: &IntensityCache,
    store: &dyn MetaStore,
    regions: &[(String, Provider)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let names: Vec<String> = regions.iter().map(|(n, _)| n.clone()).collect();
    cache.load(store, &names)?;
    for (name, p) in regions {
        let points = match p.offline_points(now) {
            Some(Ok(points)) => Some(points),
            Some(Err(e)) => {
                tracing::warn!(region = %name, error = %e, "cannot read the region's series");
                None
            }
            None => None,
        };
        if let Some(series) = points.and_then(|p| Series::new(p).ok()) {
            cache.set(
                name,
                RegionData {
                    series,
                    source: p.describe(),
                    fetched_at: now,
                    stale: None,
                },
            );
        }
    }
    Ok(())
}

/// Saves data fetched outside the server (tests, `canopy carbon` tools) as a region's last good.
pub fn save_region(
    store: &dyn MetaStore,
    region: &str,
    data: &RegionData,
) -> Result<(), StoreError> {
    let saved = Saved {
        source: data.source.clone(),
        fetched_at: data.fetched_at,
        points: data.series.points().collect(),
    };
    let bytes = serde_json::to_vec(&saved).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.put_meta(&meta_key(region), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    const UK: &str = r#"{"data":[{"from":"2026-11-25T12:00Z","to":"2026-11-25T12:30Z","intensity":{"forecast":266,"actual":263,"index":"moderate"}},{"from":"2026-11-25T12:30Z","to":"2026-11-25T13:00Z","intensity":{"forecast":240,"actual":null,"index":"moderate"}},{"from":"2026-11-25T13:00Z","to":"2026-11-25T13:30Z","intensity":{"forecast":120,"actual":null,"index":"low"}}]}"#;

    /// A UK Carbon Intensity API on loopback that can be switched off (503).
    async fn fake_uk(down: Arc<AtomicBool>) -> String {
        let app = axum::Router::new().route(
            "/intensity/{from}/fw48h",
            axum::routing::get(move || {
                let down = down.clone();
                async move {
                    if down.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new())
                    } else {
                        (axum::http::StatusCode::OK, UK.to_string())
                    }
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_provider_that_goes_down_leaves_the_last_good_data_marked_stale() {
        let down = Arc::new(AtomicBool::new(false));
        let url = fake_uk(down.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(canopy_store::RedbStore::open(&dir.path().join("s")).unwrap());
        let cache = IntensityCache::default();
        let p = Provider::UkGrid {
            api_url: url,
            region_id: None,
        };
        let http = reqwest::Client::new();
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:10:00Z")
            .unwrap()
            .to_utc();
        refresh_region(&http, &store, &cache, "gb", &p, now)
            .await
            .unwrap();
        let d = cache.get("gb").unwrap();
        assert_eq!(d.series.len(), 3);
        assert!(d.stale.is_none());
        down.store(true, Ordering::SeqCst);
        let err = refresh_region(&http, &store, &cache, "gb", &p, now)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("HTTP 503"), "{err}");
        let d = cache.get("gb").unwrap();
        assert_eq!(d.series.len(), 3, "the last good data is kept");
        assert!(d.stale.as_deref().is_some_and(|e| e.contains("503")));
        // After a restart the last good data comes back from the store, marked stale.
        let fresh = IntensityCache::default();
        fresh.load(store.as_ref(), &["gb".to_string()]).unwrap();
        assert_eq!(fresh.get("gb").unwrap().series.len(), 3);
        assert!(fresh.get("gb").unwrap().stale.is_some());
    }
}
