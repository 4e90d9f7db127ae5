//! The task core: each task computed in one place, whoever asks. The `/api/v1` and seed routes,
//! the Open Inference Protocol's `infer` and the no-JS result pages all come here with an
//! already-read input; what they do with the typed answer (JSON, PNG, JPEG, tensors, HTML) is
//! theirs.
//!
//! An image request's steps, in order, are in [`infer`]: a place in the model's queue first (a
//! request the model would refuse is never decoded), then the decode within the limits and the
//! memory budget, then the engine.

pub mod classify;
pub mod detect;
pub mod segment;
pub mod summarize;

use std::sync::Arc;
use std::time::Instant;

use api_types::StageTimings;
use axum::extract::Request;
use image::RgbImage;

use crate::error::ApiError;
use crate::ingress::budget::Lease;
use crate::ingress::decode::{Decoded, Need};
use crate::ingress::input::{read_image, refuse_unread, ImageRequest};
use crate::runtime::engine::{Engine, Place};
use crate::state::AppState;

/// What a request holds of the server's capacity on its way to a model: its memory lease and,
/// when taken before its body was read ([`AppState::hold_place`]), its place in that model's
/// queue.
pub struct Reserved {
    pub lease: Lease,
    pub place: Option<Place>,
}

impl From<Lease> for Reserved {
    fn from(lease: Lease) -> Self {
        Self { lease, place: None }
    }
}

/// Reads the request's image (upload or `image_url`) unless `early` (the route's checks before
/// the body, ending in [`AppState::hold_place`]) refused it: then the body is left unread
/// ([`refuse_unread`]). The place taken when the head arrived is kept for at most
/// `--upload-hold-ms`: a slow upload or fetch gives it back and is admitted (or refused) once
/// it is in, so slow clients cannot hold a model's queue from the requests behind them.
pub async fn read_holding(
    state: &AppState,
    req: Request,
    early: Result<Option<Place>, ApiError>,
) -> Result<(ImageRequest, Option<Place>), ApiError> {
    let place = match early {
        Ok(place) => place,
        Err(e) => return Err(refuse_unread(req, e)),
    };
    let read = read_image(state, req);
    tokio::pin!(read);
    let Some(place) = place else {
        return Ok((read.await?, None));
    };
    tokio::select! {
        input = &mut read => Ok((input?, Some(place))),
        _ = tokio::time::sleep(state.settings.upload_hold) => {
            drop(place);
            Ok((read.await?, None))
        }
    }
}

/// An image as a request carries it.
pub enum ImageSource {
    /// An encoded file (an upload, a fetched URL, an OIP BYTES tensor), decoded under the upload
    /// limits.
    Encoded(Vec<u8>),
    /// RGB pixels (an OIP UINT8 tensor), checked against the same size limits.
    Pixels(RgbImage),
}

/// One engine run on an image: the answer, the decoded image, the request's memory lease, and
/// the time decoding and the engine took.
pub struct Ran<O> {
    pub out: O,
    pub decoded: Decoded,
    pub lease: Lease,
    pub decode_ms: f64,
    pub engine_ms: f64,
}

impl<O> Ran<O> {
    /// The stages of this run, with `encode_ms` of the caller's own encoding counted as
    /// post-processing (see [`timings_of_run`]).
    pub fn timings(&self, model: &models::Timings, encode_ms: f64) -> StageTimings {
        timings_of_run(self.decode_ms, self.engine_ms, model, encode_ms)
    }
}

/// Admits (into the place `held`, if it is this engine's), decodes and runs one image on
/// `engine`; `input` makes the engine's input from the decoded pixels.
pub async fn infer<I: Send + 'static, O: Send + 'static>(
    state: &AppState,
    engine: &Engine<I, O>,
    image: ImageSource,
    held: Reserved,
    need: Need,
    input: impl FnOnce(Arc<RgbImage>) -> I,
    started: Instant,
) -> Result<Ran<O>, ApiError> {
    let ticket = engine.admit_with(held.place)?;
    let (decoded, lease, decode_ms) = decode(state, image, held.lease, need).await?;
    let t0 = Instant::now();
    let out = ticket
        .submit(input(decoded.img.clone()), state.deadline(started))
        .await?;
    Ok(Ran {
        out,
        decoded,
        lease,
        decode_ms,
        engine_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// The image as the model's queue wants it, within the same limits as an upload: an encoded file
/// through [`decode_image`] (415/422, the memory budget), pixels checked against the size
/// limits and shrunk as `need` allows. Returns the image, the lease and the time taken in ms.
pub async fn decode(
    state: &AppState,
    image: ImageSource,
    lease: Lease,
    need: Need,
) -> Result<(Decoded, Lease, f64), ApiError> {
    let img = match image {
        ImageSource::Encoded(bytes) => return decode_image(state, bytes, lease, need).await,
        ImageSource::Pixels(img) => img,
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

/// Decodes an upload on a blocking thread, within the limits (415 / 422) and the memory budget
/// (503): the header is checked, the decode's peak is reserved on `lease`, and once decoded the
/// lease keeps only the pixels. With `need.cover` the image comes back shrunk to what the model
/// uses. Returns the image, the lease, and the time decoding took in milliseconds.
pub async fn decode_image(
    state: &AppState,
    bytes: Vec<u8>,
    mut lease: Lease,
    need: Need,
) -> Result<(Decoded, Lease, f64), ApiError> {
    let limits = state.limits.clone();
    state
        .cpu
        .run(move || {
            let t0 = std::time::Instant::now();
            let header = crate::ingress::decode::inspect(&bytes, &limits, need)?;
            lease.grow(header.peak_bytes(), "decode")?;
            let decoded = crate::ingress::decode::decode(&bytes, &header, need)?;
            drop(bytes);
            lease.shrink_to(decoded.img.as_raw().len() as u64);
            Ok((decoded, lease, t0.elapsed().as_secs_f64() * 1e3))
        })
        .await
}

/// Reserves memory for an answer that carries images at the upload's size: `images` of them,
/// about 8 bytes a pixel each (the pixels, a mask, the encoded file).
pub fn reserve_output(lease: &mut Lease, decoded: &Decoded, images: u64) -> Result<(), ApiError> {
    let (w, h) = decoded.original;
    lease.grow(w as u64 * h as u64 * 8 * images, "output")
}

/// The stages of one run: decoding, the model's own split, and the caller's encoding
/// (`encode_ms`, counted as post-processing). The total is filled in when the answer is sent.
/// `engine_ms` is the whole wait for the engine's answer; the model's own stages are taken
/// out of it, leaving the time queued.
pub fn timings_of_run(
    decode_ms: f64,
    engine_ms: f64,
    model: &models::Timings,
    encode_ms: f64,
) -> StageTimings {
    let model_ms = model.preprocess_ms + model.inference_ms + model.postprocess_ms;
    StageTimings {
        queue_ms: (engine_ms - model_ms).max(0.0),
        decode_ms,
        preprocess_ms: model.preprocess_ms,
        inference_ms: model.inference_ms,
        postprocess_ms: model.postprocess_ms + encode_ms,
        total_ms: 0.0,
    }
}

/// An image as a `data:image/png;base64,...` URL, for JSON answers that carry the input back.
pub fn png_data_url(img: &RgbImage) -> Result<String, ApiError> {
    use base64::Engine;
    let png = models::image::postprocess::encode_png_rgb(img)?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}
