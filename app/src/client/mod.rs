//! Browser-only code (behind `hydrate`): one module per page, plus the helpers they share here:
//! turning a [`Pick`] into a checked input, posting an image to the API, turning failed answers
//! into a [`Failure`], decoding/drawing images on canvases, and downloads.

pub mod catalog;
pub mod classify;
pub mod compare;
pub mod detect;
pub mod segment;
pub mod summarize;

use std::cell::RefCell;
use std::future::Future;
use std::thread::LocalKey;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, CanvasRenderingContext2d, Document, File, FormData, HtmlAnchorElement, HtmlCanvasElement,
    HtmlImageElement, HtmlInputElement, ImageData, RequestInit, Response,
};

use crate::pages::common::{check_upload, Cancellable, Failure, InputRef, Pick, RunState};

/// The image a page runs on: kept so a model switch or Retry can run again on the same input.
#[derive(Clone)]
pub enum Source {
    File(File),
    Url(String),
    /// A bundled sample photo, fetched from `/samples/{name}` and uploaded as a file.
    Sample(&'static str),
}

impl Source {
    /// How "Use via API" names this input.
    pub fn as_ref(&self) -> InputRef {
        match self {
            Source::File(f) => InputRef::File(f.name()),
            Source::Url(u) => InputRef::Url(u.clone()),
            Source::Sample(n) => InputRef::File((*n).to_string()),
        }
    }
}

/// Where each page keeps its last input.
pub type LastSource = LocalKey<RefCell<Option<Source>>>;

/// The first file on the clipboard of a paste event, if any.
pub fn pasted_file(ev: &web_sys::ClipboardEvent) -> Option<File> {
    ev.clipboard_data()
        .and_then(|d| d.files())
        .and_then(|f| f.get(0))
}

/// Turns a pick into the input to run on (remembering it in `last`): `Ok(None)` when there is
/// nothing to run yet, `Err` with a message for the user. Files are checked against the
/// server's limits first, so a wrong or oversized file never uploads.
pub fn resolve(pick: Pick, last: &'static LastSource) -> Result<Option<Source>, Failure> {
    let file = match pick {
        Pick::File(ev) => {
            let input: HtmlInputElement = ev.target().ok_or("no target")?.unchecked_into();
            input.files().and_then(|f| f.get(0))
        }
        Pick::Drop(ev) => ev
            .data_transfer()
            .and_then(|dt| dt.files())
            .and_then(|f| f.get(0)),
        Pick::Paste(ev) => pasted_file(&ev),
        Pick::Sample(name) => return Ok(Some(remember(last, Source::Sample(name)))),
        Pick::Url(u) => {
            let u = u.trim();
            if u.is_empty() {
                return Err("Paste an image URL first.".into());
            }
            return Ok(Some(remember(last, Source::Url(u.to_string()))));
        }
        Pick::Again => return Ok(last.with(|s| s.borrow().clone())),
    };
    let Some(file) = file else {
        return Ok(None);
    };
    check_upload(&file.name(), &file.type_(), file.size())?;
    Ok(Some(remember(last, Source::File(file))))
}

fn remember(last: &'static LastSource, src: Source) -> Source {
    last.with(|l| *l.borrow_mut() = Some(src.clone()));
    src
}

/// Runs `fut` with the page's busy flag on, its error cleared and the elapsed time ticking;
/// shows its failure if any.
pub fn spawn_run<F>(run: RunState, fut: F)
where
    F: Future<Output = Result<(), Failure>> + 'static,
{
    // A newer input wins: the run in flight (if any) stops at its next wake-up.
    let cancelled = run.supersede();
    run.busy.set(true);
    run.error.set(None);
    run.elapsed_ms.set(0.0);
    let t0 = now();
    let ticker = {
        let cancelled = cancelled.clone();
        set_interval_with_handle(
            move || {
                if !cancelled.load(std::sync::atomic::Ordering::SeqCst) {
                    run.elapsed_ms.set(now() - t0)
                }
            },
            Duration::from_millis(100),
        )
        .ok()
    };
    spawn_local(async move {
        let result = Cancellable {
            inner: Box::pin(fut),
            cancelled,
        }
        .await;
        if let Some(t) = ticker {
            t.clear();
        }
        // Superseded: the newer run owns the busy state and the error line.
        let Some(result) = result else {
            return;
        };
        run.busy.set(false);
        if let Err(f) = result {
            run.error.set(Some(f));
        }
    });
}

pub fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

pub fn document() -> Result<Document, String> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| "no document".to_string())
}

/// Milliseconds from the page's clock.
pub fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// The failure for a non-2xx answer: the server's message, status and `Retry-After`.
pub fn failure(resp: &Response, body: &str) -> Failure {
    let after = resp.headers().get("retry-after").ok().flatten();
    Failure::from_answer(resp.status(), after.as_deref(), body)
}

/// Sends `init` to `url`; returns the response (even a failed one).
pub async fn fetch(url: &str, init: &RequestInit) -> Result<Response, Failure> {
    let window = web_sys::window().ok_or("no window")?;
    Ok(JsFuture::from(window.fetch_with_str_and_init(url, init))
        .await
        .map_err(|e| Failure::network(&js_err(e)))?
        .unchecked_into())
}

/// The body of `resp` as text.
pub async fn text(resp: &Response) -> Result<String, Failure> {
    Ok(JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .unwrap_or_default())
}

/// A bundled sample photo as a blob.
async fn sample_blob(name: &str) -> Result<Blob, Failure> {
    let init = RequestInit::new();
    let resp = fetch(&format!("/samples/{name}"), &init).await?;
    if !resp.ok() {
        return Err(failure(&resp, &text(&resp).await?));
    }
    let blob = JsFuture::from(resp.blob().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    Ok(blob.unchecked_into())
}

/// A successful JSON answer: parsed, as sent, and the round trip it took.
pub struct Answer<T> {
    pub body: T,
    pub raw: serde_json::Value,
    pub round_trip_ms: f64,
}

/// Posts the image (multipart file, or JSON `{"image_url"}`) and returns the answer, or the
/// failure to show.
pub async fn post_image<T: serde::de::DeserializeOwned>(
    url: &str,
    src: &Source,
) -> Result<Answer<T>, Failure> {
    let (body, round_trip_ms) = post_image_text(url, src).await?;
    // Both straight from the text: `from_value` would compile a second deserializer per type.
    let parsed = serde_json::from_str(&body).map_err(unexpected)?;
    let raw: serde_json::Value = serde_json::from_str(&body).map_err(unexpected)?;
    Ok(Answer {
        body: parsed,
        raw,
        round_trip_ms,
    })
}

fn unexpected(e: serde_json::Error) -> Failure {
    format!("Unexpected answer: {e}").into()
}

/// The request half of [`post_image`]: the successful answer's text and its round trip. Not
/// generic, so the bundle has one copy of it rather than one per answer type.
async fn post_image_text(url: &str, src: &Source) -> Result<(String, f64), Failure> {
    let init = RequestInit::new();
    init.set_method("POST");
    match src {
        Source::File(file) => {
            let form = FormData::new().map_err(js_err)?;
            form.append_with_blob_and_filename("file", file, &file.name())
                .map_err(js_err)?;
            init.set_body(&form);
        }
        Source::Sample(name) => {
            let form = FormData::new().map_err(js_err)?;
            form.append_with_blob_and_filename("file", &sample_blob(name).await?, name)
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
    let t0 = now();
    let resp = fetch(url, &init).await?;
    let body = text(&resp).await?;
    let round_trip_ms = now() - t0;
    if !resp.ok() {
        return Err(failure(&resp, &body));
    }
    Ok((body, round_trip_ms))
}

/// Decodes an image (data URL) with the browser's decoder.
pub async fn load_image(data_url: &str) -> Result<HtmlImageElement, String> {
    let img = HtmlImageElement::new().map_err(js_err)?;
    img.set_src(data_url);
    JsFuture::from(img.decode())
        .await
        .map_err(|e| format!("could not decode the returned image: {}", js_err(e)))?;
    Ok(img)
}

/// Decodes a PNG data URL and returns (width, height, RGBA).
pub async fn load_pixels(data_url: &str) -> Result<(u32, u32, Vec<u8>), String> {
    let img = load_image(data_url).await?;
    let (w, h) = (img.natural_width(), img.natural_height());
    let canvas = new_canvas(w, h)?;
    let cx = context(&canvas)?;
    cx.draw_image_with_html_image_element(&img, 0.0, 0.0)
        .map_err(js_err)?;
    let data = cx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .map_err(js_err)?;
    Ok((w, h, data.data().0))
}

fn new_canvas(w: u32, h: u32) -> Result<HtmlCanvasElement, String> {
    let canvas: HtmlCanvasElement = document()?
        .create_element("canvas")
        .map_err(js_err)?
        .unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    Ok(canvas)
}

pub fn context(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .map_err(js_err)?
        .ok_or("no 2d context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "not a 2d context".to_string())
}

/// The page's canvas `id`, resized to `w`×`h`, and its 2D context.
pub fn canvas(id: &str, w: u32, h: u32) -> Result<CanvasRenderingContext2d, String> {
    let canvas: HtmlCanvasElement = document()?
        .get_element_by_id(id)
        .ok_or("canvas missing")?
        .unchecked_into();
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    context(&canvas)
}

/// Draws an image at its natural size on the canvas `id`; returns the context for more drawing.
pub fn draw_image(id: &str, img: &HtmlImageElement) -> Result<CanvasRenderingContext2d, String> {
    let cx = canvas(id, img.natural_width(), img.natural_height())?;
    cx.draw_image_with_html_image_element(img, 0.0, 0.0)
        .map_err(js_err)?;
    Ok(cx)
}

/// Puts RGBA pixels on the canvas `id`, resized to fit.
pub fn put_pixels(rgba: &[u8], w: u32, h: u32, id: &str) -> Result<(), String> {
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w, h).map_err(js_err)?;
    canvas(id, w, h)?
        .put_image_data(&data, 0.0, 0.0)
        .map_err(js_err)
}

/// A detached canvas holding RGBA pixels (for downloads of images not on the page).
pub fn scratch_canvas(rgba: &[u8], w: u32, h: u32) -> Result<HtmlCanvasElement, String> {
    let canvas = new_canvas(w, h)?;
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w, h).map_err(js_err)?;
    context(&canvas)?
        .put_image_data(&data, 0.0, 0.0)
        .map_err(js_err)?;
    Ok(canvas)
}

/// Makes the browser save `href` as `filename`.
pub fn download_url(href: &str, filename: &str) -> Result<(), String> {
    let a: HtmlAnchorElement = document()?
        .create_element("a")
        .map_err(js_err)?
        .unchecked_into();
    a.set_href(href);
    a.set_download(filename);
    a.click();
    Ok(())
}

/// Saves the canvas `id` as a PNG.
pub fn download_canvas(id: &str, filename: &str) -> Result<(), String> {
    let canvas: HtmlCanvasElement = document()?
        .get_element_by_id(id)
        .ok_or("canvas missing")?
        .unchecked_into();
    download_url(&canvas.to_data_url().map_err(js_err)?, filename)
}

/// Saves a JSON value, pretty-printed.
pub fn download_json(value: &serde_json::Value, filename: &str) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    let href = format!(
        "data:application/json;charset=utf-8,{}",
        String::from(js_sys::encode_uri_component(&text))
    );
    download_url(&href, filename)
}
