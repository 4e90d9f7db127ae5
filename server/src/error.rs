//! The one error type of the HTTP layer and its one mapping to status codes. Every 4xx/5xx
//! answer is `{"error": "...", "type": "..."}`; internal detail is logged, never returned.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: missing field, bad JSON, bad parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// A URL the server will not fetch (scheme, private address, ...).
    #[error("{0}")]
    UrlRefused(String),
    /// A fetched URL failed (unreachable, timed out, non-2xx).
    #[error("{0}")]
    UrlFailed(String),
    /// Over a size limit; the message names the limit and its flag.
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed but unusable: corrupt image, too many pixels.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Overloaded(String),
    #[error("{0}")]
    Unavailable(String),
    /// Something broke inside; the detail goes to the log only.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::UrlRefused(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::UrlFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::UrlRefused(_) => "url_refused",
            ApiError::UrlFailed(_) => "url_failed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let body = ErrorBody {
            error: self.to_string(),
            kind: self.kind(),
        };
        let mut resp = (status, Json(body)).into_response();
        if matches!(self, ApiError::Overloaded(_) | ApiError::Unavailable(_)) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<models::ModelError> for ApiError {
    fn from(e: models::ModelError) -> Self {
        use models::ModelError as M;
        match e {
            M::Input(m) => ApiError::Unprocessable(m),
            M::Image(e) => ApiError::Unprocessable(format!("the image could not be decoded: {e}")),
            M::NotReady { .. } => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
