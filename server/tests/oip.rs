//! Open Inference Protocol inference (`POST /v2/models/{id}/infer`) through the real router with
//! `oneshot`: every task on the real weights, JSON and binary tensors both ways, image pixels
//! as UINT8, and the refusals (bad tensors 400, model and image errors with their own codes,
//! 429 before the body is read, the memory budget). The tritonclient test
//! (scripts/test/oip.sh) drives the same route through the reference client.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::Engine;
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::{AppState, Settings};
use tower::ServiceExt;

const HEADER_LENGTH: &str = "inference-header-content-length";

/// An answer: status, JSON header, and each binary output's bytes by name.
struct Answer {
    status: StatusCode,
    json: Value,
    binary: Vec<(String, Vec<u8>)>,
}

impl Answer {
    fn output(&self, name: &str) -> &Value {
        self.json["outputs"]
            .as_array()
            .unwrap_or_else(|| panic!("no outputs: {}", self.json))
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no output {name}: {}", self.json))
    }

    fn shape(&self, name: &str) -> Vec<usize> {
        self.output(name)["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect()
    }

    fn strings(&self, name: &str) -> Vec<String> {
        if let Some((_, raw)) = self.binary.iter().find(|(n, _)| n == name) {
            let mut out = Vec::new();
            let mut rest = &raw[..];
            while !rest.is_empty() {
                let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
                out.push(String::from_utf8(rest[4..4 + n].to_vec()).unwrap());
                rest = &rest[4 + n..];
            }
            return out;
        }
        let data = self.output(name)["data"].as_array().unwrap();
        data.iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    }

    fn floats(&self, name: &str) -> Vec<f32> {
        if let Some((_, raw)) = self.binary.iter().find(|(n, _)| n == name) {
            return raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
        }
        let data = self.output(name)["data"].as_array().unwrap();
        data.iter().map(|v| v.as_f64().unwrap() as f32).collect()
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        if let Some((_, raw)) = self.binary.iter().find(|(n, _)| n == name) {
            return raw.clone();
        }
        let data = self.output(name)["data"].as_array().unwrap();
        data.iter().map(|v| v.as_u64().unwrap() as u8).collect()
    }

    fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error: {}", self.json))
    }
}

async fn call(app: Router, model: &str, body: Vec<u8>, header_len: Option<usize>) -> Answer {
    let mut req = Request::post(format!("/v2/models/{model}/infer"));
    if let Some(n) = header_len {
        req = req.header(HEADER_LENGTH, n);
    }
    let resp = app
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let header_len = resp
        .headers()
        .get(HEADER_LENGTH)
        .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
    let ctype = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let (json_part, mut tail) = body.split_at(header_len.unwrap_or(body.len()));
    let json: Value = serde_json::from_slice(json_part)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(json_part)));
    if header_len.is_some() {
        assert_eq!(ctype.unwrap(), "application/octet-stream");
    } else {
        assert_eq!(ctype.unwrap(), "application/json");
    }
    let mut binary = Vec::new();
    if header_len.is_some() {
        for o in json["outputs"].as_array().unwrap() {
            if let Some(n) = o["parameters"]["binary_data_size"].as_u64() {
                let (this, rest) = tail.split_at(n as usize);
                binary.push((o["name"].as_str().unwrap().to_owned(), this.to_vec()));
                tail = rest;
            }
        }
        assert!(
            tail.is_empty(),
            "binary data the header does not account for"
        );
    }
    Answer {
        status,
        json,
        binary,
    }
}

async fn call_json(model: &str, req: Value) -> Answer {
    call(router(), model, serde_json::to_vec(&req).unwrap(), None).await
}

/// A request whose inputs follow the JSON as binary (as tritonclient sends by default).
async fn call_binary(app: Router, model: &str, mut header: Value, tensors: &[Vec<u8>]) -> Answer {
    for (input, data) in header["inputs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(tensors)
    {
        input["parameters"] = json!({ "binary_data_size": data.len() });
    }
    let mut body = serde_json::to_vec(&header).unwrap();
    let n = body.len();
    for t in tensors {
        body.extend(t);
    }
    call(app, model, body, Some(n)).await
}

/// BYTES elements in the binary form: a 4-byte little-endian length, then the bytes.
fn bytes_element(data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_le_bytes().to_vec();
    out.extend(data);
    out
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn image_json(name: &str) -> Value {
    json!({ "name": "image", "shape": [1], "datatype": "BYTES", "data": [b64(&photo(name))] })
}

fn rgb(name: &str) -> image::RgbImage {
    image::load_from_memory(&photo(name)).unwrap().to_rgb8()
}

/// ImageNet's dog breeds: classes 151..=268 of the 1000.
fn is_dog(label: &str) -> bool {
    let labels = models::Catalog::builtin()
        .get("efficientnet-lite0")
        .unwrap()
        .labels
        .clone();
    labels[151..=268].iter().any(|l| l == label)
}

#[tokio::test]
async fn segmentation_answers_a_class_mask_at_the_input_size() {
    let a = call_json(
        "selfie",
        json!({ "id": "r1", "inputs": [image_json("person.jpg")] }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["model_name"], "selfie");
    assert_eq!(a.json["id"], "r1");
    let (w, h) = rgb("person.jpg").dimensions();
    assert_eq!(a.shape("mask"), [h as usize, w as usize]);
    assert_eq!(a.output("mask")["datatype"], "UINT8");
    let mask = a.bytes("mask");
    assert_eq!(mask.len(), (w * h) as usize);
    assert!(mask.iter().all(|&m| m <= 1), "class indices 0/1");
    assert_eq!(a.strings("labels"), ["background", "person"]);
    let shares = a.floats("shares");
    let person = mask.iter().filter(|&&m| m == 1).count() as f32 / mask.len() as f32;
    assert!(
        (shares[1] - person).abs() < 1e-6,
        "shares agree with the mask"
    );
    assert!((shares[0] + shares[1] - 1.0).abs() < 1e-5);
    // The same photo's share on /api/v1 (server/tests/api.rs): a small person.
    assert!(
        (0.02..0.15).contains(&shares[1]),
        "person share {}",
        shares[1]
    );
}

#[tokio::test]
async fn binary_tensors_both_ways_give_the_json_answer() {
    let json_answer = call_json("selfie", json!({ "inputs": [image_json("person.jpg")] })).await;
    let a = call_binary(
        router(),
        "selfie",
        json!({
            "inputs": [{ "name": "image", "shape": [1], "datatype": "BYTES" }],
            "parameters": { "binary_data_output": true },
        }),
        &[bytes_element(&photo("person.jpg"))],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.binary.len(), 3, "every output as binary");
    assert!(a.output("mask").get("data").is_none());
    assert_eq!(a.bytes("mask"), json_answer.bytes("mask"));
    assert_eq!(a.floats("shares"), json_answer.floats("shares"));
    assert_eq!(a.strings("labels"), ["background", "person"]);
    // One output named, as JSON, overrides binary_data_output.
    let a = call_binary(
        router(),
        "selfie",
        json!({
            "inputs": [{ "name": "image", "shape": [1], "datatype": "BYTES" }],
            "outputs": [{ "name": "shares", "parameters": { "binary_data": false } }],
            "parameters": { "binary_data_output": true },
        }),
        &[bytes_element(&photo("person.jpg"))],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["outputs"].as_array().unwrap().len(), 1);
    assert!(a.binary.is_empty());
    assert_eq!(a.floats("shares"), json_answer.floats("shares"));
}

#[tokio::test]
async fn detection_answers_boxes_scores_and_labels_in_input_pixels() {
    let a = call_json("nanodet", json!({ "inputs": [image_json("dog.jpg")] })).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let labels = a.strings("labels");
    let scores = a.floats("scores");
    let boxes = a.floats("boxes");
    assert_eq!(a.shape("boxes"), [labels.len(), 4]);
    assert_eq!(scores.len(), labels.len());
    assert!(
        scores.iter().all(|&s| s >= 0.35 - 1e-6),
        "default confidence {scores:?}"
    );
    let dog = labels.iter().position(|l| l == "dog").expect("a dog");
    // weights.md's reference dog box, x1 y1 x2 y2.
    for (got, want) in boxes[4 * dog..4 * dog + 4]
        .iter()
        .zip([131.0, 221.0, 360.0, 541.0])
    {
        assert!(
            (got - want).abs() < 8.0,
            "dog box {:?}",
            &boxes[4 * dog..4 * dog + 4]
        );
    }
    // A higher confidence keeps only the boxes above it.
    let strict = call_json(
        "nanodet",
        json!({ "inputs": [image_json("dog.jpg")], "parameters": { "confidence": 0.6 } }),
    )
    .await;
    let s = strict.floats("scores");
    assert!(s.iter().all(|&x| x >= 0.6 - 1e-6));
    assert_eq!(s.len(), scores.iter().filter(|&&x| x >= 0.6).count());
}

#[tokio::test]
async fn rgb_pixels_as_uint8_classify_like_the_encoded_file() {
    let file = call_json(
        "efficientnet-lite0",
        json!({ "inputs": [image_json("dog.jpg")] }),
    )
    .await;
    assert_eq!(file.status, 200, "{}", file.json);
    let img = rgb("dog.jpg");
    let (w, h) = img.dimensions();
    let pixels = call_binary(
        router(),
        "efficientnet-lite0",
        json!({
            "inputs": [{ "name": "image", "shape": [h, w, 3], "datatype": "UINT8" }],
            "parameters": { "top_k": 3 },
        }),
        &[img.into_raw()],
    )
    .await;
    assert_eq!(pixels.status, 200, "{}", pixels.json);
    let (top_file, top_px) = (file.strings("labels"), pixels.strings("labels"));
    assert_eq!(top_file.len(), 5, "top_k defaults to 5");
    assert_eq!(top_px.len(), 3);
    assert!(is_dog(&top_file[0]), "{top_file:?}");
    assert_eq!(top_px[0], top_file[0], "the same photo, given as pixels");
    let p = file.floats("probabilities");
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "best first {p:?}");
    // Pixels as JSON numbers, nested or flat, with a batch dimension of 1.
    let small = image::imageops::thumbnail(&rgb("dog.jpg"), 32, 24);
    let nested: Vec<Vec<Vec<u8>>> = small
        .rows()
        .map(|row| row.map(|p| p.0.to_vec()).collect())
        .collect();
    let a = call_json(
        "efficientnet-lite0",
        json!({ "inputs": [{ "name": "image", "shape": [1, 24, 32, 3], "datatype": "UINT8", "data": nested }] }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.strings("labels").len(), 5);
}

#[tokio::test]
async fn summarization_takes_text_as_bytes() {
    let text =
        "The city council met on Tuesday to discuss the new park. After two hours of debate, \
        the members voted to build it next spring, with a playground, a pond and a small cafe.";
    let a = call_json(
        "smollm2",
        json!({
            "inputs": [{ "name": "text", "shape": [1], "datatype": "BYTES", "data": [text] }],
            "parameters": { "max_tokens": 24 },
        }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.shape("summary"), [1]);
    let summary = &a.strings("summary")[0];
    assert!(!summary.trim().is_empty());
    // Binary in and out (tritonclient's default); too long a summary is refused as elsewhere.
    let a = call_binary(
        router(),
        "smollm2",
        json!({
            "inputs": [{ "name": "text", "shape": [1, 1], "datatype": "BYTES" }],
            "parameters": { "max_tokens": 4, "binary_data_output": true },
        }),
        &[bytes_element(text.as_bytes())],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(!a.strings("summary")[0].is_empty());
    let a = call_json(
        "smollm2",
        json!({
            "inputs": [{ "name": "text", "shape": [1], "datatype": "BYTES", "data": [text] }],
            "parameters": { "max_tokens": 100000 },
        }),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("--max-summary-tokens"), "{}", a.error());
}

#[tokio::test]
async fn metadata_lists_what_infer_takes_and_answers() {
    for (model, input, outputs) in [
        ("selfie", "image", vec!["mask", "shares", "labels"]),
        ("nanodet", "image", vec!["boxes", "scores", "labels"]),
        (
            "efficientnet-lite0",
            "image",
            vec!["labels", "probabilities"],
        ),
        ("smollm2", "text", vec!["summary"]),
    ] {
        let (status, _, body) = send(
            router(),
            Request::get(format!("/v2/models/{model}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["inputs"][0]["name"], input, "{v}");
        assert_eq!(v["inputs"][0]["datatype"], "BYTES");
        let names: Vec<&str> = v["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, outputs, "{model}");
    }
    let (_, _, body) = send(
        router(),
        Request::get("/api-docs/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let spec: Value = serde_json::from_slice(&body).unwrap();
    assert!(spec["paths"]["/v2/models/{model_id}/infer"]["post"].is_object());
}

/// A bad tensor is 400 in the protocol's error form, naming what is wrong.
#[tokio::test]
async fn bad_tensors_are_400_with_the_reason() {
    let img = |shape: Value, datatype: &str, data: Value| json!({ "inputs": [{ "name": "image", "shape": shape, "datatype": datatype, "data": data }] });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "selfie",
            img(json!([1]), "FP32", json!([0.5])),
            "datatype 'FP32'",
        ),
        (
            "selfie",
            img(json!([2, 2, 3]), "UINT8", json!([1, 2, 3])),
            "holds 12 elements but its data has 3",
        ),
        (
            "selfie",
            img(
                json!([1_000_000_000, 1_000_000_000, 3]),
                "UINT8",
                json!([1]),
            ),
            "elements",
        ),
        (
            "selfie",
            img(json!([u64::MAX / 2, 4, 3]), "UINT8", json!([1])),
            "too large",
        ),
        (
            "selfie",
            img(json!([-1, 1, 3]), "UINT8", json!([1, 2, 3])),
            "negative",
        ),
        (
            "selfie",
            img(json!([1, 1, 3]), "UINT8", json!([1, 2, 300])),
            "0..255",
        ),
        (
            "selfie",
            img(json!([1, 3]), "UINT8", json!([1, 2, 3])),
            "[H, W, 3]",
        ),
        (
            "selfie",
            img(json!([1]), "BYTES", json!(["%%% not base64"])),
            "base64",
        ),
        (
            "selfie",
            img(json!([2]), "BYTES", json!([b64(b"a"), b64(b"b")])),
            "one image per request",
        ),
        (
            "selfie",
            img(json!([1]), "BYTES", json!([7])),
            "must be strings",
        ),
        ("selfie", json!({ "inputs": [] }), "no inputs"),
        (
            "selfie",
            json!({ "inputs": [{ "name": "image", "shape": [1], "datatype": "BYTES" }] }),
            "no data",
        ),
        (
            "selfie",
            json!({ "inputs": [{ "name": "picture", "shape": [1], "datatype": "BYTES", "data": ["x"] }] }),
            "no input 'picture'",
        ),
        (
            "selfie",
            json!({ "inputs": [image_json("person.jpg"), image_json("dog.jpg")] }),
            "takes one input",
        ),
        (
            "selfie",
            json!({ "inputs": [image_json("person.jpg")], "outputs": [{ "name": "boxes" }] }),
            "no output 'boxes'",
        ),
        (
            "selfie",
            json!({ "inputs": [image_json("person.jpg")], "outputs": [{ "name": "mask" }, { "name": "mask" }] }),
            "twice",
        ),
        (
            "selfie",
            json!({ "inputs": [image_json("person.jpg")], "parameters": { "binary_data_output": "yes" } }),
            "true or false",
        ),
        (
            "selfie",
            json!({ "inputs": [image_json("person.jpg")], "parameters": { "threshold": 2 } }),
            "threshold",
        ),
        (
            "nanodet",
            json!({ "inputs": [image_json("dog.jpg")], "parameters": { "confidence": "abc" } }),
            "confidence",
        ),
        (
            "efficientnet-lite0",
            json!({ "inputs": [image_json("dog.jpg")], "parameters": { "top_k": 0 } }),
            "top_k",
        ),
        (
            "smollm2",
            json!({ "inputs": [image_json("dog.jpg")] }),
            "no input 'image'",
        ),
        (
            "smollm2",
            json!({ "inputs": [{ "name": "text", "shape": [3], "datatype": "UINT8", "data": [1, 2, 3] }] }),
            "must be BYTES",
        ),
        (
            "smollm2",
            json!({ "inputs": [{ "name": "text", "shape": [1], "datatype": "BYTES", "data": ["  "] }] }),
            "empty",
        ),
        (
            "selfie",
            json!({ "id": 7, "inputs": [image_json("person.jpg")] }),
            "JSON",
        ),
    ];
    for (model, req, want) in cases {
        let a = call_json(model, req.clone()).await;
        assert_eq!(a.status, 400, "{model} {req}: {}", a.json);
        assert!(
            a.error().contains(want),
            "{model}: '{}' should say '{want}'",
            a.error()
        );
    }
    let raw = |body: &[u8], n: Option<usize>| call(router(), "selfie", body.to_vec(), n);
    for (a, want) in [
        (raw(b"{not json", None).await, "JSON"),
        (raw(b"{}", Some(99)).await, "Inference-Header-Content-Length is 99"),
        (raw(br#"{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":4}}]}"#, None).await, "no Inference-Header-Content-Length"),
    ] {
        assert_eq!(a.status, 400, "{}", a.json);
        assert!(a.error().contains(want), "'{}' should say '{want}'", a.error());
    }
    let header = json!({ "inputs": [{ "name": "image", "shape": [1], "datatype": "BYTES" }] });
    let element = bytes_element(&photo("dog.jpg"));
    let n = element.len();
    for (size, tail, want) in [
        (n, element[..10].to_vec(), "past the end of the body"),
        (n, [element.clone(), vec![0, 0]].concat(), "accounts for"),
        (n + 2, [element.clone(), vec![0, 0]].concat(), "ends inside"),
        (10, element[..10].to_vec(), "runs past"),
    ] {
        let mut h = header.clone();
        h["inputs"][0]["parameters"] = json!({ "binary_data_size": size });
        let mut body = serde_json::to_vec(&h).unwrap();
        let len = body.len();
        body.extend(&tail);
        let a = call(router(), "selfie", body, Some(len)).await;
        assert_eq!(a.status, 400, "{}", a.json);
        assert!(
            a.error().contains(want),
            "'{}' should say '{want}'",
            a.error()
        );
    }
    let a = call_binary(
        router(),
        "smollm2",
        json!({ "inputs": [{ "name": "text", "shape": [1], "datatype": "BYTES" }] }),
        &[bytes_element(&[0xff, 0xfe, b'a'])],
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("not UTF-8"), "{}", a.error());
}

#[tokio::test]
async fn model_and_image_errors_keep_their_codes() {
    let a = call_json("resnet9000", json!({ "inputs": [image_json("dog.jpg")] })).await;
    assert_eq!(a.status, 404);
    assert!(
        a.error().contains("selfie"),
        "names the models: {}",
        a.error()
    );
    // Catalog models whose weights are not in the store (opt-in downloads) are 503.
    let missing = models()
        .slots
        .iter()
        .find(|s| s.state() != models::ServingState::Ready)
        .map(|s| s.spec.id.clone());
    if let Some(id) = missing {
        let a = call_json(&id, json!({ "inputs": [image_json("dog.jpg")] })).await;
        assert_eq!(a.status, 503, "{id}: {}", a.json);
    }
    let bytes_in = |data: &[u8]| json!({ "inputs": [{ "name": "image", "shape": [1], "datatype": "BYTES", "data": [b64(data)] }] });
    let mut truncated = photo("dog.jpg");
    truncated.truncate(2000);
    for (req, status) in [
        (bytes_in(b"hello, not an image"), 415),
        (bytes_in(&truncated), 422),
        (
            json!({ "inputs": [{ "name": "image", "shape": [0, 0, 3], "datatype": "UINT8", "data": [] }] }),
            422,
        ),
        // 100:1 is past --max-aspect, as for an upload.
        (
            json!({ "inputs": [{ "name": "image", "shape": [1, 100, 3], "datatype": "UINT8", "data": vec![0u8; 300] }] }),
            422,
        ),
    ] {
        let a = call_json("selfie", req).await;
        assert_eq!(a.status.as_u16(), status, "{}", a.json);
    }
    let resp = router()
        .oneshot(
            Request::post("/v2/models/selfie/infer")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from("x"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let (status, _, body) = send(
        router(),
        Request::get("/v2/models/selfie/infer")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn the_memory_budget_covers_parsing() {
    // A 1 MB pixel tensor needs its body and its parsed copy at once: 2 MB, over a 1.5 MB budget.
    let settings = Settings {
        memory_budget: 1_500_000,
        ..Settings::default()
    };
    let app = server::app(AppState::new(models(), settings, "target/site"));
    let (w, h) = (600u32, 555u32);
    let a = call_binary(
        app.clone(),
        "selfie",
        json!({ "inputs": [{ "name": "image", "shape": [h, w, 3], "datatype": "UINT8" }] }),
        &[vec![128u8; (w * h * 3) as usize]],
    )
    .await;
    assert_eq!(a.status, 413, "{}", a.json);
    assert!(a.error().contains("--memory-budget"), "{}", a.error());
    // A small one fits.
    let a = call_binary(
        app,
        "selfie",
        json!({ "inputs": [{ "name": "image", "shape": [60, 80, 3], "datatype": "UINT8" }] }),
        &[vec![128u8; 60 * 80 * 3]],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
}

/// A slow fake segmenter, so the queue can be filled on purpose.
struct Slow(models::ModelSpec);

impl models::Segmenter for Slow {
    fn spec(&self) -> &models::ModelSpec {
        &self.0
    }

    fn segment(&self, _: &image::RgbImage) -> models::Result<models::Segmentation> {
        std::thread::sleep(Duration::from_millis(400));
        Ok(models::Segmentation {
            probs: models::image::postprocess::ProbMap::new(2, 2, vec![1.0; 4])?,
            classes: None,
            timings: Default::default(),
        })
    }
}

#[tokio::test]
async fn a_full_queue_refuses_before_reading_the_body() {
    let mut spec = models::Catalog::builtin().get("selfie").unwrap().clone();
    spec.id = "slow".into();
    let served = server::runtime::served::ServedModels::ready(
        models::Catalog::builtin(),
        vec![(spec.clone(), models::Model::Segmenter(Arc::new(Slow(spec))))],
        server::runtime::served::EngineConfig {
            default: server::runtime::engine::EngineOptions {
                workers: 1,
                queue: 1,
                ..Default::default()
            },
            per_model: Default::default(),
        },
    );
    let app = server::app(AppState::new(served, Settings::default(), "target/site"));
    let pixels = || {
        let body = json!({ "inputs": [{ "name": "image", "shape": [4, 4, 3], "datatype": "UINT8", "data": vec![9u8; 48] }] });
        serde_json::to_vec(&body).unwrap()
    };
    let running = tokio::spawn(call(app.clone(), "slow", pixels(), None));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let waiting = tokio::spawn(call(app.clone(), "slow", pixels(), None));
    tokio::time::sleep(Duration::from_millis(60)).await;
    // This body never sends a byte: a handler that read it first would hang.
    let never = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
    let req = Request::post("/v2/models/slow/infer")
        .header(header::CONTENT_LENGTH, "1000")
        .body(Body::from_stream(never))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_millis(200), app.clone().oneshot(req))
        .await
        .expect("answered without reading the body")
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get(header::RETRY_AFTER).is_some());
    assert_eq!(running.await.unwrap().status, 200);
    assert_eq!(waiting.await.unwrap().status, 200);
}
