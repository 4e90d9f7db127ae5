//! Browser-only code: sending the image to the API, decoding the returned PNGs into pixel
//! buffers, and blending the overlay on a canvas. Re-thresholding reads the buffers kept here,
//! so slider moves never touch the network.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, File, FormData, HtmlCanvasElement, HtmlImageElement,
    HtmlInputElement, ImageData, RequestInit,
};

use crate::dto::{ErrorBody, SegmentResponse};
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

#[derive(Clone)]
enum Source {
    File(File),
    Url(String),
}

thread_local! {
    static FRAME: RefCell<Option<Frame>> = const { RefCell::new(None) };
    static SOURCE: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn file_chosen(ctx: PageCtx, ev: leptos::ev::Event) {
    let input: HtmlInputElement = ev.target().expect("change has a target").unchecked_into();
    if let Some(file) = input.files().and_then(|f| f.get(0)) {
        start(ctx, Source::File(file));
    }
}

pub fn file_dropped(ctx: PageCtx, ev: leptos::ev::DragEvent) {
    if let Some(file) = ev
        .data_transfer()
        .and_then(|dt| dt.files())
        .and_then(|f| f.get(0))
    {
        start(ctx, Source::File(file));
    }
}

pub fn url_submitted(ctx: PageCtx, url: String) {
    let url = url.trim().to_string();
    if url.is_empty() {
        ctx.error.set(Some("Paste an image URL first.".into()));
        return;
    }
    start(ctx, Source::Url(url));
}

/// Runs again on the last input (model switch, submit button).
pub fn rerun(ctx: PageCtx) {
    if let Some(src) = SOURCE.with(|s| s.borrow().clone()) {
        start(ctx, src);
    }
}

fn start(ctx: PageCtx, src: Source) {
    SOURCE.with(|s| *s.borrow_mut() = Some(src.clone()));
    ctx.busy.set(true);
    ctx.error.set(None);
    spawn_local(async move {
        let result = run(ctx, src).await;
        ctx.busy.set(false);
        match result {
            Ok(()) => redraw(ctx),
            Err(msg) => ctx.error.set(Some(msg)),
        }
    });
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn run(ctx: PageCtx, src: Source) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let model = ctx.model.get_untracked();
    let url = format!("/api/v1/segment/{model}?output=json&include=probability,image");
    let init = RequestInit::new();
    init.set_method("POST");
    match &src {
        Source::File(file) => {
            let form = FormData::new().map_err(js_err)?;
            form.append_with_blob_and_filename("file", file, &file.name())
                .map_err(js_err)?;
            init.set_body(&form);
        }
        Source::Url(u) => {
            let headers = web_sys::Headers::new().map_err(js_err)?;
            headers
                .set("content-type", "application/json")
                .map_err(js_err)?;
            init.set_headers(&headers);
            let body = serde_json::json!({ "image_url": u }).to_string();
            init.set_body(&JsValue::from_str(&body));
        }
    }
    let perf = window.performance();
    let t0 = perf.as_ref().map(|p| p.now()).unwrap_or(0.0);
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(|e| format!("The request failed: {}", js_err(e)))?
        .unchecked_into();
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .unwrap_or_default();
    let t1 = perf.as_ref().map(|p| p.now()).unwrap_or(0.0);
    if !resp.ok() {
        let msg = serde_json::from_str::<ErrorBody>(&text)
            .map(|e| e.error)
            .unwrap_or(text);
        let retry = matches!(resp.status(), 429 | 503);
        return Err(format!(
            "{} ({}){}",
            msg,
            resp.status(),
            if retry {
                " — try again in a moment."
            } else {
                ""
            }
        ));
    }
    let out: SegmentResponse =
        serde_json::from_str(&text).map_err(|e| format!("Unexpected answer: {e}"))?;
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
    draw(&frame.rgba, frame.width, frame.height, "original-canvas")?;
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
        round_trip_ms: t1 - t0,
    }));
    Ok(())
}

/// Decodes a PNG data URL with the browser's decoder and returns (width, height, RGBA).
async fn load_pixels(data_url: &str) -> Result<(u32, u32, Vec<u8>), String> {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let img = HtmlImageElement::new().map_err(js_err)?;
    img.set_src(data_url);
    JsFuture::from(img.decode())
        .await
        .map_err(|e| format!("could not decode the returned image: {}", js_err(e)))?;
    let (w, h) = (img.natural_width(), img.natural_height());
    let canvas: HtmlCanvasElement = doc
        .create_element("canvas")
        .map_err(js_err)?
        .unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let cx = context(&canvas)?;
    cx.draw_image_with_html_image_element(&img, 0.0, 0.0)
        .map_err(js_err)?;
    let data = cx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .map_err(js_err)?;
    Ok((w, h, data.data().0))
}

fn context(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .map_err(js_err)?
        .ok_or("no 2d context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "not a 2d context".to_string())
}

fn draw(rgba: &[u8], w: u32, h: u32, id: &str) -> Result<(), String> {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = doc
        .get_element_by_id(id)
        .ok_or("canvas missing")?
        .unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w, h).map_err(js_err)?;
    context(&canvas)?
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
        draw(&out, frame.width, frame.height, "overlay-canvas")
    });
    if let Err(e) = result {
        ctx.error.set(Some(e));
    }
}
