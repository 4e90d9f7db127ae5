//! Draining for a load balancer: once shutdown is signalled `/readyz` answers 503 "draining",
//! and the listener stays open for `--drain-ms` (new connections still served) so a health
//! check can take the replica out before connections are refused.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use common::{post, send};
use image::{Rgb, RgbImage};
use models::image::postprocess::ProbMap;
use models::{Catalog, Model, ModelSpec, Segmentation, Segmenter};
use server::runtime::served::{EngineConfig, ServedModels};
use server::{AppState, Settings};

/// A segmenter that answers at once with a constant map.
struct Instant0(ModelSpec);

impl Segmenter for Instant0 {
    fn spec(&self) -> &ModelSpec {
        &self.0
    }

    fn segment(&self, _: &RgbImage) -> models::Result<Segmentation> {
        Ok(Segmentation {
            probs: ProbMap::new(2, 2, vec![0.5; 4])?,
            classes: None,
            timings: Default::default(),
        })
    }
}

fn state(settings: Settings) -> AppState {
    let mut spec = Catalog::builtin().get("selfie").unwrap().clone();
    spec.id = "fake".into();
    spec.default = true;
    let served = ServedModels::ready(
        Catalog::builtin(),
        vec![(spec.clone(), Model::Segmenter(Arc::new(Instant0(spec))))],
        EngineConfig::default(),
    );
    AppState::new(served, settings, "target/site")
}

fn png() -> Vec<u8> {
    let img = RgbImage::from_pixel(8, 6, Rgb([9, 9, 9]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn readiness_says_draining_but_work_is_still_served() {
    let state = state(Settings::default());
    let app = server::app(state.clone());
    assert_eq!(send(app.clone(), get("/readyz")).await.0, 200);

    state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, _, body) = send(app.clone(), get("/readyz")).await;
    assert_eq!(status, 503);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["draining"], true, "{v}");
    assert_eq!(v["ready"], false);
    assert_eq!(
        v["models"]["fake"], "ready",
        "the models themselves are fine"
    );
    assert_eq!(send(app.clone(), get("/v2/health/ready")).await.0, 503);
    assert_eq!(
        send(app.clone(), get("/healthz")).await.0,
        200,
        "still alive"
    );
    let req = post("/api/v1/segment/fake", "image/png", png());
    assert_eq!(
        send(app, req).await.0,
        200,
        "requests that arrive are served"
    );
}

#[tokio::test]
async fn the_listener_stays_open_for_the_drain_then_refuses() {
    let drain = Duration::from_millis(800);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        state(Settings {
            drain,
            ..Settings::default()
        }),
        async {
            let _ = stop_rx.await;
        },
        Duration::from_secs(5),
    ));
    // No pooling: every request opens a new connection, as a balancer's health check does.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let readyz = format!("http://{addr}/readyz");
    assert_eq!(client.get(&readyz).send().await.unwrap().status(), 200);

    stop_tx.send(()).unwrap();
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = client.get(&readyz).send().await.expect("still accepting");
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["draining"], true, "{v}");
    let seg = client
        .post(format!("http://{addr}/api/v1/segment/fake"))
        .header("content-type", "image/png")
        .body(png())
        .send()
        .await
        .expect("still accepting");
    assert_eq!(seg.status(), 200, "work is served during the drain");

    // Then the listener closes: connections are refused, and not before the drain is over.
    let refused_at = loop {
        if client.get(&readyz).send().await.is_err() {
            break signalled.elapsed();
        }
        assert!(signalled.elapsed() < Duration::from_secs(5), "never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        refused_at >= drain,
        "closed after {refused_at:?}, drain {drain:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once drained")
        .unwrap()
        .unwrap();
}
