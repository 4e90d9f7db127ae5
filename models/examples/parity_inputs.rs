//! Writes the exact model inputs candle uses for the parity photos, so the reference runtimes
//! (TF.js for the graph models, PyTorch for EfficientNet; `scripts/golden/`) run on the same
//! bytes: `<out>/<model>-<photo>.rgb` (raw RGB, already resized or cropped) plus `inputs.json`
//! describing each case (file, size, layout, channel order, mean/std).
//!
//! cargo run --release -p models --example parity_inputs -- <model-store> <out-dir>

use std::path::PathBuf;

use models::image::preprocess;
use models::{Catalog, Task};

const PHOTOS: &[&str] = &["person.jpg", "dog.jpg", "horses.jpg", "giraffe.jpg"];
/// Detection and classification also use eagle.jpg (the real-image checks).
const MORE_PHOTOS: &[&str] = &["eagle.jpg"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let store = PathBuf::from(args.next().unwrap_or_else(|| "model-store".into()));
    let store = store.canonicalize().unwrap_or(store);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/parity".into()));
    std::fs::create_dir_all(&out)?;
    let catalog = Catalog::builtin();
    let mut cases = Vec::new();
    for spec in catalog.models.iter().filter(|m| m.is_image_task()) {
        let photos = PHOTOS.iter().chain(match spec.task {
            Task::Segmentation => [].iter(),
            _ => MORE_PHOTOS.iter(),
        });
        // The reference reads the files as published: for a converted model, the original.
        let graph = match &spec.convert {
            Some(c) => store.join(&spec.id).join(&c.from),
            None => store.join(&spec.id).join(&spec.graph),
        };
        // Hub models (DeepLabv3, SegFormer, YOLOv8, ...) are opt-in installs.
        if !graph.exists() {
            eprintln!("{}: not installed ({}), skipped", spec.id, graph.display());
            continue;
        }
        for photo in photos {
            let img = image::open(store.join("samples").join(photo))?.to_rgb8();
            let resized = preprocess::resize_for(&img, spec.image_input());
            let stem = photo.trim_end_matches(".jpg");
            let name = format!("{}-{stem}", spec.id);
            std::fs::write(out.join(format!("{name}.rgb")), resized.as_raw())?;
            let input = spec.image_input();
            let mut case = serde_json::json!({
                "name": name,
                "model": spec.id,
                "task": spec.task.name(),
                "photo": photo,
                "graph": graph,
                "width": input.width,
                "height": input.height,
                "layout": format!("{:?}", input.layout).to_lowercase(),
                "channels": format!("{:?}", input.channels).to_lowercase(),
                "mean": input.mean,
                "std": input.std,
                "input_sha256": models::store::sha256_bytes(resized.as_raw()),
            });
            if let Some(out) = spec.output {
                case["output_kind"] = format!("{:?}", out.kind).to_lowercase().into();
                case["channel"] = out.channel.into();
            }
            cases.push(case);
        }
    }
    std::fs::write(
        out.join("inputs.json"),
        serde_json::to_string_pretty(&cases)?,
    )?;
    println!("wrote {} cases to {}", cases.len(), out.display());
    Ok(())
}
