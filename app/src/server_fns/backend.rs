//! What the server functions need from the server (ssr only): the task core, behind a trait the
//! `server` crate implements and provides as context (`AppState::site_context`). Each method
//! answers with the API's own types; an error arrives as a [`SiteError`] whose status and
//! `Retry-After` the server has already put on the response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use api_types::{
    ClassifyResponse, DetectResponse, SegmentResponse, SummarizeRequest, SummaryEvent,
};
use futures::Stream;
use leptos::prelude::use_context;

use super::SiteError;

/// A request as axum hands it over, body unread.
pub type ServerRequest = axum::http::Request<axum::body::Body>;

/// A boxed answer.
pub type Answer<T> = Pin<Box<dyn Future<Output = Result<T, SiteError>> + Send>>;

/// A summary's events, as they happen.
pub type Events = Pin<Box<dyn Stream<Item = SummaryEvent> + Send>>;

pub trait SiteBackend: Send + Sync {
    /// `POST /api/v1/segment/{model}`'s work, the model and options in the request's query.
    fn segment(&self, req: ServerRequest) -> Answer<SegmentResponse>;
    /// `POST /api/v1/detect/{model}`'s work.
    fn detect(&self, req: ServerRequest) -> Answer<DetectResponse>;
    /// `POST /api/v1/classify/{model}`'s work.
    fn classify(&self, req: ServerRequest) -> Answer<ClassifyResponse>;
    /// `POST /api/v1/summarize/{model}`'s streamed work; an error before the first event
    /// (unknown model, text too long, full queue) is the `Err`.
    fn summarize(&self, model: String, req: SummarizeRequest) -> Answer<Events>;
}

/// The backend in context.
#[derive(Clone)]
pub struct Backend(pub Arc<dyn SiteBackend>);

/// The backend the server provided; without one (a render outside the server) a 500.
pub fn use_backend() -> Result<Arc<dyn SiteBackend>, SiteError> {
    use_context::<Backend>()
        .map(|b| b.0)
        .ok_or_else(|| SiteError::internal("no site backend in context".into()))
}
