//! HTTP handlers for the JSON/image API, one file per task. Each handler parses, hands CPU work
//! to the executor, and shapes the answer; errors are `ApiError` and become JSON in one place.

pub mod classify;
pub mod detect;
pub mod health;
pub mod oip;
pub mod result_pages;
pub mod samples;
pub mod segment;
pub mod summarize;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use models::Task;
use serde::Serialize;

use crate::error::ApiError;
use crate::AppState;

pub use api_types::{ModelInfo, StageTimings};
pub use classify::{classify_legacy, classify_v1};
pub use detect::{detect_legacy, detect_v1};
pub use segment::{segment_legacy, segment_v1};
pub use summarize::{summarize_legacy, summarize_ray, summarize_v1};

pub(crate) fn query_or_400<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {}", e.body_text())))
}

/// A parameter from the query string, else from the multipart form; empty counts as absent.
pub(crate) fn pick<'a>(
    q: &'a Option<String>,
    fields: &'a HashMap<String, String>,
    key: &str,
) -> Option<&'a str> {
    q.as_deref()
        .or_else(|| fields.get(key).map(String::as_str))
        .filter(|s| !s.is_empty())
}

/// The model to run: the one named (path, query or form), else the task's default.
pub(crate) fn model_or_default(
    state: &AppState,
    named: Option<String>,
    task: Task,
) -> Result<String, ApiError> {
    match named {
        Some(id) => Ok(id),
        None => state
            .models
            .default_id(task)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::Unavailable(format!(
                    "no {} model is ready; run `candlelit models fetch`",
                    task.name()
                ))
            }),
    }
}

/// A parameter's value, where an empty one (`?confidence=`, as a form sends an empty field)
/// counts as not given.
pub(crate) fn given(raw: Option<&str>) -> Option<&str> {
    raw.filter(|r| !r.trim().is_empty())
}

/// A number parameter within `range` (empty or absent: `default`), or 400 naming it.
pub(crate) fn number_in(
    raw: Option<&str>,
    name: &str,
    range: std::ops::RangeInclusive<f32>,
    default: f32,
) -> Result<f32, ApiError> {
    let Some(raw) = given(raw) else {
        return Ok(default);
    };
    let v: f32 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{name} '{raw}' is not a number")))?;
    if !range.contains(&v) {
        return Err(ApiError::BadRequest(format!(
            "{name} must be within {}..{}, got {v}",
            range.start(),
            range.end()
        )));
    }
    Ok(v)
}

/// A typed answer on its way out: what the route computed, and what sending it needs (the
/// model, the stage timings without the total, when the request started). The memory lease is
/// held until the answer is encoded.
pub(crate) struct Answered<T> {
    pub body: T,
    pub model_id: String,
    pub timings: StageTimings,
    pub started: std::time::Instant,
    pub lease: crate::budget::Lease,
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

/// `GET /api/v1/models`: every catalog model with its state.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, description = "Every catalog model", body = [ModelInfo])))]
pub async fn list_models(State(state): State<AppState>) -> Json<Vec<ModelInfo>> {
    Json(state.model_infos())
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route; see GET /api/v1/models and /docs".into())
}
