//! A hub model installed by hand, with no network: the SegFormer twin (random weights made by
//! transformers, `models/tests/twins/`) laid out like the Hugging Face hub cache. Before the
//! install the server lists it as `not_installed` and answers 503 naming the fix; after it, the
//! next store rescan serves it through the API with no restart.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::Request;
use common::{error_of, post, send};
use models::{Catalog, Store};
use server::runtime::served::{EngineConfig, Loader, ServedModels};
use server::{AppState, Settings};

// The same TOML shape as models' store::install tests' HUB_MODEL, for another model: each
// test's catalog entry is a fixture that shows what it installs, not shared code.
const CATALOG: &str = r#"
[[model]]
id = "segformer-twin"
task = "segmentation"
arch = "segformer"
name = "SegFormer twin"
licence = "Apache-2.0"
format = "hf-dir"
graph = "model.safetensors"
source = { registry = "hub", package = "candlelit/segformer-twin", version = "main" }
files = [{ path = "config.json" }, { path = "preprocessor_config.json" }, { path = "model.safetensors" }]
input = { width = 64, height = 64, layout = "nchw", channels = "rgb", mean = [123.675, 116.28, 103.53], std = [58.395, 57.12, 57.375] }
output = { kind = "softmax", channel = 0 }
"#;

fn twin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/twins/segformer_segmentation")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("candlelit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// `<root>/models--candlelit--segformer-twin/{refs/main, snapshots/<commit>/...}`.
fn hub_cache_with_twin() -> PathBuf {
    let root = tmp("hf-cache");
    let repo = root.join("models--candlelit--segformer-twin");
    let snap = repo.join("snapshots/5ca1ab1e");
    fs::create_dir_all(&snap).unwrap();
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), "5ca1ab1e").unwrap();
    for f in [
        "config.json",
        "preprocessor_config.json",
        "model.safetensors",
    ] {
        fs::copy(twin_dir().join(f), snap.join(f)).expect("the SegFormer twin fixture");
    }
    root
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_hub_model_placed_by_hand_is_served_without_a_restart() {
    let catalog = Catalog::parse(CATALOG).unwrap();
    let spec = catalog.get("segformer-twin").unwrap().clone();
    let store = Store::new(tmp("store"), tmp("downloads"));
    let served = ServedModels::new(catalog, None, EngineConfig::default());
    let loader: Loader = {
        let store = store.clone();
        Box::new(move |spec| models::load::load_one(spec, &store, &candle_core::Device::Cpu))
    };
    served.load_all(&loader);
    let app = server::app(AppState::new(
        served.clone(),
        Settings::default(),
        "target/site",
    ));

    let (status, _, body) = send(
        app.clone(),
        Request::get("/api/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["state"], "not_installed");
    assert!(list[0]["fix"]
        .as_str()
        .unwrap()
        .contains("models install segformer-twin"));
    // Not installed is not "unready": readiness does not wait for optional hub models.
    let (status, _, _) = send(
        app.clone(),
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 503, "no enabled model is ready yet at all");
    let (status, _, body) = send(
        app.clone(),
        post("/api/v1/segment/segformer-twin", "image/png", png(40, 30)),
    )
    .await;
    assert_eq!(status, 503);
    assert!(error_of(&body).1.contains("not installed"));

    // What `candlelit models install segformer-twin --from <cache>` does.
    let (src, commit) = models::store::install::locate(&spec, &hub_cache_with_twin()).unwrap();
    assert_eq!(commit, "5ca1ab1e");
    store.install(&spec, &src, &commit).unwrap();
    assert!(served.rescan(&loader) >= 1, "the rescan loads it");

    let (status, ctype, body) = send(
        app.clone(),
        post("/api/v1/segment/segformer-twin", "image/png", png(40, 30)),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ctype, "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let classes = v["classes"].as_array().unwrap();
    let total: f64 = classes.iter().map(|c| c["share"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4, "class shares add up: {v}");
    assert!(classes.iter().all(|c| c["colour"].is_array()));
    // The seed route answers the colour map for a multi-class model, at the input's size.
    let (status, ctype, body) = send(
        app,
        post("/segment?model=segformer-twin", "image/png", png(40, 30)),
    )
    .await;
    assert_eq!((status.as_u16(), ctype.as_str()), (200, "image/png"));
    let colour = image::load_from_memory(&body).unwrap().to_rgb8();
    assert_eq!(colour.dimensions(), (40, 30));
}
