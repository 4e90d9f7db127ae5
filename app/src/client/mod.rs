//! Browser-only code (behind `hydrate`): one module per page, plus the helpers they share here:
//! turning a [`Pick`] into an input, posting an image to the API, turning error bodies into a
//! message, and decoding/drawing images on canvases.

pub mod classify;
pub mod detect;
pub mod segment;
pub mod summarize;

use std::cell::RefCell;
use std::future::Future;
use std::thread::LocalKey;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, Document, File, FormData, HtmlCanvasElement, HtmlImageElement,
    HtmlInputElement, RequestInit, Response,
};

use crate::dto::ErrorBody;
use crate::pages::common::Pick;

/// The image a page runs on: kept so a model switch can run again on the same input.
#[derive(Clone)]
pub enum Source {
    File(File),
    Url(String),
}

/// Where each page keeps its last input.
pub type LastSource = LocalKey<RefCell<Option<Source>>>;

/// Turns a pick into the input to run on (remembering it in `last`): `Ok(None)` when there is
/// nothing to run yet, `Err` with a message for the user.
pub fn resolve(pick: Pick, last: &'static LastSource) -> Result<Option<Source>, String> {
    let src = match pick {
        Pick::File(ev) => {
            let input: HtmlInputElement = ev.target().ok_or("no target")?.unchecked_into();
            input.files().and_then(|f| f.get(0)).map(Source::File)
        }
        Pick::Drop(ev) => ev
            .data_transfer()
            .and_then(|dt| dt.files())
            .and_then(|f| f.get(0))
            .map(Source::File),
        Pick::Url(u) => {
            let u = u.trim();
            if u.is_empty() {
                return Err("Paste an image URL first.".into());
            }
            Some(Source::Url(u.to_string()))
        }
        Pick::Again => return Ok(last.with(|s| s.borrow().clone())),
    };
    if let Some(s) = &src {
        last.with(|l| *l.borrow_mut() = Some(s.clone()));
    }
    Ok(src)
}

/// Runs `fut` with the page's busy flag on and its error line cleared; shows its error if any.
pub fn spawn_run<F>(busy: RwSignal<bool>, error: RwSignal<Option<String>>, fut: F)
where
    F: Future<Output = Result<(), String>> + 'static,
{
    busy.set(true);
    error.set(None);
    spawn_local(async move {
        let result = fut.await;
        busy.set(false);
        if let Err(msg) = result {
            error.set(Some(msg));
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

/// The user-facing message for a failed answer: the server's `error`, the status, and a retry
/// hint for 429/503 (which carry `Retry-After`).
pub fn error_message(resp: &Response, body: &str) -> String {
    let msg = serde_json::from_str::<ErrorBody>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| body.trim().to_string());
    let retry = match resp.status() {
        429 | 503 => {
            let after = resp.headers().get("retry-after").ok().flatten();
            match after {
                Some(s) => format!(" — the server is busy; try again in {s} s."),
                None => " — the server is busy; try again in a moment.".to_string(),
            }
        }
        _ => String::new(),
    };
    format!("{msg} ({}){retry}", resp.status())
}

/// Sends `init` to `url`; returns the response (even a failed one).
pub async fn fetch(url: &str, init: &RequestInit) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    Ok(JsFuture::from(window.fetch_with_str_and_init(url, init))
        .await
        .map_err(|e| format!("The request failed: {}", js_err(e)))?
        .unchecked_into())
}

/// Posts the image (multipart file, or JSON `{"image_url"}`) and returns the parsed JSON of a
/// successful answer and the round trip in ms, or the error message.
pub async fn post_image<T: serde::de::DeserializeOwned>(
    url: &str,
    src: &Source,
) -> Result<(T, f64), String> {
    let init = RequestInit::new();
    init.set_method("POST");
    match src {
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
    let t0 = now();
    let resp = fetch(url, &init).await?;
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .unwrap_or_default();
    let rt = now() - t0;
    if !resp.ok() {
        return Err(error_message(&resp, &text));
    }
    let parsed = serde_json::from_str(&text).map_err(|e| format!("Unexpected answer: {e}"))?;
    Ok((parsed, rt))
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
    let canvas: HtmlCanvasElement = document()?
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
