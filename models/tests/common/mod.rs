//! Shared by the models crate's tests that need real weights. `make test` fills the store first;
//! a missing store is a failure with the command that fixes it, never a silent skip.

#![allow(dead_code)]

use std::path::PathBuf;

use models::{Catalog, ModelState, Store};

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
        ModelState::Ready,
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
