//! Shared by the models crate's tests that need real weights. `make test` fills the store first;
//! a missing store is a failure with the command that fixes it, never a silent skip.

#![allow(dead_code)]

use std::path::PathBuf;

use models::{Catalog, Store, StoreState};

pub fn store() -> Store {
    let dir = std::env::var_os("CANDLELIT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model-store"));
    Store::new(dir, std::env::temp_dir())
}

pub fn ready(id: &str) -> (models::ModelSpec, Store) {
    let store = store();
    let spec = Catalog::builtin()
        .get(id)
        .expect("model in catalog")
        .clone();
    assert_eq!(
        store.state(&spec),
        StoreState::Ready,
        "model '{id}' is not in the store at {}; run `make fetch` (candlelit models fetch)",
        store.dir.display()
    );
    (spec, store)
}

pub fn photo(name: &str) -> image::RgbImage {
    let path = store().samples_dir().join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make fetch`", path.display()))
        .to_rgb8()
}

/// The golden files of one task (`tests/golden/<task>/*.json`, made by `make golden`), sorted;
/// fewer than `min` is a failure.
pub fn golden_files(task: &str, min: usize) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(task);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= min,
        "expected at least {min} golden files in {}",
        dir.display()
    );
    files
}

/// The photo as candle feeds it to `spec`'s model, checked to be the very bytes the golden
/// at `golden` was made on (its `input_sha256`).
pub fn golden_input(
    spec: &models::ModelSpec,
    photo_name: &str,
    input_sha256: &str,
    golden: &std::path::Path,
) -> image::RgbImage {
    let resized = models::image::preprocess::resize_for(&photo(photo_name), spec.image_input());
    assert_eq!(
        models::store::sha256_bytes(resized.as_raw()),
        input_sha256,
        "{}: candle's input differs from the one the golden was made on; rerun `make golden`",
        golden.display()
    );
    resized
}
