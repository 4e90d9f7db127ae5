//! How a GGUF's weights are held in memory by [`super::llama::Llama`].

/// How the weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored in the file (Q4_1 and Q8_0 blocks: ~98 MB for SmolLM2-135M), widened to f32
    /// in registers by the kernels in [`super::qkernels`]. Other GGUF formats are dequantized
    /// to f32 at load.
    #[default]
    Quantized,
    /// Every matrix dequantized to f32 at load (~540 MB for SmolLM2-135M): the same results
    /// as `Quantized` up to summation order, kept to measure what quantized storage buys.
    F32,
}
