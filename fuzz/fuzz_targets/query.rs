//! The strings a request or an operator controls: every route's query string, the rate-limit,
//! size and per-model option flags.
#![no_main]

use axum::extract::Query;
use axum::http::Uri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = format!("/x?{text}").parse::<Uri>() {
        let _ = Query::<server::routes::segment::SegmentQuery>::try_from_uri(&uri);
        let _ = Query::<server::routes::detect::DetectQuery>::try_from_uri(&uri);
        let _ = Query::<server::routes::classify::ClassifyQuery>::try_from_uri(&uri);
    }
    let _ = text.parse::<server::ingress::conn::RateLimit>();
    let _ = server::ingress::budget::parse_bytes(text);
    let _ = server::config::parse_model_opts(text, server::runtime::engine::EngineOptions::default());
    if let Ok(body) = serde_json::from_str::<server::routes::summarize::TextBody>(text) {
        let _ = body;
    }
    let _ = text.parse::<server::routes::segment::SegmentOutput>();
});
