//! Summarization: the text checked against the limits, then generated on the model's engine
//! (a blocking worker; each request decodes on its own copy of the model's state), to the end
//! or, for a stream, token by token (`api::summarize` sends those as server-sent events).

use std::time::Instant;

use api_types::{StreamError, SummarizeResponse, SummaryEvent, SummaryTimings, TokenPiece};
use futures_util::Stream;
use models::summarize::{SummarizeRequest, Summary};
use models::Task;

use crate::error::ApiError;
use crate::ingress::params::{given, model_or_default};
use crate::runtime::served::{SummarizeEngine, SummarizeJob};
use crate::state::AppState;

pub const DEFAULT_MIN_TOKENS: usize = 8;
pub const DEFAULT_MAX_TOKENS: usize = 128;

/// `eos`, `max_tokens` or `cancelled`: the reason as the model crate names it on the wire.
fn stop_reason_name(r: models::summarize::StopReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn response(
    model: &str,
    s: Summary,
    req: &SummarizeRequest,
    started: Instant,
) -> SummarizeResponse {
    SummarizeResponse {
        model: model.to_owned(),
        summary: s.text,
        tokens_generated: s.tokens_generated,
        prompt_tokens: s.prompt_tokens,
        input_truncated: s.input_truncated,
        stop_reason: stop_reason_name(s.stop_reason),
        min_tokens: req.min_tokens,
        max_tokens: req.max_tokens,
        timings: SummaryTimings {
            prefill_ms: s.timings.prefill_ms,
            generate_ms: s.timings.generate_ms,
            tokens_per_s: s.timings.tokens_per_s,
            total_ms: started.elapsed().as_secs_f64() * 1e3,
        },
    }
}

/// Checks the text and lengths against the limits; the messages are the seed's where it has one.
pub fn request(
    state: &AppState,
    text: Option<String>,
    min: Option<usize>,
    max: Option<usize>,
) -> Result<SummarizeRequest, ApiError> {
    let text = text.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("Text cannot be empty".into()));
    }
    let chars = text.chars().count();
    if chars > state.limits.text_chars {
        return Err(ApiError::PayloadTooLarge(format!(
            "the text has {chars} characters; the limit is {} (--text-limit)",
            state.limits.text_chars
        )));
    }
    let max_tokens = max.unwrap_or(DEFAULT_MAX_TOKENS);
    let min_tokens = min.unwrap_or(DEFAULT_MIN_TOKENS.min(max_tokens));
    if max_tokens == 0 || max_tokens > state.limits.summary_tokens {
        return Err(ApiError::BadRequest(format!(
            "max must be within 1..{} tokens (--max-summary-tokens), got {max_tokens}",
            state.limits.summary_tokens
        )));
    }
    if min_tokens > max_tokens {
        return Err(ApiError::BadRequest(format!(
            "min ({min_tokens}) must not exceed max ({max_tokens})"
        )));
    }
    Ok(SummarizeRequest {
        text,
        min_tokens,
        max_tokens,
    })
}

pub fn tokens_param(raw: Option<&str>, name: &str) -> Result<Option<usize>, ApiError> {
    given(raw)
        .map(|r| {
            r.trim().parse::<usize>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name} must be a whole number of tokens, not '{r}'"
                ))
            })
        })
        .transpose()
}

/// The seed answers 400 (not 404) for an unknown model, naming the choices.
pub fn summarizer_400(state: &AppState, id: &str) -> Result<SummarizeEngine, ApiError> {
    state.summarizer(id).map(|(_, e)| e).map_err(|e| match e {
        ApiError::NotFound(msg) => ApiError::BadRequest(msg),
        other => other,
    })
}

/// Generates the whole summary; past the request's deadline the answer is 504 and generation
/// stops at the next token.
pub async fn run_to_end(
    state: &AppState,
    engine: SummarizeEngine,
    req: SummarizeRequest,
    started: Instant,
) -> Result<(Summary, SummarizeRequest), ApiError> {
    let deadline = state.deadline(started);
    let job = SummarizeJob {
        req: req.clone(),
        on_token: Box::new(move |_| Instant::now() < deadline),
    };
    let s = engine.submit(job, deadline).await?;
    Ok((s, req))
}

/// The seeds' way to summarize, shared by their route, the site's no-JS form and OIP: the named model (else
/// the default; an unknown one is 400), `min`/`max` tokens as given, the text; run to the end.
pub async fn seed_run(
    state: &AppState,
    model: Option<String>,
    min: Option<&str>,
    max: Option<&str>,
    text: Option<String>,
    started: Instant,
) -> Result<SummarizeResponse, ApiError> {
    let id = model_or_default(state, model, Task::Summarization)?;
    let engine = summarizer_400(state, &id)?;
    let min = tokens_param(min, "min")?;
    let max = tokens_param(max, "max")?;
    let req = request(state, text, min, max)?;
    let (s, req) = run_to_end(state, engine, req, started).await?;
    Ok(response(&id, s, &req, started))
}

/// Generates the summary token by token: a `Token` event per decoded piece, then `Done` with the
/// whole answer, or one `Error`. The REST route sends these as server-sent events, the site's
/// server function as JSON lines.
///
/// A stream must start within the request timeout; once tokens flow it runs until done or until
/// the stream is dropped (the client went away): a failed send stops generation at the next
/// token, and a job still queued is dropped unrun. Past its start, a stream is bounded by
/// `--stream-idle-timeout-ms`: no event for that long (a stuck worker) ends it with an `Error`.
pub fn stream(
    state: &AppState,
    engine: SummarizeEngine,
    model_id: String,
    req: SummarizeRequest,
    started: Instant,
) -> impl Stream<Item = SummaryEvent> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<SummaryEvent>();
    let job = {
        let tx = tx.clone();
        let job = SummarizeJob {
            req: req.clone(),
            on_token: Box::new(move |piece: &str| {
                tx.send(SummaryEvent::Token(TokenPiece {
                    text: piece.to_owned(),
                }))
                .is_ok()
            }),
        };
        let start_by = state.deadline(started);
        async move {
            engine
                .submit_streaming(job, start_by)
                .await
                .map(|s| (s, req))
        }
    };
    // A client that leaves while its job is queued costs no prefill: dropping the job's future
    // (the receiver is gone) drops its reply, and the worker skips a job nobody awaits.
    let gone = tx.clone();
    tokio::spawn(async move {
        let outcome = tokio::select! {
            r = job => r,
            _ = gone.closed() => return,
        };
        let last = match outcome {
            Ok((s, req)) => SummaryEvent::Done(response(&model_id, s, &req, started)),
            Err(e) => SummaryEvent::Error(StreamError {
                error: e.to_string(),
                kind: e.kind().to_owned(),
            }),
        };
        let _ = tx.send(last);
    });
    let idle = state.settings.conn.stream_idle_timeout;
    futures_util::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        match tokio::time::timeout(idle, rx.recv()).await {
            Ok(ev) => ev.map(|ev| (ev, Some(rx))),
            Err(_) => Some((
                SummaryEvent::Error(StreamError {
                    error: format!(
                        "no token for {} s (--stream-idle-timeout-ms)",
                        idle.as_secs()
                    ),
                    kind: "timeout".into(),
                }),
                None,
            )),
        }
    })
}
