//! What the binary was compiled for versus what this CPU has.
//!
//! Why: candle's quantized kernels (and LLVM's auto-vectorised loops everywhere) are chosen at
//! compile time by `target_feature`, so `make run` builds with `-C target-cpu=native` and the
//! image for a stated baseline (x86-64-v3). A binary moved to a CPU without those instructions
//! would die with SIGILL somewhere deep in a forward pass; [`missing_features`] lets `main`
//! refuse to start with a message that names them instead.

/// The x86 features that matter to our kernels, checked in this order. AMX is left out on
/// purpose: `target-cpu=native` enables it on machines that advertise it, no code here issues
/// AMX instructions, and some VMs advertise it without the OS enabling its state.
#[cfg(target_arch = "x86_64")]
const CHECKED: &[(&str, bool)] = &[
    ("sse4.2", cfg!(target_feature = "sse4.2")),
    ("popcnt", cfg!(target_feature = "popcnt")),
    ("avx", cfg!(target_feature = "avx")),
    ("avx2", cfg!(target_feature = "avx2")),
    ("fma", cfg!(target_feature = "fma")),
    ("f16c", cfg!(target_feature = "f16c")),
    ("bmi2", cfg!(target_feature = "bmi2")),
    ("avx512f", cfg!(target_feature = "avx512f")),
    ("avx512bw", cfg!(target_feature = "avx512bw")),
    ("avx512vl", cfg!(target_feature = "avx512vl")),
    ("avx512dq", cfg!(target_feature = "avx512dq")),
    ("avx512vnni", cfg!(target_feature = "avx512vnni")),
];

/// Whether this CPU (and OS) supports `feature`, by name as in [`CHECKED`].
#[cfg(target_arch = "x86_64")]
fn cpu_has(feature: &str) -> bool {
    match feature {
        "sse4.2" => is_x86_feature_detected!("sse4.2"),
        "popcnt" => is_x86_feature_detected!("popcnt"),
        "avx" => is_x86_feature_detected!("avx"),
        "avx2" => is_x86_feature_detected!("avx2"),
        "fma" => is_x86_feature_detected!("fma"),
        "f16c" => is_x86_feature_detected!("f16c"),
        "bmi2" => is_x86_feature_detected!("bmi2"),
        "avx512f" => is_x86_feature_detected!("avx512f"),
        "avx512bw" => is_x86_feature_detected!("avx512bw"),
        "avx512vl" => is_x86_feature_detected!("avx512vl"),
        "avx512dq" => is_x86_feature_detected!("avx512dq"),
        "avx512vnni" => is_x86_feature_detected!("avx512vnni"),
        _ => false,
    }
}

/// The checked features this binary was compiled to use.
pub fn compiled_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        CHECKED
            .iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| *f)
            .collect()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![]
    }
}

/// Of `compiled`, the features `has` says the CPU lacks. Pure, so the refusal is testable on
/// any machine.
pub fn missing<'a>(compiled: &[&'a str], has: impl Fn(&str) -> bool) -> Vec<&'a str> {
    compiled.iter().copied().filter(|f| !has(f)).collect()
}

/// The features this binary needs that the CPU it runs on lacks (empty: safe to run).
pub fn missing_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        missing(&compiled_features(), cpu_has)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![]
    }
}

/// One line for the start-up log: which instruction sets the compute kernels use.
pub fn kernels_in_use() -> String {
    let f = compiled_features();
    let best = if f.contains(&"avx512vnni") {
        "AVX-512 + VNNI"
    } else if f.contains(&"avx512f") {
        "AVX-512"
    } else if f.contains(&"avx2") {
        "AVX2 + FMA"
    } else if f.contains(&"avx") {
        "AVX"
    } else {
        "SSE (portable baseline)"
    };
    use crate::summarize::qkernels;
    let q4 = match (qkernels::int8::kernel(), qkernels::simd_level()) {
        (Some(qkernels::int8::Kernel::Vnni512), _) => "int8 (AVX-512 VNNI, run-time detected)",
        (Some(qkernels::int8::Kernel::Avx2), _) => "int8 (AVX2, run-time detected)",
        (None, Some(qkernels::Simd::Avx512)) => "AVX-512 (run-time detected)",
        (None, Some(qkernels::Simd::Avx2)) => "AVX2 (run-time detected)",
        (None, None) => "scalar",
    };
    format!("{best} (compiled: {}); quantized matmul {q4}", f.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_only_what_the_cpu_lacks() {
        let compiled = ["avx", "avx2", "avx512f", "avx512vnni"];
        let has = |f: &str| matches!(f, "avx" | "avx2");
        assert_eq!(missing(&compiled, has), vec!["avx512f", "avx512vnni"]);
        assert!(missing(&compiled, |_| true).is_empty());
    }

    #[test]
    fn this_binary_runs_on_this_cpu() {
        // The test binary itself got this far, so every compiled feature must be present.
        assert!(missing_features().is_empty(), "{:?}", missing_features());
        assert!(!kernels_in_use().is_empty());
    }
}
