//! Any bytes as an upload: header checks, bounded decode, shrink to each default model's need,
//! and that model's pre-processing. Every input must end in an image or a clean error; a panic,
//! an abort or an allocation past libFuzzer's limit is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::decode::{decode, inspect, Need};
use server::limits::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let catalog = models::Catalog::builtin();
    let specs: Vec<_> = catalog
        .models
        .iter()
        .filter(|m| m.is_image_task())
        .map(|m| m.image_input().clone())
        .collect();
    // The full image (an overlay's need) and each model's own.
    let needs = std::iter::once(Need::full()).chain(specs.iter().map(Need::model_input_of));
    for (i, need) in needs.enumerate() {
        let Ok(header) = inspect(data, &limits, need) else {
            return;
        };
        let Ok(decoded) = decode(data, &header, need) else {
            return;
        };
        assert_eq!(decoded.original, (header.width, header.height));
        if i > 0 {
            let spec = &specs[i - 1];
            let resized = models::preprocess::resize_for(&decoded.img, spec);
            assert_eq!(resized.dimensions(), (spec.width, spec.height));
            models::preprocess::to_tensor(&resized, spec, &candle_core::Device::Cpu).unwrap();
        }
    }
});
