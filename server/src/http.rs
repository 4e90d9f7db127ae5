//! Middleware around every route: the optional API key, CORS, per-request metrics and the
//! tracing span that carries the request id.

use axum::body::Body;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::RequestPartsExt;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};

use crate::error::ApiError;
use crate::metrics::METRICS;
use crate::state::AppState;

/// With `--api-key` set, API routes need `Authorization: Bearer <key>`; health, metrics, docs
/// and the pages stay open. Compared in constant time.
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = state.settings.api_key.as_deref() else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), key.as_bytes()) {
        next.run(req).await
    } else {
        ApiError::Unauthorized("a valid API key is required: `Authorization: Bearer <key>`".into())
            .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// CORS: only the listed origins (`--cors-origin`, `*` for any); none means same origin only,
/// so no CORS headers are sent at all.
pub fn cors(origins: &[String]) -> CorsLayer {
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-model-id"),
            header::HeaderName::from_static("server-timing"),
        ])
}

/// Counts every answer by route (the matched pattern, never the raw path), model and status.
/// The model is the one that answered (`x-model-id`), else the one the path named, so refusals
/// count against the model they were for. Times each answer until its head is ready (a streamed
/// body's time is not in it).
pub async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let (mut parts, body) = req.into_parts();
    let named: Option<String> = parts.extract::<RawPathParams>().await.ok().and_then(|ps| {
        ps.iter()
            .find(|(k, _)| *k == "model_id")
            .map(|(_, v)| v.to_owned())
    });
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some(route) = route else {
        return resp; // static files and 404s: not API traffic
    };
    if route.starts_with("/pkg") || route == "/metrics" {
        return resp;
    }
    let model = resp
        .headers()
        .get("x-model-id")
        .and_then(|v| v.to_str().ok())
        .or(named.as_deref())
        .unwrap_or("");
    // Any id a client makes up would grow the label set without bound: only catalog ids count.
    let model = if model.is_empty() || state.models.slot(model).is_some() {
        model
    } else {
        "unknown"
    };
    METRICS.request(&route, model, resp.status().as_u16(), started.elapsed());
    resp
}

/// axum answers a known path with the wrong method 405 and an empty body; this gives it the one
/// error shape, keeping its `Allow` header.
pub async fn json_405(resp: Response) -> Response {
    if resp.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED {
        return resp;
    }
    let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
    let methods = allow
        .as_ref()
        .and_then(|a| a.to_str().ok())
        .unwrap_or("see the API docs")
        .to_owned();
    let mut out =
        ApiError::MethodNotAllowed(format!("method not allowed here; allowed: {methods}"))
            .into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, a);
    }
    out
}

type Trace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&axum::http::Request<Body>) -> tracing::Span,
>;

/// One span per request with its method, path and `x-request-id` (set before this layer runs),
/// and one log line per answer with status and latency.
pub fn trace_layer() -> Trace {
    fn span(req: &axum::http::Request<Body>) -> tracing::Span {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    }
    TraceLayer::new_for_http()
        .make_span_with(span as fn(&axum::http::Request<Body>) -> tracing::Span)
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
        // A 5xx line is a warning: 503 while models load and 504 under load are expected
        // backpressure; internal errors are logged at ERROR where they happen (`ApiError`).
        .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN))
}
