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

/// What the quantized matrices multiply: the f32 activations, or the activations quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activations {
    /// Quantized to 8 bits per 32-value block where the CPU has AVX2 or AVX-512 VNNI (integer
    /// dot products, [`super::qkernels::int8`], as llama.cpp does: ~1.6x the decode speed with
    /// VNNI; SmolLM2's logits 0.23-0.26 from the f32 reference, llama.cpp's 0.37-0.40);
    /// elsewhere f32.
    #[default]
    Int8,
    /// Always f32: the dequantized model's results up to summation order, for parity checks
    /// against the f32 reference (the int8 path's rounding moves logits by ~0.25).
    F32,
}
