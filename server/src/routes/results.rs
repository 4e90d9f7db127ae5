//! `POST /segment/result`, `/detect/result`, `/classify/result` and `/summarize/result`: where
//! the task pages' forms post when JavaScript is off. Each reads the form as the JSON API reads
//! its request and computes the answer as the site's server functions do (`site_fns`, the API's
//! route functions: limits, errors and timings are the API's), then renders the typed answer as
//! an HTML page (`app::tasks::<task>::result`, framed by `app::result_page`).

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Form, Request, State};
use axum::response::{Html, IntoResponse, Response};

use super::classify::ClassifyQuery;
use super::detect::DetectQuery;
use super::segment::SegmentQuery;
use crate::error::ApiError;
use crate::site_fns;
use crate::state::AppState;

pub async fn segment_result(State(state): State<AppState>, req: Request) -> Response {
    // The query's `output` wins over a form field, so the answer is always the JSON's shape.
    let q = SegmentQuery {
        output: Some("json".into()),
        include: Some("image,overlay".into()),
        ..SegmentQuery::default()
    };
    let page = site_fns::segment_json(state.clone(), q, req)
        .await
        .map(|r| state.with_site_config(|| app::tasks::segment::result::segment_html(&r)));
    render(&state, page, "/segment")
}

pub async fn classify_result(State(state): State<AppState>, req: Request) -> Response {
    let q = ClassifyQuery {
        top_k: Some("5".into()),
        include: Some("image".into()),
        ..ClassifyQuery::default()
    };
    // The model comes from the form's `model` field, as on the seed route.
    let page = site_fns::classify_json(state.clone(), q, req)
        .await
        .map(|r| state.with_site_config(|| app::tasks::classify::result::classify_html(&r)));
    render(&state, page, "/classify")
}

pub async fn detect_result(State(state): State<AppState>, req: Request) -> Response {
    let q = DetectQuery {
        include: Some("image".into()),
        ..DetectQuery::default()
    };
    // Model and confidence come from the form's fields, as on the seed route.
    let page = site_fns::detect_json(state.clone(), q, req)
        .await
        .map(|r| state.with_site_config(|| app::tasks::detect::result::detect_html(&r)));
    render(&state, page, "/detect")
}

/// The site's summarize form: fields `txt`, `model`, `min`, `max`; empty fields count as absent.
pub async fn summarize_result(
    State(state): State<AppState>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let page = match form {
        Ok(Form(form)) => {
            let field = |k: &str| crate::ingress::params::given(form.get(k).map(String::as_str));
            crate::tasks::summarize::seed_run(
                &state,
                field("model").map(str::to_owned),
                field("min"),
                field("max"),
                field("txt").map(str::to_owned),
                Instant::now(),
            )
            .await
            .map(|r| state.with_site_config(|| app::tasks::summarize::result::summarize_html(&r)))
        }
        Err(e) => Err(ApiError::BadRequest(format!("bad form: {}", e.body_text()))),
    };
    render(&state, page, "/summarize")
}

/// The answer's page, else the error page with the API's status, message and `Retry-After`.
fn render(state: &AppState, page: Result<String, ApiError>, back: &str) -> Response {
    let e = match page {
        Ok(html) => return Html(html).into_response(),
        Err(e) => e,
    };
    // The API's status, `Retry-After` and message for this error (never internal detail).
    e.log_internal();
    let status = e.status();
    let retry = e.retry_after().map(|s| s.to_string());
    let html = state.with_site_config(|| {
        app::result_page::error_html(back, status.as_u16(), &e.to_string(), retry.as_deref())
    });
    (status, Html(html)).into_response()
}
