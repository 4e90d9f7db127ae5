//! Integer dot products for Q4_1 / Q8_0 weights on CPUs with AVX-512 VNNI or AVX2, as llama.cpp
//! does: the activations are quantized to 8 bits per 32-value block (`x ≈ dx * qx`) once per
//! matmul, and each weight block meets them in `vpdpbusd` (64 byte products per instruction;
//! on AVX2, `vpmaddubsw` + `vpmaddwd` on 32) instead of being widened to f32 first. The weights are repacked at load into groups of 16 rows, so one
//! 512-bit register holds 4 weights of each of 16 rows and its 16 lanes are 16 outputs: no
//! horizontal sums, and each activation word is broadcast straight from memory.
//!
//! Cost: the activations' rounding (≤ half a step of `amax / 127` per value), which moves
//! SmolLM2's logits by 0.23-0.26 from the f32 reference (llama.cpp's: 0.37-0.40);
//! `Activations::F32`, `CANDLELIT_SIMD=avx512` or `=scalar` keeps the exact f32 kernels. The packed matrix
//! takes the bytes the GGUF blocks took.
//!
//! Layout of one (group of 16 rows, block of 32 columns) chunk, rows past the matrix zero:
//! - Q4_1 (320 bytes): 16 f16 scales `d`, 16 f16 minimums `m`, then 4 × 64 bytes: part `j`,
//!   lane `r` = row `r`'s block bytes `4j..4j+4` as GGUF stores them (low nibble: value `4j+k`,
//!   high nibble: value `16+4j+k`).
//! - Q8_0 (544 bytes): 16 f16 scales, then 8 × 64 bytes: part `g`, lane `r` = row `r`'s values
//!   `4g..4g+4`, each + 128 (`vpdpbusd` multiplies unsigned by signed bytes; the +128 is taken
//!   back with the block's sum of `qx`).

use super::{Format, BLOCK};

/// Rows per packed group: one 512-bit register of i32 lanes.
pub const GROUP: usize = 16;

/// Which integer dot product runs the int8 path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 VNNI: `vpdpbusd`, 64 byte products into 16 i32 lanes per instruction.
    Vnni512,
    /// AVX2: `vpmaddubsw` (byte pairs into i16) then `vpmaddwd` (i16 pairs into i32), as
    /// llama.cpp does on CPUs without VNNI; half the width, so a group is two halves of 8 rows.
    Avx2,
}

/// The int8 kernel this CPU runs, if any: AVX-512 with VNNI and BW, else AVX2 (with FMA and
/// F16C, as [`super::simd_level`] requires). `CANDLELIT_SIMD=avx512` or `scalar` turns the
/// int8 path off (exact f32 kernels); `CANDLELIT_SIMD=avx2` picks the AVX2 one.
pub fn kernel() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static KERNEL: OnceLock<Option<Kernel>> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            if std::env::var("CANDLELIT_SIMD").unwrap_or_default() == "avx512" {
                return None;
            }
            match super::simd_level()? {
                super::Simd::Avx512
                    if is_x86_feature_detected!("avx512vnni")
                        && is_x86_feature_detected!("avx512bw") =>
                {
                    Some(Kernel::Vnni512)
                }
                _ => Some(Kernel::Avx2),
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// True when the int8 kernels run here ([`kernel`]).
pub fn available() -> bool {
    kernel().is_some()
}

/// Bytes of one (group, block) chunk.
pub fn chunk_bytes(format: Format) -> usize {
    match format {
        Format::Q4_1 => 64 + 4 * 64,
        Format::Q8_0 => 32 + 8 * 64,
        Format::F32 => unreachable!("f32 matrices are not packed"),
    }
}

/// Repacks `rows` rows of GGUF blocks (`cols / 32` blocks a row) into 16-row groups, in place:
/// a group's chunks take exactly the bytes its 16 rows took, so only one group is copied aside
/// at a time and the model never holds two copies of a matrix (the last group is padded with
/// zero rows, whose scale 0 makes their outputs 0).
pub fn pack(format: Format, rows: usize, cols: usize, mut blocks: Vec<u8>) -> Vec<u8> {
    let (bb, cb, nb) = (format.block_bytes(), chunk_bytes(format), cols / BLOCK);
    debug_assert_eq!(GROUP * bb, cb);
    let groups = rows.div_ceil(GROUP);
    blocks.resize(groups * nb * cb, 0);
    let mut rows_of_group = vec![0u8; nb * cb];
    for g in 0..groups {
        let span = g * nb * cb..(g + 1) * nb * cb;
        rows_of_group.copy_from_slice(&blocks[span.clone()]);
        let dst_group = &mut blocks[span];
        for lane in 0..GROUP {
            for b in 0..nb {
                let src = &rows_of_group[(lane * nb + b) * bb..][..bb];
                let dst = &mut dst_group[b * cb..][..cb];
                match format {
                    Format::Q4_1 => {
                        dst[2 * lane..2 * lane + 2].copy_from_slice(&src[0..2]);
                        dst[32 + 2 * lane..32 + 2 * lane + 2].copy_from_slice(&src[2..4]);
                        for j in 0..4 {
                            let at = 64 + 64 * j + 4 * lane;
                            dst[at..at + 4].copy_from_slice(&src[4 + 4 * j..8 + 4 * j]);
                        }
                    }
                    Format::Q8_0 => {
                        dst[2 * lane..2 * lane + 2].copy_from_slice(&src[0..2]);
                        for g in 0..8 {
                            let at = 32 + 64 * g + 4 * lane;
                            for k in 0..4 {
                                dst[at + k] = src[2 + 4 * g + k] ^ 0x80;
                            }
                        }
                    }
                    Format::F32 => unreachable!("f32 matrices are not packed"),
                }
            }
        }
    }
    blocks
}

/// Row `r`'s block `b` back in GGUF's layout (embedding lookups and tests), in the first
/// `format.block_bytes()` bytes.
pub fn unpack_block(format: Format, packed: &[u8], cols: usize, r: usize, b: usize) -> [u8; 34] {
    let (cb, nb) = (chunk_bytes(format), cols / BLOCK);
    let (g, lane) = (r / GROUP, r % GROUP);
    let src = &packed[(g * nb + b) * cb..][..cb];
    let mut blk = [0u8; 34];
    match format {
        Format::Q4_1 => {
            blk[0..2].copy_from_slice(&src[2 * lane..2 * lane + 2]);
            blk[2..4].copy_from_slice(&src[32 + 2 * lane..32 + 2 * lane + 2]);
            for j in 0..4 {
                let at = 64 + 64 * j + 4 * lane;
                blk[4 + 4 * j..8 + 4 * j].copy_from_slice(&src[at..at + 4]);
            }
        }
        Format::Q8_0 => {
            blk[0..2].copy_from_slice(&src[2 * lane..2 * lane + 2]);
            for g in 0..8 {
                let at = 32 + 64 * g + 4 * lane;
                for k in 0..4 {
                    blk[2 + 4 * g + k] = src[at + k] ^ 0x80;
                }
            }
        }
        Format::F32 => unreachable!("f32 matrices are not packed"),
    }
    blk
}

/// Activations quantized per 32-value block: `x ≈ scale * q`, plus each block's sum of `q`
/// (Q8_0's +128 correction) and that sum times the scale (Q4_1's minimum multiplies it).
///
/// Why the rounded sum and not the exact one for Q4_1's `m * Σx`: with it the dot product is
/// exactly the dequantized weights times the rounded activations, whose error `Σ w (x̂ - x)`
/// mixes signs (`w = d·q + m` is centred); with the exact sum the error is `Σ d·q (x̂ - x)`,
/// `q` in 0..15 all positive, and it does not cancel: SmolLM2's logits moved 0.44-0.71 from
/// the f32 reference that way, 0.23-0.26 this way (llama.cpp, which also does it this way:
/// 0.37-0.40).
#[derive(Default)]
pub struct QuantizedActs {
    pub q: Vec<i8>,
    pub scale: Vec<f32>,
    pub rounded_sum: Vec<f32>,
    pub qsum: Vec<i32>,
}

impl QuantizedActs {
    /// Quantizes `x` (any number of whole blocks), reusing the buffers. Rounds half to even,
    /// as the vector instructions (and llama.cpp's x86 code) do.
    pub fn quantize(&mut self, x: &[f32]) {
        let nb = x.len() / BLOCK;
        self.q.resize(x.len(), 0);
        self.scale.resize(nb, 0.0);
        self.rounded_sum.resize(nb, 0.0);
        self.qsum.resize(nb, 0);
        #[cfg(target_arch = "x86_64")]
        if kernel() == Some(Kernel::Vnni512) {
            // SAFETY: `kernel()` found AVX-512 F/BW on this CPU; the buffers were sized above.
            return unsafe { x86::quantize(x, self) };
        }
        self.quantize_scalar(x);
    }

    /// The same in plain code (CPUs without the int8 kernels; the reference in tests).
    fn quantize_scalar(&mut self, x: &[f32]) {
        for (b, (xs, qs)) in x
            .chunks_exact(BLOCK)
            .zip(self.q.chunks_exact_mut(BLOCK))
            .enumerate()
        {
            let amax = xs.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut qsum = 0i32;
            for (q, v) in qs.iter_mut().zip(xs) {
                // |v * inv| <= 127 by construction.
                *q = (v * inv).round_ties_even() as i8;
                qsum += i32::from(*q);
            }
            self.scale[b] = d;
            self.rounded_sum[b] = d * qsum as f32;
            self.qsum[b] = qsum;
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::group_dot_tokens;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Format, QuantizedActs, BLOCK, GROUP};
    use std::arch::x86_64::*;

    /// [`QuantizedActs::quantize`] in registers: a block is two vectors of 16.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW; `acts`' buffers are sized for `x`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn quantize(x: &[f32], acts: &mut QuantizedActs) {
        let nb = x.len() / BLOCK;
        assert!(acts.q.len() >= nb * BLOCK && acts.scale.len() >= nb);
        assert!(acts.rounded_sum.len() >= nb && acts.qsum.len() >= nb);
        for b in 0..nb {
            let p = x.as_ptr().add(b * BLOCK);
            let (v0, v1) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
            let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            let d = amax / 127.0;
            let inv = _mm512_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
            // Round to nearest, ties to even (MXCSR's default mode).
            let q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inv));
            let q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inv));
            let out = acts.q.as_mut_ptr().add(b * BLOCK) as *mut __m128i;
            _mm_storeu_si128(out, _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128(out.add(1), _mm512_cvtsepi32_epi8(q1));
            let qsum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
            acts.scale[b] = d;
            acts.rounded_sum[b] = d * qsum as f32;
            acts.qsum[b] = qsum;
        }
    }

    /// [`group_dot`] (or [`group_dot_avx2`], by [`super::kernel`]) for `n` (1-4) tokens: the
    /// token count is a constant inside the kernel.
    ///
    /// # Safety
    /// As [`group_dot`]; `packed` was packed because [`super::kernel`] found a kernel.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn group_dot_tokens<const Q4: bool>(
        n: usize,
        packed: &[u8],
        g: usize,
        nb: usize,
        acts: &QuantizedActs,
        t0: usize,
        out: &mut [[f32; GROUP]; 4],
    ) {
        let vnni = super::kernel() == Some(super::Kernel::Vnni512);
        match (vnni, n) {
            (true, 1) => group_dot::<Q4, 1>(packed, g, nb, acts, t0, out),
            (true, 2) => group_dot::<Q4, 2>(packed, g, nb, acts, t0, out),
            (true, 3) => group_dot::<Q4, 3>(packed, g, nb, acts, t0, out),
            (true, _) => group_dot::<Q4, 4>(packed, g, nb, acts, t0, out),
            (false, 1) => group_dot_avx2::<Q4, 1>(packed, g, nb, acts, t0, out),
            (false, 2) => group_dot_avx2::<Q4, 2>(packed, g, nb, acts, t0, out),
            (false, 3) => group_dot_avx2::<Q4, 3>(packed, g, nb, acts, t0, out),
            (false, _) => group_dot_avx2::<Q4, 4>(packed, g, nb, acts, t0, out),
        }
    }

    /// Group `g`'s first chunk and the bytes of a chunk, once `packed` is checked to hold the
    /// group's `nb` chunks and `acts` the first `tokens` tokens (the bounds both kernels read in).
    fn group_chunks<const Q4: bool>(
        packed: &[u8],
        g: usize,
        nb: usize,
        acts: &QuantizedActs,
        tokens: usize,
    ) -> (*const u8, usize) {
        let cb = super::chunk_bytes(if Q4 { Format::Q4_1 } else { Format::Q8_0 });
        assert!((g + 1) * nb * cb <= packed.len());
        assert!(tokens * nb <= acts.scale.len() && acts.q.len() >= tokens * nb * BLOCK);
        (packed[g * nb * cb..].as_ptr(), cb)
    }

    /// Group `g`'s 16 rows against tokens `t0..t0+N` of `acts` (`nb` blocks a token), into
    /// `out[k][lane]`. `Q4`: Q4_1 chunks, else Q8_0.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VNNI and F16C; `packed` holds the group's `nb` chunks and
    /// `acts` the `t0 + N` tokens (both asserted).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
    pub unsafe fn group_dot<const Q4: bool, const N: usize>(
        packed: &[u8],
        g: usize,
        nb: usize,
        acts: &QuantizedActs,
        t0: usize,
        out: &mut [[f32; GROUP]; 4],
    ) {
        let (base, cb) = group_chunks::<Q4>(packed, g, nb, acts, t0 + N);
        let mask = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); N];
        for b in 0..nb {
            let c = base.add(b * cb);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(c as *const __m256i));
            // The block's weights as 8 registers: register `j` holds values 4j..4j+4 of the
            // 16 rows (Q4_1: parts 0-3's low nibbles, then their high nibbles).
            let mut w = [_mm512_setzero_si512(); 8];
            if Q4 {
                for j in 0..4 {
                    let p = _mm512_loadu_si512(c.add(64 + 64 * j) as *const _);
                    w[j] = _mm512_and_si512(p, mask);
                    w[4 + j] = _mm512_and_si512(_mm512_srli_epi16(p, 4), mask);
                }
            } else {
                for (j, w) in w.iter_mut().enumerate() {
                    *w = _mm512_loadu_si512(c.add(32 + 64 * j) as *const _);
                }
            }
            for (k, acc) in acc.iter_mut().enumerate() {
                let tb = (t0 + k) * nb + b;
                let q = acts.q.as_ptr().add(tb * BLOCK) as *const i32;
                // Two chains of 4, so consecutive vpdpbusd do not wait on each other.
                let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for j in 0..4 {
                    let x0 = _mm512_set1_epi32(q.add(j).read_unaligned());
                    let x1 = _mm512_set1_epi32(q.add(4 + j).read_unaligned());
                    s0 = _mm512_dpbusd_epi32(s0, w[j], x0);
                    s1 = _mm512_dpbusd_epi32(s1, w[4 + j], x1);
                }
                let mut s = _mm512_add_epi32(s0, s1);
                if !Q4 {
                    // Each weight carried +128: take back 128 * sum(qx).
                    let qsum = *acts.qsum.get_unchecked(tb);
                    s = _mm512_sub_epi32(s, _mm512_set1_epi32(128 * qsum));
                }
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(*acts.scale.get_unchecked(tb)));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, *acc);
                if Q4 {
                    let m = _mm512_cvtph_ps(_mm256_loadu_si256(c.add(32) as *const __m256i));
                    let xsum = _mm512_set1_ps(*acts.rounded_sum.get_unchecked(tb));
                    *acc = _mm512_fmadd_ps(m, xsum, *acc);
                }
            }
        }
        for k in 0..N {
            _mm512_storeu_ps(out[k].as_mut_ptr(), acc[k]);
        }
    }

    /// [`group_dot`] with AVX2: each 64-byte part is two registers (rows 0-7, rows 8-15), and
    /// each `vpdpbusd` becomes `vpmaddubsw` + `vpmaddwd`. Q4_1's products (≤ 2 x 15 x 127 per
    /// i16) are summed in i16 across the block's 8 registers before widening (≤ 30,480, no
    /// saturation). Q8_0's weights are made signed again (undoing the packing's +128) and
    /// multiplied as |w| x (x with w's sign), the pair sums ≤ 2 x 128 x 127: no +128
    /// correction, and no saturation.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C; the rest as [`group_dot`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn group_dot_avx2<const Q4: bool, const N: usize>(
        packed: &[u8],
        g: usize,
        nb: usize,
        acts: &QuantizedActs,
        t0: usize,
        out: &mut [[f32; GROUP]; 4],
    ) {
        let (base, cb) = group_chunks::<Q4>(packed, g, nb, acts, t0 + N);
        let (nibble, sign_bit, ones) = (
            _mm256_set1_epi8(0x0F),
            _mm256_set1_epi8(-128),
            _mm256_set1_epi16(1),
        );
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        for b in 0..nb {
            let c = base.add(b * cb);
            for half in 0..2 {
                let d = _mm256_cvtph_ps(_mm_loadu_si128(c.add(16 * half) as *const __m128i));
                // Register `j`: values 4j..4j+4 of this half's 8 rows.
                let mut w = [_mm256_setzero_si256(); 8];
                if Q4 {
                    for j in 0..4 {
                        let p = _mm256_loadu_si256(c.add(64 + 64 * j + 32 * half) as *const _);
                        w[j] = _mm256_and_si256(p, nibble);
                        w[4 + j] = _mm256_and_si256(_mm256_srli_epi16(p, 4), nibble);
                    }
                } else {
                    for (j, w) in w.iter_mut().enumerate() {
                        let p = _mm256_loadu_si256(c.add(32 + 64 * j + 32 * half) as *const _);
                        *w = _mm256_xor_si256(p, sign_bit);
                    }
                }
                for (k, acc) in acc.iter_mut().enumerate() {
                    let tb = (t0 + k) * nb + b;
                    let q = acts.q.as_ptr().add(tb * BLOCK) as *const i32;
                    let x = |j: usize| _mm256_set1_epi32(q.add(j).read_unaligned());
                    let s = if Q4 {
                        let mut s16 = _mm256_maddubs_epi16(w[0], x(0));
                        for (j, w) in w.iter().enumerate().skip(1) {
                            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(*w, x(j)));
                        }
                        _mm256_madd_epi16(s16, ones)
                    } else {
                        let mut s = _mm256_setzero_si256();
                        for (j, w) in w.iter().enumerate() {
                            let p16 = _mm256_maddubs_epi16(
                                _mm256_sign_epi8(*w, *w),
                                _mm256_sign_epi8(x(j), *w),
                            );
                            s = _mm256_add_epi32(s, _mm256_madd_epi16(p16, ones));
                        }
                        s
                    };
                    let scale = _mm256_mul_ps(d, _mm256_set1_ps(*acts.scale.get_unchecked(tb)));
                    acc[half] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, acc[half]);
                    if Q4 {
                        let m = c.add(32 + 16 * half) as *const __m128i;
                        let m = _mm256_cvtph_ps(_mm_loadu_si128(m));
                        let xsum = _mm256_set1_ps(*acts.rounded_sum.get_unchecked(tb));
                        acc[half] = _mm256_fmadd_ps(m, xsum, acc[half]);
                    }
                }
            }
        }
        for k in 0..N {
            _mm256_storeu_ps(out[k].as_mut_ptr(), acc[k][0]);
            _mm256_storeu_ps(out[k].as_mut_ptr().add(8), acc[k][1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector quantization gives the plain code's bytes, sums and scales, exact halves
    /// (ties to even) and an all-zero block included.
    #[test]
    fn vector_and_plain_quantization_agree() {
        if kernel() != Some(Kernel::Vnni512) {
            eprintln!("no AVX-512 VNNI here: only the plain quantization runs");
            return;
        }
        // Block 0: amax 127, so x / scale = x: exact halves 0.5, 1.5, -2.5 round to even.
        let mut x: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) * 0.5).collect();
        x[31] = 127.0;
        x.extend((0..32).map(|i| ((i * 37 % 29) as f32 - 14.0) / 3.0));
        x.extend([0f32; 32]);
        let (mut v, mut p) = (QuantizedActs::default(), QuantizedActs::default());
        v.quantize(&x);
        p.q.resize(x.len(), 0);
        p.scale.resize(3, 0.0);
        p.rounded_sum.resize(3, 0.0);
        p.qsum.resize(3, 0);
        p.quantize_scalar(&x);
        assert_eq!(v.q, p.q);
        assert_eq!((&v.scale, &v.qsum), (&p.scale, &p.qsum));
        assert_eq!(v.rounded_sum, p.rounded_sum);
        assert_eq!(
            &v.q[15..22],
            &[0, 0, 0, 1, 2, 2, 2],
            "ties to even: -0.5, 0, 0.5, 1, 1.5, 2, 2.5"
        );
        assert_eq!((v.scale[2], v.qsum[2]), (0.0, 0));
    }
}
