//! YOLOv8 in candle against ultralytics, on a random-initialised twin: ultralytics' own
//! DetectionModel narrowed with its scale knobs, its weights under candle's example names.
//! Fixtures: `models/tests/twins/yolov8/`, written by `scripts/twins/yolov8.py` (see its header).
//! A missing fixture is a failure, never a skip.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use image::{Rgb, RgbImage};
use models::catalog::Arch;
use models::detect::letterbox::Letterbox;
use models::detect::yolov8::decode::{non_max_suppression, NmsConfig};
use models::detect::yolov8::network::{Multiples, YoloV8};
use models::detect::yolov8::YoloDetector;
use models::{Catalog, Detector};
use serde_json::Value;

const HEAD_TOLERANCE: f32 = 1e-3;
const BOX_TOLERANCE: f32 = 1e-2;
const SCORE_TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/twins/yolov8")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing; run `~/.cache/candlelit/py-twins/bin/python scripts/twins/yolov8.py`",
        path.display()
    );
    path
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json is JSON")
}

fn io() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture("io.safetensors"), &Device::Cpu).expect("io")
}

fn f32s(v: &Value) -> Vec<f32> {
    let items = v.as_array().expect("array");
    items
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn pair(v: &Value) -> (u32, u32) {
    let p = f32s(v);
    (p[0] as u32, p[1] as u32)
}

/// The twin's multiples from ultralytics' `[depth, width, max_channels]` scale row.
fn twin() -> YoloV8 {
    let r = reference();
    let scale = f32s(&r["ultralytics_scale"]);
    let multiples = Multiples {
        depth: scale[0] as f64,
        width: scale[1] as f64,
        ratio: scale[2] as f64 / 512.0,
    };
    let classes = r["num_classes"].as_u64().expect("num_classes") as usize;
    YoloV8::load(
        &fixture("weights.safetensors"),
        multiples,
        classes,
        &Device::Cpu,
    )
    .expect("twin loads")
}

/// The letterboxed inputs as ultralytics fed them: `u8 / 255`.
fn inputs(io: &HashMap<String, Tensor>) -> Tensor {
    let images = &io["images"];
    let values: Vec<f32> = images
        .flatten_all()
        .and_then(|t| t.to_vec1::<u8>())
        .expect("u8 images")
        .into_iter()
        .map(|v| v as f32 / 255.0)
        .collect();
    Tensor::from_vec(values, images.dims(), &Device::Cpu).expect("input tensor")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let d = (a - b).and_then(|d| d.abs()).and_then(|d| d.flatten_all());
    let d = d.and_then(|d| d.max(0)).and_then(|d| d.to_scalar::<f32>());
    d.expect("same shapes")
}

fn original(io: &HashMap<String, Tensor>, i: usize) -> RgbImage {
    let t = &io[&format!("original.{i}")];
    let (h, w, _) = t.dims3().expect("HWC");
    let raw = t.flatten_all().and_then(|t| t.to_vec1::<u8>()).expect("u8");
    RgbImage::from_raw(w as u32, h as u32, raw).expect("HWC RGB")
}

#[test]
fn raw_head_output_matches_ultralytics() {
    let io = io();
    let got = twin().forward(&inputs(&io)).expect("forward");
    let want = &io["head"];
    assert_eq!(got.dims(), want.dims());
    let delta = max_abs_diff(&got, want);
    let (n, channels, anchors) = want.dims3().unwrap();
    let part = |start, len| {
        let (g, w) = (got.narrow(1, start, len), want.narrow(1, start, len));
        max_abs_diff(&g.unwrap(), &w.unwrap())
    };
    let (boxes, scores) = (part(0, 4), part(4, channels - 4));
    println!(
        "yolov8 twin head [{n}, {channels}, {anchors}]: max |delta| = {delta:e} \
         (xywh px {boxes:e}, scores {scores:e})"
    );
    assert!(
        delta < HEAD_TOLERANCE,
        "max |delta| {delta} >= {HEAD_TOLERANCE}"
    );
}

#[test]
fn decoded_boxes_match_ultralytics_nms_and_scale_boxes() {
    let io = io();
    let r = reference();
    let head = twin().forward(&inputs(&io)).expect("forward");
    let classes = r["num_classes"].as_u64().unwrap() as usize;
    let cfg = NmsConfig {
        conf: r["conf_thres"].as_f64().unwrap() as f32,
        iou: r["iou_thres"].as_f64().unwrap() as f32,
        max_det: r["max_det"].as_u64().unwrap() as usize,
    };
    let input = pair(&r["input_wh"]);
    let images = r["images"].as_array().expect("images");
    for (i, image) in images.iter().enumerate() {
        let row = head.get(i).and_then(|t| t.flatten_all());
        let row = row.and_then(|t| t.to_vec1::<f32>()).expect("head row");
        let got = non_max_suppression(&row, classes, &cfg);
        let want = image["detections"].as_array().expect("detections");
        println!(
            "image {i}: {} boxes from candle, {} from ultralytics",
            got.len(),
            want.len()
        );
        assert!(!want.is_empty(), "the fixture should have boxes to compare");
        assert_eq!(got.len(), want.len(), "image {i}: box count");
        let lb = Letterbox::fit(pair(&image["original_wh"]), input);
        let (mut worst_box, mut worst_score) = (0f32, 0f32);
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(
                g.class as u64,
                w["class"].as_u64().unwrap(),
                "image {i} box {k}"
            );
            let score = (g.score - w["score"].as_f64().unwrap() as f32).abs();
            worst_score = worst_score.max(score);
            let mapped = lb.unmap(&g.bbox);
            let pairs = [(g.bbox, &w["box_input"]), (mapped, &w["box_original"])];
            for (mine, theirs) in pairs {
                for (a, b) in mine.iter().zip(f32s(theirs)) {
                    worst_box = worst_box.max((a - b).abs());
                }
            }
        }
        println!("image {i}: max |delta| box {worst_box:e} px, score {worst_score:e}");
        assert!(
            worst_box < BOX_TOLERANCE,
            "image {i}: box |delta| {worst_box}"
        );
        assert!(
            worst_score < SCORE_TOLERANCE,
            "image {i}: score |delta| {worst_score}"
        );
    }
}

#[test]
fn letterbox_matches_ultralytics() {
    let io = io();
    let r = reference();
    let input = pair(&r["input_wh"]);
    let images = r["images"].as_array().expect("images");
    let (n, _, h, w) = io["images"].dims4().unwrap();
    assert_eq!((n, (w as u32, h as u32)), (images.len(), input));
    for (i, image) in images.iter().enumerate() {
        let src = original(&io, i);
        let lb = Letterbox::fit(src.dimensions(), input);
        let geometry = &image["letterbox"];
        assert_eq!(lb.scaled, pair(&geometry["new_unpad_wh"]), "image {i}");
        let offset = (
            geometry["left"].as_u64().unwrap(),
            geometry["top"].as_u64().unwrap(),
        );
        assert_eq!(
            (lb.offset.0 as u64, lb.offset.1 as u64),
            offset,
            "image {i}"
        );

        // Pixels: OpenCV's fixed-point bilinear, reproduced; allow one level for its SIMD paths.
        let got = lb.apply(&src);
        let want = io["images"].get(i).and_then(|t| t.to_vec3::<u8>()).unwrap();
        let mut worst = 0u8;
        let mut off = 0usize;
        for (x, y, px) in got.enumerate_pixels() {
            for (c, plane) in want.iter().enumerate() {
                let d = px[c].abs_diff(plane[y as usize][x as usize]);
                worst = worst.max(d);
                off += usize::from(d > 0);
            }
        }
        println!("image {i}: letterbox max |delta| {worst} levels, {off} values differ");
        assert!(worst <= 1, "image {i}: letterbox differs by {worst} levels");
    }
}

/// The twin behind the `Detector` trait, with a catalog detection spec's COCO-80 labels.
fn twin_detector() -> YoloDetector {
    let mut spec = Catalog::builtin()
        .get("nanodet")
        .expect("a COCO-80 detection spec")
        .clone();
    spec.id = "yolov8-twin".into();
    spec.arch = Some(Arch::YoloV8n);
    let input = spec.input.as_mut().expect("image input");
    let wh = pair(&reference()["input_wh"]);
    (input.width, input.height) = wh;
    YoloDetector::new(&spec, twin(), &Device::Cpu).expect("detector")
}

#[test]
fn detector_boxes_lie_inside_an_odd_sized_image() {
    let detector = twin_detector();
    let img = RgbImage::from_fn(203, 117, |x, y| {
        let inside = (40..120).contains(&x) && (30..90).contains(&y);
        if inside {
            Rgb([200, 30, 40])
        } else {
            Rgb([(x % 256) as u8, (y * 2 % 256) as u8, 90])
        }
    });
    let min_score = 0.25;
    let found = detector.detect(&img, min_score).expect("detect");
    assert_eq!((found.width, found.height), (203, 117));
    assert!(
        !found.detections.is_empty(),
        "the twin should find something"
    );
    for d in &found.detections {
        let [x1, y1, x2, y2] = d.bbox;
        assert!(0.0 <= x1 && x1 <= x2 && x2 <= 203.0, "{d:?}");
        assert!(0.0 <= y1 && y1 <= y2 && y2 <= 117.0, "{d:?}");
        assert!(d.score >= min_score && d.category_id < 80, "{d:?}");
        assert_eq!(d.label, detector.spec().labels[d.category_id]);
    }
    println!("detector: {} boxes on 203x117", found.detections.len());

    // A batch answers each image as detect does alone.
    let other = RgbImage::from_pixel(64, 300, Rgb([10, 200, 60]));
    let batch = detector.detect_batch(&[(&img, min_score), (&other, 0.5)]);
    let alone = [&found, &detector.detect(&other, 0.5).expect("detect")];
    for (b, a) in batch.iter().zip(alone) {
        let b = b.as_ref().expect("batch item");
        assert_eq!(b.detections.len(), a.detections.len());
        for (x, y) in b.detections.iter().zip(&a.detections) {
            assert_eq!(x.category_id, y.category_id);
            assert!((x.score - y.score).abs() < 1e-5);
            assert!(x
                .bbox
                .iter()
                .zip(&y.bbox)
                .all(|(p, q)| (p - q).abs() < 1e-3));
        }
    }
}

#[test]
fn wrong_variant_is_refused() {
    // The twin's weights are 1/16 wide: loading them as yolov8n must fail, not run.
    let err = YoloV8::load(
        &fixture("weights.safetensors"),
        Multiples::N,
        80,
        &Device::Cpu,
    )
    .expect_err("width mismatch");
    assert!(err.to_string().contains("channels"), "{err}");
}
