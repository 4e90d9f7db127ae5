//! Classification routes: `POST /predict/image_classes` (the seed's: `{"class_label": ...}`)
//! and `POST /api/v1/classify/{model_id}?top_k=5` (ranked labels with probabilities).

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use models::Task;

pub use api_types::{ClassLabel, ClassifyQuery, ClassifyResponse};

use super::Answered;
use crate::error::ApiError;
use crate::ingress::params::{model_or_default, pick, query_or_400};
use crate::routes::docs::{ImageUpload, ImageUrl};
use crate::state::AppState;
use crate::tasks::classify::{self, parse_top_k};
use crate::tasks::{read_holding, ImageSource, Reserved};

#[utoipa::path(post, path = "/predict/image_classes", tag = "classification", params(ClassifyQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "The top class", body = ClassLabel),
        crate::routes::docs::ImageRouteErrors,
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
        crate::routes::docs::ImageRouteErrors,
    ))]
pub async fn classify_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    q: Result<Query<ClassifyQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    classify(state, Some(model_id), query_or_400(q)?, req, false).await
}

/// A classification answer: the ranked classes, or the seed's top label.
pub(crate) enum ClassifyAnswer {
    Ranked(ClassifyResponse),
    Label(ClassLabel),
}

async fn classify(
    state: AppState,
    path_model: Option<String>,
    q: ClassifyQuery,
    req: Request,
    legacy: bool,
) -> Result<Response, ApiError> {
    let (body, answer) = answer(state, path_model, q, req, legacy).await?.split();
    match body {
        ClassifyAnswer::Ranked(r) => answer.send_json(&r),
        ClassifyAnswer::Label(l) => answer.send_json(&l),
    }
}

/// The classification routes' request: the model from the path, query or form, `top_k`, the
/// image; computed by [`tasks::classify`].
pub(crate) async fn answer(
    state: AppState,
    path_model: Option<String>,
    q: ClassifyQuery,
    req: Request,
    legacy: bool,
) -> Result<Answered<ClassifyAnswer>, ApiError> {
    let started = Instant::now();
    // Cheap checks, and a full queue refuses now, before the upload is read (a 429 costs no
    // parsing); a place taken now is kept for this request, so it is not refused later.
    let named_early = path_model.as_deref().or(q.model.as_deref());
    let early = (|| {
        if let Some(id) = named_early {
            let (m, _) = state.classifier(id)?;
            parse_top_k(q.top_k.as_deref(), m.spec().labels.len())?;
        }
        state.hold_place(Task::Classification, named_early)
    })();
    let (input, place) = read_holding(&state, req, early).await?;
    let named = path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned));
    let model_id = model_or_default(&state, named, Task::Classification)?;
    let (model, _) = state.classifier(&model_id)?;
    let k = parse_top_k(
        pick(&q.top_k, &input.fields, "top_k"),
        model.spec().labels.len(),
    )?;
    let want_image = q.include.as_deref().unwrap_or("").contains("image");
    let image = ImageSource::Encoded(input.bytes);
    let done = classify::run(
        &state,
        &model_id,
        image,
        Reserved {
            lease: input.lease,
            place,
        },
        k,
        want_image,
        started,
    )
    .await?;
    let id = model_id.clone();
    let (body, timings, lease) = state
        .cpu
        .run(move || {
            let body = if legacy {
                ClassifyAnswer::Label(done.label(&id))
            } else {
                ClassifyAnswer::Ranked(done.response(&id, want_image)?)
            };
            let timings = done.ran.timings(&done.ran.out.timings, 0.0);
            Ok((body, timings, done.ran.lease))
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
