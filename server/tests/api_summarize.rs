//! API tests for summarization on the real SmolLM2 GGUF: the seeds' routes and the v1 route,
//! streaming included. Summaries are kept short (max tokens) so the tests stay quick.

mod common;

use axum::body::Body;
use axum::http::{header, Request};
use common::*;

const TEXT: &str = "The city council voted on Tuesday to turn the old railway depot into a public \
library and community centre. The project will cost about 12 million dollars, paid for by a \
state grant and a local bond, and construction should begin in two years.";

fn json_post(uri: &str, body: serde_json::Value) -> Request<Body> {
    post(uri, "application/json", body.to_string().into_bytes())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn seed_route_answers_a_summary_within_max_tokens() {
    let req = json_post(
        "/predict/text_summarize?max=24&min=4",
        serde_json::json!({ "text": TEXT }),
    );
    let (status, _, body) = send(router(), req).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.len() > 10, "{summary}");
    let n = v["tokens_generated"].as_u64().unwrap();
    assert!((4..=24).contains(&n), "{n} tokens");
    assert_eq!(v["input_truncated"], false);
    // A faithful summary of this text mentions what it is about.
    let lower = summary.to_lowercase();
    assert!(
        lower.contains("library") || lower.contains("depot") || lower.contains("council"),
        "{summary}"
    );
}

#[tokio::test]
async fn seed_route_errors_are_the_seeds() {
    let (status, _, body) = send(
        router(),
        json_post(
            "/predict/text_summarize",
            serde_json::json!({ "text": "   " }),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error_of(&body).1, "Text cannot be empty");
    let (status, _, body) = send(
        router(),
        json_post(
            "/predict/text_summarize?model=nope",
            serde_json::json!({ "text": TEXT }),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).1.contains("smollm2"), "names the choices");
    // A catalog model whose weights are not installed (BART, from the hub) is 503, naming
    // how to install it, not 400.
    let (status, _, body) = send(
        router(),
        json_post(
            "/predict/text_summarize?model=bart",
            serde_json::json!({ "text": TEXT }),
        ),
    )
    .await;
    assert_eq!(status, 503);
    assert!(
        error_of(&body).1.contains("models install bart"),
        "{:?}",
        error_of(&body)
    );
    let (status, _, body) = send(
        router(),
        json_post(
            "/predict/text_summarize?min=9&max=3",
            serde_json::json!({ "text": TEXT }),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).1.contains("min"));
    let (status, _, _) = send(
        router(),
        post(
            "/predict/text_summarize",
            "application/json",
            b"{not json".to_vec(),
        ),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn over_long_text_is_413_naming_the_limit() {
    let long = "word ".repeat(5_000); // 25,000 characters > the 20,000 default
    let (status, _, body) = send(
        router(),
        json_post(
            "/api/v1/summarize/smollm2",
            serde_json::json!({ "text": long }),
        ),
    )
    .await;
    assert_eq!(status, 413);
    assert!(error_of(&body).1.contains("--text-limit"));
}

#[tokio::test]
async fn max_tokens_stops_generation_and_says_so() {
    let (status, _, body) = send(
        router(),
        json_post(
            "/api/v1/summarize/smollm2",
            serde_json::json!({ "text": TEXT, "min_tokens": 5, "max_tokens": 5 }),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["tokens_generated"], 5);
    assert_eq!(v["stop_reason"], "max_tokens");
    assert!(v["timings"]["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["prompt_tokens"].as_u64().unwrap() > 40);
}

#[tokio::test]
async fn streaming_sends_tokens_then_done_and_they_add_up() {
    let req = Request::post("/api/v1/summarize/smollm2")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::from(
            serde_json::json!({ "text": TEXT, "max_tokens": 16 }).to_string(),
        ))
        .unwrap();
    let (status, ctype, body) = send(router(), req).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let text = String::from_utf8(body).unwrap();
    let mut pieces = String::new();
    let mut done = None;
    // Blocks of `:` comments are keep-alives (sent while a slow build generates): not events.
    let events = text.split("\n\n").filter(|b| {
        b.lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with(':'))
    });
    for block in events {
        let event = block
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap_or("");
        let data = block
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or("");
        match event {
            "token" => pieces.push_str(json(data.as_bytes())["text"].as_str().unwrap()),
            "done" => done = Some(json(data.as_bytes())),
            other => panic!("unexpected event {other}: {block}"),
        }
    }
    let done = done.expect("a done event");
    assert!(!pieces.is_empty());
    assert_eq!(pieces.trim(), done["summary"].as_str().unwrap());
}
