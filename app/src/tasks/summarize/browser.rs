//! Summarization page: `POST /api/v1/summarize/{id}` with `"stream": true`, the body read with
//! a stream reader and parsed as server-sent events (`EventSource` cannot POST). Each `token`
//! event appends to the summary; `done` carries the final JSON; Stop aborts the fetch, which
//! the server sees as a disconnect and stops decoding.

use std::cell::RefCell;

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, ReadableStreamDefaultReader, RequestInit, TextDecodeOptions, TextDecoder,
};

use super::sse::{Event, Parser};
use super::state::SummarizeCtx;
use crate::browser::http::{failure, fetch, text};
use crate::browser::js::{js_err, now};
use crate::browser::spawn_run;
use crate::dto::{ErrorBody, SummarizeRequest, SummarizeResponse, TokenPiece};
use crate::widgets::failure::Failure;

thread_local! {
    static ABORT: RefCell<Option<AbortController>> = const { RefCell::new(None) };
}

pub fn start(ctx: SummarizeCtx) {
    if ctx.run.busy.get_untracked() {
        return;
    }
    let text = ctx.text.get_untracked();
    if text.trim().is_empty() {
        ctx.run.fail("Paste some text first.");
        return;
    }
    let tokens = |s: RwSignal<String>| s.get_untracked().trim().parse::<usize>().ok();
    let req = SummarizeRequest {
        text,
        min_tokens: tokens(ctx.min_tokens),
        max_tokens: tokens(ctx.max_tokens),
        stream: true,
    };
    ctx.summary.set(String::new());
    ctx.live.set((0, 0.0, 0.0));
    ctx.done.set(None);
    spawn_run(ctx.run, async move {
        let result = run(ctx, req).await;
        ABORT.with(|a| a.borrow_mut().take());
        result
    });
}

/// Aborts the running request, if any.
pub fn stop() {
    if let Some(c) = ABORT.with(|a| a.borrow_mut().take()) {
        c.abort();
    }
}

async fn run(ctx: SummarizeCtx, req: SummarizeRequest) -> Result<(), Failure> {
    let model = ctx.model.get_untracked();
    let abort = AbortController::new().map_err(js_err)?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_signal(Some(&abort.signal()));
    let headers = web_sys::Headers::new().map_err(js_err)?;
    headers
        .set("content-type", "application/json")
        .map_err(js_err)?;
    headers.set("accept", "text/event-stream").map_err(js_err)?;
    init.set_headers(&headers);
    let body = serde_json::to_string(&req).map_err(|e| e.to_string())?;
    init.set_body(&JsValue::from_str(&body));
    ABORT.with(|a| *a.borrow_mut() = Some(abort));

    let resp = fetch(&format!("/api/v1/summarize/{model}"), &init).await?;
    if !resp.ok() {
        return Err(failure(&resp, &text(&resp).await?));
    }
    let reader: ReadableStreamDefaultReader = resp
        .body()
        .ok_or("the answer has no body")?
        .get_reader()
        .unchecked_into();
    let decoder = TextDecoder::new().map_err(js_err)?;
    let opts = TextDecodeOptions::new();
    opts.set_stream(true);
    let mut parser = Parser::default();
    loop {
        let chunk = match JsFuture::from(reader.read()).await {
            Ok(c) => c,
            // Stop pressed: keep what arrived, no error.
            Err(_) if ABORT.with(|a| a.borrow().is_none()) => return Ok(()),
            Err(e) => {
                return Err(Failure::network(&format!(
                    "the stream broke: {}",
                    js_err(e)
                )))
            }
        };
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .map_err(js_err)?
            .is_truthy();
        if done {
            return Err("The stream ended before the summary was done.".into());
        }
        let bytes: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into())
            .map_err(js_err)?
            .unchecked_into();
        let text = decoder
            .decode_with_js_u8_array_and_options(&bytes, &opts)
            .map_err(js_err)?;
        for ev in parser.push(&text) {
            if handle(ctx, ev)? {
                return Ok(());
            }
        }
    }
}

/// Applies one event; `Ok(true)` when the stream is finished.
fn handle(ctx: SummarizeCtx, ev: Event) -> Result<bool, String> {
    match ev.name.as_str() {
        "token" => {
            let piece: TokenPiece = serde_json::from_str(&ev.data).map_err(|e| e.to_string())?;
            ctx.summary.update(|s| s.push_str(&piece.text));
            let t = now();
            ctx.live.update(|(n, t0, rate)| {
                if *n == 0 {
                    *t0 = t;
                } else if t > *t0 {
                    *rate = *n as f64 * 1000.0 / (t - *t0);
                }
                *n += 1;
            });
            Ok(false)
        }
        "done" => {
            let out: SummarizeResponse =
                serde_json::from_str(&ev.data).map_err(|e| format!("Unexpected answer: {e}"))?;
            // The final text is authoritative (pieces are decoded incrementally).
            ctx.summary.set(out.summary.clone());
            ctx.done.set(Some(out));
            Ok(true)
        }
        "error" => {
            let e: ErrorBody = serde_json::from_str(&ev.data).map_err(|e| e.to_string())?;
            Err(format!("{} ({})", e.error, e.kind))
        }
        _ => Ok(false),
    }
}
