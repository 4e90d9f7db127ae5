//! Shared by the vision benches (bench_segment, bench_vision): their command line and
//! percentiles. A folder without a main.rs, so cargo does not take it for an example.

use std::path::PathBuf;

/// `<model-store> [runs] [--json]`: the store (default `model-store`), the timed runs per model
/// (default 30, at least 1) and whether to print one JSON line per model instead of a table.
pub fn args() -> Result<(PathBuf, usize, bool), std::num::ParseIntError> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "model-store".into()));
    let runs: usize = args
        .next()
        .filter(|a| a != "--json")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(30)
        .max(1);
    // `--json` is what scripts/bench/run.mjs passes.
    let json = std::env::args().any(|a| a == "--json");
    Ok((dir, runs, json))
}

/// The `p` quantile (0..=1) of `v`, which it sorts.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}
