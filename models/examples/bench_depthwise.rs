//! The depthwise kernel (`kernels::depthwise`) alone on EfficientNet-Lite0's shapes, one
//! thread or rayon's pool: microseconds and GFLOP/s per shape, from the fastest of `reps`
//! runs. A benchmark, not a test.
//!
//! cargo run --release -p models --example bench_depthwise -- [reps]
//!
//! `BENCH_SHAPES=14x672x5x1,7x1152x3x1` runs those (size x channels x window x stride) only.

mod kernel_bench;

use std::time::Instant;

use models::kernels::depthwise::depthwise_nhwc_slice;
use models::kernels::gemm::Activation;

fn main() {
    let reps = kernel_bench::reps();
    // (h = w, channels, window, stride): EfficientNet-Lite0's depthwise layers at 224x224.
    let listed = [
        [112, 32, 3, 1],
        [112, 96, 3, 2],
        [56, 144, 3, 1],
        [56, 144, 5, 2],
        [28, 240, 5, 1],
        [28, 240, 3, 2],
        [14, 480, 3, 1],
        [14, 480, 5, 1],
        [14, 672, 5, 1],
        [14, 672, 5, 2],
        [7, 1152, 5, 1],
        [7, 1152, 3, 1],
    ];
    let shapes = kernel_bench::shapes(&listed, "size x channels x window x stride");
    println!("| h x w x c | window | stride | us | GFLOP/s |");
    println!("|---|---|---|---|---|");
    let mut total = 0.0;
    for [hw, c, k, s] in shapes {
        let x: Vec<f32> = (0..hw * hw * c)
            .map(|i| (i % 97) as f32 / 97.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..k * k * c)
            .map(|i| (i % 31) as f32 / 31.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..c).map(|i| (i % 7) as f32 / 7.0).collect();
        // TensorFlow's SAME padding, as the model pads.
        let out = hw.div_ceil(s);
        let total_pad = ((out - 1) * s + k).saturating_sub(hw);
        let pads = [
            total_pad / 2,
            total_pad - total_pad / 2,
            total_pad / 2,
            total_pad - total_pad / 2,
        ];
        let mut best = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            let (y, _) = depthwise_nhwc_slice(
                &x,
                (1, hw, hw, c),
                &w,
                (k, k),
                s,
                1,
                pads,
                Some(&b),
                Activation::Relu6,
            )
            .expect("depthwise");
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(y);
        }
        let flops = 2.0 * (out * out * c * k * k) as f64;
        total += best;
        println!(
            "| {hw}x{hw}x{c} | {k}x{k} | {s} | {:.1} | {:.1} |",
            best * 1e6,
            flops / best / 1e9
        );
    }
    println!("| all | | | {:.1} | |", total * 1e6);
}
