//! The serving engine through the real router, on fake models (the task traits make them easy):
//! queue limits (429), not-ready models (503), deadlines (504), batching that answers each
//! request as if it ran alone, health and OIP routes, metrics, request ids, the OpenAPI spec and
//! Swagger page, the API key, CORS, one error shape, and draining on shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use common::{error_of, post, send};
use image::{Rgb, RgbImage};
use models::image::postprocess::ProbMap;
use models::Timings;
use models::{Catalog, Model, ModelSpec, Segmentation, Segmenter, ServingState};
use server::runtime::engine::EngineOptions;
use server::runtime::served::{EngineConfig, Loader, ServedModels};
use server::{AppState, Settings};
use tower::ServiceExt;

/// A segmenter whose "probability" is the image's mean brightness, so every answer says which
/// input it came from. Records each call's batch size and can be slowed down.
struct Fake {
    spec: ModelSpec,
    pause: Duration,
    batches: Arc<Mutex<Vec<usize>>>,
    images_run: Arc<AtomicUsize>,
}

impl Fake {
    fn answer(img: &RgbImage) -> models::Result<Segmentation> {
        let n = (img.width() * img.height()) as f32;
        let mean = img.pixels().map(|p| p[0] as f32).sum::<f32>() / n / 255.0;
        Ok(Segmentation {
            probs: ProbMap::new(2, 2, vec![mean; 4])?,
            classes: None,
            timings: Timings {
                inference_ms: 1.0,
                ..Timings::default()
            },
        })
    }
}

impl Segmenter for Fake {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn segment(&self, img: &RgbImage) -> models::Result<Segmentation> {
        self.segment_batch(&[img]).remove(0)
    }

    fn segment_batch(&self, imgs: &[&RgbImage]) -> Vec<models::Result<Segmentation>> {
        self.batches.lock().unwrap().push(imgs.len());
        self.images_run.fetch_add(imgs.len(), Ordering::SeqCst);
        std::thread::sleep(self.pause);
        imgs.iter().map(|i| Fake::answer(i)).collect()
    }
}

fn fake_spec(id: &str) -> ModelSpec {
    let mut spec = Catalog::builtin().get("selfie").unwrap().clone();
    spec.id = id.to_owned();
    spec.default = true;
    spec
}

struct Harness {
    app: Router,
    batches: Arc<Mutex<Vec<usize>>>,
    images_run: Arc<AtomicUsize>,
}

fn harness(pause_ms: u64, opts: EngineOptions, settings: Settings) -> Harness {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let images_run = Arc::new(AtomicUsize::new(0));
    let fake = Fake {
        spec: fake_spec("fake"),
        pause: Duration::from_millis(pause_ms),
        batches: batches.clone(),
        images_run: images_run.clone(),
    };
    let served = ServedModels::ready(
        Catalog::builtin(),
        vec![(fake.spec.clone(), Model::Segmenter(Arc::new(fake)))],
        EngineConfig {
            default: opts,
            per_model: Default::default(),
        },
    );
    // The warm-up ran once; start the counts from the requests.
    batches.lock().unwrap().clear();
    images_run.store(0, Ordering::SeqCst);
    Harness {
        app: server::app(AppState::new(served, settings, "target/site")),
        batches,
        images_run,
    }
}

fn png(grey: u8) -> Vec<u8> {
    let img = RgbImage::from_pixel(8, 6, Rgb([grey, grey, grey]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn segment(grey: u8) -> Request<Body> {
    post(
        "/api/v1/segment/fake?output=probability",
        "image/png",
        png(grey),
    )
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn full(app: Router, req: Request<Body>) -> axum::response::Response {
    app.oneshot(req).await.unwrap()
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after_and_the_rest_are_served() {
    let opts = EngineOptions {
        workers: 1,
        queue: 1,
        ..EngineOptions::default()
    };
    let h = harness(400, opts, Settings::default());
    let jobs: Vec<_> = (0..5u8)
        .map(|i| {
            let app = h.app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
                let resp = full(app, segment(40 * i)).await;
                let retry = resp.headers().get(header::RETRY_AFTER).cloned();
                (resp.status().as_u16(), retry)
            })
        })
        .collect();
    let mut codes = Vec::new();
    for j in jobs {
        let (status, retry) = j.await.unwrap();
        if status == 429 {
            assert!(retry.is_some(), "429 carries Retry-After");
        }
        codes.push(status);
    }
    codes.sort();
    assert_eq!(
        codes,
        [200, 200, 429, 429, 429],
        "one runs, one waits, the rest are refused"
    );
    let (status, _, body) = send(h.app.clone(), segment(9)).await;
    assert_eq!(
        status,
        200,
        "serving again: {}",
        String::from_utf8_lossy(&body)
    );
}

type Pending = tokio::task::JoinHandle<axum::response::Response>;

/// One worker and a queue of one, both taken: a request that runs and one that waits.
async fn full_queue() -> (Harness, Pending, Pending) {
    let opts = EngineOptions {
        workers: 1,
        queue: 1,
        ..EngineOptions::default()
    };
    let h = harness(400, opts, Settings::default());
    let running = tokio::spawn(full(h.app.clone(), segment(10)));
    tokio::time::sleep(Duration::from_millis(60)).await; // taken by the worker
    let waiting = tokio::spawn(full(h.app.clone(), segment(20)));
    tokio::time::sleep(Duration::from_millis(60)).await; // holding the one place
    (h, running, waiting)
}

/// With the queue full, the route answers 429 without reading the upload at all: this body never
/// sends a byte, so a handler that read it first would hang past the timeout.
#[tokio::test]
async fn a_full_queue_refuses_before_reading_the_body() {
    let (h, running, waiting) = full_queue().await;
    for uri in ["/api/v1/segment/fake", "/segment"] {
        let never = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, "image/png")
            .header(header::CONTENT_LENGTH, "1000000")
            .body(Body::from_stream(never))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_millis(200), full(h.app.clone(), req))
            .await
            .expect("answered without reading the body");
        assert_eq!(resp.status(), 429, "{uri}");
        assert!(resp.headers().get(header::RETRY_AFTER).is_some());
    }
    assert_eq!(running.await.unwrap().status(), 200);
    assert_eq!(waiting.await.unwrap().status(), 200);
}

/// A PNG upload whose last bytes arrive `late_ms` after the first ones.
fn slow_upload(grey: u8, late_ms: u64) -> Request<Body> {
    let mut head = png(grey);
    let tail = head.split_off(head.len() / 2);
    let chunks = futures_util::stream::unfold(0, move |step| {
        let (head, tail) = (head.clone(), tail.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(head), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(late_ms)).await;
                    Some((Ok(tail), 2))
                }
                _ => None,
            }
        }
    });
    Request::post("/api/v1/segment/fake?output=probability")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from_stream(chunks))
        .unwrap()
}

/// The queue place is taken when a request's head arrives and kept while its upload comes in:
/// a request let in is not refused once its upload is in (a later one is refused instead, at
/// once, before its body is read).
#[tokio::test]
async fn a_request_let_in_keeps_its_place_while_its_upload_arrives() {
    let opts = EngineOptions {
        workers: 1,
        queue: 1,
        ..EngineOptions::default()
    };
    let h = harness(300, opts, Settings::default());
    let running = tokio::spawn(full(h.app.clone(), segment(10)));
    tokio::time::sleep(Duration::from_millis(60)).await; // taken by the worker
    let uploading = tokio::spawn(full(h.app.clone(), slow_upload(20, 200)));
    tokio::time::sleep(Duration::from_millis(60)).await; // head in, upload still arriving
    let (status, _, _) = send(h.app.clone(), segment(30)).await;
    assert_eq!(status, 429, "the one place is the uploading request's");
    assert_eq!(running.await.unwrap().status(), 200);
    assert_eq!(uploading.await.unwrap().status(), 200, "not refused late");
}

/// ... but only for `--upload-hold-ms`: a slower upload gives its place back, so slow clients
/// cannot keep a model's queue from the requests behind them.
#[tokio::test]
async fn a_slow_upload_gives_its_place_back() {
    let opts = EngineOptions {
        workers: 1,
        queue: 1,
        ..EngineOptions::default()
    };
    let settings = Settings {
        upload_hold: Duration::from_millis(50),
        ..Settings::default()
    };
    let h = harness(300, opts, settings);
    let running = tokio::spawn(full(h.app.clone(), segment(10)));
    tokio::time::sleep(Duration::from_millis(60)).await; // taken by the worker
    let uploading = tokio::spawn(full(h.app.clone(), slow_upload(20, 400)));
    tokio::time::sleep(Duration::from_millis(120)).await; // held 50 ms, then given back
    let (status, _, body) = send(h.app.clone(), segment(30)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(running.await.unwrap().status(), 200);
    // Admitted again once its upload was in: the queue was free by then.
    assert_eq!(uploading.await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_request_refused_for_a_full_queue_is_not_decoded_first() {
    let (h, running, waiting) = full_queue().await;
    // A corrupt PNG: decoding it would answer 422. Admission comes first, so it is 429.
    let mut corrupt = png(30);
    corrupt.truncate(40);
    let (status, _, body) = send(
        h.app.clone(),
        post("/api/v1/segment/fake", "image/png", corrupt.clone()),
    )
    .await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert_eq!(running.await.unwrap().status(), 200);
    assert_eq!(waiting.await.unwrap().status(), 200);
    // With room again the same bytes are decoded, and refused for what they are; the place
    // that failed decode took is given back, so the next request is served.
    let (status, _, _) = send(
        h.app.clone(),
        post("/api/v1/segment/fake", "image/png", corrupt),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = send(h.app.clone(), segment(50)).await;
    assert_eq!(status, 200);
    assert_eq!(h.images_run.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_504_and_its_work_is_dropped() {
    let settings = Settings {
        request_timeout: Duration::from_millis(150),
        ..Settings::default()
    };
    let h = harness(300, EngineOptions::default(), settings);
    let first = tokio::spawn(full(h.app.clone(), segment(10)));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (status, _, body) = send(h.app.clone(), segment(20)).await;
    assert_eq!(status, 504);
    assert_eq!(error_of(&body).0, "timeout");
    // The first request itself outlives its deadline (300 ms of work, 150 ms allowed).
    assert_eq!(first.await.unwrap().status(), 504);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        h.images_run.load(Ordering::SeqCst),
        1,
        "the queued job was dropped unrun"
    );
}

#[tokio::test]
async fn batched_requests_get_the_same_answers_as_alone() {
    let batched = EngineOptions {
        workers: 1,
        queue: 16,
        max_batch: 8,
        batch_wait: Duration::from_millis(150),
    };
    // Each batch takes 100 ms, so requests that arrive while one runs queue up and share the
    // next, even on a loaded machine where they trickle in (batch_wait alone raced there).
    let h = harness(100, batched, Settings::default());
    let greys: Vec<u8> = (0..6).map(|i| 30 + 35 * i).collect();
    let jobs: Vec<_> = greys
        .iter()
        .map(|&g| tokio::spawn(send(h.app.clone(), segment(g))))
        .collect();
    let mut together = Vec::new();
    for j in jobs {
        let (status, ctype, body) = j.await.unwrap();
        assert_eq!((status.as_u16(), ctype.as_str()), (200, "image/png"));
        together.push(body);
    }
    let sizes = h.batches.lock().unwrap().clone();
    assert!(
        sizes.iter().any(|&n| n > 1),
        "requests shared a batch: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), greys.len());

    let alone = harness(0, EngineOptions::default(), Settings::default());
    for (g, body) in greys.iter().zip(&together) {
        let (_, _, single) = send(alone.app.clone(), segment(*g)).await;
        assert_eq!(
            &single, body,
            "grey {g}: the batched answer equals the lone one"
        );
    }
    assert!(alone.batches.lock().unwrap().iter().all(|&n| n == 1));
}

#[tokio::test]
async fn a_model_that_is_still_warming_up_answers_503_and_readiness_follows() {
    let spec = fake_spec("slow");
    let catalog = Catalog {
        models: vec![spec.clone()],
        samples: vec![],
    };
    let served = ServedModels::new(catalog, None, EngineConfig::default());
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let loader: Loader = Box::new(move |spec: &ModelSpec| {
        go_rx.lock().unwrap().recv().unwrap();
        let fake = Fake {
            spec: spec.clone(),
            pause: Duration::ZERO,
            batches: Arc::default(),
            images_run: Arc::default(),
        };
        (ServingState::Ready, Some(Model::Segmenter(Arc::new(fake))))
    });
    let loading = served.start_loading(loader, None);
    let app = server::app(AppState::new(
        served.clone(),
        Settings::default(),
        "target/site",
    ));

    let resp = full(
        app.clone(),
        post("/api/v1/segment/slow", "image/png", png(1)),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get(header::RETRY_AFTER).is_some());
    let (status, _, body) = send(app.clone(), get("/readyz")).await;
    assert_eq!(status, 503);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["models"]["slow"], "loading");
    assert_eq!(
        send(app.clone(), get("/healthz")).await.0,
        200,
        "alive meanwhile"
    );
    assert_eq!(send(app.clone(), get("/v2/health/live")).await.0, 200);
    assert_eq!(send(app.clone(), get("/v2/health/ready")).await.0, 503);
    assert_eq!(send(app.clone(), get("/v2/models/slow/ready")).await.0, 503);

    go_tx.send(()).unwrap();
    loading.join().unwrap();
    let (status, _, body) = send(app.clone(), get("/readyz")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(send(app.clone(), get("/v2/health/ready")).await.0, 200);
    assert_eq!(send(app.clone(), get("/v2/models/slow/ready")).await.0, 200);
    let (status, _, body) = send(app.clone(), get("/v2/models/slow")).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["name"], "slow");
    // What `POST /v2/models/slow/infer` takes: one encoded image as BYTES [1].
    assert_eq!(v["inputs"][0]["name"], "image");
    assert_eq!(v["inputs"][0]["datatype"], "BYTES");
    let (status, _, _) = send(app.clone(), get("/v2/models/nope/ready")).await;
    assert_eq!(status, 404);
    let (status, _, _) = send(app, post("/api/v1/segment/slow", "image/png", png(1))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn models_list_reports_state_labels_and_engine_settings() {
    let opts = EngineOptions {
        workers: 2,
        queue: 7,
        max_batch: 3,
        batch_wait: Duration::ZERO,
    };
    let h = harness(0, opts, Settings::default());
    let (status, _, body) = send(h.app, get("/api/v1/models")).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let m = &v[0];
    assert_eq!(m["id"], "fake");
    assert_eq!(m["state"], "ready");
    assert_eq!(m["task"], "segmentation");
    assert_eq!(m["labels_count"], 2);
    assert_eq!(m["input_width"], 256);
    assert_eq!(
        (m["workers"].as_u64(), m["queue"].as_u64()),
        (Some(2), Some(7))
    );
    assert_eq!(m["max_batch"], 3);
    assert!(m["licence"].as_str().unwrap().contains("Apache"));
}

#[tokio::test]
async fn metrics_count_requests_and_time_each_stage() {
    let h = harness(0, EngineOptions::default(), Settings::default());
    for g in [1, 2] {
        assert_eq!(send(h.app.clone(), segment(g)).await.0, 200);
    }
    let (status, _, _) = send(
        h.app.clone(),
        post(
            "/api/v1/segment/fake",
            "image/png",
            b"not an image".to_vec(),
        ),
    )
    .await;
    assert_eq!(status, 415);
    let (status, ctype, body) = send(h.app.clone(), get("/metrics")).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    let count = |needle: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        count(
            r#"candlelit_requests_total{model="fake",route="/api/v1/segment/{model_id}",status="200"}"#
        ) >= 2.0
    );
    assert!(
        count(
            r#"candlelit_requests_total{model="fake",route="/api/v1/segment/{model_id}",status="415"}"#
        ) >= 1.0
    );
    // Each answer timed by route and status, from the sub-millisecond buckets up.
    assert!(
        count(
            r#"candlelit_request_duration_seconds_count{route="/api/v1/segment/{model_id}",status="200"}"#
        ) >= 2.0
    );
    assert!(
        count(
            r#"candlelit_request_duration_seconds_bucket{route="/api/v1/segment/{model_id}",status="415",le="0.0001"}"#
        ) >= 0.0
    );
    assert!(
        count(
            r#"candlelit_request_duration_seconds_bucket{route="/api/v1/segment/{model_id}",status="415",le="+Inf"}"#
        ) >= 1.0
    );
    for stage in ["queue", "decode", "preprocess", "inference", "postprocess"] {
        assert!(
            count(&format!(
                r#"candlelit_stage_duration_seconds_count{{model="fake",stage="{stage}"}}"#
            )) >= 2.0,
            "{stage}"
        );
    }
    assert!(count(r#"candlelit_batch_size_count{model="fake"}"#) >= 2.0);
    assert_eq!(count(r#"candlelit_queue_depth{model="fake"}"#), 0.0);
    assert!(text.contains("candlelit_models_loaded"));
    assert!(text.contains(r#"candlelit_model_ready{model="fake"} 1"#));
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_given_one_is_kept() {
    let h = harness(0, EngineOptions::default(), Settings::default());
    let resp = full(h.app.clone(), get("/healthz")).await;
    let id = resp.headers().get("x-request-id").expect("generated id");
    assert!(id.len() >= 32, "a uuid: {id:?}");
    let req = Request::get("/healthz")
        .header("x-request-id", "trace-me-42")
        .body(Body::empty())
        .unwrap();
    let resp = full(h.app, req).await;
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn openapi_describes_every_json_route_and_swagger_is_served_locally() {
    let h = harness(0, EngineOptions::default(), Settings::default());
    let (status, ctype, body) = send(h.app, get("/api-docs/openapi.json")).await;
    assert_eq!((status.as_u16(), ctype.as_str()), (200, "application/json"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/segment/{model_id}",
        "/api/v1/detect/{model_id}",
        "/api/v1/classify/{model_id}",
        "/api/v1/summarize/{model_id}",
        "/api/v1/models",
        "/segment",
        "/predict",
        "/predict/image_classes",
        "/predict/text_summarize",
        "/Summarizer",
        "/readyz",
        "/v2/models/{model_id}/ready",
    ] {
        assert!(v["paths"][path].is_object(), "{path} is in the spec");
    }
    let seg = &v["paths"]["/api/v1/segment/{model_id}"]["post"];
    for code in ["200", "413", "415", "422", "429", "503", "504"] {
        assert!(
            seg["responses"][code].is_object(),
            "segment documents {code}"
        );
    }
    assert!(v["components"]["schemas"]["SegmentResponse"].is_object());
    assert!(v["components"]["schemas"]["ErrorBody"].is_object());

    // /docs uses the site's local copy of swagger-ui-dist, never a CDN.
    let site = std::env::temp_dir().join(format!("candlelit-site-{}", std::process::id()));
    std::fs::create_dir_all(site.join("swagger")).unwrap();
    std::fs::write(site.join("swagger/swagger-ui-bundle.js"), "// test").unwrap();
    let served = ServedModels::ready(Catalog::builtin(), vec![], EngineConfig::default());
    let app = server::app(AppState::new(
        served,
        Settings::default(),
        site.to_str().unwrap(),
    ));
    let (status, ctype, body) = send(app, get("/docs")).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("/swagger/swagger-ui-bundle.js"));
    assert!(!html.contains("https://"), "no CDN: {html}");
}

#[tokio::test]
async fn an_api_key_guards_the_api_but_not_health_metrics_or_docs() {
    let settings = Settings {
        api_key: Some("s3cret".into()),
        ..Settings::default()
    };
    let h = harness(0, EngineOptions::default(), settings);
    let (status, _, body) = send(h.app.clone(), segment(5)).await;
    assert_eq!(status, 401);
    assert_eq!(error_of(&body).0, "unauthorized");
    let mut wrong = segment(5);
    wrong
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
    assert_eq!(send(h.app.clone(), wrong).await.0, 401);
    let mut right = segment(5);
    right
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    assert_eq!(send(h.app.clone(), right).await.0, 200);
    assert_eq!(send(h.app.clone(), get("/api/v1/models")).await.0, 401);
    // The site's server functions run models too: the key guards them as well.
    let site_fn = Request::builder()
        .method("POST")
        .uri("/site/segment?model=fake")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(h.app.clone(), site_fn).await.0, 401);
    for open in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api-docs/openapi.json",
        "/v2/health/live",
    ] {
        assert_eq!(
            send(h.app.clone(), get(open)).await.0,
            200,
            "{open} stays open"
        );
    }
}

#[tokio::test]
async fn cors_is_same_origin_by_default_and_follows_the_allow_list() {
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/api/v1/segment/fake")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let closed = harness(0, EngineOptions::default(), Settings::default());
    let resp = full(closed.app, preflight("https://elsewhere.example")).await;
    assert!(resp
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());

    let settings = Settings {
        cors_origins: vec!["https://demo.example".into()],
        ..Settings::default()
    };
    let open = harness(0, EngineOptions::default(), settings);
    let resp = full(open.app.clone(), preflight("https://demo.example")).await;
    assert_eq!(
        resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://demo.example"
    );
    let resp = full(open.app, preflight("https://elsewhere.example")).await;
    assert!(resp
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
}

#[tokio::test]
async fn errors_share_one_json_shape() {
    let h = harness(0, EngineOptions::default(), Settings::default());
    let cases: Vec<(Request<Body>, u16, &str)> = vec![
        (segment_with("?threshold=7"), 400, "bad_request"),
        (
            post("/api/v1/segment/nope", "image/png", png(1)),
            404,
            "not_found",
        ),
        (get("/api/v1/no/such/route"), 404, "not_found"),
        (
            post("/api/v1/segment/fake", "image/png", b"text".to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            post("/api/v1/segment/fake", "image/png", png(1)[..40].to_vec()),
            422,
            "unprocessable",
        ),
        (
            Request::delete("/api/v1/models")
                .body(Body::empty())
                .unwrap(),
            405,
            "method_not_allowed",
        ),
    ];
    for (req, code, kind) in cases {
        let uri = req.uri().to_string();
        let (status, ctype, body) = send(h.app.clone(), req).await;
        assert_eq!(status.as_u16(), code, "{uri}");
        assert_eq!(ctype, "application/json", "{uri}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], kind, "{uri}");
        assert_eq!(v["code"], code, "{uri}");
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
}

fn segment_with(query: &str) -> Request<Body> {
    post(&format!("/api/v1/segment/fake{query}"), "image/png", png(1))
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes_requests_in_flight() {
    let h = harness(400, EngineOptions::default(), Settings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Rebuild the state from the harness' models so the server owns its own router.
    let served = {
        let batches = h.batches.clone();
        let fake = Fake {
            spec: fake_spec("fake"),
            pause: Duration::from_millis(400),
            batches,
            images_run: h.images_run.clone(),
        };
        ServedModels::ready(
            Catalog::builtin(),
            vec![(fake.spec.clone(), Model::Segmenter(Arc::new(fake)))],
            EngineConfig::default(),
        )
    };
    let state = AppState::new(served, Settings::default(), "target/site");
    let server = tokio::spawn(server::serve(
        listener,
        state,
        async {
            let _ = stop_rx.await;
        },
        Duration::from_secs(10),
    ));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/v1/segment/fake?output=probability");
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(url)
                .header("content-type", "image/png")
                .body(png(77))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop_tx.send(()).unwrap();
    let resp = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(resp.status(), 200);
    let done = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once drained");
    done.unwrap().unwrap();
    let refused = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
}

/// The fake model, ready, on default engine settings.
fn fake_served(pause: Duration) -> Arc<ServedModels> {
    let fake = Fake {
        spec: fake_spec("fake"),
        pause,
        batches: Arc::new(Mutex::new(Vec::new())),
        images_run: Arc::new(AtomicUsize::new(0)),
    };
    ServedModels::ready(
        Catalog::builtin(),
        vec![(fake.spec.clone(), Model::Segmenter(Arc::new(fake)))],
        EngineConfig::default(),
    )
}

/// A real server (accept loop, connection guards) on the fake model; stops when the sender drops.
async fn start_server(
    settings: Settings,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let served = fake_served(Duration::from_millis(10));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(served, settings, "target/site");
    tokio::spawn(server::serve(
        listener,
        state,
        async {
            let _ = stop_rx.await;
        },
        Duration::from_secs(1),
    ));
    (addr, stop_tx)
}

/// Reads until the server closes the connection (or `limit` passes); returns what came.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::AsyncWriteExt;
    let mut settings = Settings::default();
    settings.conn.header_timeout = Duration::from_millis(300);
    let (addr, _stop) = start_server(settings).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Slowloris: one byte now and then, never the blank line.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let _ = s.write_all(b"a").await;
    }
    let closed = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the connection was still open 5 s later");
    // A normal client is served meanwhile.
    let ok = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408() {
    use tokio::io::AsyncWriteExt;
    let mut settings = Settings::default();
    settings.conn.min_body_rate = 1024;
    settings.conn.body_timeout = Duration::from_secs(20);
    let (addr, _stop) = start_server(settings).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /api/v1/segment/fake HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let (mut rx, mut tx) = s.into_split();
    tokio::spawn(async move {
        // 2 bytes a second, as the slow attacker does.
        for _ in 0..60 {
            if tx.write_all(b"ab").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        while let Ok(n) = rx.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--min-body-rate"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "cut off after the 5 s grace, not when the client gave up"
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_are_closed() {
    let mut settings = Settings::default();
    settings.conn.max_connections = 2;
    let (addr, _stop) = start_server(settings).await;
    let _a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = read_until_closed(&mut c, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"));
    drop(_a);
    drop(_b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "room again once the others closed");
}

#[tokio::test]
async fn the_rate_limit_is_off_by_default_and_429s_with_retry_after_when_set() {
    let h = harness(0, EngineOptions::default(), Settings::default());
    for _ in 0..5 {
        assert_eq!(full(h.app.clone(), segment(3)).await.status(), 200);
    }
    let mut settings = Settings::default();
    settings.conn.rate_limit = Some("1/min,burst=2".parse().unwrap());
    let (addr, _stop) = start_server(settings).await;
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(format!(
                "http://{addr}/api/v1/segment/fake?output=probability"
            ))
            .header("content-type", "image/png")
            .body(png(5))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 200);
    assert_eq!(post().await.unwrap().status(), 200);
    let third = post().await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: serde_json::Value = serde_json::from_slice(&third.bytes().await.unwrap()).unwrap();
    assert_eq!(body["type"], "rate_limited");
    // Probes are never limited.
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_model_whose_store_copy_went_bad_keeps_serving_and_says_so() {
    let served = fake_served(Duration::from_millis(1));
    let mut check: server::runtime::served::StoreCheck = Box::new(|spec: &ModelSpec| {
        Some(format!(
            "store copy corrupt: model.json has sha256 00, expected 11; fix: candlelit models fetch {}",
            spec.id
        ))
    });
    served.check_store(&mut check);
    let app = server::app(AppState::new(
        served.clone(),
        Settings::default(),
        "target/site",
    ));
    assert_eq!(
        full(app.clone(), segment(9)).await.status(),
        200,
        "serves from memory"
    );
    let (status, _, body) = send(app.clone(), get("/readyz")).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["store_problems"]["fake"]
            .as_str()
            .unwrap()
            .contains("candlelit models fetch fake"),
        "{v}"
    );
    let (_, _, body) = send(app, get("/api/v1/models")).await;
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let fake = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "fake")
        .unwrap();
    assert!(fake["store_problem"].as_str().unwrap().contains("corrupt"));
    // Fixed: the warning goes away.
    let mut intact: server::runtime::served::StoreCheck = Box::new(|_: &ModelSpec| None);
    served.check_store(&mut intact);
    assert!(served.slot("fake").unwrap().store_problem().is_none());
}

/// A request refused before its body is read (here an unknown model; a full queue takes the same
/// path) still lets the client finish its upload and read the answer, and the connection stays
/// usable: the server reads and throws the body away instead of resetting the connection.
#[tokio::test]
async fn a_request_refused_unread_gets_its_answer_and_keeps_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _stop) = start_server(Settings::default()).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let len = 2_000_000;
    let head = format!(
        "POST /api/v1/segment/no-such-model HTTP/1.1\r\nHost: x\r\n\
         Content-Type: image/png\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        s.write_all(&chunk[..n])
            .await
            .expect("the upload is not cut off");
        sent += n;
    }
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        while String::from_utf8_lossy(&got).matches("HTTP/1.1 ").count() < 2 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(read.is_ok(), "timed out; got {text}");
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(
        text.contains("HTTP/1.1 200"),
        "second request on the same connection: {text}"
    );
}
