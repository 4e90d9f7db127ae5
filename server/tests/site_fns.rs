//! The site's Leptos server functions (`app::server_fns`) through the real router and real
//! models: each answers what its REST route answers (the same task core, the same ingress), with
//! the API's status and a `SiteError` body on failure, and the summary streams as JSON lines.

mod common;

use api_types::{ClassifyResponse, SegmentResponse, SummaryEvent};
use common::*;

fn upload(uri: &str, name: &str) -> axum::http::Request<axum::body::Body> {
    let photo = photo(name);
    let (ctype, body) = multipart(&[("file", Some(name), &photo)]);
    post(uri, &ctype, body)
}

#[tokio::test]
async fn classify_answers_what_the_rest_route_answers() {
    let (status, ctype, body) = send(
        router(),
        upload(
            "/site/classify?model=efficientnet-lite0&top_k=3&include=image",
            "eagle.jpg",
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let site: ClassifyResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(site.top_k.len(), 3);
    assert!(site.image_png.is_some(), "include=image is honoured");
    assert!(site.timings.total_ms > 0.0, "the total is filled in");

    let (status, _, body) = send(
        router(),
        upload(
            // With the image too: it is decoded at full size then (not shrunk while decoding),
            // which moves the probabilities a little.
            "/api/v1/classify/efficientnet-lite0?top_k=3&include=image",
            "eagle.jpg",
        ),
    )
    .await;
    assert_eq!(status, 200);
    let rest: ClassifyResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(site.top_k, rest.top_k, "one computation, one answer");
    assert!(
        ["kite", "bald eagle"]
            .iter()
            .any(|l| site.top_k[0].label.starts_with(l)),
        "{:?}",
        site.top_k[0]
    );
}

#[tokio::test]
async fn segment_always_answers_json_with_the_probabilities() {
    let (status, _, body) = send(
        router(),
        upload(
            "/site/segment?model=selfie&output=mask&include=probability",
            "person.jpg",
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r: SegmentResponse = serde_json::from_slice(&body).expect("JSON even for output=mask");
    assert_eq!(r.model, "selfie");
    assert!(r.probability_png.is_some());
    assert!(r
        .classes
        .iter()
        .any(|c| c.label == "person" && c.share > 0.05));
}

#[tokio::test]
async fn failures_carry_the_apis_status_kind_and_words() {
    let (status, _, body) = send(router(), upload("/site/detect?model=nope", "dog.jpg")).await;
    assert_eq!(status, 404);
    let e: app::server_fns::SiteError = serde_json::from_slice(&body).unwrap();
    assert_eq!((e.code, e.kind.as_str()), (404, "not_found"));
    assert!(e.error.contains("nope"), "{}", e.error);

    let (status, _, body) = send(
        router(),
        upload("/site/detect?model=nanodet&confidence=2", "dog.jpg"),
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    // The ingress is the API's: not an image is 415, however it is named.
    let (ctype, body) = multipart(&[("file", Some("notes.jpg"), b"just some text")]);
    let (status, _, body) = send(router(), post("/site/classify", &ctype, body)).await;
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    let e: app::server_fns::SiteError = serde_json::from_slice(&body).unwrap();
    assert_eq!(e.kind, "unsupported_media_type");
}

#[tokio::test]
async fn an_oversized_upload_is_refused_unread() {
    let req = axum::http::Request::post("/site/classify")
        .header("content-type", "multipart/form-data; boundary=x")
        .header("content-length", (64u64 << 20).to_string())
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, _, body) = send(router(), req).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn the_summary_streams_as_json_lines_and_ends_with_done() {
    let body = serde_json::json!({
        "model": "smollm2",
        "request": {"text": "The council voted to turn the old depot into a library. Work starts in spring.", "max_tokens": 6, "min_tokens": 1}
    });
    let (status, _, out) = send(
        router(),
        post(
            "/site/summarize",
            "application/json",
            body.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let events: Vec<SummaryEvent> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let tokens = events
        .iter()
        .filter(|e| matches!(e, SummaryEvent::Token(_)))
        .count();
    let Some(SummaryEvent::Done(done)) = events.last() else {
        panic!("no done event: {events:?}");
    };
    assert!((1..=6).contains(&tokens), "{tokens} tokens");
    assert_eq!(done.tokens_generated, tokens);
    assert_eq!(done.model, "smollm2");

    let empty = serde_json::json!({"model": "smollm2", "request": {"text": "  "}});
    let (status, _, out) = send(
        router(),
        post(
            "/site/summarize",
            "application/json",
            empty.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, 400);
    let e: app::server_fns::SiteError = serde_json::from_slice(&out).unwrap();
    assert_eq!(e.error, "Text cannot be empty");
}
