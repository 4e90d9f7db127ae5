//! Writes the exact model inputs candle uses for the parity photos, so the reference runtime
//! (TF.js, `scripts/golden/segmentation.mjs`) runs on the same bytes:
//! `<out>/<model>-<photo>.rgb` (raw RGB, already resized) plus `inputs.json` describing them.
//!
//! cargo run --release -p models --example parity_inputs -- <model-store> <out-dir>

use std::path::PathBuf;

use models::{preprocess, Catalog, Task};

const PHOTOS: &[&str] = &["person.jpg", "dog.jpg", "horses.jpg", "giraffe.jpg"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let store = PathBuf::from(args.next().unwrap_or_else(|| "model-store".into()));
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/parity".into()));
    std::fs::create_dir_all(&out)?;
    let catalog = Catalog::builtin();
    let mut cases = Vec::new();
    for spec in catalog
        .models
        .iter()
        .filter(|m| m.task == Task::Segmentation)
    {
        for photo in PHOTOS {
            let img = image::open(store.join("samples").join(photo))?.to_rgb8();
            let resized = preprocess::resize_for(&img, spec.image_input());
            let stem = photo.trim_end_matches(".jpg");
            let name = format!("{}-{stem}", spec.id);
            std::fs::write(out.join(format!("{name}.rgb")), resized.as_raw())?;
            cases.push(serde_json::json!({
                "name": name,
                "model": spec.id,
                "photo": photo,
                "graph": store.join(&spec.id).join(&spec.graph),
                "width": spec.image_input().width,
                "height": spec.image_input().height,
                "output_kind": format!("{:?}", spec.output.unwrap().kind).to_lowercase(),
                "channel": spec.output.unwrap().channel,
                "input_sha256": models::store::sha256_bytes(resized.as_raw()),
            }));
        }
    }
    std::fs::write(
        out.join("inputs.json"),
        serde_json::to_string_pretty(&cases)?,
    )?;
    println!("wrote {} cases to {}", cases.len(), out.display());
    Ok(())
}
