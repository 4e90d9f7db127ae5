//! Summarization page: the `summarize_text` server function, its answer a text stream of JSON
//! [`SummaryEvent`] lines. Each `token` appends to the summary; `done` carries the final answer;
//! Stop drops the stream, which aborts the request: the server sees the disconnect and stops
//! decoding at the next token.

use std::cell::RefCell;

use futures::channel::oneshot;
use futures::future::{select, Either};
use futures::StreamExt;
use leptos::prelude::*;

use super::lines::Lines;
use super::state::SummarizeCtx;
use crate::browser::js::now;
use crate::browser::spawn_run;
use crate::dto::{SummarizeRequest, SummaryEvent};
use crate::server_fns::summarize_text;
use crate::widgets::failure::Failure;

thread_local! {
    /// Pressing Stop sends on this; the running stream is dropped.
    static STOP: RefCell<Option<oneshot::Sender<()>>> = const { RefCell::new(None) };
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
    let (stop, stopped) = oneshot::channel();
    STOP.with(|s| *s.borrow_mut() = Some(stop));
    spawn_run(ctx.run, async move {
        let result = run(ctx, req, stopped).await;
        STOP.with(|s| s.borrow_mut().take());
        result
    });
}

/// Stops the running summary, if any (the text so far stays).
pub fn stop() {
    if let Some(s) = STOP.with(|s| s.borrow_mut().take()) {
        let _ = s.send(());
    }
}

async fn run(
    ctx: SummarizeCtx,
    req: SummarizeRequest,
    mut stopped: oneshot::Receiver<()>,
) -> Result<(), Failure> {
    let model = ctx.model.get_untracked();
    let mut events = Box::pin(summarize_text(model, req).await?.into_inner());
    let mut lines = Lines::default();
    loop {
        let chunk = match select(events.next(), &mut stopped).await {
            Either::Left((Some(chunk), _)) => chunk?,
            Either::Left((None, _)) => {
                return Err("The stream ended before the summary was done.".into())
            }
            // Stop pressed: returning drops the stream, which aborts the request.
            Either::Right(_) => return Ok(()),
        };
        for line in lines.push(&chunk) {
            let ev: SummaryEvent = serde_json::from_str(&line)
                .map_err(|e| Failure::from(format!("Unexpected answer: {e}")))?;
            if handle(ctx, ev)? {
                return Ok(());
            }
        }
    }
}

/// Applies one event; `Ok(true)` when the stream is finished.
fn handle(ctx: SummarizeCtx, ev: SummaryEvent) -> Result<bool, String> {
    match ev {
        SummaryEvent::Token(piece) => {
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
        SummaryEvent::Done(out) => {
            // The final text is authoritative (pieces are decoded incrementally).
            ctx.summary.set(out.summary.clone());
            ctx.done.set(Some(out));
            Ok(true)
        }
        SummaryEvent::Error(e) => Err(format!("{} ({})", e.error, e.kind)),
    }
}
