//! Reading a request body within the per-request limit and the global budget of bytes in
//! flight, before anything is authenticated.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;

use crate::budget::Reservation;
use crate::http::{AppState, RETRY_AFTER_SECS, header_str, problem};

/// The body's declared length, if any.
pub(crate) fn declared_len(h: &HeaderMap) -> Option<u64> {
    header_str(h, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok())
}

/// A refusal and the outcome it is counted as.
pub(crate) type Refusal = (Response, &'static str);

/// A 413 naming the limit (`max` bytes).
pub(crate) fn too_large(max: usize) -> Refusal {
    let limit = if max.is_multiple_of(1024 * 1024) {
        format!("{} MiB", max / (1024 * 1024))
    } else {
        format!("{max} bytes")
    };
    (
        problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body is larger than {limit}"),
        ),
        "too_large",
    )
}

fn shed() -> Refusal {
    let mut r = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is receiving too much at once; retry later",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(RETRY_AFTER_SECS),
    );
    (r, "shed")
}

/// Reads the body within the request limit and the global budget: the declared length is
/// reserved before anything is read (refused with 413 past the limit, 503 past the budget);
/// a body without a length reserves its chunks as they arrive. The reservation is held until
/// the caller is done with the bytes.
pub(crate) async fn read_body(
    s: &AppState,
    h: &HeaderMap,
    body: Body,
) -> Result<(Vec<u8>, Reservation), Refusal> {
    let max = s.limits.max_body_bytes;
    let declared = declared_len(h);
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    let upfront = declared.unwrap_or(0) as usize;
    let mut held = s.budget.try_reserve(upfront).ok_or_else(shed)?;
    let mut bytes = Vec::with_capacity(upfront);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            (
                problem(StatusCode::BAD_REQUEST, "could not read the request body"),
                "bad_request",
            )
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if bytes.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        let beyond = (bytes.len() + chunk.len()).saturating_sub(held.bytes());
        if !held.grow(beyond) {
            return Err(shed());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, held))
}
