//! API tests for detection and classification: the real router (`server::app`) with `oneshot`,
//! on the real NanoDet, CenterNet and EfficientNet-Lite0 weights.

mod common;

use common::*;

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn detect_json_has_coco_boxes_in_original_pixels_down_to_the_floor() {
    let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
    let (status, ctype, body) = send(router(), post("/api/v1/detect/nanodet", &ct, body)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ctype, "application/json");
    let v = json(&body);
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(768), Some(576))
    );
    assert!((v["score_floor"].as_f64().unwrap() - 0.05).abs() < 1e-6);
    let dets = v["detections"].as_array().unwrap();
    assert!(dets.len() > 3, "low-scoring candidates are returned too");
    assert!(dets
        .iter()
        .all(|d| d["score"].as_f64().unwrap() >= 0.05 - 1e-6));
    let dog = dets.iter().find(|d| d["label"] == "dog").expect("a dog");
    assert_eq!(dog["category_id"], 18, "COCO's id for dog");
    assert_eq!(dog["class_index"], 16);
    let b: Vec<f64> = dog["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    // weights.md's reference dog box [131, 221, 360, 541] as x, y, w, h.
    for (got, want) in b.iter().zip([131.0, 221.0, 229.0, 320.0]) {
        assert!((got - want).abs() < 8.0, "dog bbox {b:?}");
    }
    assert!(v["timings"]["inference_ms"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn detect_confidence_filters_and_is_validated() {
    let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
    let (status, _, body) = send(
        router(),
        post("/api/v1/detect/centernet?confidence=0.4", &ct, body),
    )
    .await;
    assert_eq!(status, 200);
    let v = json(&body);
    let dets = v["detections"].as_array().unwrap();
    assert!(!dets.is_empty());
    assert!(dets
        .iter()
        .all(|d| d["score"].as_f64().unwrap() >= 0.4 - 1e-6));
    assert!((v["min_score"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    for bad in ["1.5", "abc", "-0.1"] {
        let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
        let uri = format!("/api/v1/detect/nanodet?confidence={bad}");
        let (status, _, body) = send(router(), post(&uri, &ct, body)).await;
        assert_eq!(status, 400, "confidence={bad}");
        assert!(error_of(&body).1.contains("confidence"));
    }
}

#[tokio::test]
async fn predict_answers_the_annotated_jpeg() {
    let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
    let (status, ctype, jpeg) = send(
        router(),
        post("/predict?model=nanodet&confidence=0.3", &ct, body),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "image/jpeg");
    let drawn = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), (768, 576));
    // The box colours appear where the boxes are: compare with the original photo.
    let original = image::load_from_memory(&photo("dog.jpg"))
        .unwrap()
        .to_rgb8();
    let changed = drawn
        .pixels()
        .zip(original.pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 60))
        .count();
    assert!(changed > 2_000, "{changed} pixels changed by drawing");
}

#[tokio::test]
async fn predict_refuses_a_text_file_with_415() {
    let (ct, body) = multipart(&[("file", Some("notes.jpg"), b"just some text, not an image")]);
    let (status, _, body) = send(router(), post("/predict", &ct, body)).await;
    assert_eq!(status, 415);
    assert_eq!(error_of(&body).0, "unsupported_media_type");
}

#[tokio::test]
async fn models_of_another_task_and_unknown_models_are_refused() {
    let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
    let (status, _, body) = send(router(), post("/api/v1/detect/selfie", &ct, body)).await;
    assert_eq!(status, 400);
    assert!(error_of(&body).1.contains("segmentation model"));
    let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
    let (status, _, body) = send(router(), post("/api/v1/classify/resnet9000", &ct, body)).await;
    assert_eq!(status, 404);
    assert!(
        error_of(&body).1.contains("efficientnet-lite0"),
        "names the choices"
    );
}

#[tokio::test]
async fn classify_ranks_top_k_with_probabilities() {
    let (ct, body) = multipart(&[("file", Some("eagle.jpg"), &photo("eagle.jpg"))]);
    let (status, _, body) = send(
        router(),
        post("/api/v1/classify/efficientnet-lite0?top_k=3", &ct, body),
    )
    .await;
    assert_eq!(status, 200);
    let v = json(&body);
    let top = v["top_k"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert!([
        "kite",
        "bald eagle, American eagle, Haliaeetus leucocephalus"
    ]
    .contains(&top[0]["label"].as_str().unwrap()));
    let p: Vec<f64> = top
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "sorted {p:?}");
    for bad in ["0", "1001", "x"] {
        let (ct, body) = multipart(&[("file", Some("eagle.jpg"), &photo("eagle.jpg"))]);
        let uri = format!("/api/v1/classify/efficientnet-lite0?top_k={bad}");
        let (status, _, _) = send(router(), post(&uri, &ct, body)).await;
        assert_eq!(status, 400, "top_k={bad}");
    }
}

#[tokio::test]
async fn seed_classify_route_answers_class_label() {
    let (ct, body) = multipart(&[("file", Some("dog.jpg"), &photo("dog.jpg"))]);
    let (status, _, body) = send(router(), post("/predict/image_classes", &ct, body)).await;
    assert_eq!(status, 200);
    let v = json(&body);
    let label = v["class_label"].as_str().unwrap();
    assert!(["malamute", "German shepherd"].contains(&label), "{label}");
    assert!(v["probability"].as_f64().unwrap() > 0.2);
}
