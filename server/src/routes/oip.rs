//! Open Inference Protocol inference (KServe v2; Triton's HTTP/REST form, with its binary tensor
//! data extension): `POST /v2/models/{model_id}/infer`, so Triton and KServe clients
//! (`tritonclient.http` with its default settings) work unchanged. The tensor codec is in
//! [`tensor`]; this file maps tensors onto the same engines, limits, memory budget and errors as
//! the `/api/v1` routes.
//!
//! Inputs: image models take one input `image`: BYTES `[1]`, an encoded JPEG/PNG/WebP/GIF/BMP
//! file (binary data, or base64 in JSON), or UINT8 `[H, W, 3]` / `[1, H, W, 3]` RGB pixels. The
//! summarizer takes `text`: BYTES `[1]`, UTF-8. Outputs by task (all, unless `outputs` names
//! some): segmentation `mask` UINT8 `[H, W]` (each pixel's class index at the input's size),
//! `shares` FP32 `[C]`, `labels` BYTES `[C]`; detection `boxes` FP32 `[N, 4]` (x1, y1, x2, y2 in
//! the input's pixels), `scores` FP32 `[N]`, `labels` BYTES `[N]`; classification `labels` BYTES
//! `[K]` and `probabilities` FP32 `[K]`, best first; summarization `summary` BYTES `[1]`.
//! Request `parameters`: `threshold` (segmentation), `confidence` (detection), `top_k`
//! (classification), `min_tokens`/`max_tokens` (summarization), `binary_data_output`.

mod answer;
mod tasks;
pub mod tensor;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use models::{ModelSpec, Task};
use serde_json::{json, Value};

use self::answer::OutTensor;
use self::tasks::{classify, detect, segment, summarize};
use self::tensor::{bad, param_bool, Tensor, IMAGE_INPUT, TEXT_INPUT};
use crate::error::ApiError;
use crate::ingress::budget::Lease;
use crate::state::AppState;

/// The header that gives the JSON's length when binary tensor data follows it.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// What each task answers: name, datatype, shape (-1 where it varies).
fn outputs_of(spec: &ModelSpec) -> Vec<(&'static str, &'static str, Vec<i64>)> {
    let classes = spec.labels.len() as i64;
    match spec.task {
        Task::Segmentation => vec![
            ("mask", "UINT8", vec![-1, -1]),
            ("shares", "FP32", vec![classes]),
            ("labels", "BYTES", vec![classes]),
        ],
        Task::Detection => vec![
            ("boxes", "FP32", vec![-1, 4]),
            ("scores", "FP32", vec![-1]),
            ("labels", "BYTES", vec![-1]),
        ],
        Task::Classification => vec![
            ("labels", "BYTES", vec![-1]),
            ("probabilities", "FP32", vec![-1]),
        ],
        Task::Summarization => vec![("summary", "BYTES", vec![1])],
    }
}

/// The OIP model metadata's `inputs` and `outputs`: what [`infer`] takes and answers. An image
/// input is listed as BYTES (an encoded file); UINT8 `[H, W, 3]` pixels are taken too.
pub fn metadata(spec: &ModelSpec) -> (Vec<Value>, Vec<Value>) {
    let input = if spec.is_image_task() {
        json!({ "name": IMAGE_INPUT, "datatype": "BYTES", "shape": [1] })
    } else {
        json!({ "name": TEXT_INPUT, "datatype": "BYTES", "shape": [1] })
    };
    let outputs = outputs_of(spec)
        .into_iter()
        .map(
            |(name, datatype, shape)| json!({ "name": name, "datatype": datatype, "shape": shape }),
        )
        .collect();
    (vec![input], outputs)
}

/// `POST /v2/models/{model_id}/infer`'s answer, as JSON (binary outputs carry
/// `parameters.binary_data_size` instead of `data`, their bytes after the JSON).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    pub id: Option<String>,
    pub outputs: Vec<InferOutput>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct InferOutput {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
    /// Row-major, flat; absent when the output is sent as binary.
    #[schema(value_type = Vec<Object>)]
    pub data: Option<Vec<Value>>,
    /// `binary_data_size` for a binary output.
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
}

/// `POST /v2/models/{model_id}/infer` (Open Inference Protocol).
#[utoipa::path(post, path = "/v2/models/{model_id}/infer", tag = "oip",
    params(
        ("model_id" = String, Path, description = "A catalog model id: selfie, nanodet, efficientnet-lite0, smollm2, ..."),
        ("Inference-Header-Content-Length" = Option<u64>, Header,
            description = "The JSON header's length when binary tensor data follows it"),
    ),
    request_body(description = "An inference request. Image models take one input `image`: BYTES [1] \
        (an encoded JPEG/PNG/WebP/GIF/BMP file: binary data, or base64 in JSON) or UINT8 [H, W, 3] \
        (RGB pixels); the summarizer takes `text`: BYTES [1], UTF-8. Parameters: `threshold`, \
        `confidence`, `top_k`, `min_tokens`, `max_tokens`, `binary_data_output`.",
        content((tensor::InferRequest = "application/json"), (Vec<u8> = "application/octet-stream"))),
    responses(
        (status = 200, description = "The outputs: segmentation `mask` UINT8 [H, W], `shares` FP32 [C], \
            `labels` BYTES [C]; detection `boxes` FP32 [N, 4] (x1, y1, x2, y2), `scores` FP32 [N], \
            `labels` BYTES [N]; classification `labels` BYTES [K], `probabilities` FP32 [K]; \
            summarization `summary` BYTES [1]. Binary outputs follow the JSON \
            (`Inference-Header-Content-Length`).",
            content((InferResponse = "application/json"), (Vec<u8> = "application/octet-stream"))),
        crate::routes::docs::ImageRouteErrors,
    ))]
pub async fn infer(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let spec = state
        .models
        .slot(&model_id)
        .ok_or_else(|| super::models::unknown_model(&state, &model_id))?
        .spec
        .clone();
    // A model that is not ready (503) or whose queue is full (429) refuses before the body is
    // read, as every route does.
    if let Err(e) = state.refuse_if_full(spec.task, Some(model_id.as_str())) {
        return Err(crate::ingress::input::refuse_unread(req, e));
    }
    let (body, header_len, mut lease) = read_body(&state, req).await?;
    // Parsing copies the tensors out of the body: room for both until the body is dropped.
    lease.grow(body.len() as u64, "parse")?;
    let parsed = state
        .cpu
        .run(move || tensor::parse(&body, header_len))
        .await?;
    lease.shrink_to(parsed.inputs.iter().map(Tensor::data_bytes).sum());
    let wanted = wanted_outputs(&spec, &parsed)?;
    let params = parsed.parameters;
    let inputs = parsed.inputs;
    let (outputs, timings, lease) = match spec.task {
        Task::Segmentation => segment(&state, &model_id, &params, inputs, lease, started).await?,
        Task::Detection => detect(&state, &model_id, &params, inputs, lease, started).await?,
        Task::Classification => {
            classify(&state, &model_id, &params, inputs, lease, started).await?
        }
        Task::Summarization => {
            let outputs = summarize(&state, &model_id, &params, inputs, started).await?;
            (outputs, None, lease)
        }
    };
    let version = spec.source.version.clone();
    let id = parsed.id;
    let encoded = state
        .cpu
        .run(move || {
            let chosen = choose(outputs, &wanted);
            answer::encode(&spec.id, &version, id.as_deref(), &chosen)
        })
        .await?;
    drop(lease);
    let mut resp = match timings {
        // `finish` adds the timing headers and metrics; its JSON patching is for the /api/v1
        // answers, so it is handed the body as octet-stream and the type is set after.
        Some(t) => super::finish(
            encoded.body,
            "application/octet-stream",
            &model_id,
            &t,
            started,
        ),
        None => (StatusCode::OK, encoded.body).into_response(),
    };
    let headers = resp.headers_mut();
    match encoded.header_len {
        Some(n) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(HEADER_LENGTH, HeaderValue::from(n));
        }
        None => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    Ok(resp)
}

/// The body, the JSON header's length when binary data follows, and the body's memory lease.
async fn read_body(
    state: &AppState,
    req: Request,
) -> Result<(Bytes, Option<usize>, Lease), ApiError> {
    let header_len = match req.headers().get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    bad("Inference-Header-Content-Length must be a whole number of bytes")
                })?,
        ),
    };
    if let Some(enc) = req.headers().get(header::CONTENT_ENCODING) {
        if enc.as_bytes() != b"identity" {
            return Err(ApiError::UnsupportedMediaType(
                "compressed request bodies are not accepted; send the request uncompressed".into(),
            ));
        }
    }
    let (mut lease, slow) = crate::ingress::input::body_guards(state, &req);
    let limit = state.limits.body_bytes;
    let body = Bytes::from_request(req, state).await.map_err(|e| {
        if slow.tripped() {
            ApiError::SlowClient(format!(
                "the request body arrived too slowly (--min-body-rate, --body-timeout-ms): {}",
                e.body_text()
            ))
        } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than {limit} bytes (--body-limit)"
            ))
        } else {
            bad(format!("bad body: {}", e.body_text()))
        }
    })?;
    let len = body.len() as u64;
    if len > lease.bytes() {
        lease.grow(len - lease.bytes(), "body")?;
    }
    lease.shrink_to(len);
    Ok((body, header_len, lease))
}

/// The outputs to answer, in order, each with whether it goes as binary: those the request
/// names (each at most once), else all of the task's; binary where `binary_data` says so, else
/// as `binary_data_output` says (what tritonclient sends when it names no outputs).
fn wanted_outputs(
    spec: &ModelSpec,
    parsed: &tensor::Parsed,
) -> Result<Vec<(&'static str, bool)>, ApiError> {
    let all = outputs_of(spec);
    let binary = param_bool(&parsed.parameters, "binary_data_output")?.unwrap_or(false);
    let named = match &parsed.outputs {
        Some(list) if !list.is_empty() => list,
        _ => return Ok(all.iter().map(|(n, ..)| (*n, binary)).collect()),
    };
    let mut out: Vec<(&'static str, bool)> = Vec::with_capacity(named.len());
    for o in named {
        let Some((name, ..)) = all.iter().find(|(n, ..)| *n == o.name) else {
            let names: Vec<&str> = all.iter().map(|(n, ..)| *n).collect();
            return Err(bad(format!(
                "model '{}' has no output '{}'; its outputs: {}",
                spec.id,
                o.name,
                names.join(", ")
            )));
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("output '{name}' is asked for twice")));
        }
        let b = param_bool(&o.parameters, "binary_data")?.unwrap_or(binary);
        out.push((name, b));
    }
    Ok(out)
}

/// The wanted outputs, taken (not copied: a mask can be large) from those the task made.
fn choose(made: Vec<OutTensor>, wanted: &[(&'static str, bool)]) -> Vec<(OutTensor, bool)> {
    let mut made: Vec<Option<OutTensor>> = made.into_iter().map(Some).collect();
    wanted
        .iter()
        .filter_map(|(name, binary)| {
            let t = made
                .iter_mut()
                .find(|t| t.as_ref().is_some_and(|t| t.name == *name))?;
            Some((t.take()?, *binary))
        })
        .collect()
}
