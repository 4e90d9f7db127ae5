//! The tasks behind `POST /v2/models/{model_id}/infer`: the input tensor turned into what the
//! model's engine takes (an image decoded under the upload limits, or text), run on the same
//! engine with the same admission, deadline and memory budget as the `/api/v1` routes, and the
//! answer as output tensors.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use image::RgbImage;

use super::tensor::{param_text, Data, OutData, OutTensor, Parameters, Tensor};
use super::{bad, IMAGE_INPUT, TEXT_INPUT};
use crate::api::{decode_image, number_in, StageTimings};
use crate::budget::Lease;
use crate::decode::{Decoded, Need};
use crate::error::ApiError;
use crate::AppState;

/// The one input a model takes, by its name.
fn the_input(model: &str, inputs: Vec<Tensor>, name: &str) -> Result<Tensor, ApiError> {
    let n = inputs.len();
    let mut it = inputs.into_iter();
    match (it.next(), it.next()) {
        (Some(t), None) if t.name == name => Ok(t),
        (Some(t), None) => Err(bad(format!(
            "model '{model}' has no input '{}'; its input is '{name}'",
            t.name
        ))),
        _ => Err(bad(format!(
            "model '{model}' takes one input, '{name}'; the request has {n}"
        ))),
    }
}

enum ImageInput {
    /// An encoded file, decoded under the upload limits.
    Encoded(Vec<u8>),
    Pixels(RgbImage),
}

/// The image in an `image` input: an encoded file (binary, or base64 in JSON, where raw bytes
/// cannot go), or RGB pixels.
fn image_of(t: Tensor) -> Result<ImageInput, ApiError> {
    match t.data {
        Data::Bytes(elements) => {
            let [file]: [Vec<u8>; 1] = elements.try_into().map_err(|e: Vec<Vec<u8>>| {
                bad(format!(
                    "input '{}' holds {} elements; send one image per request",
                    t.name,
                    e.len()
                ))
            })?;
            if t.binary {
                return Ok(ImageInput::Encoded(file));
            }
            let text = std::str::from_utf8(&file).unwrap_or_default();
            // A data URL's prefix is allowed; whitespace (line-wrapped base64) is skipped.
            let b64 = text.split_once(";base64,").map_or(text, |(_, b)| b);
            let b64: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(ImageInput::Encoded)
                .map_err(|e| {
                    bad(format!(
                        "input '{}': in JSON an image is its encoded file as base64 ({e}); or send it as binary data",
                        t.name
                    ))
                })
        }
        Data::Uint8(pixels) => {
            let (h, w) = match t.shape[..] {
                [h, w, 3] | [1, h, w, 3] => (h, w),
                _ => {
                    return Err(bad(format!(
                        "input '{}' is UINT8: its shape must be [H, W, 3] or [1, H, W, 3] (RGB), not {:?}",
                        t.name, t.shape
                    )))
                }
            };
            let side = |v: usize| {
                u32::try_from(v)
                    .map_err(|_| bad(format!("input '{}': {v} pixels is too many", t.name)))
            };
            RgbImage::from_raw(side(w)?, side(h)?, pixels)
                .map(ImageInput::Pixels)
                .ok_or_else(|| {
                    bad(format!(
                        "input '{}': the pixels do not fill its shape",
                        t.name
                    ))
                })
        }
    }
}

/// The image as the model's queue wants it, within the same limits as an upload: an encoded file
/// through [`decode_image`] (415/422, the memory budget), pixels checked against the size
/// limits and shrunk as `need` allows. Returns the image, the lease and the time taken in ms.
async fn decode_input(
    state: &AppState,
    input: ImageInput,
    lease: Lease,
    need: Need,
) -> Result<(Decoded, Lease, f64), ApiError> {
    let img = match input {
        ImageInput::Encoded(bytes) => return decode_image(state, bytes, lease, need).await,
        ImageInput::Pixels(img) => img,
    };
    let limits = state.limits.clone();
    let mut lease = lease;
    state
        .cpu
        .run(move || {
            let t0 = Instant::now();
            let (w, h) = img.dimensions();
            limits.check_size(w, h, need.output_at_size)?;
            let img = match need.cover {
                Some((mw, mh)) => {
                    let (cw, ch) = models::image::preprocess::cover_size(w, h, mw, mh);
                    if (cw, ch) == (w, h) {
                        img
                    } else {
                        models::image::preprocess::resize(
                            &img,
                            cw,
                            ch,
                            models::image::preprocess::Filter::Bilinear,
                            None,
                        )
                    }
                }
                None => img,
            };
            lease.shrink_to(img.as_raw().len() as u64);
            let decoded = Decoded {
                img: Arc::new(img),
                original: (w, h),
            };
            Ok((decoded, lease, t0.elapsed().as_secs_f64() * 1e3))
        })
        .await
}

pub(super) type TaskAnswer = (Vec<OutTensor>, Option<StageTimings>, Lease);

pub(super) async fn segment(
    state: &AppState,
    id: &str,
    params: &Parameters,
    inputs: Vec<Tensor>,
    lease: Lease,
    started: Instant,
) -> Result<TaskAnswer, ApiError> {
    let (model, engine) = state.segmenter(id)?;
    let threshold = number_in(
        param_text(params, "threshold").as_deref(),
        "threshold",
        0.0..=1.0,
        0.5,
    )?;
    let image = image_of(the_input(id, inputs, IMAGE_INPUT)?)?;
    // The mask is at the input's size (the output cap applies); the model needs only its own.
    let need = Need {
        cover: Some(models::image::preprocess::cover_for(
            model.spec().image_input(),
        )),
        output_at_size: true,
    };
    let ticket = engine.admit()?;
    let (decoded, mut lease, decode_ms) = decode_input(state, image, lease, need).await?;
    let t0 = Instant::now();
    let seg = ticket
        .submit(decoded.img.clone(), state.deadline(started))
        .await?;
    let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
    crate::api::reserve_output(&mut lease, &decoded, 1)?;
    let (w, h) = decoded.original;
    drop(decoded);
    let labels = model.spec().labels.clone();
    state
        .cpu
        .run(move || {
            let t1 = Instant::now();
            // Made row by row from the model-sized maps, as the /api/v1 masks are.
            let mut mask = Vec::with_capacity(w as usize * h as usize);
            match &seg.classes {
                // No catalog model has more than 255 classes; a larger id would read as 255.
                Some(c) => c.rows_at(w, h, |_, row| {
                    mask.extend(row.iter().map(|&i| u8::try_from(i).unwrap_or(u8::MAX)))
                }),
                None => seg.probs.rows_at(w, h, |_, row| {
                    mask.extend(row.iter().map(|&p| u8::from(p >= threshold)))
                }),
            }
            let mut counts = vec![0u64; labels.len()];
            for &m in &mask {
                if let Some(c) = counts.get_mut(m as usize) {
                    *c += 1;
                }
            }
            let total = mask.len().max(1) as f32;
            let shares = counts.iter().map(|&c| c as f32 / total).collect();
            let n = labels.len();
            let outputs = vec![
                OutTensor {
                    name: "mask",
                    shape: vec![h as usize, w as usize],
                    data: OutData::Uint8(mask),
                },
                OutTensor {
                    name: "shares",
                    shape: vec![n],
                    data: OutData::Fp32(shares),
                },
                OutTensor {
                    name: "labels",
                    shape: vec![n],
                    data: OutData::Bytes(labels),
                },
            ];
            let encode_ms = t1.elapsed().as_secs_f64() * 1e3;
            let timings = StageTimings::of_run(decode_ms, engine_ms, &seg.timings, encode_ms);
            Ok((outputs, Some(timings), lease))
        })
        .await
}

pub(super) async fn detect(
    state: &AppState,
    id: &str,
    params: &Parameters,
    inputs: Vec<Tensor>,
    lease: Lease,
    started: Instant,
) -> Result<TaskAnswer, ApiError> {
    let (model, engine) = state.detector(id)?;
    let confidence = number_in(
        param_text(params, "confidence").as_deref(),
        "confidence",
        0.0..=1.0,
        crate::api::detect::DEFAULT_CONFIDENCE,
    )?;
    let image = image_of(the_input(id, inputs, IMAGE_INPUT)?)?;
    let need = Need::model_input_of(model.spec().image_input());
    let ticket = engine.admit()?;
    let (decoded, lease, decode_ms) = decode_input(state, image, lease, need).await?;
    let t0 = Instant::now();
    let out = ticket
        .submit((decoded.img.clone(), confidence), state.deadline(started))
        .await?;
    let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
    // Boxes in the input's own pixels.
    let (sx, sy) = decoded.scale_to_original();
    let n = out.detections.len();
    let boxes = out
        .detections
        .iter()
        .flat_map(|d| {
            [
                d.bbox[0] * sx,
                d.bbox[1] * sy,
                d.bbox[2] * sx,
                d.bbox[3] * sy,
            ]
        })
        .collect();
    let outputs = vec![
        OutTensor {
            name: "boxes",
            shape: vec![n, 4],
            data: OutData::Fp32(boxes),
        },
        OutTensor {
            name: "scores",
            shape: vec![n],
            data: OutData::Fp32(out.detections.iter().map(|d| d.score).collect()),
        },
        OutTensor {
            name: "labels",
            shape: vec![n],
            data: OutData::Bytes(out.detections.iter().map(|d| d.label.clone()).collect()),
        },
    ];
    let timings = StageTimings::of_run(decode_ms, engine_ms, &out.timings, 0.0);
    Ok((outputs, Some(timings), lease))
}

pub(super) async fn classify(
    state: &AppState,
    id: &str,
    params: &Parameters,
    inputs: Vec<Tensor>,
    lease: Lease,
    started: Instant,
) -> Result<TaskAnswer, ApiError> {
    let (model, engine) = state.classifier(id)?;
    let classes = model.spec().labels.len();
    let k = match param_text(params, "top_k") {
        None => crate::api::classify::DEFAULT_TOP_K.min(classes),
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(k) if (1..=classes).contains(&k) => k,
            _ => {
                return Err(bad(format!(
                    "top_k must be a whole number within 1..{classes}, got '{raw}'"
                )))
            }
        },
    };
    let image = image_of(the_input(id, inputs, IMAGE_INPUT)?)?;
    let need = Need::model_input_of(model.spec().image_input());
    let ticket = engine.admit()?;
    let (decoded, lease, decode_ms) = decode_input(state, image, lease, need).await?;
    let t0 = Instant::now();
    let out = ticket
        .submit(decoded.img.clone(), state.deadline(started))
        .await?;
    let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
    let ranked = models::classify::top_k(&out.probs, &model.spec().labels, k);
    let outputs = vec![
        OutTensor {
            name: "labels",
            shape: vec![ranked.len()],
            data: OutData::Bytes(ranked.iter().map(|r| r.label.clone()).collect()),
        },
        OutTensor {
            name: "probabilities",
            shape: vec![ranked.len()],
            data: OutData::Fp32(ranked.iter().map(|r| r.probability).collect()),
        },
    ];
    let timings = StageTimings::of_run(decode_ms, engine_ms, &out.timings, 0.0);
    Ok((outputs, Some(timings), lease))
}

pub(super) async fn summarize(
    state: &AppState,
    id: &str,
    params: &Parameters,
    inputs: Vec<Tensor>,
    started: Instant,
) -> Result<Vec<OutTensor>, ApiError> {
    let (_, engine) = state.summarizer(id)?;
    let t = the_input(id, inputs, TEXT_INPUT)?;
    let text = match t.data {
        Data::Bytes(elements) => {
            let [text]: [Vec<u8>; 1] = elements.try_into().map_err(|e: Vec<Vec<u8>>| {
                bad(format!(
                    "input '{TEXT_INPUT}' holds {} elements; send one text per request",
                    e.len()
                ))
            })?;
            String::from_utf8(text)
                .map_err(|_| bad(format!("input '{TEXT_INPUT}' is not UTF-8 text")))?
        }
        Data::Uint8(_) => {
            return Err(bad(format!(
                "input '{TEXT_INPUT}' must be BYTES (UTF-8 text), not UINT8"
            )))
        }
    };
    let min = crate::api::summarize::tokens_param(
        param_text(params, "min_tokens").as_deref(),
        "min_tokens",
    )?;
    let max = crate::api::summarize::tokens_param(
        param_text(params, "max_tokens").as_deref(),
        "max_tokens",
    )?;
    let req = crate::api::summarize::request(state, Some(text), min, max)?;
    let (summary, _) = crate::api::summarize::run_to_end(state, engine, req, started).await?;
    Ok(vec![OutTensor {
        name: "summary",
        shape: vec![1],
        data: OutData::Bytes(vec![summary.text]),
    }])
}
