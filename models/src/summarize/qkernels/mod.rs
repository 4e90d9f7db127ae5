//! Weight matrices kept as the GGUF stores them (Q4_1, Q8_0 blocks, or f32) times f32
//! activations, on every core.
//!
//! Why not candle's `QMatMul`: its CPU kernels are picked at compile time by `target_feature`
//! and quantize the activations to 8 bits, so a portable build runs scalar code and the logits
//! drift from the f32 reference. Here each 32-value block is widened to f32 in registers
//! (`d * q + m`, exactly the dequantized weight) and multiplied with the f32 activations, with
//! AVX-512 or AVX2 chosen at run time: the weights stay at 4.5-8.5 bits in memory (decoding is
//! memory-bound, so this is what sets tokens/s) and the results match the dequantized model.
//! One pass over a weight row serves up to four tokens, so prefill reuses each unpacked block.
//!
//! On CPUs with AVX-512 VNNI the model's matrices are repacked ([`QMatrix::prepared`]) for the
//! integer kernels in [`int8`], which round the activations to 8 bits as llama.cpp does (1.6x
//! the decode speed, 2.5x the prefill; see there for what that costs in accuracy).

use std::ops::Range;
use std::sync::OnceLock;

use half::f16;

use crate::kernels::sync_ptr::SyncPtr;

/// Values per quantization block (both Q4_1 and Q8_0).
pub const BLOCK: usize = 32;

/// How a matrix's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 32 values as f16 scale `d`, f16 minimum `m`, 16 bytes of 4-bit `q`: `d * q + m`.
    Q4_1,
    /// 32 values as f16 scale `d` and 32 signed bytes `q`: `d * q`.
    Q8_0,
    F32,
}

impl Format {
    /// Bytes per block of 32 values.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q4_1 => 20,
            Format::Q8_0 => 34,
            Format::F32 => BLOCK * 4,
        }
    }
}

/// The instruction set the kernels run with, detected once per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    Avx512,
    Avx2,
}

/// The best kernels this CPU runs (`None`: portable scalar code). `CANDLELIT_SIMD=avx2` or
/// `scalar` caps it (for tests of the other paths and for comparisons).
pub fn simd_level() -> Option<Simd> {
    static LEVEL: OnceLock<Option<Simd>> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            // A cap, so the AVX2 and scalar paths can be tested on an AVX-512 machine.
            let cap = std::env::var("CANDLELIT_SIMD").unwrap_or_default();
            // F16C converts the blocks' f16 scales in one instruction; every AVX2 CPU has it.
            let f16c = is_x86_feature_detected!("f16c");
            if cap != "avx2" && cap != "scalar" && f16c && is_x86_feature_detected!("avx512f") {
                return Some(Simd::Avx512);
            }
            if cap != "scalar"
                && f16c
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                return Some(Simd::Avx2);
            }
        }
        None
    })
}

/// A `rows x cols` matrix (row-major, a row = one output feature) in one [`Format`].
#[derive(Clone)]
pub struct QMatrix {
    rows: usize,
    cols: usize,
    format: Format,
    /// Q4_1/Q8_0: the blocks, row after row. Empty for F32.
    blocks: Vec<u8>,
    /// F32 only: the values.
    values: Vec<f32>,
    /// Q4_1/Q8_0 repacked for the int8 kernels ([`int8`]); `blocks` is then empty.
    packed: Vec<u8>,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QMatrix({}x{} {:?})", self.rows, self.cols, self.format)
    }
}

impl QMatrix {
    /// From raw GGUF blocks. `cols` must be a multiple of 32 for the quantized formats.
    pub fn from_blocks(
        rows: usize,
        cols: usize,
        format: Format,
        blocks: Vec<u8>,
    ) -> Result<Self, String> {
        if format == Format::F32 || !cols.is_multiple_of(BLOCK) {
            return Err(format!("{format:?} matrix with {cols} columns"));
        }
        let want = rows * cols / BLOCK * format.block_bytes();
        if blocks.len() != want {
            return Err(format!(
                "{rows}x{cols} {format:?} needs {want} bytes, got {}",
                blocks.len()
            ));
        }
        Ok(Self {
            rows,
            cols,
            format,
            blocks,
            values: vec![],
            packed: vec![],
        })
    }

    pub fn from_f32(rows: usize, cols: usize, values: Vec<f32>) -> Result<Self, String> {
        if values.len() != rows * cols {
            return Err(format!(
                "{rows}x{cols} f32 matrix from {} values",
                values.len()
            ));
        }
        Ok(Self {
            rows,
            cols,
            format: Format::F32,
            blocks: vec![],
            values,
            packed: vec![],
        })
    }

    /// Repacks the blocks for the int8 kernels when this CPU runs them ([`int8::available`]);
    /// otherwise unchanged. Call it last: stacking takes unpacked matrices.
    pub fn prepared(self) -> Self {
        if int8::available() {
            self.packed_for_int8()
        } else {
            self
        }
    }

    /// The same matrix repacked into [`int8`]'s 16-row groups (f32 ones stay as they are).
    fn packed_for_int8(mut self) -> Self {
        if self.format != Format::F32 && self.packed.is_empty() {
            let blocks = std::mem::take(&mut self.blocks);
            self.packed = int8::pack(self.format, self.rows, self.cols, blocks);
        }
        self
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes the values take in memory.
    pub fn bytes(&self) -> usize {
        self.blocks.len() + self.values.len() * 4 + self.packed.len()
    }

    fn row_blocks(&self, r: usize) -> &[u8] {
        let n = self.cols / BLOCK * self.format.block_bytes();
        &self.blocks[r * n..(r + 1) * n]
    }

    /// Row `r` as f32 into `out` (`cols` values): an embedding lookup.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        match self.format {
            Format::F32 => out.copy_from_slice(&self.values[r * self.cols..(r + 1) * self.cols]),
            f if !self.packed.is_empty() => {
                for (b, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let blk = int8::unpack_block(f, &self.packed, self.cols, r, b);
                    dequantize_block(f, &blk[..f.block_bytes()], o);
                }
            }
            f => {
                let bb = f.block_bytes();
                for (blk, o) in self
                    .row_blocks(r)
                    .chunks_exact(bb)
                    .zip(out.chunks_exact_mut(BLOCK))
                {
                    dequantize_block(f, blk, o);
                }
            }
        }
    }

    /// The whole matrix as f32 (for [`Format::F32`] copies and tests).
    pub fn to_f32(&self) -> QMatrix {
        let mut values = vec![0f32; self.rows * self.cols];
        for (r, out) in values.chunks_exact_mut(self.cols).enumerate() {
            self.row_into(r, out);
        }
        QMatrix::from_f32(self.rows, self.cols, values).expect("sizes match")
    }

    /// Stacks matrices with the same columns and format row-wise (fused projections: one pass
    /// over the threads instead of one per matrix).
    pub fn stack(parts: &[QMatrix]) -> Result<QMatrix, String> {
        let first = parts.first().ok_or("nothing to stack")?;
        if parts.iter().any(|p| !p.packed.is_empty()) {
            return Err("stack before packing".into());
        }
        if parts
            .iter()
            .any(|p| p.cols != first.cols || p.format != first.format)
        {
            let f32s: Vec<QMatrix> = parts.iter().map(QMatrix::to_f32).collect();
            return QMatrix::stack(&f32s);
        }
        let rows = parts.iter().map(|p| p.rows).sum();
        let mut m = QMatrix {
            rows,
            cols: first.cols,
            format: first.format,
            blocks: Vec::with_capacity(parts.iter().map(|p| p.blocks.len()).sum()),
            values: Vec::with_capacity(parts.iter().map(|p| p.values.len()).sum()),
            packed: vec![],
        };
        for p in parts {
            m.blocks.extend_from_slice(&p.blocks);
            m.values.extend_from_slice(&p.values);
        }
        Ok(m)
    }

    /// `out[t][r] = dot(row r, x[t])` for `t` tokens: `x` is `t x cols`, `out` is `t x rows`,
    /// both row-major. Rows are split over rayon's threads; each thread runs its rows against
    /// up to four tokens per pass.
    pub fn matmul(&self, x: &[f32], t: usize, out: &mut [f32]) {
        self.matmul_with(simd_level(), x, t, out)
    }

    /// [`matmul`](Self::matmul) with the kernels of `level` (tests run every level the CPU has).
    fn matmul_with(&self, level: Option<Simd>, x: &[f32], t: usize, out: &mut [f32]) {
        assert_eq!(x.len(), t * self.cols, "activations");
        assert_eq!(out.len(), t * self.rows, "output");
        if !self.packed.is_empty() {
            return self.matmul_int8(x, t, out);
        }
        let rows = self.rows;
        let threads = crate::team::size();
        // Enough chunks for balance, few enough that each is worth a task.
        let chunk = rows.div_ceil(threads * 4).clamp(16, CHUNK_MAX);
        let out_ptr = SyncPtr::new(out);
        crate::team::for_each(rows.div_ceil(chunk), |c| {
            let r0 = c * chunk;
            let r1 = (r0 + chunk).min(rows);
            let mut t0 = 0;
            while t0 < t {
                let n = (t - t0).min(4);
                let mut res = [[0f32; 4]; CHUNK_MAX];
                let res = &mut res[..r1 - r0];
                match n {
                    1 => self.rows_dot::<1>(level, r0..r1, x, t0, res),
                    2 => self.rows_dot::<2>(level, r0..r1, x, t0, res),
                    3 => self.rows_dot::<3>(level, r0..r1, x, t0, res),
                    _ => self.rows_dot::<4>(level, r0..r1, x, t0, res),
                }
                for (i, row) in res.iter().enumerate() {
                    for (k, v) in row[..n].iter().enumerate() {
                        // SAFETY: each task owns rows r0..r1 of every token's output, so no
                        // two tasks write the same element.
                        unsafe { out_ptr.slice((t0 + k) * rows + r0 + i, 1)[0] = *v };
                    }
                }
                t0 += n;
            }
        });
    }

    /// The int8 path: quantize `x` once (into a buffer this thread keeps), then 16-row groups
    /// over rayon's threads, up to four tokens per pass over a group's weights.
    fn matmul_int8(&self, x: &[f32], t: usize, out: &mut [f32]) {
        thread_local! {
            static ACTS: std::cell::RefCell<int8::QuantizedActs> = Default::default();
        }
        ACTS.with_borrow_mut(|acts| {
            acts.quantize(x);
            let acts = &*acts;
            let (rows, nb) = (self.rows, self.cols / BLOCK);
            let groups = rows.div_ceil(int8::GROUP);
            let threads = crate::team::size();
            let chunk = groups.div_ceil(threads * 4).clamp(1, 16);
            let q4 = self.format == Format::Q4_1;
            let out_ptr = SyncPtr::new(out);
            crate::team::for_each(groups.div_ceil(chunk), |c| {
                for g in c * chunk..((c + 1) * chunk).min(groups) {
                    let mut t0 = 0;
                    while t0 < t {
                        let n = (t - t0).min(4);
                        let mut res = [[0f32; int8::GROUP]; 4];
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `packed` is only filled when `int8::available()` found the
                        // instructions on this CPU; the kernel asserts its reads' bounds.
                        unsafe {
                            let p = &self.packed;
                            if q4 {
                                int8::group_dot_tokens::<true>(n, p, g, nb, acts, t0, &mut res)
                            } else {
                                int8::group_dot_tokens::<false>(n, p, g, nb, acts, t0, &mut res)
                            }
                        }
                        let r0 = g * int8::GROUP;
                        let live = (rows - r0).min(int8::GROUP);
                        for (k, res) in res[..n].iter().enumerate() {
                            // SAFETY: each task owns its groups' rows of every token's output.
                            unsafe { out_ptr.slice((t0 + k) * rows + r0, live) }
                                .copy_from_slice(&res[..live]);
                        }
                        t0 += n;
                    }
                }
            });
        })
    }

    /// Rows `rows` against tokens `t0..t0+N` of `x`, into `out[row - rows.start][..N]`.
    fn rows_dot<const N: usize>(
        &self,
        level: Option<Simd>,
        rows: Range<usize>,
        x: &[f32],
        t0: usize,
        out: &mut [[f32; 4]],
    ) {
        let c = self.cols;
        let xs: [&[f32]; N] = std::array::from_fn(|k| &x[(t0 + k) * c..(t0 + k + 1) * c]);
        if self.format == Format::F32 {
            for (o, r) in out.iter_mut().zip(rows) {
                let w = &self.values[r * c..(r + 1) * c];
                for k in 0..N {
                    o[k] = dot_f32(w, xs[k]);
                }
            }
            return;
        }
        let row_bytes = c / BLOCK * self.format.block_bytes();
        assert!(rows.end * row_bytes <= self.blocks.len() && out.len() >= rows.len());
        #[cfg(target_arch = "x86_64")]
        {
            let q4 = self.format == Format::Q4_1;
            let b = &self.blocks;
            // SAFETY: the level was detected on this CPU; the asserts above and in the kernels
            // keep every read inside `blocks` and `xs`.
            unsafe {
                match (level, q4) {
                    (Some(Simd::Avx512), true) => {
                        return x86::rows_avx512::<true, N>(b, row_bytes, rows, xs, out)
                    }
                    (Some(Simd::Avx512), false) => {
                        return x86::rows_avx512::<false, N>(b, row_bytes, rows, xs, out)
                    }
                    (Some(Simd::Avx2), true) => {
                        return x86::rows_avx2::<true, N>(b, row_bytes, rows, xs, out)
                    }
                    (Some(Simd::Avx2), false) => {
                        return x86::rows_avx2::<false, N>(b, row_bytes, rows, xs, out)
                    }
                    (None, _) => {}
                }
            }
        }
        for (o, r) in out.iter_mut().zip(rows) {
            let d = dot_scalar(self.format, self.row_blocks(r), xs);
            o[..N].copy_from_slice(&d);
        }
    }
}

/// Most rows one task computes per pass (its results wait on the stack before the scatter).
const CHUNK_MAX: usize = 256;

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// One block of `format` to 32 f32 values.
pub fn dequantize_block(format: Format, blk: &[u8], out: &mut [f32]) {
    match format {
        Format::Q4_1 => {
            let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
            for j in 0..16 {
                let q = blk[4 + j];
                out[j] = d * f32::from(q & 0x0F) + m;
                out[j + 16] = d * f32::from(q >> 4) + m;
            }
        }
        Format::Q8_0 => {
            let d = f16_at(blk, 0);
            for j in 0..BLOCK {
                out[j] = d * f32::from(blk[2 + j] as i8);
            }
        }
        Format::F32 => {
            for (o, c) in out.iter_mut().zip(blk.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
}

/// Dot product with 16 independent partial sums, so the compiler vectorises it for whatever
/// CPU the build targets (a plain fold would be kept in order and scalar).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `y += a * x`, vectorised the same way.
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

fn dot_scalar<const N: usize>(format: Format, blocks: &[u8], xs: [&[f32]; N]) -> [f32; N] {
    let mut w = [0f32; BLOCK];
    let mut acc = [0f32; N];
    for (b, blk) in blocks.chunks_exact(format.block_bytes()).enumerate() {
        dequantize_block(format, blk, &mut w);
        for k in 0..N {
            acc[k] += dot_f32(&w, &xs[k][b * BLOCK..(b + 1) * BLOCK]);
        }
    }
    acc
}

pub mod int8;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (no rand dependency).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    /// Blocks with sane f16 scales (random bytes there would give inf/NaN).
    fn matrix(format: Format, rows: usize, cols: usize) -> QMatrix {
        let mut b = bytes(rows * cols / BLOCK * format.block_bytes(), 7);
        for blk in b.chunks_exact_mut(format.block_bytes()) {
            let d = f16::from_f32(0.01 + blk[2] as f32 / 5000.0);
            blk[..2].copy_from_slice(&d.to_le_bytes());
            if format == Format::Q4_1 {
                blk[2..4].copy_from_slice(&f16::from_f32(-0.07).to_le_bytes());
            }
        }
        QMatrix::from_blocks(rows, cols, format, b).unwrap()
    }

    fn check(format: Format) {
        let (rows, cols, t) = (37, 96, 6);
        let m = matrix(format, rows, cols);
        let x: Vec<f32> = bytes(t * cols, 3)
            .iter()
            .map(|&v| v as f32 / 64.0 - 2.0)
            .collect();
        let mut levels = vec![None];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                levels.push(Some(Simd::Avx2));
            }
            if is_x86_feature_detected!("avx512f") {
                levels.push(Some(Simd::Avx512));
            }
        }
        for level in levels {
            check_level(format, level, &m, &x, t);
        }
    }

    fn check_level(format: Format, level: Option<Simd>, m: &QMatrix, x: &[f32], t: usize) {
        let (rows, cols) = (m.rows(), m.cols());
        let mut got = vec![0f32; t * rows];
        m.matmul_with(level, x, t, &mut got);
        // Reference: dequantize, then plain f64 sums.
        let f = m.to_f32();
        for tk in 0..t {
            for r in 0..rows {
                let mut row = vec![0f32; cols];
                f.row_into(r, &mut row);
                let want: f64 = row
                    .iter()
                    .zip(&x[tk * cols..(tk + 1) * cols])
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                let g = got[tk * rows + r] as f64;
                assert!(
                    (g - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{format:?} t{tk} r{r}: {g} vs {want} ({level:?})"
                );
            }
        }
        // The f32 copy gives the same answers through the f32 path.
        let mut via_f32 = vec![0f32; t * rows];
        f.matmul(x, t, &mut via_f32);
        for (a, b) in got.iter().zip(&via_f32) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn q4_1_matches_dequantized_reference() {
        check(Format::Q4_1);
    }

    #[test]
    fn q8_0_matches_dequantized_reference() {
        check(Format::Q8_0);
    }

    /// The int8 kernels compute the dequantized weights times the activations as rounded (each
    /// 32-value block to `scale * round(x / scale)`, `scale = amax / 127`): checked against f64
    /// sums of exactly that, and the rounding's own effect bounded (half a step per value).
    fn check_int8(format: Format) {
        if !int8::available() {
            eprintln!("no int8 kernel here (AVX2 or AVX-512 VNNI): not run");
            return;
        }
        // 37 rows: a padded last group; 6 tokens: a pass of 4 and one of 2.
        let (rows, cols, t) = (37, 96, 6);
        let m = matrix(format, rows, cols);
        let x: Vec<f32> = bytes(t * cols, 3)
            .iter()
            .map(|&v| v as f32 / 64.0 - 2.0)
            .collect();
        let rounded: Vec<f32> = x
            .chunks_exact(BLOCK)
            .flat_map(|b| {
                // As the kernel rounds: times the reciprocal (an ulp from `v / step`, which
                // can fall on the other side of a half), half to even.
                let step = b.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                let inv = 1.0 / step;
                b.iter().map(move |v| (v * inv).round_ties_even() * step)
            })
            .collect();
        let f = m.to_f32();
        let p = m.packed_for_int8();
        // Packing loses nothing: every row reads back the same.
        assert_eq!(p.to_f32().values, f.values);
        let mut got = vec![0f32; t * rows];
        p.matmul(&x, t, &mut got);
        for tk in 0..t {
            let (xt, rt) = (&x[tk * cols..][..cols], &rounded[tk * cols..][..cols]);
            for r in 0..rows {
                let w = &f.values[r * cols..(r + 1) * cols];
                let dot = |v: &[f32]| -> f64 {
                    w.iter().zip(v).map(|(a, b)| *a as f64 * *b as f64).sum()
                };
                let (want, exact) = (dot(rt), dot(xt));
                let g = got[tk * rows + r] as f64;
                assert!(
                    (g - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{format:?} t{tk} r{r}: {g} vs {want}"
                );
                let bound: f64 = w
                    .chunks_exact(BLOCK)
                    .zip(xt.chunks_exact(BLOCK))
                    .map(|(wb, xb)| {
                        let step = xb.iter().fold(0f32, |a, v| a.max(v.abs())) as f64 / 127.0;
                        wb.iter().map(|v| v.abs() as f64).sum::<f64>() * step / 2.0
                    })
                    .sum();
                assert!(
                    (want - exact).abs() <= bound + 1e-9,
                    "rounding beyond half a step"
                );
            }
        }
    }

    #[test]
    fn int8_q4_1_is_within_the_activation_rounding() {
        check_int8(Format::Q4_1);
    }

    #[test]
    fn int8_q8_0_is_within_the_activation_rounding() {
        check_int8(Format::Q8_0);
    }

    #[test]
    fn q4_1_block_layout_is_ggmls() {
        // Byte j holds value j in its low nibble and value j + 16 in its high nibble.
        let mut blk = vec![0u8; 20];
        blk[..2].copy_from_slice(&f16::from_f32(2.0).to_le_bytes());
        blk[2..4].copy_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        blk[4] = 0x3A; // value 0 = 10, value 16 = 3
        let mut out = [0f32; 32];
        dequantize_block(Format::Q4_1, &blk, &mut out);
        assert_eq!((out[0], out[16], out[1]), (19.0, 5.0, -1.0));
    }

    #[test]
    fn stacking_keeps_rows_in_order() {
        let a = matrix(Format::Q4_1, 3, 64);
        let b = matrix(Format::Q8_0, 2, 64); // other format: stacked as f32
        let s = QMatrix::stack(&[a.clone(), b.clone()]).unwrap();
        assert_eq!((s.rows(), s.format()), (5, Format::F32));
        let (mut r, mut w) = (vec![0f32; 64], vec![0f32; 64]);
        s.row_into(3, &mut r);
        b.row_into(0, &mut w);
        assert_eq!(r, w);
    }
}
