//! HTTP handlers for the JSON/PNG API. Each one parses, hands CPU work to the executor, and
//! shapes the answer; errors are `ApiError` and become JSON in one place.

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use models::postprocess::{self, ProbMap, PERSON_TINT};
use models::{LoadState, Task};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::input::read_image;
use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentOutput {
    /// 0/255 PNG at the input's size.
    Mask,
    /// The image with the mask tinted, PNG.
    Overlay,
    /// Class shares, size, model, timings (and, on request, base64 PNGs).
    Json,
    /// Probabilities quantised to 0..255 as a grayscale PNG, for clients that re-threshold.
    Probability,
}

impl std::str::FromStr for SegmentOutput {
    type Err = ApiError;
    fn from_str(s: &str) -> Result<Self, ApiError> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|_| {
            ApiError::BadRequest(format!(
                "output must be mask, overlay, json or probability, not '{s}'"
            ))
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SegmentQuery {
    pub output: Option<String>,
    pub threshold: Option<f32>,
    pub opacity: Option<f32>,
    pub model: Option<String>,
    /// For `output=json`: comma list of `probability` and/or `image` to embed as base64 PNGs.
    pub include: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClassShare {
    pub id: usize,
    pub label: String,
    pub share: f32,
}

#[derive(Debug, Default, Serialize)]
pub struct StageTimings {
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct SegmentResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub threshold: f32,
    pub classes: Vec<ClassShare>,
    pub timings: StageTimings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_png: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_png: Option<String>,
}

fn query_or_400(
    q: Result<Query<SegmentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<SegmentQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {}", e.body_text())))
}

/// `POST /segment` — the seed's route: model from `?model=` or the form, else the default.
pub async fn segment_legacy(
    State(state): State<AppState>,
    q: Result<Query<SegmentQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let q = query_or_400(q)?;
    segment(state, None, q, req, SegmentOutput::Mask).await
}

/// `POST /api/v1/segment/{model_id}`.
pub async fn segment_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    q: Result<Query<SegmentQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let q = query_or_400(q)?;
    segment(state, Some(model_id), q, req, SegmentOutput::Json).await
}

fn pick<'a>(
    q: &'a Option<String>,
    fields: &'a std::collections::HashMap<String, String>,
    key: &str,
) -> Option<&'a str> {
    q.as_deref()
        .or_else(|| fields.get(key).map(String::as_str))
        .filter(|s| !s.is_empty())
}

async fn segment(
    state: AppState,
    path_model: Option<String>,
    q: SegmentQuery,
    req: Request,
    default_output: SegmentOutput,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Validate cheap parameters before reading a possibly large body.
    if let Some(id) = path_model.as_deref().or(q.model.as_deref()) {
        state.segmenter(id)?;
    }
    let input = read_image(&state, req).await?;
    let model_id =
        match path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned)) {
            Some(id) => id,
            None => state
                .registry
                .default_id(Task::Segmentation)
                .ok_or_else(|| {
                    ApiError::Unavailable(
                        "no segmentation model is ready; run `candlelit models fetch`".into(),
                    )
                })?
                .to_owned(),
        };
    let model = state.segmenter(&model_id)?;
    let output = match pick(&q.output, &input.fields, "output") {
        Some(s) => s.parse()?,
        None => default_output,
    };
    let threshold = match (q.threshold, input.fields.get("threshold")) {
        (Some(t), _) => t,
        (None, Some(s)) => s
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("threshold '{s}' is not a number")))?,
        (None, None) => 0.5,
    };
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ApiError::BadRequest(format!(
            "threshold must be within 0..1, got {threshold}"
        )));
    }
    let opacity = q.opacity.unwrap_or(0.55).clamp(0.0, 1.0);
    let include = q.include.clone().unwrap_or_default();
    let (want_prob, want_image) = (include.contains("probability"), include.contains("image"));
    let limits = state.limits.clone();
    let labels = model.spec().labels.clone();

    let (body, ctype, timings) = state
        .executor
        .run(move || {
            let t0 = Instant::now();
            let img = crate::limits::decode(&input.bytes, &limits)?;
            let decode_ms = t0.elapsed().as_secs_f64() * 1e3;
            let seg = model.segment(&img)?;
            let t1 = Instant::now();
            let probs: ProbMap = seg.probs.resize(img.width(), img.height());
            let (body, ctype) = match output {
                SegmentOutput::Mask => (
                    postprocess::encode_png_gray(&probs.mask(threshold))?,
                    "image/png",
                ),
                SegmentOutput::Probability => {
                    (postprocess::encode_png_gray(&probs.to_gray())?, "image/png")
                }
                SegmentOutput::Overlay => {
                    let ov =
                        postprocess::overlay(&img, &probs.mask(threshold), PERSON_TINT, opacity)?;
                    (postprocess::encode_png_rgb(&ov)?, "image/png")
                }
                SegmentOutput::Json => {
                    let fg = probs.share(threshold);
                    let classes = labels
                        .iter()
                        .enumerate()
                        .map(|(id, label)| ClassShare {
                            id,
                            label: label.clone(),
                            share: if id == 0 { 1.0 - fg } else { fg },
                        })
                        .collect();
                    let b64 = |png: Vec<u8>| {
                        format!(
                            "data:image/png;base64,{}",
                            base64::engine::general_purpose::STANDARD.encode(png)
                        )
                    };
                    let probability_png = if want_prob {
                        Some(b64(postprocess::encode_png_gray(&probs.to_gray())?))
                    } else {
                        None
                    };
                    let image_png = if want_image {
                        Some(b64(postprocess::encode_png_rgb(&img)?))
                    } else {
                        None
                    };
                    let resp = SegmentResponse {
                        model: model.spec().id.clone(),
                        width: img.width(),
                        height: img.height(),
                        threshold,
                        classes,
                        timings: StageTimings {
                            decode_ms,
                            preprocess_ms: seg.timings.preprocess_ms,
                            inference_ms: seg.timings.inference_ms,
                            ..Default::default()
                        },
                        probability_png,
                        image_png,
                    };
                    (
                        serde_json::to_vec(&resp).map_err(|e| ApiError::Internal(e.to_string()))?,
                        "application/json",
                    )
                }
            };
            let timings = StageTimings {
                decode_ms,
                preprocess_ms: seg.timings.preprocess_ms,
                inference_ms: seg.timings.inference_ms,
                postprocess_ms: t1.elapsed().as_secs_f64() * 1e3,
                total_ms: 0.0,
            };
            Ok((body, ctype, timings))
        })
        .await?;

    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let body = if ctype == "application/json" {
        patch_timings(body, &timings, total_ms)
    } else {
        body
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    headers.insert(
        "x-model-id",
        HeaderValue::from_str(&model_id).unwrap_or(HeaderValue::from_static("?")),
    );
    headers.insert(
        "x-inference-ms",
        HeaderValue::from_str(&format!("{:.2}", timings.inference_ms)).expect("ascii"),
    );
    let st = format!(
        "decode;dur={:.2}, preprocess;dur={:.2}, inference;dur={:.2}, postprocess;dur={:.2}, total;dur={:.2}",
        timings.decode_ms, timings.preprocess_ms, timings.inference_ms, timings.postprocess_ms, total_ms
    );
    headers.insert("server-timing", HeaderValue::from_str(&st).expect("ascii"));
    tracing::info!(model = %model_id, ?output, inference_ms = timings.inference_ms, total_ms, "segmented");
    Ok((StatusCode::OK, headers, body).into_response())
}

/// Fills the post-processing and total times into the JSON, which are only known at the end.
fn patch_timings(body: Vec<u8>, t: &StageTimings, total_ms: f64) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    v["timings"]["postprocess_ms"] = t.postprocess_ms.into();
    v["timings"]["total_ms"] = total_ms.into();
    serde_json::to_vec(&v).unwrap_or(body)
}

#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub id: String,
    pub task: Task,
    pub name: String,
    pub description: String,
    pub licence: String,
    pub homepage: String,
    pub source: String,
    pub input_width: u32,
    pub input_height: u32,
    pub labels: Vec<String>,
    pub default: bool,
    #[serde(flatten)]
    pub state: LoadState,
}

/// `GET /api/v1/models`.
pub async fn list_models(State(state): State<AppState>) -> Json<Vec<ModelInfo>> {
    Json(state.model_infos())
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when every enabled model is loaded, else 503 with per-model detail.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let models: Vec<(String, &'static str)> = state
        .registry
        .entries
        .iter()
        .filter(|e| e.state.counts_for_readiness())
        .map(|e| (e.spec.id.clone(), e.state.label()))
        .collect();
    let ready = !models.is_empty() && models.iter().all(|(_, s)| *s == "ready");
    let body = serde_json::json!({
        "ready": ready,
        "models": models.iter().map(|(id, s)| (id.clone(), serde_json::Value::from(*s))).collect::<serde_json::Map<_, _>>(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route; see GET /api/v1/models and the README".into())
}
