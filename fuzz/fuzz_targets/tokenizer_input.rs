//! Any text through SmolLM2's real tokenizer and prompt builder (the summarize route's input
//! path), from the GGUF in the model store (`CANDLELIT_MODEL_DIR`, set by `make fuzz-native`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn model() -> &'static models::SmolLm {
    static M: OnceLock<models::SmolLm> = OnceLock::new();
    M.get_or_init(|| {
        let dir = std::env::var("CANDLELIT_MODEL_DIR").unwrap_or_else(|_| "model-store".into());
        let spec = models::Catalog::builtin().get("smollm2").unwrap().clone();
        let path = std::path::Path::new(&dir).join("smollm2").join(&spec.graph);
        models::SmolLm::load(&path, &candle_core::Device::Cpu).expect("smollm2 in the store")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let max_tokens = data.first().map_or(16, |&b| 1 + b as usize);
    if let Ok(p) = model().prompt(text, max_tokens) {
        assert!(!p.ids.is_empty());
    }
});
