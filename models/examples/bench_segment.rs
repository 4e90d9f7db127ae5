//! Latency of the segmentation models on a 640x480 photo: model forward alone and the whole
//! `segment` call (resize + tensor + forward), p50/p90 over warm runs. A benchmark, not a test.
//!
//! cargo run --release -p models --example bench_segment -- <model-store> [runs]

mod bench_common;

use std::time::Instant;

use bench_common::{args, pct};
use candle_core::Device;
use models::catalog::Format;
use models::image::preprocess;
use models::store::StoreState;
use models::threads::on_pool;
use models::{Catalog, Segmenter, Store, Task, TfjsSegmenter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, runs, json) = args()?;
    let store = Store::new(&dir, std::env::temp_dir());
    let img = image::open(dir.join("samples/person.jpg"))?.to_rgb8();
    let img = image::imageops::resize(&img, 640, 480, image::imageops::FilterType::Triangle);
    if !json {
        println!(
            "| model | input | forward min | forward p50 | forward p90 | segment() p50 | segment() p90 |"
        );
        println!("|---|---|---|---|---|---|---|");
    }
    for spec in Catalog::builtin()
        .models
        .iter()
        // The TF.js graphs this bench and scripts/bench/segmentation.mjs race; the hub
        // segmenters (DeepLabv3, SegFormer) are opt-in installs with their own loaders.
        .filter(|m| m.task == Task::Segmentation && m.format == Format::TfjsGraph)
    {
        if store.state(spec) != StoreState::Ready {
            eprintln!(
                "{}: not installed in {}, skipped",
                spec.id,
                store.dir.display()
            );
            continue;
        }
        let m = TfjsSegmenter::load(spec, &store.graph_path(spec), &Device::Cpu)?;
        let resized = preprocess::resize_for(&img, spec.image_input());
        // Each call on rayon's pool, as the server's engine runs it (`models::threads`).
        for _ in 0..3 {
            on_pool(|| m.segment(&img))?;
        }
        let (mut fwd, mut whole) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            on_pool(|| m.probabilities(&resized))?;
            fwd.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            on_pool(|| m.segment(&img))?;
            whole.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if std::env::var_os("CANDLELIT_PROFILE").is_some() {
            let x = preprocess::to_tensor(&resized, spec.image_input(), &Device::Cpu)?;
            bench_common::profile(spec.id.as_str(), runs, |p| {
                m.graph()
                    .run_profiled(std::slice::from_ref(&x), p)
                    .map(drop)
            })?;
        }
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "model": spec.id, "runtime": "candle", "min": pct(&mut fwd, 0.0), "p50": pct(&mut fwd, 0.5), "p90": pct(&mut fwd, 0.9),
                    "segment_p50": pct(&mut whole, 0.5), "segment_p90": pct(&mut whole, 0.9),
                })
            );
            continue;
        }
        println!(
            "| {} | {}x{} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            spec.id,
            spec.image_input().width,
            spec.image_input().height,
            pct(&mut fwd, 0.0),
            pct(&mut fwd, 0.5),
            pct(&mut fwd, 0.9),
            pct(&mut whole, 0.5),
            pct(&mut whole, 0.9)
        );
    }
    Ok(())
}
