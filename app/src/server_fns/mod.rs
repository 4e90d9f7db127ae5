//! The site's Leptos server functions: how the hydrated pages run a model. Each is typed on
//! both ends with the API's own answer types (`api_types`), and each calls the server's task
//! core through [`backend::SiteBackend`] (the `server` crate implements it; this crate cannot
//! depend on it), so a page's answer is computed by the same code as the REST route's.
//!
//! - images (`segment_image`, `detect_image`, `classify_image`): the multipart form the REST
//!   routes take (field `file` or `image_url`) with the REST query (`model=…&top_k=…`), sent with
//!   the [`upload::Upload`] codec, which hands the server the request unread so its ingress
//!   (body limits, memory budget, early 429, slow-client guard) applies as on `/api/v1`; the
//!   answer comes back typed and as the JSON text sent ([`kept::Kept`]);
//! - summaries (`summarize_text`): JSON in, a text stream out, one JSON [`SummaryEvent`] a line.
//!
//! The browser sends them with [`client::SiteClient`], `fetch` on `web_sys` (Leptos' default
//! client brings gloo-net and wasm-streams into the bundle).
//!
//! Their paths are under `/site/` (the macro needs the literal in each): apart from the REST
//! API's `/api/`, which is documented in OpenAPI and versioned; these are the site's own. The
//! server routes them itself, behind the body limit, the API key and the rate limit.
//!
//! Without JavaScript the forms still post to the `/<task>/result` pages: a server function
//! called by a plain form post can only redirect back (leptos_axum's no-JS path drops the
//! value), and Leptos' `ActionForm` sends URL-encoded fields, which cannot carry a file.
//!
//! [`SummaryEvent`]: api_types::SummaryEvent

#[cfg(feature = "ssr")]
pub mod backend;
pub mod client;
pub mod error;
pub mod kept;
pub mod upload;

use api_types::{ClassifyResponse, DetectResponse, SegmentResponse, SummarizeRequest};
use leptos::prelude::*;
use leptos::server_fn::codec::{Json, StreamingText, TextStream};

pub use error::SiteError;
pub use kept::{Kept, KeptJson};
use upload::upload_codec;
pub use upload::{ImageForm, Upload};

/// Segments the posted image (`model`, `threshold`, `output=json`, `include=…` in the query).
#[server(
    prefix = "/site",
    endpoint = "segment",
    input = Upload,
    input_derive = (),
    output = KeptJson,
    client = client::SiteClient
)]
pub async fn segment_image(form: ImageForm) -> Result<Kept<SegmentResponse>, SiteError> {
    backend::use_backend()?
        .segment(form.into_request()?)
        .await
        .map(Kept::from)
}

/// Detects objects in the posted image (`model`, `confidence`, `include=image` in the query).
#[server(
    prefix = "/site",
    endpoint = "detect",
    input = Upload,
    input_derive = (),
    output = KeptJson,
    client = client::SiteClient
)]
pub async fn detect_image(form: ImageForm) -> Result<Kept<DetectResponse>, SiteError> {
    backend::use_backend()?
        .detect(form.into_request()?)
        .await
        .map(Kept::from)
}

/// Classifies the posted image (`model`, `top_k`, `include=image` in the query).
#[server(
    prefix = "/site",
    endpoint = "classify",
    input = Upload,
    input_derive = (),
    output = KeptJson,
    client = client::SiteClient
)]
pub async fn classify_image(form: ImageForm) -> Result<Kept<ClassifyResponse>, SiteError> {
    backend::use_backend()?
        .classify(form.into_request()?)
        .await
        .map(Kept::from)
}

// The `Upload` codec for the three image functions (see `upload.rs`).
upload_codec!(SegmentImage, DetectImage, ClassifyImage);

/// Summarizes `request.text` with `model`, streamed: one JSON `SummaryEvent` per line (`token`
/// pieces as they decode, then `done` with the whole answer, or `error`). Dropping the stream
/// in the browser aborts the request, which stops generation on the server at the next token.
#[server(
    prefix = "/site",
    endpoint = "summarize",
    input = Json,
    output = StreamingText,
    client = client::SiteClient
)]
pub async fn summarize_text(
    model: String,
    request: SummarizeRequest,
) -> Result<TextStream<SiteError>, SiteError> {
    use futures::StreamExt;
    let events = backend::use_backend()?.summarize(model, request).await?;
    Ok(TextStream::new(events.map(|ev| {
        serde_json::to_string(&ev)
            .map(|mut line| {
                line.push('\n');
                line
            })
            .map_err(|e| SiteError::internal(e.to_string()))
    })))
}
