//! Shared by the vision benches (bench_segment, bench_vision): their command line and
//! percentiles. A folder without a main.rs, so cargo does not take it for an example.

use std::collections::HashMap;
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

/// With `CANDLELIT_PROFILE` set: runs `run` `runs` times, adding each graph step's time by op
/// kind, and prints the kinds to stderr, the costliest first, in ms per run.
pub fn profile(
    model: &str,
    runs: usize,
    mut run: impl FnMut(&mut HashMap<String, f64>) -> models::Result<()>,
) -> models::Result<()> {
    let mut prof = HashMap::new();
    for _ in 0..runs {
        run(&mut prof)?;
    }
    let mut v: Vec<_> = prof.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = v.iter().map(|(_, t)| t).sum::<f64>() / runs as f64;
    eprintln!("  {model}: {total:.2} ms/run in graph steps");
    for (k, t) in v {
        eprintln!("  {model}: {k:<16} {:.2} ms/run", t / runs as f64);
    }
    Ok(())
}
