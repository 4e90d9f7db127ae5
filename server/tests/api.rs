//! API tests: the real router from `server::app`, driven with `oneshot`, on the real Selfie
//! weights from the store (`make test` fetches them first).

mod common;

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use common::*;
use server::ingress::fetch::FetchPolicy;
use server::ingress::limits::Limits;

#[tokio::test]
async fn segment_multipart_answers_a_mask_png_at_the_input_size() {
    let (ct, body) = multipart(&[("file", Some("person.jpg"), &photo("person.jpg"))]);
    let (status, ctype, png) = send(router(), post("/segment", &ct, body)).await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "image/png");
    let mask = image::load_from_memory(&png).unwrap().to_luma8();
    assert_eq!(mask.dimensions(), (640, 424));
    assert!(
        mask.pixels().all(|p| p[0] == 0 || p[0] == 255),
        "mask is binary"
    );
    let share = mask.pixels().filter(|p| p[0] == 255).count() as f32 / (640.0 * 424.0);
    assert!((0.02..0.15).contains(&share), "person share {share}");
}

#[tokio::test]
async fn v1_route_with_raw_body_answers_json_with_shares_and_timings() {
    let (status, ctype, body) = send(
        router(),
        post(
            "/api/v1/segment/meet?output=json&threshold=0.5",
            "image/jpeg",
            photo("person.jpg"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ctype, "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["model"], "meet");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(640), Some(424))
    );
    let person = v["classes"][1]["share"].as_f64().unwrap();
    let bg = v["classes"][0]["share"].as_f64().unwrap();
    assert!((person + bg - 1.0).abs() < 1e-6 && person > 0.02, "{v}");
    assert!(v["timings"]["inference_ms"].as_f64().unwrap() > 0.0);
    assert!(
        v["timings"]["total_ms"].as_f64().unwrap()
            >= v["timings"]["inference_ms"].as_f64().unwrap()
    );
    assert!(v.get("probability_png").is_none(), "only on request");
}

#[tokio::test]
async fn overlay_and_probability_outputs() {
    let (status, _, png) = send(
        router(),
        post(
            "/api/v1/segment/selfie?output=overlay",
            "image/jpeg",
            photo("person.jpg"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let ov = image::load_from_memory(&png).unwrap().to_rgb8();
    let orig = image::load_from_memory(&photo("person.jpg"))
        .unwrap()
        .to_rgb8();
    assert_eq!(ov.dimensions(), orig.dimensions());
    assert_ne!(
        ov.get_pixel(225, 230),
        orig.get_pixel(225, 230),
        "the man is tinted"
    );
    let (status, _, png) = send(
        router(),
        post(
            "/api/v1/segment/selfie?output=probability",
            "image/jpeg",
            photo("person.jpg"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let p = image::load_from_memory(&png).unwrap().to_luma8();
    assert!(
        p.pixels().any(|v| v[0] > 0 && v[0] < 255),
        "a probability map has intermediate values"
    );
}

#[tokio::test]
async fn bad_requests_get_400_json() {
    for uri in [
        "/segment?output=banana",
        "/segment?threshold=2",
        "/segment?threshold=abc",
    ] {
        let (status, _, body) = send(router(), post(uri, "image/jpeg", photo("person.jpg"))).await;
        assert_eq!(status, 400, "{uri}");
        assert_eq!(error_of(&body).0, "bad_request", "{uri}");
    }
    let (ct, body) = multipart(&[("model", None, b"selfie")]);
    let (status, _, body) = send(router(), post("/segment", &ct, body)).await;
    assert_eq!(status, 400);
    assert!(error_of(&body).1.contains("'file'"));
    let (status, _, body) = send(
        router(),
        post("/segment", "application/json", b"{\"nope\":1}".to_vec()),
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn unknown_model_is_404_naming_the_choices() {
    let (status, _, body) = send(
        router(),
        post("/api/v1/segment/deeplab", "image/jpeg", photo("person.jpg")),
    )
    .await;
    assert_eq!(status, 404);
    let (kind, msg) = error_of(&body);
    assert_eq!(kind, "not_found");
    assert!(msg.contains("selfie") && msg.contains("meet"), "{msg}");
}

#[tokio::test]
async fn too_large_body_is_413_naming_the_limit() {
    let app = server::app(state(
        Limits {
            body_bytes: 10_000,
            ..Limits::default()
        },
        FetchPolicy::default(),
    ));
    let (status, _, body) = send(
        app.clone(),
        post("/segment", "image/jpeg", photo("person.jpg")),
    )
    .await;
    assert_eq!(status, 413);
    assert!(error_of(&body).1.contains("--body-limit"));
    let (ct, mp) = multipart(&[("file", Some("person.jpg"), &photo("person.jpg"))]);
    let (status, _, body) = send(app, post("/segment", &ct, mp)).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn non_images_are_415_by_content_not_by_name() {
    let (ct, body) = multipart(&[(
        "file",
        Some("photo.jpg"),
        b"just some text, named like a photo",
    )]);
    let (status, _, body) = send(router(), post("/segment", &ct, body)).await;
    assert_eq!(status, 415);
    assert_eq!(error_of(&body).0, "unsupported_media_type");
    let (status, _, _) = send(router(), post("/segment", "text/plain", b"hello".to_vec())).await;
    assert_eq!(status, 415);
    // A real image sent with a wrong declared type is still accepted: the bytes decide.
    let (ct, body) = multipart(&[("file", Some("notes.txt"), &photo("person.jpg"))]);
    assert_eq!(send(router(), post("/segment", &ct, body)).await.0, 200);
}

#[tokio::test]
async fn corrupt_or_oversized_images_are_422() {
    let mut truncated = photo("person.jpg");
    truncated.truncate(2000);
    let (status, _, body) = send(router(), post("/segment", "image/jpeg", truncated)).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    let app = server::app(state(
        Limits {
            max_pixels: 100_000,
            ..Limits::default()
        },
        FetchPolicy::default(),
    ));
    let (status, _, body) = send(app, post("/segment", "image/jpeg", photo("person.jpg"))).await;
    assert_eq!(status, 422);
    assert!(error_of(&body).1.contains("--max-pixels"));
}

#[tokio::test]
async fn server_keeps_serving_after_errors() {
    let app = router();
    for _ in 0..3 {
        assert_eq!(
            send(
                app.clone(),
                post("/segment", "image/jpeg", b"garbage".to_vec())
            )
            .await
            .0,
            415
        );
    }
    assert_eq!(
        send(app, post("/segment", "image/jpeg", photo("dog.jpg")))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn models_health_and_page() {
    let (status, _, body) = send(
        router(),
        Request::get("/api/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let selfie = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "selfie")
        .unwrap();
    assert_eq!(selfie["state"], "ready");
    assert_eq!(selfie["default"], true);
    assert!(selfie["licence"].as_str().unwrap().contains("Apache-2.0"));
    assert_eq!(
        send(
            router(),
            Request::get("/healthz").body(Body::empty()).unwrap()
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            router(),
            Request::get("/readyz").body(Body::empty()).unwrap()
        )
        .await
        .0,
        200
    );
    let (status, ctype, html) =
        send(router(), Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    let html = String::from_utf8(html).unwrap();
    // The home page links every task's page.
    for page in ["/segment", "/detect", "/classify", "/summarize"] {
        assert!(
            html.contains(&format!("href=\"{page}\"")),
            "{page} in {html}"
        );
    }
    let (status, _, html) = send(
        router(),
        Request::get("/segment").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("Person segmentation") && html.contains("action=\"/segment/result\""),
        "{html}"
    );
    let (status, _, body) = send(
        router(),
        Request::get("/api/v1/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(error_of(&body).0, "not_found");
}

/// A loopback image server for the URL tests: /person.jpg, /text, /big, and redirects.
async fn image_server() -> u16 {
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let jpg = photo("person.jpg");
    let app = Router::new()
        .route(
            "/person.jpg",
            get(move || async move {
                ([(header::CONTENT_TYPE, "image/jpeg")], jpg.clone()).into_response()
            }),
        )
        .route("/text", get(|| async { "hello, I am text" }))
        .route("/big", get(|| async { vec![0xffu8; 400_000] }))
        .route("/hop", get(|| async { Redirect::temporary("/person.jpg") }))
        .route(
            "/escape",
            get(move || async move {
                Redirect::temporary(&format!("http://127.0.0.2:{port}/person.jpg"))
            }),
        )
        .route(
            "/metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

fn url_body(url: String) -> Vec<u8> {
    serde_json::json!({ "image_url": url })
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn url_to_loopback_is_refused_by_default() {
    let port = image_server().await;
    for url in [
        format!("http://127.0.0.1:{port}/person.jpg"),
        format!("http://localhost:{port}/person.jpg"),
    ] {
        let (status, _, body) = send(
            router(),
            post("/segment", "application/json", url_body(url.clone())),
        )
        .await;
        assert_eq!(status, 400, "{url}");
        let (kind, msg) = error_of(&body);
        assert_eq!(kind, "url_refused");
        assert!(msg.contains("loopback"), "{msg}");
    }
    let (status, _, body) = send(
        router(),
        post(
            "/segment",
            "application/json",
            url_body("file:///etc/passwd".into()),
        ),
    )
    .await;
    assert_eq!(
        (status.as_u16(), error_of(&body).0.as_str()),
        (400, "url_refused")
    );
}

#[tokio::test]
async fn url_fetch_with_an_explicit_allow_list() {
    let port = image_server().await;
    let policy = FetchPolicy {
        allow: vec!["127.0.0.1/32".parse().unwrap()],
        max_bytes: 300_000,
        ..FetchPolicy::default()
    };
    let app = server::app(state(Limits::default(), policy));
    let ok = |p: &str| url_body(format!("http://127.0.0.1:{port}{p}"));
    let (status, _, body) = send(
        app.clone(),
        post(
            "/api/v1/segment/selfie?output=json",
            "application/json",
            ok("/person.jpg"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // A redirect within the allowed host is followed...
    assert_eq!(
        send(
            app.clone(),
            post("/segment", "application/json", ok("/hop"))
        )
        .await
        .0,
        200
    );
    // ...but every hop is checked: 127.0.0.2 and the metadata address are not on the list.
    for p in ["/escape", "/metadata"] {
        let (status, _, body) =
            send(app.clone(), post("/segment", "application/json", ok(p))).await;
        assert_eq!(
            (status.as_u16(), error_of(&body).0),
            (400, "url_refused".to_string()),
            "{p}"
        );
    }
    let (status, _, body) = send(
        app.clone(),
        post("/segment", "application/json", ok("/big")),
    )
    .await;
    assert_eq!(status, 413);
    assert!(error_of(&body).1.contains("--fetch-max-bytes"));
    assert_eq!(
        send(
            app.clone(),
            post("/segment", "application/json", ok("/text"))
        )
        .await
        .0,
        415
    );
    // A form post with image_url (the no-JavaScript path) works too.
    let url = format!("http://127.0.0.1:{port}/person.jpg");
    let (ct, body) = multipart(&[
        ("image_url", None, url.as_bytes()),
        ("output", None, b"overlay"),
    ]);
    let (status, ctype, _) = send(app, post("/segment", &ct, body)).await;
    assert_eq!((status.as_u16(), ctype.as_str()), (200, "image/png"));
}

#[test]
fn a_store_copy_changed_while_serving_is_reported_with_its_fix() {
    // A private copy of selfie's store folder, so the real store is never touched.
    let dir = std::env::temp_dir().join(format!("candlelit-store-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("selfie")).unwrap();
    for f in std::fs::read_dir(common::model_dir().join("selfie")).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), dir.join("selfie").join(f.file_name())).unwrap();
        }
    }
    let store = models::Store::new(&dir, std::env::temp_dir());
    let spec = models::Catalog::builtin().get("selfie").unwrap().clone();
    let mut check = server::runtime::served::store_check(store);
    assert_eq!(check(&spec), None, "an intact copy");
    assert_eq!(
        check(&spec),
        None,
        "unchanged: not hashed again, still intact"
    );
    // Truncate the largest file, as a disk error or a careless copy would.
    let victim = spec
        .files
        .iter()
        .map(|f| dir.join("selfie").join(f.file_name()))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let len = std::fs::metadata(&victim).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let problem = check(&spec).expect("the truncated copy is reported");
    assert!(
        problem.contains("corrupt") && problem.contains("candlelit models fetch selfie"),
        "{problem}"
    );
    std::fs::remove_file(&victim).unwrap();
    let problem = check(&spec).expect("the missing file is reported");
    assert!(problem.contains("missing"), "{problem}");
    let _ = std::fs::remove_dir_all(&dir);
}
