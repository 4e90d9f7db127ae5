//! The hostile-input corpus (`server/tests/hostile/`, made by `scripts/hostile/make_corpus.py`)
//! posted to every route it applies to, on the real models: each answer is 200 where the input
//! is valid and a 4xx JSON error otherwise (never a 5xx, never a crash), the server keeps
//! answering, and the process's peak memory stays under a stated bound.
//!
//! Also here: every SSRF spelling in `ssrf_urls.txt` is refused, and a local image server (opted
//! in through the fetch allow-list, as production never is) serves redirect chains to private
//! addresses, slow bodies, endless bodies and oversized ones.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request};
use axum::routing::get;
use axum::Router;
use common::*;
use server::ingress::fetch::FetchPolicy;
use server::ingress::limits::Limits;

/// The image routes: the v1 route of each default model and the seeds' routes.
const IMAGE_ROUTES: &[&str] = &[
    "/api/v1/segment/selfie?output=json",
    "/api/v1/segment/meet?output=mask",
    "/api/v1/detect/nanodet",
    "/api/v1/detect/centernet",
    "/api/v1/classify/efficientnet-lite0",
    "/segment",
    "/predict",
    "/predict/image_classes",
];
/// Multipart uploads go to one route per task (the same reader serves them all).
const MULTIPART_ROUTES: &[&str] = &[
    "/api/v1/segment/selfie?output=overlay",
    "/api/v1/detect/nanodet",
    "/api/v1/classify/efficientnet-lite0",
    // The site's server functions take the same form through the same ingress.
    "/site/segment?model=selfie&include=probability,image",
    "/site/detect?model=centernet&include=image",
    "/site/classify?model=efficientnet-lite0&include=image",
];
const TEXT_ROUTES: &[&str] = &["/api/v1/summarize/smollm2", "/predict/text_summarize"];

#[derive(serde::Deserialize, Debug)]
struct Case {
    name: String,
    file: String,
    send: String,
    content_type: String,
    routes: String,
    expect: Vec<u16>,
    /// Routes whose contract differs for this case (the seed's text route ignores lengths).
    #[serde(default)]
    expect_by_route: std::collections::HashMap<String, Vec<u16>>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

fn cases() -> Vec<Case> {
    let raw = std::fs::read(corpus_dir().join("cases.json")).expect("tests/hostile/cases.json");
    serde_json::from_slice(&raw).expect("cases.json parses")
}

/// Peak resident memory of this process so far, in MiB (`VmHWM`).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Checks one answer: an allowed status, and every error as the one JSON shape.
fn check(what: &str, expect: &[u16], status: u16, ctype: &str, body: &[u8]) {
    assert!(
        expect.contains(&status),
        "{what}: got {status}, expected one of {expect:?}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    if status >= 400 {
        assert!(
            ctype.starts_with("application/json"),
            "{what}: error {status} is not JSON ({ctype})"
        );
        let v: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("{what}: error body is not JSON"));
        assert!(
            v["error"].is_string() && v["type"].is_string() && v["code"] == status,
            "{what}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_input_gets_a_clear_answer_and_the_server_stays_up() {
    let app = router();
    // Text routes on a 3 s request timeout: a valid 20,000-character text is a 2,048-token
    // prefill, minutes on a small CPU without SIMD kernels, so there a valid text may answer 504
    // (the time bound working, with a clear JSON error). Summaries themselves are checked in
    // api_summarize.rs.
    let text_app = server::app(server::AppState::new(
        models(),
        server::Settings {
            request_timeout: Duration::from_secs(3),
            ..server::Settings::default()
        },
        "target/site",
    ));
    // The models are loaded: what follows is the corpus's own cost.
    let baseline = peak_rss_mib();
    let cases = cases();
    assert!(cases.len() >= 80, "the corpus has {} cases", cases.len());
    let mut sent = 0;
    for case in &cases {
        let bytes = std::fs::read(corpus_dir().join(&case.file))
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let mut posts: Vec<(String, String, Vec<u8>)> = Vec::new();
        match (case.send.as_str(), case.routes.as_str()) {
            ("image", _) => {
                for r in IMAGE_ROUTES {
                    posts.push((r.to_string(), case.content_type.clone(), bytes.clone()));
                }
                let (ct, body) = multipart(&[("file", Some(&case.file), &bytes)]);
                for r in MULTIPART_ROUTES {
                    posts.push((r.to_string(), ct.clone(), body.clone()));
                }
            }
            ("body", routes) => {
                let mut targets: Vec<&str> = Vec::new();
                if matches!(routes, "image" | "all") {
                    targets.extend(IMAGE_ROUTES);
                }
                if matches!(routes, "text" | "all") {
                    targets.extend(TEXT_ROUTES);
                }
                for r in targets {
                    posts.push((r.to_string(), case.content_type.clone(), bytes.clone()));
                }
            }
            (other, _) => panic!("{}: unknown send '{other}'", case.name),
        }
        for (route, ctype, body) in posts {
            let text = TEXT_ROUTES.contains(&route.as_str());
            let to = if text { &text_app } else { &app };
            let (status, rtype, rbody) = send(to.clone(), post(&route, &ctype, body)).await;
            let path = route.split('?').next().unwrap_or_default();
            let mut expect = case
                .expect_by_route
                .get(path)
                .unwrap_or(&case.expect)
                .clone();
            if text && expect.contains(&200) {
                expect.push(504);
            }
            check(
                &format!("{} -> {route} ({ctype})", case.name),
                &expect,
                status.as_u16(),
                &rtype,
                &rbody,
            );
            sent += 1;
        }
    }
    // Bigger than the body limit: 413 from the declared length, unread.
    let huge = vec![0u8; Limits::default().body_bytes + 1];
    let (status, rtype, rbody) = send(app.clone(), post("/segment", "image/png", huge)).await;
    check("17 MB body", &[413], status.as_u16(), &rtype, &rbody);

    // Still serving.
    let (status, _, _) = send(
        app.clone(),
        post("/api/v1/segment/selfie", "image/jpeg", photo("person.jpg")),
    )
    .await;
    assert_eq!(status, 200, "the server answers normally after the corpus");
    let peak = peak_rss_mib();
    eprintln!(
        "hostile corpus: {} cases, {sent} requests; peak RSS {baseline} MiB after loading the models, {peak} MiB after the corpus",
        cases.len()
    );
    // The decoded pixels of the largest image the limits admit (40 MP) are 120 MiB, its decode
    // peak about 160 MiB; several run at once on the decoding threads. 1 GiB above the loaded
    // models bounds the whole corpus; before the limits, one case asked for 164 GB.
    assert!(
        peak < baseline + 1024,
        "peak RSS {peak} MiB is more than 1 GiB above the {baseline} MiB the models take"
    );
}

fn url_body(url: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "image_url": url })).unwrap()
}

#[tokio::test]
async fn every_ssrf_spelling_is_refused() {
    let app = router();
    let list = std::fs::read_to_string(corpus_dir().join("ssrf_urls.txt")).expect("ssrf_urls.txt");
    let urls: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(urls.len() >= 30, "{} SSRF spellings", urls.len());
    for url in urls {
        let (status, rtype, rbody) = send(
            app.clone(),
            post(
                "/api/v1/classify/efficientnet-lite0",
                "application/json",
                url_body(url),
            ),
        )
        .await;
        check(url, &[400], status.as_u16(), &rtype, &rbody);
        let kind = error_of(&rbody).0;
        assert!(
            kind == "url_refused" || kind == "bad_request",
            "{url}: {kind}"
        );
    }
}

/// A local server that misbehaves in every way a URL can.
async fn misbehaving_server() -> u16 {
    let jpeg = photo("person.jpg");
    let slow = || async {
        // 1 byte every 300 ms, forever: only the total timeout ends it.
        let stream = futures_util::stream::unfold(0u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some((Ok::<_, std::io::Error>(vec![0xff]), n + 1))
        });
        Body::from_stream(stream)
    };
    let endless = || async {
        let stream =
            futures_util::stream::repeat_with(|| Ok::<_, std::io::Error>(vec![0u8; 65536]));
        Body::from_stream(stream)
    };
    let redirect = |to: &'static str| {
        move || async move {
            axum::response::Response::builder()
                .status(302)
                .header(header::LOCATION, to)
                .body(Body::empty())
                .unwrap()
        }
    };
    let app = Router::new()
        .route("/ok.jpg", get(move || async move { jpeg.clone() }))
        .route("/slow", get(slow))
        .route("/endless", get(endless))
        .route("/to-private", get(redirect("http://10.0.0.1/x.jpg")))
        .route(
            "/to-metadata",
            get(redirect("http://169.254.169.254/latest/meta-data/")),
        )
        .route("/to-loopback-name", get(redirect("http://localhost/x.jpg")))
        .route(
            "/to-nat64",
            get(redirect("http://[64:ff9b:1::a00:1]/x.jpg")),
        )
        .route("/to-file", get(redirect("file:///etc/passwd")))
        .route("/loop", get(redirect("/loop")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_urls_are_refused_or_cut_off() {
    let port = misbehaving_server().await;
    let policy = FetchPolicy {
        allow: vec!["127.0.0.1/32".parse().unwrap()],
        total_timeout: Duration::from_secs(2),
        max_bytes: 1 << 20,
        ..FetchPolicy::default()
    };
    let app = server::app(state(Limits::default(), policy));
    let at = |p: &str| url_body(&format!("http://127.0.0.1:{port}{p}"));
    let route = "/api/v1/classify/efficientnet-lite0";
    for (path, expect, kind) in [
        ("/ok.jpg", 200, None),
        ("/to-private", 400, Some("url_refused")),
        ("/to-metadata", 400, Some("url_refused")),
        ("/to-loopback-name", 400, Some("url_refused")),
        ("/to-nat64", 400, Some("url_refused")),
        ("/to-file", 400, Some("url_refused")),
        ("/loop", 502, Some("url_failed")),
        ("/slow", 502, Some("url_failed")),
        ("/endless", 413, Some("payload_too_large")),
    ] {
        let started = std::time::Instant::now();
        let (status, rtype, rbody) =
            send(app.clone(), post(route, "application/json", at(path))).await;
        check(path, &[expect], status.as_u16(), &rtype, &rbody);
        if let Some(kind) = kind {
            let (got, msg) = error_of(&rbody);
            assert_eq!(got, kind, "{path}: {msg}");
            // Refusals say what was refused, never what a private port answered.
            if kind == "url_refused" {
                assert!(
                    msg.contains("refus") || msg.contains("only http"),
                    "{path}: {msg}"
                );
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} was not cut off by the fetch's own limits"
        );
    }
}

#[tokio::test]
async fn an_image_in_another_field_is_refused_naming_the_field() {
    let (ct, body) = multipart(&[("image", Some("p.jpg"), &photo("person.jpg"))]);
    let (status, _, rbody) = send(router(), post("/api/v1/detect/nanodet", &ct, body)).await;
    assert_eq!(status, 400);
    let msg = error_of(&rbody).1;
    assert!(msg.contains("'image'") && msg.contains("'file'"), "{msg}");
}

#[tokio::test]
async fn a_request_over_the_memory_budget_is_refused_at_once() {
    let settings = server::Settings {
        memory_budget: 4 << 20,
        ..server::Settings::default()
    };
    let app = server::app(server::AppState::new(models(), settings, "target/site"));
    // A 12 MB body cannot fit in a 4 MiB budget at all: 413 naming the flag, unread.
    let req = Request::post("/api/v1/classify/efficientnet-lite0")
        .header(header::CONTENT_TYPE, "image/jpeg")
        .header(header::CONTENT_LENGTH, 12_000_000)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app.clone(), req).await;
    assert_eq!(status, 413);
    assert!(error_of(&body).1.contains("--memory-budget"));
    // A small file whose pixels need more than the whole budget (3000 x 2000: 24 MB to decode):
    // refused from its header, before any pixel is allocated.
    let big = image::RgbImage::new(3000, 2000);
    let png = models::image::postprocess::encode_png_rgb(&big).unwrap();
    assert!(png.len() < 1 << 20);
    let (status, _, body) = send(
        app.clone(),
        post("/api/v1/detect/nanodet", "image/png", png),
    )
    .await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(
        error_of(&body).1.contains("decode"),
        "{}",
        error_of(&body).1
    );
    // Small enough: served.
    let small = models::image::postprocess::encode_png_rgb(&image::RgbImage::new(64, 48)).unwrap();
    let (status, _, _) = send(app, post("/api/v1/detect/nanodet", "image/png", small)).await;
    assert_eq!(status, 200);
}
