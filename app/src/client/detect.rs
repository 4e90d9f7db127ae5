//! Detection page: one request per input/model, then boxes and labels drawn over the decoded
//! original on `#detect-canvas`. The confidence slider only calls [`redraw`].

use std::cell::RefCell;

use leptos::prelude::*;
use web_sys::{CanvasRenderingContext2d, HtmlImageElement};

use super::{draw_image, js_err, load_image, post_image, resolve, spawn_run, Source};
use crate::dto::{above, class_colour, DetectResponse};
use crate::pages::common::{Pick, RunInfo};
use crate::pages::detect::DetectCtx;

thread_local! {
    static IMAGE: RefCell<Option<HtmlImageElement>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: DetectCtx, pick: Pick) {
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

async fn run(ctx: DetectCtx, src: Source) -> Result<(), String> {
    let model = ctx.model.get_untracked();
    let url = format!("/api/v1/detect/{model}?include=image");
    let (out, round_trip_ms): (DetectResponse, f64) = post_image(&url, &src).await?;
    let img = load_image(out.image_png.as_deref().ok_or("no image in the answer")?).await?;
    IMAGE.with(|i| *i.borrow_mut() = Some(img));
    ctx.detections.set(out.detections);
    ctx.info.set(Some(RunInfo {
        model: out.model,
        width: out.width,
        height: out.height,
        inference_ms: out.timings.inference_ms,
        server_ms: out.timings.total_ms,
        round_trip_ms,
    }));
    Ok(())
}

/// Draws the kept image and the boxes at or above the current confidence.
pub fn redraw(ctx: DetectCtx) {
    let result = IMAGE.with(|i| {
        let i = i.borrow();
        let Some(img) = i.as_ref() else {
            return Ok(());
        };
        let cx = draw_image("detect-canvas", img)?;
        let w = img.natural_width() as f64;
        let shown = ctx
            .detections
            .with_untracked(|d| above(d, ctx.confidence.get_untracked()));
        // Weakest first, so the strongest boxes and labels end up on top.
        for d in shown.iter().rev() {
            draw_box(&cx, d, w)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        ctx.error.set(Some(e));
    }
}

fn draw_box(
    cx: &CanvasRenderingContext2d,
    d: &crate::dto::Detection,
    image_width: f64,
) -> Result<(), String> {
    let [r, g, b] = class_colour(d.class_index);
    let colour = format!("rgb({r},{g},{b})");
    let [x, y, bw, bh] = d.bbox.map(f64::from);
    let line = (image_width / 250.0).clamp(2.0, 8.0);
    let font = (image_width / 40.0).clamp(12.0, 36.0).round();
    cx.set_line_width(line);
    cx.set_stroke_style_str(&colour);
    cx.stroke_rect(x, y, bw, bh);
    let text = format!("{} {:.0}%", d.label, d.score * 100.0);
    cx.set_font(&format!("600 {font}px system-ui, sans-serif"));
    let tw = cx.measure_text(&text).map_err(js_err)?.width();
    let pad = (font / 4.0).round();
    let th = font + 2.0 * pad;
    // The label sits above the box, or inside its top when the box touches the top edge.
    let ty = if y - th >= 0.0 { y - th } else { y };
    cx.set_fill_style_str(&colour);
    cx.fill_rect(x - line / 2.0, ty, tw + 2.0 * pad, th);
    // Dark text on the light palette colours, white on the dark ones.
    let luma = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
    cx.set_fill_style_str(if luma > 140.0 { "#000" } else { "#fff" });
    cx.set_text_baseline("top");
    cx.fill_text(&text, x - line / 2.0 + pad, ty + pad)
        .map_err(js_err)
}
