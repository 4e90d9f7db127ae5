//! Getting the image (and any form fields) out of a request: multipart upload (field `file`),
//! a raw `image/*` body, or JSON `{"image_url": "..."}` fetched under the fetch policy.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

/// The image bytes plus any text fields sent beside it (multipart `model`, `threshold`, ...).
pub struct ImageRequest {
    pub bytes: Vec<u8>,
    pub fields: HashMap<String, String>,
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

pub async fn read_image(state: &AppState, req: Request) -> Result<ImageRequest, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let limit = state.limits.body_bytes;
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
            let is_file = field.file_name().is_some() || name == "file";
            let data = field
                .bytes()
                .await
                .map_err(|e| rejection(e.status(), "bad multipart field", e.body_text(), limit))?;
            if is_file && bytes.is_none() && !data.is_empty() {
                bytes = Some(data.to_vec());
            } else if !is_file {
                fields.insert(name, String::from_utf8_lossy(&data).trim().to_owned());
            }
        }
        let bytes = match (bytes, fields.get("image_url").filter(|u| !u.is_empty())) {
            (Some(b), _) => b,
            (None, Some(url)) => state.fetch.fetch_image(url).await?,
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "the form has no image: send a file in the field 'file' or an 'image_url'"
                        .into(),
                ))
            }
        };
        return Ok(ImageRequest { bytes, fields });
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
        let bytes = state.fetch.fetch_image(&body.image_url).await?;
        return Ok(ImageRequest {
            bytes,
            fields: HashMap::new(),
        });
    }
    if ctype.starts_with("image/") || ctype.starts_with("application/octet-stream") {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| rejection(e.status(), "bad body", e.body_text(), limit))?;
        return Ok(ImageRequest {
            bytes: bytes.to_vec(),
            fields: HashMap::new(),
        });
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "unsupported Content-Type '{ctype}': send multipart/form-data with a 'file' field, an image/* body, or JSON {{\"image_url\": ...}}"
    )))
}
