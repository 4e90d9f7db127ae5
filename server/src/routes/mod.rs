//! The HTTP surface: one file per task's routes (`segment`, `detect`, `classify`, `summarize`:
//! read the request, call [`crate::tasks`], send JSON/PNG/JPEG/SSE), the Open Inference Protocol
//! (`oip`), the no-JS result pages (`results`), `health`, `models`, `samples` and the OpenAPI
//! `docs`. Errors are `ApiError` and become JSON in one place (`error.rs`).
//!
//! The image routes' handlers look alike on purpose (`duplicates` lists them): utoipa documents
//! each route from its own annotated function, so every route keeps a few-line handler that
//! parses its path and query and calls its task's one function; the work is in `crate::tasks`.

pub mod classify;
pub mod detect;
pub mod docs;
pub mod health;
pub mod models;
pub mod oip;
pub mod results;
pub mod samples;
pub mod segment;
pub mod summarize;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use serde::Serialize;

use crate::error::ApiError;

pub use self::models::list_models;
pub use api_types::StageTimings;
pub use classify::{classify_legacy, classify_v1};
pub use detect::{detect_drawn, detect_v1};
pub use segment::{segment_legacy, segment_v1};
pub use summarize::{summarize_legacy, summarize_ray, summarize_v1};

/// A typed answer on its way out: what the route computed, and what sending it needs (the
/// model, the stage timings without the total, when the request started). The memory lease is
/// held until the answer is encoded.
pub(crate) struct Answered<T> {
    pub body: T,
    pub model_id: String,
    pub timings: StageTimings,
    pub started: std::time::Instant,
    pub lease: crate::ingress::budget::Lease,
}

impl<T> Answered<T> {
    /// The answer, and what sending it needs.
    pub fn split(self) -> (T, Answered<()>) {
        let Answered {
            body,
            model_id,
            timings,
            started,
            lease,
        } = self;
        let rest = Answered {
            body: (),
            model_id,
            timings,
            started,
            lease,
        };
        (body, rest)
    }

    /// Sends `body` of type `ctype` with the timing headers (see [`finish`]).
    pub fn send(self, body: Vec<u8>, ctype: &'static str) -> Response {
        drop(self.lease);
        finish(body, ctype, &self.model_id, &self.timings, self.started)
    }

    /// Sends `answer` as JSON (its serialising counted as post-processing).
    pub fn send_json(mut self, answer: &impl Serialize) -> Result<Response, ApiError> {
        let t = std::time::Instant::now();
        let json = serde_json::to_vec(answer).map_err(|e| ApiError::Internal(e.to_string()))?;
        self.timings.postprocess_ms += t.elapsed().as_secs_f64() * 1e3;
        Ok(self.send(json, "application/json"))
    }

    /// The timings with the total, recorded in the metrics and the log as [`finish`] does, for
    /// answers rendered in this process (the result pages).
    pub fn recorded(&self) -> StageTimings {
        let total_ms = self.started.elapsed().as_secs_f64() * 1e3;
        record(&self.model_id, &self.timings, total_ms);
        StageTimings {
            total_ms,
            ..self.timings
        }
    }
}

/// The common answer: body, content type, model id, and timing headers (`server-timing`).
/// JSON bodies get the post-processing and total times patched in, known only at the end.
pub(crate) fn finish(
    body: Vec<u8>,
    ctype: &'static str,
    model_id: &str,
    timings: &StageTimings,
    started: std::time::Instant,
) -> Response {
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let body = if ctype == "application/json" {
        patch_timings(body, timings, total_ms)
    } else {
        body
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    headers.insert(
        "x-model-id",
        HeaderValue::from_str(model_id).unwrap_or(HeaderValue::from_static("?")),
    );
    headers.insert(
        "x-inference-ms",
        HeaderValue::from_str(&format!("{:.2}", timings.inference_ms)).expect("ascii"),
    );
    let st = format!(
        "queue;dur={:.2}, decode;dur={:.2}, preprocess;dur={:.2}, inference;dur={:.2}, postprocess;dur={:.2}, total;dur={:.2}",
        timings.queue_ms, timings.decode_ms, timings.preprocess_ms, timings.inference_ms, timings.postprocess_ms, total_ms
    );
    record(model_id, timings, total_ms);
    headers.insert("server-timing", HeaderValue::from_str(&st).expect("ascii"));
    (StatusCode::OK, headers, body).into_response()
}

/// An answer's stage times into the metrics, and one log line.
fn record(model_id: &str, timings: &StageTimings, total_ms: f64) {
    for (stage, ms) in [
        ("decode", timings.decode_ms),
        ("preprocess", timings.preprocess_ms),
        ("inference", timings.inference_ms),
        ("postprocess", timings.postprocess_ms),
        ("total", total_ms),
    ] {
        crate::metrics::METRICS.stage(model_id, stage, ms / 1e3);
    }
    tracing::info!(model = %model_id, inference_ms = timings.inference_ms, total_ms, "answered");
}

/// Fills the post-processing and total times into the JSON, which are only known at the end.
fn patch_timings(body: Vec<u8>, t: &StageTimings, total_ms: f64) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    let all = StageTimings { total_ms, ..*t };
    v["timings"] = serde_json::to_value(all).unwrap_or_default();
    serde_json::to_vec(&v).unwrap_or(body)
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route; see GET /api/v1/models and /docs".into())
}
