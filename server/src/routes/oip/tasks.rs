//! The tasks behind `POST /v2/models/{model_id}/infer`: the input tensor turned into what the
//! task core takes (an encoded image or pixels, or text), run by [`crate::tasks`] exactly as for
//! the `/api/v1` routes (admission, limits, deadline, memory budget), and the answer as output
//! tensors.

use std::time::Instant;

use base64::Engine;
use image::RgbImage;

use super::answer::{OutData, OutTensor};
use super::tensor::{bad, param_text, Data, Parameters, Tensor, IMAGE_INPUT, TEXT_INPUT};
use crate::error::ApiError;
use crate::ingress::budget::Lease;
use crate::ingress::params::number_in;
use crate::state::AppState;
use crate::tasks::classify::{self, parse_top_k};
use crate::tasks::detect::{self, DEFAULT_CONFIDENCE};
use crate::tasks::{reserve_output, segment, summarize, timings_of_run, ImageSource, Ran};
use api_types::StageTimings;

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

/// The image in an `image` input: an encoded file (binary, or base64 in JSON, where raw bytes
/// cannot go), or RGB pixels.
fn image_of(t: Tensor) -> Result<ImageSource, ApiError> {
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
                return Ok(ImageSource::Encoded(file));
            }
            let text = std::str::from_utf8(&file).unwrap_or_default();
            // A data URL's prefix is allowed; whitespace (line-wrapped base64) is skipped.
            let b64 = text.split_once(";base64,").map_or(text, |(_, b)| b);
            let b64: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(ImageSource::Encoded)
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
                .map(ImageSource::Pixels)
                .ok_or_else(|| {
                    bad(format!(
                        "input '{}': the pixels do not fill its shape",
                        t.name
                    ))
                })
        }
    }
}

/// What each task adapter below answers: output tensors, the stage timings (image tasks) and
/// the lease held until the answer is encoded. The image adapters share one signature on purpose
/// (`infer` dispatches on the task); what differs is the parameters and the tensors, while the
/// steps themselves (admit, decode, run) are [`crate::tasks`]'.
pub(super) type TaskAnswer = (Vec<OutTensor>, Option<StageTimings>, Lease);

pub(super) async fn segment(
    state: &AppState,
    id: &str,
    params: &Parameters,
    inputs: Vec<Tensor>,
    lease: Lease,
    started: Instant,
) -> Result<TaskAnswer, ApiError> {
    let (model, _) = state.segmenter(id)?;
    let threshold = number_in(
        param_text(params, "threshold").as_deref(),
        "threshold",
        0.0..=1.0,
        0.5,
    )?;
    let image = image_of(the_input(id, inputs, IMAGE_INPUT)?)?;
    // The mask is at the input's size (the output cap applies); the model needs only its own.
    let need = segment::need_for(&*model, false, 1);
    let segment::Segmented { model, mut ran } =
        segment::run(state, id, image, lease.into(), need, started).await?;
    reserve_output(&mut ran.lease, &ran.decoded, 1)?;
    let (w, h) = ran.decoded.original;
    let Ran {
        out: seg,
        lease,
        decode_ms,
        engine_ms,
        ..
    } = ran;
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
            let timings = timings_of_run(decode_ms, engine_ms, &seg.timings, encode_ms);
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
    let confidence = number_in(
        param_text(params, "confidence").as_deref(),
        "confidence",
        0.0..=1.0,
        DEFAULT_CONFIDENCE,
    )?;
    let image = image_of(the_input(id, inputs, IMAGE_INPUT)?)?;
    let ran = detect::run(state, id, image, lease.into(), confidence, false, started).await?;
    // Boxes in the input's own pixels.
    let n = ran.out.detections.len();
    let boxes = ran.out.detections.iter().flat_map(|d| d.bbox).collect();
    let outputs = vec![
        OutTensor {
            name: "boxes",
            shape: vec![n, 4],
            data: OutData::Fp32(boxes),
        },
        OutTensor {
            name: "scores",
            shape: vec![n],
            data: OutData::Fp32(ran.out.detections.iter().map(|d| d.score).collect()),
        },
        OutTensor {
            name: "labels",
            shape: vec![n],
            data: OutData::Bytes(ran.out.detections.iter().map(|d| d.label.clone()).collect()),
        },
    ];
    let timings = ran.timings(&ran.out.timings, 0.0);
    Ok((outputs, Some(timings), ran.lease))
}

pub(super) async fn classify(
    state: &AppState,
    id: &str,
    params: &Parameters,
    inputs: Vec<Tensor>,
    lease: Lease,
    started: Instant,
) -> Result<TaskAnswer, ApiError> {
    let (model, _) = state.classifier(id)?;
    let k = parse_top_k(
        param_text(params, "top_k").as_deref(),
        model.spec().labels.len(),
    )?;
    let image = image_of(the_input(id, inputs, IMAGE_INPUT)?)?;
    let done = classify::run(state, id, image, lease.into(), k, false, started).await?;
    let ranked = &done.top_k;
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
    let timings = done.ran.timings(&done.ran.out.timings, 0.0);
    Ok((outputs, Some(timings), done.ran.lease))
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
    let min = summarize::tokens_param(param_text(params, "min_tokens").as_deref(), "min_tokens")?;
    let max = summarize::tokens_param(param_text(params, "max_tokens").as_deref(), "max_tokens")?;
    let req = summarize::request(state, Some(text), min, max)?;
    let (summary, _) = summarize::run_to_end(state, engine, req, started).await?;
    Ok(vec![OutTensor {
        name: "summary",
        shape: vec![1],
        data: OutData::Bytes(vec![summary.text]),
    }])
}
