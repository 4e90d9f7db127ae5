//! Latency of the detection and classification models on samples/person.jpg (the case the
//! reference scripts scripts/bench/detection.mjs and classification.py time; the input bytes are
//! the ones `parity_inputs` writes), p50/p90 over warm runs. A benchmark, not a test.
//!
//! - detection: "forward" = `graph().run` on the preprocessed tensor (NanoDet's 6 heads;
//!   CenterNet's heatmap and sizes: candle replaces the graph's in-graph top-100 tail, which the
//!   TF.js reference still runs, by `centernet::decode`); "whole" = `candidates()` on the resized
//!   image (tensor conversion + forward + decode + NMS).
//! - classification: "forward" = `EfficientNetLite::forward` on the preprocessed tensor;
//!   "whole" = `logits()` on the cropped image (tensor conversion + forward + read-back).
//!
//! cargo run --release -p models --example bench_vision -- <model-store> [runs] [--json]

mod bench_common;

use std::time::Instant;

use bench_common::{args, pct};
use candle_core::Device;
use models::catalog::{Arch, Format};
use models::image::preprocess;
use models::store::StoreState;
use models::{detect, Catalog, EfficientNetLite, Store, Task, TfjsDetector};

const PHOTO: &str = "person.jpg";
const WARMUP: usize = 3;

/// Times `forward` and `whole` alternately, `runs` times each after `WARMUP` warm-up calls,
/// each call on rayon's pool as the server's engine runs it (`models::threads`).
fn time(
    runs: usize,
    mut forward: impl FnMut() -> models::Result<()> + Send,
    mut whole: impl FnMut() -> models::Result<()> + Send,
) -> models::Result<(Vec<f64>, Vec<f64>)> {
    let mut forward = || models::threads::on_pool(&mut forward);
    let mut whole = || models::threads::on_pool(&mut whole);
    for _ in 0..WARMUP {
        forward()?;
        whole()?;
    }
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut fwd, mut all) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let t = Instant::now();
        forward()?;
        fwd.push(ms(t));
        let t = Instant::now();
        whole()?;
        all.push(ms(t));
    }
    Ok((fwd, all))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, runs, json) = args()?;
    let store = Store::new(&dir, std::env::temp_dir());
    // The photo as stored, like `parity_inputs`: both sides get byte-identical model inputs.
    let img = image::open(store.samples_dir().join(PHOTO))?.to_rgb8();
    let dev = Device::Cpu;
    if !json {
        println!(
            "| model | input | forward min | forward p50 | forward p90 | whole | whole p50 | whole p90 |"
        );
        println!("|---|---|---|---|---|---|---|---|");
    }
    let catalog = Catalog::builtin();
    let specs = catalog
        .models
        .iter()
        // The registry-packaged models this bench (and its TF.js/PyTorch/ORT counterparts in
        // scripts/bench) covers; hub models (YOLOv8, mit-b0) are opt-in installs.
        .filter(|m| matches!(m.format, Format::TfjsGraph | Format::Safetensors))
        .filter(|m| {
            matches!(
                m.arch,
                Some(Arch::NanoDet | Arch::CenterNet | Arch::EfficientNetLite)
            )
        });
    // `BENCH_ONLY=id[,id]` times only those models (for profiling one at a time).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |id: &str| only.is_empty() || only.split(',').any(|o| o == id);
    for spec in specs.filter(|m| wanted(&m.id)) {
        if store.state(spec) != StoreState::Ready {
            eprintln!("{}: not installed in {}, skipped", spec.id, dir.display());
            continue;
        }
        let input = spec.image_input();
        let resized = preprocess::resize_for(&img, input);
        let x = preprocess::to_tensor(&resized, input, &dev)?;
        let path = store.graph_path(spec);
        let (whole_name, (mut fwd, mut whole)) = match spec.task {
            Task::Detection => {
                let m = TfjsDetector::load(spec, &path, &dev)?;
                let xs = std::slice::from_ref(&x);
                let timed = time(
                    runs,
                    || m.graph().run(xs).map(drop),
                    || m.candidates(&resized, detect::SCORE_FLOOR).map(drop),
                )?;
                if std::env::var_os("CANDLELIT_PROFILE").is_some() {
                    bench_common::profile(spec.id.as_str(), runs, |p| {
                        m.graph().run_profiled(xs, p).map(drop)
                    })?;
                }
                ("candidates()", timed)
            }
            Task::Classification => {
                let m = EfficientNetLite::load(spec, &path, &dev)?;
                let timed = time(
                    runs,
                    || m.forward(&x).map(drop),
                    || m.logits(&resized).map(drop),
                )?;
                ("logits()", timed)
            }
            _ => unreachable!("filtered above"),
        };
        let (w, h) = (input.width, input.height);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "model": spec.id, "task": spec.task.name(), "runtime": "candle",
                    "photo": PHOTO, "width": w, "height": h,
                    "input_sha256": models::store::sha256_bytes(resized.as_raw()),
                    "min": pct(&mut fwd, 0.0), "p50": pct(&mut fwd, 0.5), "p90": pct(&mut fwd, 0.9),
                    "whole": whole_name,
                    "whole_p50": pct(&mut whole, 0.5), "whole_p90": pct(&mut whole, 0.9),
                })
            );
            continue;
        }
        println!(
            "| {} | {w}x{h} | {:.1} ms | {:.1} ms | {:.1} ms | {whole_name} | {:.1} ms | {:.1} ms |",
            spec.id,
            pct(&mut fwd, 0.0),
            pct(&mut fwd, 0.5),
            pct(&mut fwd, 0.9),
            pct(&mut whole, 0.5),
            pct(&mut whole, 0.9)
        );
    }
    Ok(())
}
