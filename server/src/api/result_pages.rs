//! `POST /segment/result`, `/detect/result`, `/classify/result` and `/summarize/result`: where the task pages' forms post when
//! JavaScript is off. Each runs the same handler as the JSON API (so limits, errors and timings
//! are the API's) and renders the answer as an HTML page (`app::tasks::<task>::result`, framed by `app::result_page`).

use std::collections::HashMap;

use axum::extract::{Form, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::classify::{classify, ClassifyQuery};
use super::detect::{detect, DetectQuery};
use super::segment::{segment_legacy, SegmentQuery};
use crate::error::ApiError;
use crate::AppState;

pub async fn segment_result(State(state): State<AppState>, req: Request) -> Response {
    let q = SegmentQuery {
        output: Some("json".into()),
        include: Some("image,overlay".into()),
        ..SegmentQuery::default()
    };
    let answer = segment_legacy(State(state), Ok(Query(q)), req).await;
    render(answer, "/segment", |body| {
        serde_json::from_slice(body)
            .ok()
            .map(|r| app::tasks::segment::result::segment_html(&r))
    })
    .await
}

pub async fn classify_result(State(state): State<AppState>, req: Request) -> Response {
    let q = ClassifyQuery {
        top_k: Some("5".into()),
        include: Some("image".into()),
        ..ClassifyQuery::default()
    };
    // The model comes from the form's `model` field, as on the seed route.
    let answer = classify(state, None, q, req, false).await;
    render(answer, "/classify", |body| {
        serde_json::from_slice(body)
            .ok()
            .map(|r| app::tasks::classify::result::classify_html(&r))
    })
    .await
}

pub async fn detect_result(State(state): State<AppState>, req: Request) -> Response {
    let q = DetectQuery {
        include: Some("image".into()),
        ..DetectQuery::default()
    };
    // Model and confidence come from the form's fields, as on the seed route.
    let answer = detect(state, None, q, req, false).await;
    render(answer, "/detect", |body| {
        serde_json::from_slice(body)
            .ok()
            .map(|r| app::tasks::detect::result::detect_html(&r))
    })
    .await
}

pub async fn summarize_result(
    State(state): State<AppState>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let answer = match form {
        Ok(Form(form)) => super::summarize::summarize_form(&state, &form).await,
        Err(e) => Err(ApiError::BadRequest(format!("bad form: {}", e.body_text()))),
    };
    render(answer, "/summarize", |body| {
        serde_json::from_slice(body)
            .ok()
            .map(|r| app::tasks::summarize::result::summarize_html(&r))
    })
    .await
}

/// The answer's page: `page` on success, else the error page with the API's status and message.
async fn render(
    answer: Result<Response, ApiError>,
    back: &str,
    page: impl FnOnce(&[u8]) -> Option<String>,
) -> Response {
    let resp = answer.unwrap_or_else(IntoResponse::into_response);
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Ok(body) = axum::body::to_bytes(resp.into_body(), usize::MAX).await else {
        return error_page(
            back,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            None,
        );
    };
    if status.is_success() {
        if let Some(html) = page(&body) {
            return Html(html).into_response();
        }
        return error_page(
            back,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            None,
        );
    }
    let message = serde_json::from_slice::<app::dto::ErrorBody>(&body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
    error_page(back, status, &message, retry_after.as_deref())
}

fn error_page(back: &str, status: StatusCode, message: &str, retry: Option<&str>) -> Response {
    let html = app::result_page::error_html(back, status.as_u16(), message, retry);
    (status, Html(html)).into_response()
}
