//! Detection routes: `POST /predict` (the seed's: the image back as JPEG with boxes and labels
//! drawn) and `POST /api/v1/detect/{model_id}` (COCO-style JSON). The JSON route returns every
//! box down to the model's score floor, so a page can re-threshold without a new request.

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use models::detect::{coco91_id, SCORE_FLOOR};
use models::image::draw;
use models::Task;
use serde::{Deserialize, Serialize};

use super::{decode_image, finish, model_or_default, number_in, pick, query_or_400, StageTimings};
use crate::decode::Need;
use crate::error::ApiError;
use crate::input::{read_image, refuse_unread};
use crate::openapi::{ImageUpload, ImageUrl};
use crate::AppState;

/// The seed's default confidence for drawn boxes.
pub const DEFAULT_CONFIDENCE: f32 = 0.35;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetectQuery {
    pub model: Option<String>,
    /// Minimum score, 0..1 (kept as text so a bad value gets a clear 400).
    pub confidence: Option<String>,
    /// `image`: embed the decoded input as a PNG data URL (for pages given only a URL).
    pub include: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DetectionJson {
    /// COCO's `[x, y, width, height]` in the original image's pixels.
    pub bbox: [f32; 4],
    pub label: String,
    /// The official COCO category id (1..90).
    pub category_id: u32,
    /// The model's class index (0..79).
    pub class_index: usize,
    pub score: f32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DetectResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    /// Boxes scoring below this are never returned.
    pub score_floor: f32,
    /// The threshold applied to this answer (`confidence`, at least the floor).
    pub min_score: f32,
    pub detections: Vec<DetectionJson>,
    pub timings: StageTimings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_png: Option<String>,
}

/// `POST /predict?model=<id>&confidence=<0..1>`: JPEG with boxes drawn.
#[utoipa::path(post, path = "/predict", tag = "detection", params(DetectQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "The image with boxes and labels drawn", content_type = "image/jpeg"),
        crate::openapi::ImageRouteErrors,
    ))]
pub async fn detect_legacy(
    State(state): State<AppState>,
    q: Result<Query<DetectQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    detect(state, None, query_or_400(q)?, req, true).await
}

/// `POST /api/v1/detect/{model_id}?confidence=<0..1>`: JSON.
#[utoipa::path(post, path = "/api/v1/detect/{model_id}", tag = "detection",
    params(("model_id" = String, Path, description = "nanodet or centernet"), DetectQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "COCO-style boxes in original pixels, down to score_floor", body = DetectResponse),
        crate::openapi::ImageRouteErrors,
    ))]
pub async fn detect_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    q: Result<Query<DetectQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    detect(state, Some(model_id), query_or_400(q)?, req, false).await
}

pub(crate) async fn detect(
    state: AppState,
    path_model: Option<String>,
    q: DetectQuery,
    req: Request,
    annotated: bool,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Cheap checks first, before reading a possibly large body.
    let named_early = path_model.as_deref().or(q.model.as_deref());
    let early = (|| {
        if let Some(id) = named_early {
            state.detector(id)?;
        }
        number_in(q.confidence.as_deref(), "confidence", 0.0..=1.0, 0.0)?;
        // A full queue refuses now, before the upload is read (a 429 costs no parsing).
        state.refuse_if_full(Task::Detection, named_early)
    })();
    if let Err(e) = early {
        return Err(refuse_unread(req, e));
    }
    let input = read_image(&state, req).await?;
    let named = path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned));
    let model_id = model_or_default(&state, named, Task::Detection)?;
    let (detector, engine) = state.detector(&model_id)?;
    let default = if annotated {
        DEFAULT_CONFIDENCE
    } else {
        SCORE_FLOOR
    };
    let confidence = number_in(
        pick(&q.confidence, &input.fields, "confidence"),
        "confidence",
        0.0..=1.0,
        default,
    )?;
    let want_image = q.include.as_deref().unwrap_or("").contains("image");
    let id = model_id.clone();
    // Boxes are drawn on the full image; for JSON alone the model-sized one is enough (boxes
    // are scaled back to the upload's pixels).
    let need = if annotated || want_image {
        Need::full()
    } else {
        Need::model_input_of(detector.spec().image_input())
    };
    // A place in the queue first: a request the model would refuse is never decoded.
    let ticket = engine.admit()?;
    let (decoded, mut lease, decode_ms) =
        decode_image(&state, input.bytes, input.lease, need).await?;
    let t0 = Instant::now();
    let mut out = ticket
        .submit((decoded.img.clone(), confidence), state.deadline(started))
        .await?;
    let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (sx, sy) = decoded.scale_to_original();
    for d in &mut out.detections {
        d.bbox = [
            d.bbox[0] * sx,
            d.bbox[1] * sy,
            d.bbox[2] * sx,
            d.bbox[3] * sy,
        ];
    }
    (out.width, out.height) = decoded.original;
    if need.output_at_size {
        super::reserve_output(&mut lease, &decoded, 1)?;
    }
    let img = decoded.img;
    let (body, ctype, timings) = state
        .cpu
        .run(move || {
            let t1 = Instant::now();
            let (body, ctype) = if annotated {
                let drawn = draw::annotate(&img, &out.detections);
                (draw::encode_jpeg(&drawn, 90)?, "image/jpeg")
            } else {
                let resp = DetectResponse {
                    model: id,
                    width: out.width,
                    height: out.height,
                    score_floor: SCORE_FLOOR,
                    min_score: out.score_floor,
                    detections: out
                        .detections
                        .iter()
                        .map(|d| DetectionJson {
                            bbox: d.coco_bbox(),
                            label: d.label.clone(),
                            category_id: coco91_id(d.category_id),
                            class_index: d.category_id,
                            score: d.score,
                        })
                        .collect(),
                    timings: StageTimings::default(),
                    image_png: want_image.then(|| super::png_data_url(&img)).transpose()?,
                };
                let json =
                    serde_json::to_vec(&resp).map_err(|e| ApiError::Internal(e.to_string()))?;
                (json, "application/json")
            };
            let encode_ms = t1.elapsed().as_secs_f64() * 1e3;
            let timings = StageTimings::of_run(decode_ms, engine_ms, &out.timings, encode_ms);
            Ok((body, ctype, timings))
        })
        .await?;
    drop(lease);
    Ok(finish(body, ctype, &model_id, &timings, started))
}
