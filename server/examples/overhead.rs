//! HTTP overhead (a benchmark, not a test): the same image through `POST /api/v1/segment/selfie`
//! on a real loopback socket, and through the model call directly (decode + segment + resize +
//! shares, what the handler runs), alternating, on the same process and weights. Prints p50s and
//! their ratio. `cargo run --release -p server --example overhead -- <model-dir> [runs]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use models::{Catalog, Segmenter, Store};
use server::runtime::served::{EngineConfig, ServedModels};
use server::{AppState, Settings};

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map_or("model-store", String::as_str);
    let runs: usize = args.get(2).map_or(Ok(50), |s| s.parse())?;
    let store = Store::new(dir, std::env::temp_dir());
    let catalog = Catalog::builtin();
    let spec = catalog
        .get("selfie")
        .expect("selfie in the catalog")
        .clone();
    let device = candle_core::Device::Cpu;
    let (_, model) = models::load::load_one(&spec, &store, &device);
    let Some(models::Model::Segmenter(seg)) = model else {
        anyhow::bail!("selfie is not in {dir}; run `make fetch`");
    };
    let photo = std::fs::read(std::path::Path::new(dir).join("samples/person.jpg"))?;

    let served = ServedModels::ready(
        catalog,
        vec![(spec, models::Model::Segmenter(seg.clone()))],
        EngineConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState::new(served, Settings::default(), "target/site");
    tokio::spawn(server::serve(
        listener,
        state,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/v1/segment/selfie");

    let direct = |seg: &Arc<dyn Segmenter>| -> anyhow::Result<f64> {
        let t0 = Instant::now();
        let img = image::load_from_memory(&photo)?.to_rgb8();
        let out = seg.segment(&img)?;
        let probs = out.probs.resize(img.width(), img.height());
        std::hint::black_box(probs.share(0.5));
        Ok(t0.elapsed().as_secs_f64() * 1e3)
    };
    let (mut d, mut h) = (Vec::new(), Vec::new());
    for i in 0..runs + 5 {
        let dm = direct(&seg)?;
        let t0 = Instant::now();
        let r = client
            .post(&url)
            .header("content-type", "image/jpeg")
            .body(photo.clone())
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "HTTP {}", r.status());
        let _ = r.bytes().await?;
        let hm = t0.elapsed().as_secs_f64() * 1e3;
        if i >= 5 {
            d.push(dm);
            h.push(hm);
        }
    }
    let (dp, hp) = (p50(d), p50(h));
    println!("| path | p50 ms |\n|---|---|");
    println!("| model call (decode + segment + resize + shares) | {dp:.2} |");
    println!("| POST /api/v1/segment/selfie over loopback | {hp:.2} |");
    println!(
        "HTTP / direct = {:.3} ({runs} alternating runs, person.jpg)",
        hp / dp
    );
    Ok(())
}
