//! Direct CPU kernels on NHWC f32 data that the vision runtimes share (the TF.js graph
//! runtime and the hand-written EfficientNet/SegFormer/DeepLab networks): a packed GEMM with a
//! fused epilogue, im2col convolution, depthwise convolution, tiled pooling and TF's bilinear
//! resize. Pure functions on slices or tensors; nothing here knows about graphs or models.

pub mod conv;
pub mod depthwise;
pub mod gemm;
pub mod pool;
pub mod resize;
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd;
pub(crate) mod sync_ptr;
#[cfg(test)]
pub(crate) mod test_reference;

use candle_core::{Result, Tensor};

/// (N, H, W, C) of an NHWC buffer.
pub type Dims4 = (usize, usize, usize, usize);

/// A contiguous CPU f32 tensor's data, without copying.
pub fn with_f32_slice<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("the TF.js runtime's direct kernels run on CPU tensors only");
    };
    let data = cpu.as_slice::<f32>()?;
    let (start, end) = layout.contiguous_offsets().expect("made contiguous above");
    Ok(f(&data[start..end]))
}
