//! What the site runs: the answers its server functions (`app::server_fns`, through the
//! `SiteBackend` implemented here) and its no-JS result pages (`routes::results`) show. Each
//! calls the same route function as its REST route (`routes::<task>::answer`, which reads the
//! request through the ingress) or the same task code (`tasks::summarize::stream`), so the
//! site's answer is the API's, computed once. Errors become the API's status, `Retry-After` and
//! words.

use std::future::Future;
use std::time::Instant;

use api_types::{
    ClassifyQuery, ClassifyResponse, DetectQuery, DetectResponse, SegmentQuery, SegmentResponse,
    SummarizeRequest,
};
use app::server_fns::backend::{Answer, Events, ServerRequest, SiteBackend};
use app::server_fns::SiteError;
use axum::extract::{Query, Request};
use axum::http::{header, HeaderValue};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::error::ApiError;
use crate::ingress::params::query_or_400;
use crate::routes::classify::ClassifyAnswer;
use crate::routes::detect::DetectAnswer;
use crate::routes::segment::SegmentAnswer;
use crate::state::AppState;

/// The backend, over the server's state.
pub struct SiteTasks(pub AppState);

/// `err` as the site sees it; its status and `Retry-After` also go on the HTTP answer, as the
/// API would send them.
fn site_error(err: ApiError) -> SiteError {
    err.log_internal();
    let (status, retry_after) = (err.status(), err.retry_after());
    if let Some(opts) = use_context::<ResponseOptions>() {
        opts.set_status(status);
        if let Some(secs) = retry_after {
            opts.insert_header(header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
    SiteError {
        error: err.to_string(),
        kind: err.kind().to_owned(),
        code: status.as_u16(),
        retry_after,
    }
}

fn query<Q: serde::de::DeserializeOwned>(req: &ServerRequest) -> Result<Q, ApiError> {
    query_or_400(Query::try_from_uri(req.uri()))
}

fn not_json(what: &str) -> ApiError {
    ApiError::Internal(format!("{what}, not JSON"))
}

/// The site's segmentation answer, for its server function and its no-JS result page: always
/// the JSON shape (the page draws from it), the total time filled in.
pub(crate) async fn segment_json(
    state: AppState,
    q: SegmentQuery,
    req: Request,
) -> Result<SegmentResponse, ApiError> {
    let q = SegmentQuery {
        output: Some("json".into()),
        ..q
    };
    let a = crate::routes::segment::answer(state, None, q, req, None).await?;
    let timings = a.recorded();
    match a.body {
        // Moved, not cloned: the answer carries the upload's images as data URLs.
        SegmentAnswer::Json(r) => Ok(SegmentResponse { timings, ..r }),
        SegmentAnswer::Png(_) => Err(not_json("a PNG")),
    }
}

/// The site's detection answer (boxes as JSON, not the drawn JPEG).
pub(crate) async fn detect_json(
    state: AppState,
    q: DetectQuery,
    req: Request,
) -> Result<DetectResponse, ApiError> {
    let a = crate::routes::detect::answer(state, None, q, req, false).await?;
    let timings = a.recorded();
    match a.body {
        DetectAnswer::Json(r) => Ok(DetectResponse { timings, ..r }),
        DetectAnswer::Jpeg(_) => Err(not_json("a drawing")),
    }
}

/// The site's classification answer (the ranking, not the seed's single label).
pub(crate) async fn classify_json(
    state: AppState,
    q: ClassifyQuery,
    req: Request,
) -> Result<ClassifyResponse, ApiError> {
    let a = crate::routes::classify::answer(state, None, q, req, false).await?;
    let timings = a.recorded();
    match a.body {
        ClassifyAnswer::Ranked(r) => Ok(ClassifyResponse { timings, ..r }),
        ClassifyAnswer::Label(_) => Err(not_json("a label")),
    }
}

impl SiteTasks {
    /// An image function's answer: the query read from the request (400), then `answer`.
    fn image<Q, T, Fut>(
        &self,
        req: ServerRequest,
        answer: fn(AppState, Q, Request) -> Fut,
    ) -> Answer<T>
    where
        Q: serde::de::DeserializeOwned + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        let state = self.0.clone();
        Box::pin(async move {
            let q = query(&req).map_err(site_error)?;
            answer(state, q, req).await.map_err(site_error)
        })
    }
}

impl SiteBackend for SiteTasks {
    fn segment(&self, req: ServerRequest) -> Answer<SegmentResponse> {
        self.image(req, segment_json)
    }

    fn detect(&self, req: ServerRequest) -> Answer<DetectResponse> {
        self.image(req, detect_json)
    }

    fn classify(&self, req: ServerRequest) -> Answer<ClassifyResponse> {
        self.image(req, classify_json)
    }

    fn summarize(&self, model: String, body: SummarizeRequest) -> Answer<Events> {
        let state = self.0.clone();
        Box::pin(async move {
            let run = || {
                let started = Instant::now();
                let (_, engine) = state.summarizer(&model)?;
                let req = crate::tasks::summarize::request(
                    &state,
                    Some(body.text),
                    body.min_tokens,
                    body.max_tokens,
                )?;
                let events = crate::tasks::summarize::stream(&state, engine, model, req, started);
                Ok::<Events, ApiError>(Box::pin(events))
            };
            run().map_err(site_error)
        })
    }
}
