//! The f32 conv GEMM (`kernels::gemm`) alone on NanoDet's and EfficientNet's shapes, one
//! thread or rayon's pool: GFLOP/s per shape, from the fastest of `reps` runs. A benchmark,
//! not a test.
//!
//! cargo run --release -p models --example bench_gemm -- [reps]
//!
//! `BENCH_SHAPES=1x1280x1000,49x192x1152` runs those (m x k x n) shapes instead.

mod kernel_bench;

use std::time::Instant;

use models::kernels::gemm::{gemm, Activation, PackedB};

fn main() {
    let reps = kernel_bench::reps();
    // (m, k, n): NanoDet-g's costliest convs (im2col'd 3x3 and 1x1) and EfficientNet-Lite0's
    // pointwise convs.
    let listed = [
        [2704, 1152, 128],
        [10816, 288, 32],
        [10816, 144, 16],
        [43264, 27, 32],
        [2704, 576, 64],
        [169, 2304, 256],
        [12544, 32, 16],
        [3136, 144, 24],
        [784, 240, 40],
        [196, 480, 80],
        [49, 1152, 320],
        [12544, 16, 96],
        [196, 112, 672],
        [49, 192, 1152],
        [49, 320, 1280],
        [1, 1280, 1000],
    ];
    let shapes = kernel_bench::shapes(&listed, "m x k x n");
    println!("| m | k | n | ms | GFLOP/s |");
    println!("|---|---|---|---|---|");
    let (mut flop, mut secs) = (0.0, 0.0);
    for [m, k, n] in shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104729) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let b = PackedB::new(&w, k, n, None);
        let mut c = vec![0f32; m * n];
        gemm(&a, m, &b, Activation::Relu6, None, &mut c);
        // The fastest of `reps` runs: on a shared VM, stolen time only ever adds.
        let mut s = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            gemm(&a, m, &b, Activation::Relu6, None, &mut c);
            s = s.min(t.elapsed().as_secs_f64());
        }
        let f = 2.0 * (m * k * n) as f64;
        flop += f;
        secs += s;
        println!("| {m} | {k} | {n} | {:.3} | {:.1} |", s * 1e3, f / s / 1e9);
    }
    println!("| all | | | {:.3} | {:.1} |", secs * 1e3, flop / secs / 1e9);
}
