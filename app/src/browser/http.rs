//! Talking to the server: an image (file, sample or URL) through a task's server function, and
//! plain `fetch` for the rest (samples, the model catalog); a failed answer becomes a
//! [`Failure`] with the server's own words.

use std::future::Future;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, FormData, RequestInit, Response};

use super::js::{js_err, now};
use super::source::Source;
use crate::server_fns::{ImageForm, Kept, SiteError};
use crate::widgets::failure::Failure;
use crate::widgets::run::{RunInfo, RunState};

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

/// A successful answer: typed, as JSON (what the API sends for it: downloads, "Use via API"),
/// and the round trip it took.
pub struct Answer<T> {
    pub body: T,
    pub raw: serde_json::Value,
    pub round_trip_ms: f64,
}

/// Runs an image server function (`call`, e.g. `classify_image`) on `src`, with `query` (the
/// REST route's: `model=…&top_k=…`), and returns the answer, or the failure to show.
pub async fn post_image<T, F, Fut>(
    call: F,
    query: String,
    src: &Source,
) -> Result<Answer<T>, Failure>
where
    F: FnOnce(ImageForm) -> Fut,
    Fut: Future<Output = Result<Kept<T>, SiteError>>,
{
    let form = image_form(src).await?;
    let t0 = now();
    let kept = call(ImageForm::browser(form, query)).await?;
    let round_trip_ms = now() - t0;
    let raw = serde_json::from_str(&kept.json).map_err(|e| format!("Unexpected answer: {e}"))?;
    Ok(Answer {
        body: kept.value,
        raw,
        round_trip_ms,
    })
}

/// The form the REST routes take: the image in the field `file`, or its URL in `image_url`.
/// Not generic, so the bundle has one copy of it rather than one per answer type.
async fn image_form(src: &Source) -> Result<FormData, Failure> {
    let form = FormData::new().map_err(js_err)?;
    match src {
        Source::File(file) => form.append_with_blob_and_filename("file", file, &file.name()),
        Source::Sample(name) => {
            form.append_with_blob_and_filename("file", &sample_blob(name).await?, name)
        }
        Source::Url(u) => form.append_with_str("image_url", u),
    }
    .map_err(js_err)?;
    Ok(form)
}

/// Records a successful run in the page's run state: what the latency line shows, the input
/// ("Use via API") and the answer as sent (downloads, the JSON sample).
pub fn record(run: RunState, src: &Source, info: RunInfo, raw: serde_json::Value) {
    run.info.set(Some(info));
    run.input.set(Some(src.as_ref()));
    run.answer.set(Some(raw));
}

/// The image an answer embeds (`include=image`), or the failure saying it is missing.
pub fn embedded<'a>(png: &'a Option<String>, what: &str) -> Result<&'a str, Failure> {
    png.as_deref()
        .ok_or_else(|| format!("no {what} in the answer").into())
}
