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
use models::{LoadState, Task};
use serde::Serialize;

use crate::budget::Lease;
use crate::decode::{Decoded, Need};
use crate::error::ApiError;
use crate::AppState;

pub use classify::{classify_legacy, classify_v1};
pub use detect::{detect_legacy, detect_v1};
pub use segment::{segment_legacy, segment_v1};
pub use summarize::{summarize_legacy, summarize_ray, summarize_v1};

/// Where a request's time went, in milliseconds.
#[derive(Debug, Default, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct StageTimings {
    /// Waiting in the model's queue (and for the rest of its batch).
    pub queue_ms: f64,
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
    pub total_ms: f64,
}

impl StageTimings {
    /// The stages of one run: decoding, the model's own split, and the handler's encoding
    /// (`encode_ms`, counted as post-processing). The total is filled in by [`finish`].
    /// `engine_ms` is the whole wait for the engine's answer; the model's own stages are taken
    /// out of it, leaving the time queued.
    pub fn of_run(decode_ms: f64, engine_ms: f64, model: &models::Timings, encode_ms: f64) -> Self {
        let model_ms = model.preprocess_ms + model.inference_ms + model.postprocess_ms;
        Self {
            queue_ms: (engine_ms - model_ms).max(0.0),
            decode_ms,
            preprocess_ms: model.preprocess_ms,
            inference_ms: model.inference_ms,
            postprocess_ms: model.postprocess_ms + encode_ms,
            total_ms: 0.0,
        }
    }
}

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

/// Decodes an upload on a blocking thread, within the limits (415 / 422) and the memory budget
/// (503): the header is checked, the decode's peak is reserved on `lease`, and once decoded the
/// lease keeps only the pixels. With `need.cover` the image comes back shrunk to what the model
/// uses. Returns the image, the lease, and the time decoding took in milliseconds.
pub(crate) async fn decode_image(
    state: &AppState,
    bytes: Vec<u8>,
    mut lease: Lease,
    need: Need,
) -> Result<(Decoded, Lease, f64), ApiError> {
    let limits = state.limits.clone();
    state
        .cpu
        .run(move || {
            let t0 = std::time::Instant::now();
            let header = crate::decode::inspect(&bytes, &limits, need)?;
            lease.grow(header.peak_bytes(), "decode")?;
            let decoded = crate::decode::decode(&bytes, &header, need)?;
            drop(bytes);
            lease.shrink_to(decoded.img.as_raw().len() as u64);
            Ok((decoded, lease, t0.elapsed().as_secs_f64() * 1e3))
        })
        .await
}

/// Reserves memory for an answer that carries images at the upload's size: `images` of them,
/// about 8 bytes a pixel each (the pixels, a mask, the encoded file).
pub(crate) fn reserve_output(
    lease: &mut Lease,
    decoded: &Decoded,
    images: u64,
) -> Result<(), ApiError> {
    let (w, h) = decoded.original;
    lease.grow(w as u64 * h as u64 * 8 * images, "output")
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

/// An image as a `data:image/png;base64,...` URL, for JSON answers that carry the input back.
pub(crate) fn png_data_url(img: &image::RgbImage) -> Result<String, ApiError> {
    use base64::Engine;
    let png = models::image::postprocess::encode_png_rgb(img)?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
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
    for (stage, ms) in [
        ("decode", timings.decode_ms),
        ("preprocess", timings.preprocess_ms),
        ("inference", timings.inference_ms),
        ("postprocess", timings.postprocess_ms),
        ("total", total_ms),
    ] {
        crate::metrics::METRICS.stage(model_id, stage, ms / 1e3);
    }
    headers.insert("server-timing", HeaderValue::from_str(&st).expect("ascii"));
    tracing::info!(model = %model_id, inference_ms = timings.inference_ms, total_ms, "answered");
    (StatusCode::OK, headers, body).into_response()
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

/// One catalog model as `GET /api/v1/models` lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub id: String,
    #[schema(value_type = String, example = "segmentation")]
    pub task: Task,
    pub name: String,
    pub description: String,
    pub licence: String,
    pub homepage: String,
    /// Registry, package and version the weights come from.
    pub source: String,
    pub input_width: Option<u32>,
    pub input_height: Option<u32>,
    pub labels_count: usize,
    pub labels: Vec<String>,
    /// The task's default model (used when a request names none).
    pub default: bool,
    /// Set when the model serves from memory but its store copy went bad since loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_problem: Option<String>,
    /// The engine's settings, once the model is ready.
    pub workers: Option<usize>,
    pub queue: Option<usize>,
    pub max_batch: Option<usize>,
    /// `loading`, `warming_up`, `ready`, `missing`, `corrupt`, `failed` or `disabled`, with
    /// `fix` / `detail` where they apply.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub state: LoadState,
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
