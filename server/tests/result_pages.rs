//! The no-JavaScript path through the real router and real models: each task's form posts to
//! its result page and gets server-rendered HTML with the answer (or the API's own error, with
//! its status); and the examples strip's sample photos are served by name, and nothing else.

mod common;

use common::*;
use server::ingress::fetch::FetchPolicy;
use server::ingress::limits::Limits;
use server::Settings;

/// The page's HTML without Leptos's `<!>` text-node markers, so text reads as a person sees it.
fn html(body: &[u8]) -> String {
    String::from_utf8(body.to_vec())
        .expect("UTF-8 HTML")
        .replace("<!>", "")
}

fn form_post(
    uri: &str,
    fields: &[(&str, Option<&str>, &[u8])],
) -> axum::http::Request<axum::body::Body> {
    let (ctype, body) = multipart(fields);
    post(uri, &ctype, body)
}

#[tokio::test]
async fn segment_form_renders_the_photo_the_map_and_the_shares() {
    let photo = photo("person.jpg");
    let req = form_post(
        "/segment/result",
        &[
            ("model", None, b"selfie"),
            ("file", Some("person.jpg"), &photo),
        ],
    );
    let (status, ctype, body) = send(router(), req).await;
    let page = html(&body);
    assert_eq!(status, 200, "{page}");
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(
        page.contains("Segmentation result") && page.contains("Model selfie"),
        "{page}"
    );
    assert_eq!(
        page.matches("src=\"data:image/png;base64,").count(),
        2,
        "photo and overlay"
    );
    assert!(
        page.contains("with person ("),
        "the overlay's alt names what it tints: {page}"
    );
    assert!(page.contains("person") && page.contains("background"));
    assert!(!page.contains("<script"), "nothing to hydrate");
}

#[tokio::test]
async fn detect_form_honours_the_confidence_and_lists_the_objects() {
    let photo = photo("dog.jpg");
    let req = form_post(
        "/detect/result",
        &[
            ("model", None, b"nanodet"),
            ("confidence", None, b"0.4"),
            ("file", Some("dog.jpg"), &photo),
        ],
    );
    let (status, _, body) = send(router(), req).await;
    let page = html(&body);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("confidence ≥ 0.40"), "{page}");
    for label in ["dog", "bicycle"] {
        assert!(
            page.contains(&format!("<span class=\"label\">{label}</span>")),
            "{label}: {page}"
        );
    }
}

#[tokio::test]
async fn classify_form_ranks_the_eagle() {
    let photo = photo("eagle.jpg");
    let req = form_post("/classify/result", &[("file", Some("eagle.jpg"), &photo)]);
    let (status, _, body) = send(router(), req).await;
    let page = html(&body);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("kite") || page.contains("bald eagle"),
        "{page}"
    );
}

#[tokio::test]
async fn summarize_form_renders_the_summary_within_max() {
    let text = "The city council voted on Tuesday to turn the old railway depot into a public \
library and community centre, paid for by a state grant.";
    let body = format!("txt={}&model=smollm2&min=2&max=12", url_escape(text));
    let req = post(
        "/summarize/result",
        "application/x-www-form-urlencoded",
        body.into_bytes(),
    );
    let (status, ctype, body) = send(router(), req).await;
    let page = html(&body);
    assert_eq!(status, 200, "{page}");
    assert!(ctype.starts_with("text/html"));
    assert!(page.contains("<output id=\"summary\""), "{page}");
    let tokens: usize = page
        .split(" tokens · ")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no token count: {page}"));
    assert!((2..=12).contains(&tokens), "{tokens} tokens");
}

#[tokio::test]
async fn form_errors_keep_the_apis_status_and_message() {
    // An empty text: the seed's 400 message on an HTML page.
    let req = post(
        "/summarize/result",
        "application/x-www-form-urlencoded",
        b"txt=+&max=8".to_vec(),
    );
    let (status, ctype, body) = send(router(), req).await;
    let page = html(&body);
    assert_eq!(status, 400);
    assert!(ctype.starts_with("text/html"));
    assert!(
        page.contains("Text cannot be empty") && page.contains("href=\"/summarize\""),
        "{page}"
    );
    // A text file as the photo: the API's 415, named as such.
    let req = form_post(
        "/classify/result",
        &[("file", Some("notes.txt"), b"just some text")],
    );
    let (status, _, body) = send(router(), req).await;
    assert_eq!(status, 415);
    assert!(html(&body).contains("(415)"));
}

#[tokio::test]
async fn samples_are_served_by_name_and_nothing_else() {
    let settings = Settings {
        limits: Limits::default(),
        fetch: FetchPolicy::default(),
        samples_dir: model_dir().join("samples"),
        ..Settings::default()
    };
    let app = server::app(server::AppState::new(models(), settings, "target/site"));
    let get = |uri: &str| {
        axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let (status, ctype, body) = send(app.clone(), get("/samples/dog.jpg")).await;
    assert_eq!((status.as_u16(), ctype.as_str()), (200, "image/jpeg"));
    assert_eq!(body, photo("dog.jpg"));
    for bad in ["/samples/secret.jpg", "/samples/..%2Fselfie%2Fmodel.json"] {
        let (status, _, body) = send(app.clone(), get(bad)).await;
        assert_eq!(status, 404, "{bad}");
        assert_eq!(error_of(&body).0, "not_found", "{bad}");
    }
}

/// `application/x-www-form-urlencoded` escaping, as a browser sends a form.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
