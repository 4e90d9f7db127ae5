//! Getting the image (and any form fields) out of a request: multipart upload (field `file`),
//! a raw `image/*` body, or JSON `{"image_url": "..."}` fetched under the fetch policy.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::ingress::budget::Lease;
use crate::ingress::conn::{BodyLease, SlowBody};
use crate::state::AppState;

/// A multipart field that is an upload rather than a parameter: one sent as a file, or whose
/// bytes are an image. Parameters (`model`, `threshold`, ...) are short text.
fn field_is_upload(name: &str, has_filename: bool, data: &[u8]) -> bool {
    const PARAMS: &[&str] = &[
        "model",
        "threshold",
        "opacity",
        "output",
        "include",
        "confidence",
        "top_k",
        "image_url",
    ];
    has_filename
        || (!PARAMS.contains(&name)
            && (crate::ingress::limits::sniff(data).is_ok() || std::str::from_utf8(data).is_err()))
}

/// The image bytes plus any text fields sent beside it (multipart `model`, `threshold`, ...),
/// and the memory they hold, reserved from the budget before they were read.
pub struct ImageRequest {
    pub bytes: Vec<u8>,
    pub fields: HashMap<String, String>,
    pub lease: Lease,
}

/// Fetches `url` with the fetched bytes reserved first (the fetch cap), then shrinks the
/// reservation to what came.
async fn fetch_reserved(
    state: &AppState,
    url: &str,
    lease: &mut Lease,
) -> Result<Vec<u8>, ApiError> {
    let held = lease.bytes();
    lease.grow(state.fetch.max_bytes as u64, "fetch")?;
    let bytes = state.fetcher.fetch_image(url).await?;
    lease.shrink_to(held + bytes.len() as u64);
    Ok(bytes)
}

#[derive(Deserialize)]
struct UrlBody {
    image_url: String,
}

fn rejection(status: StatusCode, what: &str, detail: String, limit: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!(
            "the request body is larger than {limit} bytes (--body-limit)"
        ))
    } else {
        ApiError::BadRequest(format!("{what}: {detail}"))
    }
}

/// What `conn::guard_request` attached to the request: the memory reserved for its body before
/// it was read (a fresh empty lease when the guard did not run, as in `oneshot` tests), and the
/// slow-client flag (a body the guard cut off is 408, whatever the parser made of the cut).
pub fn body_guards(state: &AppState, req: &Request) -> (Lease, SlowBody) {
    let lease = req
        .extensions()
        .get::<BodyLease>()
        .and_then(BodyLease::take)
        .unwrap_or_else(|| state.memory.lease());
    let slow = req
        .extensions()
        .get::<SlowBody>()
        .cloned()
        .unwrap_or_default();
    (lease, slow)
}

pub async fn read_image(state: &AppState, req: Request) -> Result<ImageRequest, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let limit = state.limits.body_bytes;
    // This request carries the body's lease through decoding.
    let (mut lease, slow) = body_guards(state, &req);
    let rejection = |status: StatusCode, what: &str, detail: String, limit: usize| {
        if slow.tripped() {
            ApiError::SlowClient(format!(
                "the request body arrived too slowly (--min-body-rate, --body-timeout-ms): {detail}"
            ))
        } else {
            rejection(status, what, detail, limit)
        }
    };
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, state)
            .await
            .map_err(|e| rejection(e.status(), "bad multipart body", e.body_text(), limit))?;
        let mut fields = HashMap::new();
        let mut bytes = None;
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| rejection(e.status(), "bad multipart body", e.body_text(), limit))?
        {
            let name = field.name().unwrap_or("").to_owned();
            let has_filename = field.file_name().is_some();
            let data = field
                .bytes()
                .await
                .map_err(|e| rejection(e.status(), "bad multipart field", e.body_text(), limit))?;
            // The contract (and the seeds') is one image in the field `file`; an upload under
            // another name is refused with the name to use, never guessed at.
            if name == "file" {
                if bytes.is_some() {
                    return Err(ApiError::BadRequest(
                        "the form has more than one 'file' field; send one image per request"
                            .into(),
                    ));
                }
                bytes = Some(data.to_vec());
            } else if field_is_upload(&name, has_filename, &data) {
                return Err(ApiError::BadRequest(format!(
                    "the image is in the field '{name}'; send it in the field 'file'"
                )));
            } else {
                fields.insert(name, String::from_utf8_lossy(&data).trim().to_owned());
            }
        }
        let bytes = match (
            bytes,
            fields.get("image_url").filter(|u| !u.is_empty()).cloned(),
        ) {
            (Some(b), _) if !b.is_empty() => b,
            (Some(_), None) => {
                return Err(ApiError::BadRequest(
                    "the field 'file' is empty: choose an image to upload".into(),
                ))
            }
            (_, Some(url)) => fetch_reserved(state, &url, &mut lease).await?,
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "the form has no image: send a file in the field 'file' or an 'image_url'"
                        .into(),
                ))
            }
        };
        return Ok(ImageRequest {
            bytes,
            fields,
            lease,
        });
    }
    if ctype.starts_with("application/json") {
        let Json(body) = Json::<UrlBody>::from_request(req, state)
            .await
            .map_err(|e| {
                rejection(
                    e.status(),
                    "bad JSON body (expected {\"image_url\": \"https://...\"})",
                    e.body_text(),
                    limit,
                )
            })?;
        let bytes = fetch_reserved(state, &body.image_url, &mut lease).await?;
        return Ok(ImageRequest {
            bytes,
            fields: HashMap::new(),
            lease,
        });
    }
    if ctype.starts_with("image/") || ctype.starts_with("application/octet-stream") {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| rejection(e.status(), "bad body", e.body_text(), limit))?;
        lease.shrink_to(bytes.len() as u64);
        return Ok(ImageRequest {
            bytes: bytes.into(),
            fields: HashMap::new(),
            lease,
        });
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "unsupported Content-Type '{ctype}': send multipart/form-data with a 'file' field, an image/* body, or JSON {{\"image_url\": ...}}"
    )))
}

/// Answers `err` for a request whose body was not read (a full queue, an unknown model): the
/// body is read and thrown away in the background, bounded in time, so the client that is still
/// uploading sees the answer instead of a connection reset (hyper closes a connection whose
/// request body was dropped unread), and the connection stays reusable. Nothing is buffered: the
/// memory reserved for the body was released with the request's lease.
pub fn refuse_unread(req: Request, err: ApiError) -> ApiError {
    use http_body::Body as _;
    // Bodies are capped (--body-limit) and slow ones cut (--min-body-rate), so this is a bound
    // of last resort.
    const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(30);
    tokio::spawn(async move {
        let mut body = req.into_body();
        let drain = std::future::poll_fn(|cx| loop {
            match std::pin::Pin::new(&mut body).poll_frame(cx) {
                std::task::Poll::Ready(Some(Ok(_))) => continue,
                std::task::Poll::Ready(_) => return std::task::Poll::Ready(()),
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
    });
    err
}
