//! The site's summary stream, dropped by its reader (the page's Stop): generation stops at the
//! next token. Its own test binary, so no other test's requests share the summarizer's queue
//! while it watches the queue go idle.

mod common;

use common::*;
/// The site's summary stream of `tokens` forced tokens, its head checked.
async fn summarize_for(app: axum::Router, tokens: usize) -> axum::body::Body {
    let body = serde_json::json!({
        "model": "smollm2",
        "request": {"text": "The council voted to turn the old depot into a library. Work starts in spring, paid by a regional grant; critics worry about parking.", "min_tokens": tokens, "max_tokens": tokens}
    });
    let resp = tower::ServiceExt::oneshot(
        app,
        post(
            "/site/summarize",
            "application/json",
            body.to_string().into_bytes(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_summary_stream_stops_generation_at_the_next_token() {
    use http_body_util::BodyExt;
    use std::time::{Duration, Instant};
    let state = state(Default::default(), Default::default());
    let app = server::app(state.clone());
    let (_, engine) = state.summarizer("smollm2").expect("smollm2 is served");
    let idle = || async {
        while engine.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    // A whole summary of 64 forced tokens, read to the end: what a run costs.
    let t0 = Instant::now();
    let whole = summarize_for(app.clone(), 64)
        .await
        .collect()
        .await
        .unwrap();
    let full = t0.elapsed();
    assert!(String::from_utf8_lossy(&whole.to_bytes()).contains("\"done\""));
    idle().await;

    // The same, dropped after its first token: the engine is idle again within a few tokens'
    // time, not the 64's (the browser's Stop drops the stream the same way).
    let mut body = summarize_for(app, 64).await;
    let first = body.frame().await.expect("a first event").unwrap();
    assert!(String::from_utf8_lossy(first.data_ref().unwrap()).contains("\"token\""));
    let t1 = Instant::now();
    drop(body);
    idle().await;
    let stopped = t1.elapsed();
    assert!(
        stopped < full / 4,
        "generation went on after the stream was dropped: idle after {stopped:?}; a whole run takes {full:?}"
    );
}
