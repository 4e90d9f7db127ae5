//! Segmentation page: decodes the returned image and probability PNGs into pixel buffers and
//! blends the overlay on a canvas. Re-thresholding, the legend's shares and the mask download
//! read the buffers kept here, so none of them touch the network.

use std::cell::RefCell;

use leptos::prelude::*;

use super::pixels::{blend, level, mask, share, spotlight, TINT};
use super::state::{LegendEntry, SegmentCtx};
use crate::browser::js::js_err;
use crate::browser::{
    download_answer, download_canvas, download_url, embedded, load_pixels, post_image, put_pixels,
    record, run_pick, scratch_canvas, Source,
};
use crate::dto::ClassShare;
use crate::server_fns::segment_image;
use crate::widgets::failure::Failure;
use crate::widgets::pick::Pick;
use crate::widgets::run::{RunInfo, RunState};

/// The last input and result: original RGBA, the probability (0..255) per pixel, the classes.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    pub prob: Vec<u8>,
    pub classes: Vec<ClassShare>,
}

thread_local! {
    static FRAME: RefCell<Option<Frame>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: SegmentCtx, pick: Pick) {
    run_pick(
        pick,
        &LAST,
        ctx.body_limit_bytes,
        ctx.run,
        |src| async move {
            let frame = fetch_frame(&ctx.model.get_untracked(), &src, ctx.run).await?;
            put_pixels(&frame.rgba, frame.width, frame.height, "original-canvas")?;
            FRAME.with(|f| *f.borrow_mut() = Some(frame));
            redraw(ctx);
            Ok(())
        },
    );
}

/// Runs `model` on `src` and decodes the answer's PNGs; records the run in `run`.
// The image pages' fetches share their steps (post, embedded image, run record): each answer
// type is its own, alike only in field names, so these lines repeat instead of going through a
// trait the bundle would pay for.
pub async fn fetch_frame(model: &str, src: &Source, run: RunState) -> Result<Frame, Failure> {
    let query = format!("model={model}&output=json&include=probability,image");
    let ans = post_image(segment_image, query, src).await?;
    let out = ans.body;
    let image = load_pixels(embedded(&out.image_png, "image")?).await?;
    let prob = load_pixels(embedded(&out.probability_png, "probability map")?).await?;
    let frame = Frame {
        width: out.width,
        height: out.height,
        prob: prob.2.chunks_exact(4).map(|p| p[0]).collect(),
        rgba: image.2,
        classes: out.classes,
    };
    if frame.prob.len() != (frame.width * frame.height) as usize
        || (image.0, image.1) != (out.width, out.height)
    {
        return Err("The image and the probability map differ in size.".into());
    }
    let info = RunInfo::new(
        out.model,
        out.width,
        out.height,
        out.timings,
        ans.round_trip_ms,
    );
    record(run, src, info, ans.raw);
    Ok(frame)
}

/// The legend at `threshold`: for person models the live share above it (and the rest as
/// background); for multi-class models the server's classes and shares.
pub fn legend(frame: &Frame, threshold: u8) -> Vec<LegendEntry> {
    if frame.classes.iter().any(|c| c.label == "person") || frame.classes.is_empty() {
        let person = share(&frame.prob, threshold);
        return vec![
            LegendEntry {
                label: "person".into(),
                colour: Some(TINT),
                share: person,
            },
            LegendEntry {
                label: "background".into(),
                colour: None,
                share: 1.0 - person,
            },
        ];
    }
    frame
        .classes
        .iter()
        .map(|c| LegendEntry {
            label: c.label.clone(),
            colour: c.colour,
            share: c.share,
        })
        .collect()
}

/// Blends the overlay from the kept buffers with the current threshold and opacity (dimming
/// all but the hovered legend entry's pixels), and updates the legend's shares.
pub fn redraw(ctx: SegmentCtx) {
    let threshold = level(ctx.threshold.get_untracked());
    let alpha = ctx.opacity.get_untracked();
    let result = FRAME.with(|f| {
        let f = f.borrow();
        let Some(frame) = f.as_ref() else {
            return Ok(());
        };
        let entries = legend(frame, threshold);
        let binary = entries.first().is_some_and(|e| e.label == "person");
        // Unchanged rows are not re-rendered, so the hovered or focused row stays put.
        if ctx.legend.with_untracked(|l| *l != entries) {
            ctx.legend.set(entries);
        }
        let mut out = blend(&frame.rgba, &frame.prob, threshold, alpha, TINT);
        // A hovered or focused legend row: person models know each pixel's class here.
        if let (Some(row), true) = (ctx.highlight.get_untracked(), binary) {
            spotlight(&mut out, &frame.prob, threshold, row == 0, 0.3);
        }
        put_pixels(&out, frame.width, frame.height, "overlay-canvas")
    });
    if let Err(e) = result {
        ctx.run.fail(e);
    }
}

/// Saves the mask at the current threshold, the overlay as drawn, or the last JSON answer.
pub fn download(ctx: SegmentCtx, what: &str) {
    let model = ctx.model.get_untracked();
    let result = match what {
        "mask" => FRAME.with(|f| {
            let f = f.borrow();
            let Some(frame) = f.as_ref() else {
                return Ok(());
            };
            let px = mask(&frame.prob, level(ctx.threshold.get_untracked()));
            let canvas = scratch_canvas(&px, frame.width, frame.height)?;
            download_url(
                &canvas.to_data_url().map_err(js_err)?,
                &format!("{model}-mask.png"),
            )
        }),
        "overlay" => download_canvas("overlay-canvas", &format!("{model}-overlay.png")),
        _ => return download_answer(ctx.run, &model),
    };
    if let Err(e) = result {
        ctx.run.fail(e);
    }
}
