//! Shared by the API tests: the real router on the real registry (weights from the store,
//! filled by `make test`), and small request/response helpers.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use models::{Catalog, Store};
use server::ingress::fetch::FetchPolicy;
use server::ingress::limits::Limits;
use server::runtime::served::{EngineConfig, ServedModels};
use server::{AppState, Settings};
use tower::ServiceExt;

pub fn model_dir() -> std::path::PathBuf {
    std::env::var_os("CANDLELIT_MODEL_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model-store"))
}

/// The real models from the store, loaded and warmed up once per test binary.
pub fn models() -> Arc<ServedModels> {
    static M: OnceLock<Arc<ServedModels>> = OnceLock::new();
    M.get_or_init(|| {
        let store = Store::new(model_dir(), std::env::temp_dir());
        let served = ServedModels::new(Catalog::builtin(), None, EngineConfig::default());
        let device = candle_core::Device::Cpu;
        served.load_all(
            &(Box::new(move |spec: &models::ModelSpec| {
                models::load::load_one(spec, &store, &device)
            }) as server::runtime::served::Loader),
        );
        assert!(
            served
                .slot("selfie")
                .is_some_and(|s| s.state() == models::ServingState::Ready),
            "selfie is not in the store at {}; run `make fetch`",
            model_dir().display()
        );
        served
    })
    .clone()
}

pub fn state(limits: Limits, fetch: FetchPolicy) -> AppState {
    let settings = Settings {
        limits,
        fetch,
        ..Settings::default()
    };
    AppState::new(models(), settings, "target/site")
}

pub fn router() -> Router {
    server::app(state(Limits::default(), FetchPolicy::default()))
}

pub fn photo(name: &str) -> Vec<u8> {
    std::fs::read(model_dir().join("samples").join(name)).expect("sample photos; run `make fetch`")
}

pub fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "candlelit-test-boundary";
    let mut body = Vec::new();
    for (name, filename, data) in fields {
        body.extend(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend(*data);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn send(app: Router, req: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ctype, body)
}

pub fn post(uri: &str, ctype: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, ctype)
        .body(Body::from(body))
        .unwrap()
}

pub fn error_of(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    (
        v["type"].as_str().unwrap().to_owned(),
        v["error"].as_str().unwrap().to_owned(),
    )
}
