//! Detection routes: `POST /predict` (the seed's: the image back as JPEG with boxes and labels
//! drawn) and `POST /api/v1/detect/{model_id}` (COCO-style JSON). The JSON route returns every
//! box down to the model's score floor, so a page can re-threshold without a new request.

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use models::detect::SCORE_FLOOR;
use models::image::draw;
use models::Task;

pub use api_types::{DetectQuery, DetectResponse};

use super::Answered;
use crate::error::ApiError;
use crate::ingress::params::{model_or_default, number_in, pick, query_or_400};
use crate::routes::docs::{ImageUpload, ImageUrl};
use crate::state::AppState;
use crate::tasks::detect::{self, DEFAULT_CONFIDENCE};
use crate::tasks::{read_holding, ImageSource, Reserved};

/// `POST /predict?model=<id>&confidence=<0..1>`: JPEG with boxes drawn.
#[utoipa::path(post, path = "/predict", tag = "detection", params(DetectQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "The image with boxes and labels drawn", content_type = "image/jpeg"),
        crate::routes::docs::ImageRouteErrors,
    ))]
pub async fn detect_drawn(
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
        crate::routes::docs::ImageRouteErrors,
    ))]
pub async fn detect_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    q: Result<Query<DetectQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    detect(state, Some(model_id), query_or_400(q)?, req, false).await
}

/// A detection answer: the image with boxes drawn (JPEG), or the JSON's shape.
pub(crate) enum DetectAnswer {
    Jpeg(Vec<u8>),
    Json(DetectResponse),
}

async fn detect(
    state: AppState,
    path_model: Option<String>,
    q: DetectQuery,
    req: Request,
    annotated: bool,
) -> Result<Response, ApiError> {
    let (body, answer) = answer(state, path_model, q, req, annotated).await?.split();
    Ok(match body {
        DetectAnswer::Jpeg(jpeg) => answer.send(jpeg, "image/jpeg"),
        DetectAnswer::Json(r) => answer.send_json(&r)?,
    })
}

/// The detection routes' request: the model from the path, query or form, `confidence`, the
/// image; computed by [`tasks::detect`], drawn (`annotated`) or shaped as JSON.
pub(crate) async fn answer(
    state: AppState,
    path_model: Option<String>,
    q: DetectQuery,
    req: Request,
    annotated: bool,
) -> Result<Answered<DetectAnswer>, ApiError> {
    let started = Instant::now();
    // Cheap checks first, before reading a possibly large body.
    let named_early = path_model.as_deref().or(q.model.as_deref());
    let early = (|| {
        if let Some(id) = named_early {
            state.detector(id)?;
        }
        number_in(q.confidence.as_deref(), "confidence", 0.0..=1.0, 0.0)?;
        // A full queue refuses now, before the upload is read (a 429 costs no parsing), and a
        // place taken now is kept for this request, so it is not refused once its upload is in.
        state.hold_place(Task::Detection, named_early)
    })();
    let (input, place) = read_holding(&state, req, early).await?;
    let named = path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned));
    let model_id = model_or_default(&state, named, Task::Detection)?;
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
    // Boxes are drawn on the full image; for JSON alone the model-sized one is enough (boxes
    // are scaled back to the upload's pixels).
    let image = ImageSource::Encoded(input.bytes);
    let full = annotated || want_image;
    let ran = detect::run(
        &state,
        &model_id,
        image,
        Reserved {
            lease: input.lease,
            place,
        },
        confidence,
        full,
        started,
    )
    .await?;
    let id = model_id.clone();
    let (body, timings, lease) = state
        .cpu
        .run(move || {
            let t1 = Instant::now();
            let body = if annotated {
                let drawn = draw::annotate(&ran.decoded.img, &ran.out.detections);
                DetectAnswer::Jpeg(draw::encode_jpeg(&drawn, 90)?)
            } else {
                DetectAnswer::Json(detect::response(&id, &ran, want_image)?)
            };
            let encode_ms = t1.elapsed().as_secs_f64() * 1e3;
            Ok((body, ran.timings(&ran.out.timings, encode_ms), ran.lease))
        })
        .await?;
    Ok(Answered {
        body,
        model_id,
        timings,
        started,
        lease,
    })
}
