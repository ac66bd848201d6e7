//! The Prometheus HTTP API's query responses (`/api/v1/query`, `/api/v1/query_range`) parsed
//! into series: `matrix` and `vector` results, `scalar`, and `status: error` answers, with
//! sample values as Prometheus writes them (strings, including `NaN` and `+Inf`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One labelled series: its samples (epoch seconds, value) in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels, `__name__` included when Prometheus gives it.
    pub labels: BTreeMap<String, String>,
    /// Samples in time order.
    pub points: Vec<(f64, f64)>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// A range query's series.
    Matrix(Vec<Series>),
    /// An instant query's samples, one per series (each series has one point).
    Vector(Vec<Series>),
    /// A single number.
    Scalar(f64, f64),
}

impl QueryResult {
    /// The series, whatever the result type (a scalar is one unlabelled series).
    pub fn series(&self) -> Vec<Series> {
        match self {
            QueryResult::Matrix(s) | QueryResult::Vector(s) => s.clone(),
            QueryResult::Scalar(t, v) => vec![Series {
                labels: BTreeMap::new(),
                points: vec![(*t, *v)],
            }],
        }
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResponseError {
    /// Prometheus answered with `status: error`.
    #[error("Prometheus error ({error_type}): {error}")]
    Api {
        /// `errorType` (`bad_data`, `timeout`, `execution`, ...).
        error_type: String,
        /// The message.
        error: String,
    },
    /// The body is not a query response.
    #[error("not a Prometheus query response: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Matrix(Vec<RawSeries>),
    Vector(Vec<RawSeries>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

fn number(s: &str) -> Result<f64, ResponseError> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse()
            .map_err(|_| ResponseError::Malformed(format!("sample value {s:?} is not a number"))),
    }
}

fn series(raw: RawSeries) -> Result<Series, ResponseError> {
    let mut points = raw
        .values
        .iter()
        .chain(raw.value.iter())
        .map(|(t, v)| Ok((*t, number(v)?)))
        .collect::<Result<Vec<_>, ResponseError>>()?;
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Series {
        labels: raw.metric,
        points,
    })
}

/// Parses a query response body.
pub fn parse(body: &str) -> Result<QueryResult, ResponseError> {
    let env: Envelope =
        serde_json::from_str(body).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    if env.status != "success" {
        return Err(ResponseError::Api {
            error_type: env.error_type.unwrap_or_else(|| "unknown".into()),
            error: env
                .error
                .unwrap_or_else(|| format!("status {:?}", env.status)),
        });
    }
    let data = env
        .data
        .ok_or_else(|| ResponseError::Malformed("success without data".into()))?;
    Ok(match data {
        Data::Matrix(s) => {
            QueryResult::Matrix(s.into_iter().map(series).collect::<Result<_, _>>()?)
        }
        Data::Vector(s) => {
            QueryResult::Vector(s.into_iter().map(series).collect::<Result<_, _>>()?)
        }
        Data::Scalar((t, v)) => QueryResult::Scalar(t, number(&v)?),
        Data::String(_) => {
            return Err(ResponseError::Malformed(
                "a string result, not a number".into(),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_vector_scalar_and_errors() {
        let m = parse(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"kepler_container_joules_total","pod":"runner-1"},"values":[[1700000030,"130.5"],[1700000000,"100"]]}]}}"#).unwrap();
        let QueryResult::Matrix(s) = &m else {
            panic!("{m:?}")
        };
        assert_eq!(s[0].labels["pod"], "runner-1");
        assert_eq!(
            s[0].points,
            vec![(1_700_000_000.0, 100.0), (1_700_000_030.0, 130.5)]
        );
        let v = parse(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000060.5,"NaN"]}]}}"#).unwrap();
        assert!(v.series()[0].points[0].1.is_nan());
        let s = parse(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}"#,
        )
        .unwrap();
        assert_eq!(s, QueryResult::Scalar(1_700_000_000.0, 42.0));
        let e =
            parse(r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#)
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Prometheus error (bad_data): parse error at char 5"
        );
        assert!(matches!(
            parse("<html>502</html>"),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            parse(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#),
            Err(ResponseError::Malformed(m)) if m.contains("abc")
        ));
    }
}
