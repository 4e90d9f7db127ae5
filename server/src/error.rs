//! The one error type of the HTTP layer and its one mapping to status codes. Every 4xx/5xx
//! answer is `{"error": "...", "type": "..."}`; internal detail is logged, never returned.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub use api_types::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: missing field, bad JSON, bad parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method (the answer keeps axum's `Allow` header).
    #[error("{0}")]
    MethodNotAllowed(String),
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
    /// The API needs a key and the request had none or a wrong one.
    #[error("{0}")]
    Unauthorized(String),
    /// The model's queue is full (429, retry soon).
    #[error("{0}")]
    Overloaded(String),
    /// This client is over its rate limit (429, retry after the time given).
    #[error("{0}")]
    RateLimited(String),
    /// The memory budget is in use by other requests (503, retry soon).
    #[error("{0}")]
    MemoryBusy(String),
    /// A client sent its request too slowly (408).
    #[error("{0}")]
    SlowClient(String),
    /// The model is loading or warming up (503, retry soon).
    #[error("{0}")]
    NotReady(String),
    /// The model cannot serve: missing, corrupt, failed, disabled, shutting down (503).
    #[error("{0}")]
    Unavailable(String),
    /// The answer was not ready within the request timeout (504); the work was dropped.
    #[error("{0}")]
    Timeout(String),
    /// Something broke inside; the detail goes to the log only.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::UrlRefused(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::NotReady(_) | ApiError::MemoryBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SlowClient(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UrlFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded(_) | ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Timeout(_) => "timeout",
            ApiError::NotReady(_) => "not_ready",
            ApiError::MemoryBusy(_) => "memory_busy",
            ApiError::SlowClient(_) => "request_timeout",
            ApiError::UrlRefused(_) => "url_refused",
            ApiError::UrlFailed(_) => "url_failed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ApiError {
    /// Seconds worth waiting before a retry (`Retry-After`): a full queue drains in moments, a
    /// warm-up in seconds; other errors will not go away by waiting.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Overloaded(_) | ApiError::MemoryBusy(_) => Some(1),
            ApiError::NotReady(_) => Some(5),
            ApiError::Unavailable(_) => Some(30),
            _ => None,
        }
    }

    /// Logs what an internal error keeps from the client; every answer made from an error
    /// (JSON, the site's server functions, the no-JS error page) calls this once.
    pub fn log_internal(&self) {
        if let ApiError::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        self.log_internal();
        let body = ErrorBody {
            error: self.to_string(),
            kind: self.kind().to_owned(),
            code: status.as_u16(),
        };
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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
