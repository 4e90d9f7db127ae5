//! One vector interface over AVX-512 and AVX2, so each SIMD kernel (the GEMM tile, the
//! depthwise row) is written once, generic over [`Lanes`], and compiled once per instruction
//! set.
//!
//! How it compiles to the right instructions: every method is `#[inline(always)]` and has no
//! `#[target_feature]` of its own; a kernel is generic and `#[inline(always)]` too, and only the
//! per-level entry points (`block_avx2`, `row_avx512`, ...) carry `#[target_feature]`. Everything is
//! inlined into those entry points, where the intrinsics compile to that level's instructions.
//! Calling a method outside such an entry point is not sound (hence `unsafe` throughout).

use std::arch::x86_64::*;

use super::gemm::Activation;

/// A vector of `N` f32 lanes and the operations the kernels need.
///
/// # Safety
/// Every method may only run on a CPU with the implementation's instruction set, inlined into
/// a function compiled for it.
pub(crate) unsafe trait Lanes {
    const N: usize;
    /// Vector registers the instruction set has (a kernel keeping more values in registers
    /// spills).
    const REGISTERS: usize;
    type V: Copy;
    /// Which of the first `N` lanes a ragged load or store touches.
    type Mask: Copy;

    /// The first `min(n, N)` lanes.
    unsafe fn mask(n: usize) -> Self::Mask;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f32) -> Self::V;
    /// `N` values from `p` (unaligned).
    unsafe fn load(p: *const f32) -> Self::V;
    /// The mask's lanes from `p`, zero elsewhere; the other lanes' memory is not read.
    unsafe fn load_masked(m: Self::Mask, p: *const f32) -> Self::V;
    /// `N` values to `p` (unaligned).
    unsafe fn store(p: *mut f32, v: Self::V);
    /// The mask's lanes to `p`; the other lanes' memory is not written.
    unsafe fn store_masked(p: *mut f32, m: Self::Mask, v: Self::V);
    /// `a * b + c`.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// `v < 0 ? v * alpha : v`.
    unsafe fn leaky(v: Self::V, alpha: f32) -> Self::V;
}

/// `act` on one vector: the epilogue of the GEMM and depthwise kernels, in the same order of
/// operations as [`Activation::apply`] so every level rounds alike.
#[inline(always)]
pub(crate) unsafe fn activate<S: Lanes>(v: S::V, act: Activation) -> S::V {
    let zero = S::zero();
    match act {
        Activation::None => v,
        Activation::Relu => S::max(v, zero),
        Activation::Relu6 => S::min(S::max(v, zero), S::splat(6.0)),
        Activation::LeakyRelu(alpha) => S::leaky(v, alpha),
        Activation::HardSwish { scale } | Activation::HardSigmoid { scale } => {
            let r6 = S::min(S::max(S::add(v, S::splat(3.0)), zero), S::splat(6.0));
            let scale = S::splat(scale);
            if matches!(act, Activation::HardSwish { .. }) {
                S::mul(S::mul(v, scale), r6)
            } else {
                S::mul(r6, scale)
            }
        }
    }
}

/// 16 lanes of AVX-512F; ragged lanes by mask registers, which cost nothing extra.
pub(crate) struct Avx512;

unsafe impl Lanes for Avx512 {
    const N: usize = 16;
    const REGISTERS: usize = 32;
    type V = __m512;
    type Mask = __mmask16;

    #[inline(always)]
    unsafe fn mask(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn load_masked(m: __mmask16, p: *const f32) -> __m512 {
        _mm512_maskz_loadu_ps(m, p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f32, m: __mmask16, v: __m512) {
        _mm512_mask_storeu_ps(p, m, v)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        _mm512_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        _mm512_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn leaky(v: __m512, alpha: f32) -> __m512 {
        let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, _mm512_setzero_ps());
        _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha))
    }
}

/// 8 lanes of AVX2 + FMA. A ragged mask keeps its lane count so full vectors take plain
/// loads and stores: `vmaskmovps` stores are microcoded and slow on AMD's Zen cores.
pub(crate) struct Avx2;

#[derive(Clone, Copy)]
pub(crate) struct Avx2Mask {
    lanes: usize,
    bits: __m256i,
}

unsafe impl Lanes for Avx2 {
    const N: usize = 8;
    const REGISTERS: usize = 16;
    type V = __m256;
    type Mask = Avx2Mask;

    #[inline(always)]
    unsafe fn mask(n: usize) -> Avx2Mask {
        let lanes = n.min(8);
        let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        Avx2Mask {
            lanes,
            bits: _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), index),
        }
    }
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn load_masked(m: Avx2Mask, p: *const f32) -> __m256 {
        if m.lanes == 8 {
            _mm256_loadu_ps(p)
        } else {
            _mm256_maskload_ps(p, m.bits)
        }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        _mm256_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f32, m: Avx2Mask, v: __m256) {
        if m.lanes == 8 {
            _mm256_storeu_ps(p, v)
        } else {
            _mm256_maskstore_ps(p, m.bits, v)
        }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        _mm256_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        _mm256_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn leaky(v: __m256, alpha: f32) -> __m256 {
        let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(v, _mm256_setzero_ps());
        _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(alpha)), neg)
    }
}
