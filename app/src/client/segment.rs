//! Segmentation page: decodes the returned image and probability PNGs into pixel buffers and
//! blends the overlay on a canvas. Re-thresholding reads the buffers kept here, so slider moves
//! never touch the network.

use std::cell::RefCell;

use leptos::prelude::*;
use wasm_bindgen::Clamped;
use web_sys::ImageData;

use super::{canvas, js_err, load_pixels, post_image, resolve, spawn_run, Source};
use crate::dto::SegmentResponse;
use crate::pages::common::Pick;
use crate::pages::segment::{PageCtx, RunInfo};

/// Person tint, Okabe–Ito orange (matches the server's overlay).
const TINT: [f64; 3] = [230.0, 159.0, 0.0];

/// The last input and result: original RGBA and the probability (0..255) per pixel.
struct Frame {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
    prob: Vec<u8>,
}

thread_local! {
    static FRAME: RefCell<Option<Frame>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: PageCtx, pick: Pick) {
    match resolve(pick, &LAST) {
        Ok(Some(src)) => spawn_run(ctx.busy, ctx.error, async move {
            run(ctx, src).await?;
            redraw(ctx);
            Ok(())
        }),
        Ok(None) => {}
        Err(e) => ctx.error.set(Some(e)),
    }
}

async fn run(ctx: PageCtx, src: Source) -> Result<(), String> {
    let model = ctx.model.get_untracked();
    let url = format!("/api/v1/segment/{model}?output=json&include=probability,image");
    let (out, round_trip_ms): (SegmentResponse, f64) = post_image(&url, &src).await?;
    let image = load_pixels(out.image_png.as_deref().ok_or("no image in the answer")?).await?;
    let prob = load_pixels(
        out.probability_png
            .as_deref()
            .ok_or("no probability map in the answer")?,
    )
    .await?;
    let frame = Frame {
        width: out.width,
        height: out.height,
        prob: prob.2.chunks_exact(4).map(|p| p[0]).collect(),
        rgba: image.2,
    };
    if frame.prob.len() != (frame.width * frame.height) as usize
        || (image.0, image.1) != (out.width, out.height)
    {
        return Err("The image and the probability map differ in size.".into());
    }
    put(&frame.rgba, frame.width, frame.height, "original-canvas")?;
    FRAME.with(|f| *f.borrow_mut() = Some(frame));
    ctx.info.set(Some(RunInfo {
        model: out.model,
        width: out.width,
        height: out.height,
        person_share: out
            .classes
            .iter()
            .find(|c| c.label == "person")
            .map(|c| c.share)
            .unwrap_or(0.0),
        inference_ms: out.timings.inference_ms,
        server_ms: out.timings.total_ms,
        round_trip_ms,
    }));
    Ok(())
}

fn put(rgba: &[u8], w: u32, h: u32, id: &str) -> Result<(), String> {
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w, h).map_err(js_err)?;
    canvas(id, w, h)?
        .put_image_data(&data, 0.0, 0.0)
        .map_err(js_err)
}

/// Blends the overlay from the kept buffers with the current threshold and opacity.
pub fn redraw(ctx: PageCtx) {
    let threshold = (ctx.threshold.get_untracked() * 255.0).round() as u8;
    let alpha = ctx.opacity.get_untracked();
    let result = FRAME.with(|f| {
        let f = f.borrow();
        let Some(frame) = f.as_ref() else {
            return Ok(());
        };
        let mut out = frame.rgba.clone();
        for (px, &p) in out.chunks_exact_mut(4).zip(&frame.prob) {
            if p >= threshold {
                for c in 0..3 {
                    px[c] = (px[c] as f64 * (1.0 - alpha) + TINT[c] * alpha).round() as u8;
                }
            }
        }
        put(&out, frame.width, frame.height, "overlay-canvas")
    });
    if let Err(e) = result {
        ctx.error.set(Some(e));
    }
}
