//! The OpenAPI 3 description, generated from the handlers' annotations (utoipa), served at
//! `/api-docs/openapi.json`, and Swagger UI at `/docs` from local files (npm `swagger-ui-dist`,
//! copied into the site by the build), so the page works offline and needs no CDN.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::ErrorBody;
use crate::routes;
use crate::state::AppState;

/// An image given by address; fetched by the server under the URL safety rules.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUrl {
    /// http(s) only; private, loopback and metadata addresses are refused.
    #[schema(example = "https://example.com/photo.jpg", min_length = 1)]
    pub image_url: String,
}

/// A multipart upload: the image in `file`, plus optional fields that mirror the query.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    pub model: Option<String>,
}

/// The errors every image route can answer, in the one error shape. Listed once here and named
/// in each route's `responses(...)`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ImageRouteErrors {
    #[response(status = 400, description = "Bad parameter, or a refused image_url")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "API key required (--api-key)")]
    Unauthorized(ErrorBody),
    #[response(status = 404, description = "Unknown model (the message lists them)")]
    NotFound(ErrorBody),
    #[response(status = 413, description = "Body or fetched image over the limit")]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "Not a supported image (sniffed from the bytes)"
    )]
    UnsupportedMedia(ErrorBody),
    #[response(status = 422, description = "Corrupt image or too many pixels")]
    Unprocessable(ErrorBody),
    #[response(status = 429, description = "The model's queue is full (Retry-After)")]
    Overloaded(ErrorBody),
    #[response(status = 502, description = "image_url could not be fetched")]
    BadGateway(ErrorBody),
    #[response(
        status = 503,
        description = "Model loading, warming up or not installed (Retry-After)"
    )]
    Unavailable(ErrorBody),
    #[response(status = 504, description = "No answer within the request timeout")]
    Timeout(ErrorBody),
}

/// The errors every summarization route can answer. Its rows repeat `ImageRouteErrors`' where
/// the statuses are shared: utoipa reads each response set from its own enum's attributes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum TextRouteErrors {
    #[response(status = 400, description = "Empty text, bad lengths, unknown model")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "API key required (--api-key)")]
    Unauthorized(ErrorBody),
    #[response(status = 413, description = "Text over --text-limit")]
    TooLarge(ErrorBody),
    #[response(status = 429, description = "The model's queue is full (Retry-After)")]
    Overloaded(ErrorBody),
    #[response(status = 503, description = "Model not ready (Retry-After)")]
    Unavailable(ErrorBody),
    #[response(status = 504, description = "No answer within the request timeout")]
    Timeout(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "candlelit",
        description = "Segmentation, detection, classification and summarization on candle. \
            Every error is `{\"error\", \"type\", \"code\"}`; 429 and 503 carry `Retry-After`.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::segment::segment_v1,
        routes::segment::segment_legacy,
        routes::detect::detect_v1,
        routes::detect::detect_drawn,
        routes::classify::classify_v1,
        routes::classify::classify_legacy,
        routes::summarize::summarize_v1,
        routes::summarize::summarize_legacy,
        routes::summarize::summarize_ray,
        routes::models::list_models,
        routes::health::healthz,
        routes::health::readyz,
        routes::health::oip_live,
        routes::health::oip_ready,
        routes::health::oip_model,
        routes::health::oip_model_ready,
        routes::oip::infer,
    ),
    components(schemas(ImageUrl, ImageUpload, crate::error::ErrorBody)),
    modifiers(&BearerKey),
    tags(
        (name = "segmentation"), (name = "detection"), (name = "classification"),
        (name = "summarization"), (name = "models"), (name = "health")
    )
)]
pub struct ApiDoc;

/// Declares the optional Bearer key (`--api-key`).
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api-docs/openapi.json`.
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: Swagger UI on the spec, from the site's own copy of swagger-ui-dist.
pub async fn swagger_ui(State(state): State<AppState>) -> Response {
    let root = std::path::Path::new(state.leptos.site_root.as_ref());
    if !root.join("swagger/swagger-ui-bundle.js").exists() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Swagger UI's files are not in the site (run `make site`); the spec is at /api-docs/openapi.json",
        )
            .into_response();
    }
    Html(SWAGGER_PAGE).into_response()
}

const SWAGGER_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>candlelit API</title>
  <link rel="stylesheet" href="/swagger/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger/swagger-ui-bundle.js"></script>
  <script src="/swagger/swagger-init.js"></script>
</body>
</html>
"#;
