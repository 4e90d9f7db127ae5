//! Summarization routes: the seeds' `POST /predict/text_summarize?model=&min=&max=` (answers
//! `{"summary": ...}`) and `GET /Summarizer?txt=...` (Ray Serve's: the summary as plain text),
//! and `POST /api/v1/summarize/{model_id}`, which can stream tokens as server-sent events.
//! The summary is computed by [`crate::tasks::summarize`]; a stream's client that goes away
//! stops its generation at the next token.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub use api_types::{
    LegacySummarizeQuery as LegacyQuery, RayQuery, StreamError, SummarizeRequest as TextBody,
    SummarizeResponse, SummaryEvent, SummaryTimings, TokenPiece,
};
use futures_util::StreamExt;
use models::Task;

use crate::error::ApiError;
use crate::ingress::params::{model_or_default, query_or_400};
use crate::state::AppState;
use crate::tasks::summarize::{request, response, run_to_end, seed_run};

/// `POST /predict/text_summarize?model=<id>&min=<n>&max=<n>` with `{"text": ...}`.
#[utoipa::path(post, path = "/predict/text_summarize", tag = "summarization", params(LegacyQuery),
    request_body = TextBody,
    responses(
        (status = 200, description = "`{\"summary\": ...}`", body = Object),
        crate::routes::docs::TextRouteErrors,
    ))]
pub async fn summarize_legacy(
    State(state): State<AppState>,
    q: Result<Query<LegacyQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<TextBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let q = query_or_400(q)?;
    let Json(body) =
        body.map_err(|e| ApiError::BadRequest(format!("bad JSON body: {}", e.body_text())))?;
    let full = seed_run(
        &state,
        q.model.clone(),
        q.min.as_deref(),
        q.max.as_deref(),
        Some(body.text),
        started,
    )
    .await?;
    Ok(Json(serde_json::json!({
        "summary": full.summary,
        "model": full.model,
        "input_truncated": full.input_truncated,
        "tokens_generated": full.tokens_generated,
        "stop_reason": full.stop_reason,
    }))
    .into_response())
}

/// `GET /Summarizer?txt=...` (the Ray Serve seed): the summary as plain text.
#[utoipa::path(get, path = "/Summarizer", tag = "summarization", params(RayQuery),
    responses(
        (status = 200, description = "The summary as plain text", content_type = "text/plain", body = String),
        crate::routes::docs::TextRouteErrors,
    ))]
pub async fn summarize_ray(
    State(state): State<AppState>,
    q: Result<Query<RayQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let q = query_or_400(q)?;
    let id = model_or_default(&state, None, Task::Summarization)?;
    let (_, engine) = state.summarizer(&id)?;
    let req = request(&state, q.txt, None, None)?;
    let (s, _) = run_to_end(&state, engine, req, started).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.text,
    )
        .into_response())
}

/// `POST /api/v1/summarize/{model_id}` with `{"text", "min_tokens"?, "max_tokens"?, "stream"?}`.
/// With `stream: true` (or `Accept: text/event-stream`) the answer is server-sent events:
/// `token` events (`{"text": piece}`) as they decode, then one `done` event with the same JSON
/// as the non-streaming answer, or one `error` event (`{"error", "type"}`).
#[utoipa::path(post, path = "/api/v1/summarize/{model_id}", tag = "summarization",
    params(("model_id" = String, Path, description = "smollm2")),
    request_body = TextBody,
    responses(
        (status = 200, description = "The summary; with `stream` (or Accept: text/event-stream) server-sent `token` events then `done`",
            content((SummarizeResponse = "application/json"), (String = "text/event-stream"))),
        (status = 404, description = "Unknown model", body = crate::error::ErrorBody),
        crate::routes::docs::TextRouteErrors,
    ))]
pub async fn summarize_v1(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<Json<TextBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (_, engine) = state.summarizer(&model_id)?;
    let Json(body) =
        body.map_err(|e| ApiError::BadRequest(format!("bad JSON body: {}", e.body_text())))?;
    let wants_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let stream = body.stream || wants_sse;
    let req = request(&state, Some(body.text), body.min_tokens, body.max_tokens)?;
    if !stream {
        let (s, req) = run_to_end(&state, engine, req, started).await?;
        return Ok(Json(response(&model_id, s, &req, started)).into_response());
    }

    let events = crate::tasks::summarize::stream(&state, engine, model_id, req, started)
        .map(|ev| Ok::<_, Infallible>(sse_event(&ev)));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// One summary event as a server-sent event: its name, its data as JSON.
fn sse_event(ev: &SummaryEvent) -> Event {
    let named = Event::default().event(ev.name());
    match ev {
        SummaryEvent::Token(t) => named.json_data(t),
        SummaryEvent::Done(d) => named.json_data(d),
        SummaryEvent::Error(e) => named.json_data(e),
    }
    .unwrap_or_default()
}
