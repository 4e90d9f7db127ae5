//! Segmentation routes: `POST /segment` (the seed's) and `POST /api/v1/segment/{model_id}`.

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use models::image::postprocess;
use models::Task;
use serde::Deserialize;

pub use api_types::{ClassShare, SegmentQuery, SegmentResponse};

use super::Answered;
use crate::error::ApiError;
use crate::ingress::params::{model_or_default, number_in, pick, query_or_400};
use crate::routes::docs::{ImageUpload, ImageUrl};
use crate::state::AppState;
use crate::tasks::{read_holding, reserve_output, segment, ImageSource, Reserved};

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
    /// Multi-class models: each pixel in its class colour (the VOC colour map), RGB PNG.
    #[serde(alias = "color")]
    Colour,
}

impl std::str::FromStr for SegmentOutput {
    type Err = ApiError;
    fn from_str(s: &str) -> Result<Self, ApiError> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|_| {
            ApiError::BadRequest(format!(
                "output must be mask, overlay, json, probability or colour, not '{s}'"
            ))
        })
    }
}

/// `POST /segment` — the seed's route: model from `?model=` or the form, else the default.
#[utoipa::path(post, path = "/segment", tag = "segmentation", params(SegmentQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "Mask PNG by default; see `output`", content_type = "image/png"),
        crate::routes::docs::ImageRouteErrors,
    ))]
pub async fn segment_legacy(
    State(state): State<AppState>,
    q: Result<Query<SegmentQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let q = query_or_400(q)?;
    segment(state, None, q, req, None).await
}

/// `POST /api/v1/segment/{model_id}`.
#[utoipa::path(post, path = "/api/v1/segment/{model_id}", tag = "segmentation",
    params(("model_id" = String, Path, description = "selfie or meet"), SegmentQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "Class shares, size, model and timings (or a PNG for output=mask|overlay|probability)", body = SegmentResponse),
        crate::routes::docs::ImageRouteErrors,
    ))]
pub async fn segment_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    q: Result<Query<SegmentQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let q = query_or_400(q)?;
    segment(state, Some(model_id), q, req, Some(SegmentOutput::Json)).await
}

/// A segmentation answer: a PNG (mask, overlay, probability, colour map) or the JSON's shape.
pub(crate) enum SegmentAnswer {
    Png(Vec<u8>),
    Json(SegmentResponse),
}

async fn segment(
    state: AppState,
    path_model: Option<String>,
    q: SegmentQuery,
    req: Request,
    default_output: Option<SegmentOutput>,
) -> Result<Response, ApiError> {
    let (body, answer) = answer(state, path_model, q, req, default_output)
        .await?
        .split();
    tracing::debug!(model = %answer.model_id, "segmented");
    Ok(match body {
        SegmentAnswer::Png(png) => answer.send(png, "image/png"),
        SegmentAnswer::Json(r) => answer.send_json(&r)?,
    })
}

/// The segmentation routes' request: the model from the path, query or form, the parameters,
/// the image; computed by [`tasks::segment`] and shaped as `output` says.
pub(crate) async fn answer(
    state: AppState,
    path_model: Option<String>,
    q: SegmentQuery,
    req: Request,
    default_output: Option<SegmentOutput>,
) -> Result<Answered<SegmentAnswer>, ApiError> {
    let started = Instant::now();
    // Validate cheap parameters before reading a possibly large body.
    let named_early = path_model.as_deref().or(q.model.as_deref());
    let early = (|| {
        if let Some(id) = named_early {
            state.segmenter(id)?;
        }
        // A full queue refuses now, before the upload is read (a 429 costs no parsing), and a
        // place taken now is kept for this request, so it is not refused once its upload is in.
        state.hold_place(Task::Segmentation, named_early)
    })();
    let (input, place) = read_holding(&state, req, early).await?;
    let named = path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned));
    let model_id = model_or_default(&state, named, Task::Segmentation)?;
    let (model, _) = state.segmenter(&model_id)?;
    let multi_class = segment::multi_class(&*model);
    let palette = segment::palette(&*model);
    // The seed's route answers a mask (person models) or the colour map (multi-class).
    let output = match pick(&q.output, &input.fields, "output") {
        Some(s) => s.parse()?,
        None => default_output.unwrap_or(if multi_class {
            SegmentOutput::Colour
        } else {
            SegmentOutput::Mask
        }),
    };
    let threshold = number_in(
        pick(&q.threshold, &input.fields, "threshold"),
        "threshold",
        0.0..=1.0,
        0.5,
    )?;
    let opacity = number_in(
        pick(&q.opacity, &input.fields, "opacity"),
        "opacity",
        0.0..=1.0,
        0.55,
    )?;
    let include = segment::Include::parse(q.include.as_deref().unwrap_or_default());
    // Full resolution only when the answer is drawn on the image; an answer at the upload's
    // size (mask, overlay, colour map, or images in the JSON) is under the output cap.
    let need_full = output == SegmentOutput::Overlay || include.image || include.overlay;
    let at_size_images = match output {
        SegmentOutput::Json => include.count(),
        _ => 1,
    };
    let need = segment::need_for(&*model, need_full, at_size_images);
    let image = ImageSource::Encoded(input.bytes);
    let mut done = segment::run(
        &state,
        &model_id,
        image,
        Reserved {
            lease: input.lease,
            place,
        },
        need,
        started,
    )
    .await?;
    reserve_output(&mut done.ran.lease, &done.ran.decoded, at_size_images)?;
    let (body, timings, lease) = state
        .cpu
        .run(move || {
            let t1 = Instant::now();
            let (w, h) = done.ran.decoded.original;
            let seg = &done.ran.out;
            let body = match (output, &seg.classes) {
                (SegmentOutput::Colour, Some(c)) => {
                    SegmentAnswer::Png(postprocess::encode_png_rgb(&c.colour_at(w, h, &palette))?)
                }
                (SegmentOutput::Colour, None) => {
                    return Err(ApiError::BadRequest(format!(
                        "output=colour needs a multi-class model; '{}' has classes {}",
                        done.model.spec().id,
                        done.model.spec().labels.join(", ")
                    )))
                }
                (SegmentOutput::Overlay, _) => SegmentAnswer::Png(postprocess::encode_png_rgb(
                    &done.overlay(&palette, threshold, opacity)?,
                )?),
                (SegmentOutput::Mask, _) => SegmentAnswer::Png(postprocess::encode_png_gray(
                    &seg.probs.mask_at(w, h, threshold),
                )?),
                (SegmentOutput::Probability, _) => {
                    SegmentAnswer::Png(postprocess::encode_png_gray(&seg.probs.gray_at(w, h))?)
                }
                (SegmentOutput::Json, _) => {
                    SegmentAnswer::Json(done.response(&palette, threshold, opacity, include)?)
                }
            };
            let encode_ms = t1.elapsed().as_secs_f64() * 1e3;
            let timings = done.ran.timings(&seg.timings, encode_ms);
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
