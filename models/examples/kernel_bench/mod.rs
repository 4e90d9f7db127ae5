//! Shared by the kernel benches (bench_gemm, bench_depthwise): their repetition count and the
//! shapes they run. A folder without a main.rs, so cargo does not take it for an example.

/// The first argument: how many times each shape runs (default 20, at least 1).
pub fn reps() -> usize {
    std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1)
}

/// `BENCH_SHAPES` (comma-separated shapes of `N` numbers joined by `x`, in the order `what`
/// names them) when set, else `listed`.
pub fn shapes<const N: usize>(listed: &[[usize; N]], what: &str) -> Vec<[usize; N]> {
    let Ok(list) = std::env::var("BENCH_SHAPES") else {
        return listed.to_vec();
    };
    list.split(',')
        .map(|s| {
            let d: Vec<usize> = s
                .split('x')
                .map(|d| d.trim().parse().expect(what))
                .collect();
            d.try_into().unwrap_or_else(|_| panic!("shape {s}: {what}"))
        })
        .collect()
}
