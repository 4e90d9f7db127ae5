//! Detection page: one request per input/model, then boxes and labels drawn over the decoded
//! original on `#detect-canvas`. The confidence slider and hovering only call [`redraw`].

use std::cell::RefCell;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};

use super::state::DetectCtx;
use crate::browser::js::js_err;
use crate::browser::{
    download_answer, download_canvas, draw_image, embedded, load_image, post_image, record,
    run_pick, Source,
};
use crate::dto::{above, class_colour, Detection};
use crate::server_fns::detect_image;
use crate::widgets::failure::Failure;
use crate::widgets::pick::Pick;
use crate::widgets::run::{RunInfo, RunState};

thread_local! {
    static IMAGE: RefCell<Option<HtmlImageElement>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: DetectCtx, pick: Pick) {
    run_pick(
        pick,
        &LAST,
        ctx.body_limit_bytes,
        ctx.run,
        |src| async move {
            let (img, dets) = fetch(&ctx.model.get_untracked(), &src, ctx.run).await?;
            IMAGE.with(|i| *i.borrow_mut() = Some(img));
            ctx.hover.set(None);
            ctx.detections.set(dets);
            redraw(ctx);
            Ok(())
        },
    );
}

/// Runs `model` on `src`: the decoded original and every box; records the run in `run`.
// The image pages' fetches share their steps (post, embedded image, run record): each answer
// type is its own, alike only in field names, so these lines repeat instead of going through a
// trait the bundle would pay for.
pub async fn fetch(
    model: &str,
    src: &Source,
    run: RunState,
) -> Result<(HtmlImageElement, Vec<Detection>), Failure> {
    let query = format!("model={model}&include=image");
    let ans = post_image(detect_image, query, src).await?;
    let out = ans.body;
    let img = load_image(embedded(&out.image_png, "image")?).await?;
    let info = RunInfo::new(
        out.model,
        out.width,
        out.height,
        out.timings,
        ans.round_trip_ms,
    );
    record(run, src, info, ans.raw);
    Ok((img, out.detections))
}

/// Draws the kept image and the boxes at or above the current confidence, the hovered one
/// emphasised and the others faded.
pub fn redraw(ctx: DetectCtx) {
    let result = IMAGE.with(|i| {
        let i = i.borrow();
        let Some(img) = i.as_ref() else {
            return Ok(());
        };
        let shown = ctx
            .detections
            .with_untracked(|d| above(d, ctx.confidence.get_untracked()));
        draw_boxes("detect-canvas", img, &shown, ctx.hover.get_untracked())
    });
    if let Err(e) = result {
        ctx.run.fail(e);
    }
}

/// Draws `img` and `shown` (best first) on the canvas `id`; with `hover`, that box on top and
/// thicker, the rest faded.
pub fn draw_boxes(
    id: &str,
    img: &HtmlImageElement,
    shown: &[Detection],
    hover: Option<usize>,
) -> Result<(), String> {
    let cx = draw_image(id, img)?;
    let w = img.natural_width() as f64;
    // Weakest first, so the strongest boxes and labels end up on top.
    for (i, d) in shown.iter().enumerate().rev() {
        if hover != Some(i) {
            cx.set_global_alpha(if hover.is_some() { 0.3 } else { 1.0 });
            draw_box(&cx, d, w, false)?;
        }
    }
    cx.set_global_alpha(1.0);
    if let Some(d) = hover.and_then(|i| shown.get(i)) {
        draw_box(&cx, d, w, true)?;
    }
    Ok(())
}

/// The index (among the boxes shown) of the smallest box under the mouse.
pub fn box_at(ctx: DetectCtx, ev: &web_sys::MouseEvent) -> Option<usize> {
    // `target`, not `current_target`: Leptos delegates mouse events to the document.
    let canvas: HtmlCanvasElement = ev.target()?.dyn_into().ok()?;
    let rect = canvas.get_bounding_client_rect();
    if rect.width() <= 0.0 {
        return None;
    }
    let scale = canvas.width() as f64 / rect.width();
    let x = (ev.client_x() as f64 - rect.left()) * scale;
    let y = (ev.client_y() as f64 - rect.top()) * scale;
    let shown = ctx
        .detections
        .with_untracked(|d| above(d, ctx.confidence.get_untracked()));
    shown
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            let [bx, by, bw, bh] = d.bbox.map(f64::from);
            x >= bx && x <= bx + bw && y >= by && y <= by + bh
        })
        .min_by(|a, b| (a.1.bbox[2] * a.1.bbox[3]).total_cmp(&(b.1.bbox[2] * b.1.bbox[3])))
        .map(|(i, _)| i)
}

/// Saves the annotated image as drawn, or the last JSON answer.
pub fn download(ctx: DetectCtx, what: &str) {
    let model = ctx.model.get_untracked();
    if what != "image" {
        return download_answer(ctx.run, &model);
    }
    if let Err(e) = download_canvas("detect-canvas", &format!("{model}-boxes.png")) {
        ctx.run.fail(e);
    }
}

fn draw_box(
    cx: &CanvasRenderingContext2d,
    d: &Detection,
    image_width: f64,
    emphasis: bool,
) -> Result<(), String> {
    let [r, g, b] = class_colour(d.class_index);
    let colour = format!("rgb({r},{g},{b})");
    let [x, y, bw, bh] = d.bbox.map(f64::from);
    let line = (image_width / 250.0).clamp(2.0, 8.0) * if emphasis { 2.0 } else { 1.0 };
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
