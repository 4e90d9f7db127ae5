//! Talking to the API with `fetch`: posting an image (file, sample or URL), reading the answer,
//! and turning a failed one into a [`Failure`] with the server's own words.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, FormData, RequestInit, Response};

use super::js::{js_err, now};
use super::source::Source;
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
