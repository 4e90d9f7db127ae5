//! The x86-64 kernels behind [`super::QMatrix`]: one AVX-512 and one AVX2 dot product over
//! Q4_1 / Q8_0 weight rows, chosen at run time by [`super::simd_level`].

use super::BLOCK;
use std::arch::x86_64::*;
use std::ops::Range;

/// The f16 at `p` as f32 in lane 0 (F16C; a library call per scale cost more than the
/// block's arithmetic).
#[inline]
#[target_feature(enable = "f16c")]
unsafe fn f16_lane(p: *const u8) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128((p as *const u16).read_unaligned() as i32))
}

/// A Q4_1 block's scale `d` and minimum `m` (two f16s at `p`) in lanes 0 and 1.
#[inline]
#[target_feature(enable = "f16c")]
unsafe fn f16_pair(p: *const u8) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128((p as *const i32).read_unaligned()))
}

/// Checks the kernels' reads: each row `row_bytes` long and each token `nb` blocks.
fn check<const N: usize>(
    m: &[u8],
    row_bytes: usize,
    rows: &Range<usize>,
    xs: &[&[f32]; N],
    bb: usize,
) {
    assert!(rows.end * row_bytes <= m.len());
    assert!(xs.iter().all(|x| x.len() >= row_bytes / bb * BLOCK));
}

/// AVX-512: a block is two vectors of 16 weights (`d * q + m` or `d * q`), widened once
/// and used for the N tokens, each with two accumulators (independent FMA chains).
/// `Q4`: Q4_1 blocks, else Q8_0.
#[target_feature(enable = "avx512f,f16c")]
pub unsafe fn rows_avx512<const Q4: bool, const N: usize>(
    m: &[u8],
    row_bytes: usize,
    rows: Range<usize>,
    xs: [&[f32]; N],
    out: &mut [[f32; 4]],
) {
    let bb = if Q4 { 20 } else { 34 };
    check(m, row_bytes, &rows, &xs, bb);
    let nb = row_bytes / bb;
    let mask = _mm_set1_epi8(0x0F);
    for (o, r) in out.iter_mut().zip(rows) {
        let row = m.as_ptr().add(r * row_bytes);
        let mut acc = [[_mm512_setzero_ps(); 2]; N];
        for b in 0..nb {
            let blk = row.add(b * bb);
            let (w0, w1) = if Q4 {
                let dm = f16_pair(blk);
                let d = _mm512_broadcastss_ps(dm);
                let mn = _mm512_broadcastss_ps(_mm_movehdup_ps(dm));
                let q = _mm_loadu_si128(blk.add(4) as *const __m128i);
                let lo = _mm_and_si128(q, mask);
                let hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
                (
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), d, mn),
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), d, mn),
                )
            } else {
                let d = _mm512_broadcastss_ps(f16_lane(blk));
                let q0 = _mm_loadu_si128(blk.add(2) as *const __m128i);
                let q1 = _mm_loadu_si128(blk.add(18) as *const __m128i);
                (
                    _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d),
                    _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d),
                )
            };
            for k in 0..N {
                let x = xs[k].as_ptr().add(b * BLOCK);
                acc[k][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x), acc[k][0]);
                acc[k][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x.add(16)), acc[k][1]);
            }
        }
        for k in 0..N {
            o[k] = _mm512_reduce_add_ps(_mm512_add_ps(acc[k][0], acc[k][1]));
        }
    }
}

/// AVX2 + FMA: a block is four vectors of 8 weights, one accumulator each. The signature,
/// preamble and block unpacking mirror `rows_avx512` at half the width on purpose: the vector
/// types and intrinsics differ per width, and a generic body over them would need a SIMD
/// abstraction for two kernels.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn rows_avx2<const Q4: bool, const N: usize>(
    m: &[u8],
    row_bytes: usize,
    rows: Range<usize>,
    xs: [&[f32]; N],
    out: &mut [[f32; 4]],
) {
    let bb = if Q4 { 20 } else { 34 };
    check(m, row_bytes, &rows, &xs, bb);
    let nb = row_bytes / bb;
    let mask = _mm_set1_epi8(0x0F);
    let widen_u8 = |v: __m128i| _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
    let widen_i8 = |v: __m128i| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
    for (o, r) in out.iter_mut().zip(rows) {
        let row = m.as_ptr().add(r * row_bytes);
        let mut acc = [[_mm256_setzero_ps(); 4]; N];
        for b in 0..nb {
            let blk = row.add(b * bb);
            let w: [__m256; 4] = if Q4 {
                let dm = f16_pair(blk);
                let d = _mm256_broadcastss_ps(dm);
                let mn = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
                let q = _mm_loadu_si128(blk.add(4) as *const __m128i);
                let lo = _mm_and_si128(q, mask);
                let hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
                [
                    _mm256_fmadd_ps(widen_u8(lo), d, mn),
                    _mm256_fmadd_ps(widen_u8(_mm_unpackhi_epi64(lo, lo)), d, mn),
                    _mm256_fmadd_ps(widen_u8(hi), d, mn),
                    _mm256_fmadd_ps(widen_u8(_mm_unpackhi_epi64(hi, hi)), d, mn),
                ]
            } else {
                let d = _mm256_broadcastss_ps(f16_lane(blk));
                let q0 = _mm_loadu_si128(blk.add(2) as *const __m128i);
                let q1 = _mm_loadu_si128(blk.add(18) as *const __m128i);
                [
                    _mm256_mul_ps(widen_i8(q0), d),
                    _mm256_mul_ps(widen_i8(_mm_unpackhi_epi64(q0, q0)), d),
                    _mm256_mul_ps(widen_i8(q1), d),
                    _mm256_mul_ps(widen_i8(_mm_unpackhi_epi64(q1, q1)), d),
                ]
            };
            for k in 0..N {
                let x = xs[k].as_ptr().add(b * BLOCK);
                for (i, w) in w.iter().enumerate() {
                    acc[k][i] = _mm256_fmadd_ps(*w, _mm256_loadu_ps(x.add(8 * i)), acc[k][i]);
                }
            }
        }
        for k in 0..N {
            let [a, b, c, d] = acc[k];
            let v = _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d));
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            o[k] = _mm_cvtss_f32(s);
        }
    }
}
