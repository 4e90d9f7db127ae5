//! Segmentation routes: `POST /segment` (the seed's) and `POST /api/v1/segment/{model_id}`.

use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use base64::Engine;
use models::image::postprocess::{self, PERSON_TINT};
use models::Task;
use serde::{Deserialize, Serialize};

use super::{decode_image, finish, model_or_default, number_in, pick, query_or_400, StageTimings};
use crate::decode::Need;
use crate::error::ApiError;
use crate::input::{read_image, refuse_unread};
use crate::openapi::{ImageUpload, ImageUrl};
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

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SegmentQuery {
    /// `mask`, `overlay`, `json`, `probability` or (multi-class models) `colour`.
    pub output: Option<String>,
    /// 0..1 (default 0.5): the probability at which a pixel counts as the class.
    pub threshold: Option<String>,
    /// 0..1 (default 0.55): how strongly the overlay tints.
    pub opacity: Option<String>,
    pub model: Option<String>,
    /// For `output=json`: comma list of `probability`, `image` and/or `overlay` to embed as
    /// base64 PNGs.
    pub include: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassShare {
    pub id: usize,
    pub label: String,
    pub share: f32,
    /// The class's colour in `colour` and `overlay` outputs.
    pub colour: [u8; 3],
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    /// With `include=overlay`: the overlay at this threshold and opacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay_png: Option<String>,
}

/// `POST /segment` — the seed's route: model from `?model=` or the form, else the default.
#[utoipa::path(post, path = "/segment", tag = "segmentation", params(SegmentQuery),
    request_body(description = "The image: multipart field `file`, a raw `image/*` body, or JSON `{\"image_url\"}`",
        content((ImageUpload = "multipart/form-data"), (Vec<u8> = "image/*"), (ImageUrl = "application/json"))),
    responses(
        (status = 200, description = "Mask PNG by default; see `output`", content_type = "image/png"),
        crate::openapi::ImageRouteErrors,
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
        crate::openapi::ImageRouteErrors,
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

async fn segment(
    state: AppState,
    path_model: Option<String>,
    q: SegmentQuery,
    req: Request,
    default_output: Option<SegmentOutput>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Validate cheap parameters before reading a possibly large body.
    let named_early = path_model.as_deref().or(q.model.as_deref());
    let early = (|| {
        if let Some(id) = named_early {
            state.segmenter(id)?;
        }
        // A full queue refuses now, before the upload is read (a 429 costs no parsing).
        state.refuse_if_full(Task::Segmentation, named_early)
    })();
    if let Err(e) = early {
        return Err(refuse_unread(req, e));
    }
    let input = read_image(&state, req).await?;
    let named = path_model.or_else(|| pick(&q.model, &input.fields, "model").map(str::to_owned));
    let model_id = model_or_default(&state, named, Task::Segmentation)?;
    let (model, engine) = state.segmenter(&model_id)?;
    // Multi-class models have a palette; person models tint with one colour.
    let multi_class = model.spec().labels.len() > 2;
    let palette: Vec<[u8; 3]> = if multi_class {
        postprocess::voc_palette(model.spec().labels.len())
    } else {
        vec![[0, 0, 0], PERSON_TINT]
    };
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
    let include = q.include.clone().unwrap_or_default();
    let (want_prob, want_image, want_overlay) = (
        include.contains("probability"),
        include.contains("image"),
        include.contains("overlay"),
    );
    let labels = model.spec().labels.clone();

    // Full resolution only when the answer is drawn on the image; an answer at the upload's
    // size (mask, overlay, colour map, or images in the JSON) is under the output cap.
    let need_full = output == SegmentOutput::Overlay || want_image || want_overlay;
    let at_size_images = match output {
        SegmentOutput::Json => (want_prob as u64) + (want_image as u64) + (want_overlay as u64),
        _ => 1,
    };
    let need = Need {
        cover: (!need_full)
            .then(|| models::image::preprocess::cover_for(model.spec().image_input())),
        output_at_size: at_size_images > 0,
    };

    // A place in the queue first: a request the model would refuse is never decoded.
    let ticket = engine.admit()?;
    let (decoded, mut lease, decode_ms) =
        decode_image(&state, input.bytes, input.lease, need).await?;
    let t0 = Instant::now();
    let seg = ticket
        .submit(decoded.img.clone(), state.deadline(started))
        .await?;
    let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
    super::reserve_output(&mut lease, &decoded, at_size_images)?;
    let (body, ctype, timings) = state
        .cpu
        .run(move || {
            let t1 = Instant::now();
            let (w, h) = decoded.original;
            let img = &decoded.img;
            // Everything at the upload's size is made row by row from the model-sized maps: no
            // full-size f32 map is ever held.
            let overlay = || match &seg.classes {
                Some(c) => Ok::<_, ApiError>(c.overlay_at(img, &palette, opacity)),
                None => Ok(postprocess::overlay(
                    img,
                    &seg.probs.mask_at(w, h, threshold),
                    PERSON_TINT,
                    opacity,
                )?),
            };
            let (body, ctype) = match (output, &seg.classes) {
                (SegmentOutput::Colour, Some(c)) => (
                    postprocess::encode_png_rgb(&c.colour_at(w, h, &palette))?,
                    "image/png",
                ),
                (SegmentOutput::Colour, None) => {
                    return Err(ApiError::BadRequest(format!(
                        "output=colour needs a multi-class model; '{}' has classes {}",
                        model.spec().id,
                        labels.join(", ")
                    )))
                }
                (SegmentOutput::Overlay, _) => {
                    (postprocess::encode_png_rgb(&overlay()?)?, "image/png")
                }
                (SegmentOutput::Mask, _) => (
                    postprocess::encode_png_gray(&seg.probs.mask_at(w, h, threshold))?,
                    "image/png",
                ),
                (SegmentOutput::Probability, _) => (
                    postprocess::encode_png_gray(&seg.probs.gray_at(w, h))?,
                    "image/png",
                ),
                (SegmentOutput::Json, _) => {
                    let fg = seg.probs.share_at(w, h, threshold);
                    let shares = match &seg.classes {
                        // Multi-class: the argmax map's shares, classes that occur, largest first.
                        Some(c) => c.shares(labels.len()),
                        None => vec![1.0 - fg, fg],
                    };
                    let mut classes: Vec<ClassShare> = labels
                        .iter()
                        .enumerate()
                        .map(|(id, label)| ClassShare {
                            id,
                            label: label.clone(),
                            share: shares.get(id).copied().unwrap_or(0.0),
                            colour: palette.get(id).copied().unwrap_or([255, 255, 255]),
                        })
                        .filter(|c| !multi_class || c.share > 0.0)
                        .collect();
                    if multi_class {
                        classes.sort_by(|a, b| b.share.total_cmp(&a.share));
                    }
                    let b64 = |png: Vec<u8>| {
                        format!(
                            "data:image/png;base64,{}",
                            base64::engine::general_purpose::STANDARD.encode(png)
                        )
                    };
                    let probability_png = if want_prob {
                        Some(b64(postprocess::encode_png_gray(&seg.probs.gray_at(w, h))?))
                    } else {
                        None
                    };
                    let image_png = if want_image {
                        Some(b64(postprocess::encode_png_rgb(img)?))
                    } else {
                        None
                    };
                    let overlay_png = if want_overlay {
                        Some(b64(postprocess::encode_png_rgb(&overlay()?)?))
                    } else {
                        None
                    };
                    let resp = SegmentResponse {
                        model: model.spec().id.clone(),
                        width: w,
                        height: h,
                        threshold,
                        classes,
                        // Filled in whole by `finish`, once the encoding time is known.
                        timings: StageTimings::default(),
                        probability_png,
                        image_png,
                        overlay_png,
                    };
                    (
                        serde_json::to_vec(&resp).map_err(|e| ApiError::Internal(e.to_string()))?,
                        "application/json",
                    )
                }
            };
            let encode_ms = t1.elapsed().as_secs_f64() * 1e3;
            let timings = StageTimings::of_run(decode_ms, engine_ms, &seg.timings, encode_ms);
            Ok((body, ctype, timings))
        })
        .await?;
    drop(lease);

    tracing::debug!(model = %model_id, ?output, "segmented");
    Ok(finish(body, ctype, &model_id, &timings, started))
}
