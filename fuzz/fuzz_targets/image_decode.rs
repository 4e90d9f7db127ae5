//! Any bytes as an upload: header checks, bounded decode, shrink to a model's need, and that
//! model's pre-processing. The first byte picks the need (the full image, as an overlay needs,
//! or one image model's input); the rest is the upload. Every input must end in an image or a
//! clean error; a panic, an abort, a timeout or an allocation past libFuzzer's limit is a
//! finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::ingress::decode::{decode, inspect, Need};
use server::ingress::limits::Limits;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, upload)) = data.split_first() else {
        return;
    };
    let catalog = models::Catalog::builtin();
    let specs: Vec<_> = catalog
        .models
        .iter()
        .filter(|m| m.is_image_task())
        .map(|m| m.image_input().clone())
        .collect();
    let which = pick as usize % (specs.len() + 1);
    let spec = which.checked_sub(1).map(|i| &specs[i]);
    let need = spec.map_or(Need::full(), Need::model_input_of);
    let Ok(header) = inspect(upload, &Limits::default(), need) else {
        return;
    };
    let Ok(decoded) = decode(upload, &header, need) else {
        return;
    };
    assert_eq!(decoded.original, (header.width, header.height));
    if let Some(spec) = spec {
        let resized = models::image::preprocess::resize_for(&decoded.img, spec);
        assert_eq!(resized.dimensions(), (spec.width, spec.height));
        models::image::preprocess::to_tensor(&resized, spec, &candle_core::Device::Cpu).unwrap();
    }
});
