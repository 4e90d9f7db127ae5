//! Classification routes: `POST /predict/image_classes` (the seed's: `{"class_label": ...}`)
//! and `POST /api/v1/classify/{model_id}?top_k=5` (ranked labels with probabilities).

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use models::classify::{short_label, top_k};
use models::Task;

pub use api_types::{ClassLabel, ClassProb, ClassifyQuery, ClassifyResponse};

use super::{decode_image, finish, model_or_default, pick, query_or_400, StageTimings};
use crate::decode::Need;
use crate::error::ApiError;
use crate::input::{read_image, refuse_unread};
use crate::openapi::{ImageUpload, ImageUrl};
use crate::AppState;

pub const DEFAULT_TOP_K: usize = 5;

#[utoipa::path(post, path = "/predict/image_classes", tag = "classification", params(ClassifyQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "The top class", body = ClassLabel),
        crate::openapi::ImageRouteErrors,
    ))]
pub async fn classify_legacy(
    State(state): State<AppState>,
    q: Result<Query<ClassifyQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    classify(state, None, query_or_400(q)?, req, true).await
}

#[utoipa::path(post, path = "/api/v1/classify/{model_id}", tag = "classification",
    params(("model_id" = String, Path, description = "efficientnet-lite0"), ClassifyQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "The top_k classes with probabilities", body = ClassifyResponse),
        crate::openapi::ImageRouteErrors,
    ))]
pub async fn classify_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    q: Result<Query<ClassifyQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    classify(state, Some(model_id), query_or_400(q)?, req, false).await
}

fn parse_top_k(raw: Option<&str>, classes: usize) -> Result<usize, ApiError> {
    let Some(raw) = super::given(raw) else {
        return Ok(DEFAULT_TOP_K.min(classes));
    };
    match raw.trim().parse::<usize>() {
        Ok(k) if (1..=classes).contains(&k) => Ok(k),
        _ => Err(ApiError::BadRequest(format!(
            "top_k must be a whole number within 1..{classes}, got '{raw}'"
        ))),
    }
}

pub(crate) async fn classify(
    state: AppState,
    path_model: Option<String>,
    q: ClassifyQuery,
    req: Request,
    legacy: bool,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Cheap checks, and a full queue refuses now, before the upload is read (a 429 costs no
    // parsing).
    let named_early = path_model.as_deref().or(q.model.as_deref());
    let early = (|| {
        if let Some(id) = named_early {
            let (m, _) = state.classifier(id)?;
            parse_top_k(q.top_k.as_deref(), m.spec().labels.len())?;
        }
        state.refuse_if_full(Task::Classification, named_early)
    })();
    if let Err(e) = early {
        return Err(refuse_unread(req, e));
    }
    let input = read_image(&state, req).await?;
    let named = path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned));
    let model_id = model_or_default(&state, named, Task::Classification)?;
    let (model, engine) = state.classifier(&model_id)?;
    let labels = model.spec().labels.clone();
    let k = parse_top_k(pick(&q.top_k, &input.fields, "top_k"), labels.len())?;
    let want_image = q.include.as_deref().unwrap_or("").contains("image");
    let id = model_id.clone();
    // A place in the queue first: a request the model would refuse is never decoded.
    let need = if want_image {
        Need::full()
    } else {
        Need::model_input_of(model.spec().image_input())
    };
    let ticket = engine.admit()?;
    let (decoded, mut lease, decode_ms) =
        decode_image(&state, input.bytes, input.lease, need).await?;
    let t0 = Instant::now();
    let out = ticket
        .submit(decoded.img.clone(), state.deadline(started))
        .await?;
    let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
    if want_image {
        super::reserve_output(&mut lease, &decoded, 1)?;
    }
    let ((width, height), img) = (decoded.original, decoded.img);
    let (body, timings) = state
        .cpu
        .run(move || {
            let ranked = top_k(&out.probs, &labels, k);
            let json = if legacy {
                let best = &ranked[0];
                serde_json::to_vec(&ClassLabel {
                    class_label: short_label(&best.label).to_owned(),
                    label: best.label.clone(),
                    probability: best.probability,
                    model: id,
                })
            } else {
                serde_json::to_vec(&ClassifyResponse {
                    model: id,
                    width,
                    height,
                    top_k: ranked
                        .into_iter()
                        .map(|r| ClassProb {
                            index: r.index,
                            label: r.label,
                            probability: r.probability,
                        })
                        .collect(),
                    timings: StageTimings::default(),
                    image_png: want_image.then(|| super::png_data_url(&img)).transpose()?,
                })
            }
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            let timings = crate::api::timings_of_run(decode_ms, engine_ms, &out.timings, 0.0);
            Ok((json, timings))
        })
        .await?;
    drop(lease);
    Ok(finish(
        body,
        "application/json",
        &model_id,
        &timings,
        started,
    ))
}
