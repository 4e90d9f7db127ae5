//! `GET /samples/{name}`: the bundled sample photos (Debian darknet's, fetched into the model
//! store by `candlelit models fetch`) for the site's examples strip. Only the five known names
//! are served, so the route can never read anything else from the store.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The photos the examples strip offers; the only names this route serves.
pub const SAMPLE_NAMES: &[&str] = &[
    "person.jpg",
    "dog.jpg",
    "horses.jpg",
    "giraffe.jpg",
    "eagle.jpg",
];

pub async fn sample(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if !SAMPLE_NAMES.contains(&name.as_str()) {
        return ApiError::NotFound(format!(
            "no sample '{name}'; samples: {}",
            SAMPLE_NAMES.join(", ")
        ))
        .into_response();
    }
    match tokio::fs::read(state.settings.samples_dir.join(&name)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::NotFound(format!(
            "sample '{name}' is not in the store; run `candlelit models fetch`"
        ))
        .into_response(),
    }
}
