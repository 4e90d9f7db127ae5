//! The quantized matmul kernels alone, on SmolLM2-135M's shapes: one decode step's matrices
//! (30 layers of q|k|v, o, gate|up, down, then the 49152-row output), random Q4_1 blocks.
//! Prints ms per step and the weight bytes streamed per second, once with every matrix
//! distinct (the whole model, ~80 MB: what decoding streams from memory) and once with one
//! layer repeated (cache-resident: the kernels' arithmetic alone). A benchmark, not a test.
//!
//! cargo run --release -p models --example bench_qkernel -- [steps] [tokens]

use std::time::Instant;

use models::summarize::qkernels::{Format, QMatrix, BLOCK};

fn random_blocks(rows: usize, cols: usize, format: Format, seed: u64) -> QMatrix {
    let bb = format.block_bytes();
    let mut s = seed;
    let mut b: Vec<u8> = (0..rows * cols / BLOCK * bb)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u8
        })
        .collect();
    for blk in b.chunks_exact_mut(bb) {
        let d = half::f16::from_f32(0.01 + blk[2] as f32 / 5000.0);
        blk[..2].copy_from_slice(&d.to_le_bytes());
        if format == Format::Q4_1 {
            blk[2..4].copy_from_slice(&half::f16::from_f32(-0.07).to_le_bytes());
        }
    }
    QMatrix::from_blocks(rows, cols, format, b)
        .unwrap()
        .prepared()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map_or(20, |s| s.parse().unwrap());
    let t: usize = args.next().map_or(1, |s| s.parse().unwrap());
    let (dim, kv, ffn, vocab) = (576, 192, 1536, 49152);
    let layer = |seed| {
        vec![
            random_blocks(dim + 2 * kv, dim, Format::Q4_1, seed),
            random_blocks(dim, dim, Format::Q4_1, seed + 1),
            random_blocks(2 * ffn, dim, Format::Q4_1, seed + 2),
            random_blocks(dim, ffn, Format::Q4_1, seed + 3),
        ]
    };
    let distinct: Vec<QMatrix> = (0..30)
        .flat_map(|l| layer(l * 10))
        .chain([random_blocks(vocab, dim, Format::Q8_0, 999)])
        .collect();
    let one = layer(7);
    let x: Vec<f32> = (0..t * ffn)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
        .collect();
    let mut out = vec![0f32; t * vocab];
    let run = |ms: &[&QMatrix], out: &mut [f32]| {
        for m in ms {
            m.matmul(&x[..t * m.cols()], t, &mut out[..t * m.rows()]);
        }
    };
    let all: Vec<&QMatrix> = distinct.iter().collect();
    let hot: Vec<&QMatrix> = (0..30).flat_map(|_| one.iter()).collect();
    for (name, ms) in [("model (distinct)", &all), ("one layer x30 (hot)", &hot)] {
        let bytes: usize = ms.iter().map(|m| m.bytes()).sum();
        run(ms, &mut out);
        let mut best = f64::MAX;
        let mut times = vec![];
        for _ in 0..steps {
            let t0 = Instant::now();
            run(ms, &mut out);
            let dt = t0.elapsed().as_secs_f64() * 1e3;
            best = best.min(dt);
            times.push(dt);
        }
        times.sort_by(f64::total_cmp);
        let p50 = times[times.len() / 2];
        println!(
            "{name}: {t} token(s), {:.1} MB, p50 {p50:.2} ms, best {best:.2} ms, {:.1} GB/s at p50",
            bytes as f64 / 1e6,
            bytes as f64 / p50 / 1e6
        );
    }
}
