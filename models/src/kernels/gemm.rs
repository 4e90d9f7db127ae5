//! f32 matrix product with the convolution's epilogue fused in: `C = act(A·B + bias [+ R])`.
//!
//! Why our own: the vision models are 1x1 convolutions (and im2col'd dense ones) followed by a
//! bias and ReLU6. Through candle that is a matmul (the `gemm` crate, whose AVX-512 kernels are
//! nightly-only, so AVX2 on our CPUs), then a broadcast add and a clamp: two more passes over
//! the activations, each allocating. Here B (the weights) is packed once at load into panels of
//! 32 columns, a register-tiled kernel (picked at run time) runs each tile over the whole depth,
//! and the epilogue adds the bias, the residual and the activation. With AVX-512 a tile is 12
//! rows x 32 columns (16 x 16 for a last panel of 16 or fewer columns, so 16-channel convs do
//! not compute 16 zero columns) and its epilogue runs in registers, storing straight into C
//! with masked stores for ragged panels; with AVX2 a tile is 3 x 32, staged in a buffer. Tiles
//! are spread over rayon's threads.

use rayon::prelude::*;

use super::sync_ptr::SyncPtr;

/// Columns per packed panel (two AVX-512 vectors, four AVX2 vectors).
const NR: usize = 32;

/// What the epilogue applies after the bias (and residual).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
    LeakyRelu(f32),
    /// MobileNetV3's `x * scale * relu6(x + 3)`, `scale` being 1/6 as the graph stores it
    /// (TF.js weights may be float16, where 1/6 is 0.16663).
    HardSwish {
        scale: f32,
    },
    /// MobileNetV3's `relu6(x + 3) * scale`.
    HardSigmoid {
        scale: f32,
    },
}

impl Activation {
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Relu6 => v.clamp(0.0, 6.0),
            Activation::LeakyRelu(a) => {
                if v < 0.0 {
                    v * a
                } else {
                    v
                }
            }
            // In the graphs' order of operations.
            Activation::HardSwish { scale } => v * scale * (v + 3.0).clamp(0.0, 6.0),
            Activation::HardSigmoid { scale } => (v + 3.0).clamp(0.0, 6.0) * scale,
        }
    }
}

/// A `k x n` weight matrix packed into panels of [`NR`] columns (zero-padded), with its bias.
#[derive(Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    /// Panel p holds rows 0..k of columns p*NR..(p+1)*NR, row after row.
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl std::fmt::Debug for PackedB {
    // Short on purpose: graph profiling names ops by their Debug text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedB({}x{})", self.k, self.n)
    }
}

impl PackedB {
    /// `w` is `k x n` row-major (`[in, out]` for a 1x1 conv; `[kh*kw*in, out]` for im2col).
    pub fn new(w: &[f32], k: usize, n: usize, bias: Option<&[f32]>) -> Self {
        assert_eq!(w.len(), k * n, "weights");
        let np = n.div_ceil(NR);
        let mut panels = vec![0f32; np * k * NR];
        for p in 0..np {
            let cols = (n - p * NR).min(NR);
            for r in 0..k {
                let dst = &mut panels[(p * k + r) * NR..(p * k + r) * NR + cols];
                dst.copy_from_slice(&w[r * n + p * NR..r * n + p * NR + cols]);
            }
        }
        let bias = match bias {
            Some(b) => {
                assert_eq!(b.len(), n, "bias");
                b.to_vec()
            }
            None => vec![0.0; n],
        };
        Self { k, n, panels, bias }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Adds `b` to the bias (a BiasAdd folded in after packing).
    pub fn add_bias(&mut self, b: &[f32]) {
        assert_eq!(b.len(), self.n, "bias");
        for (x, y) in self.bias.iter_mut().zip(b) {
            *x += y;
        }
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.panels[p * self.k * NR..(p + 1) * self.k * NR]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Avx512,
    Avx2,
    Scalar,
}

fn level() -> Level {
    use crate::summarize::qkernels::{simd_level, Simd};
    match simd_level() {
        Some(Simd::Avx512) => Level::Avx512,
        Some(Simd::Avx2) => Level::Avx2,
        None => Level::Scalar,
    }
}

/// Rows per register tile for `level`.
fn mr(level: Level) -> usize {
    match level {
        Level::Avx512 => 6,
        Level::Avx2 => 3,
        Level::Scalar => 4,
    }
}

/// `c = act(a · b + bias + residual)`: `a` is `m x k`, `c` and `residual` are `m x n`, all
/// row-major.
pub fn gemm(
    a: &[f32],
    m: usize,
    b: &PackedB,
    act: Activation,
    residual: Option<&[f32]>,
    c: &mut [f32],
) {
    gemm_with(level(), a, m, b, act, residual, c)
}

/// [`gemm`] with the kernels of `lvl` (tests run every level the CPU has).
fn gemm_with(
    lvl: Level,
    a: &[f32],
    m: usize,
    b: &PackedB,
    act: Activation,
    residual: Option<&[f32]>,
    c: &mut [f32],
) {
    let (k, n) = (b.k, b.n);
    assert_eq!(a.len(), m * k, "a");
    assert_eq!(c.len(), m * n, "c");
    if let Some(r) = residual {
        assert_eq!(r.len(), m * n, "residual");
    }
    #[cfg(target_arch = "x86_64")]
    if lvl == Level::Avx512 {
        return x86::gemm_avx512(a, m, b, act, residual, c);
    }
    let mr = mr(lvl);
    // Row chunks of a few tiles: enough tasks to balance two threads, few enough to be cheap.
    let mc = mr * 8;
    let (chunks, panels) = (m.div_ceil(mc), n.div_ceil(NR));
    let out = SyncPtr::new(c);
    (0..chunks * panels).into_par_iter().for_each(|task| {
        let (ci, p) = (task / panels, task % panels);
        let cols = (n - p * NR).min(NR);
        let panel = b.panel(p);
        let mut tile = [[0f32; NR]; 6];
        let mut r0 = ci * mc;
        let end = ((ci + 1) * mc).min(m);
        while r0 < end {
            let rows = (end - r0).min(mr);
            let a0 = &a[r0 * k..(r0 + rows) * k];
            kernel(lvl, rows, a0, k, panel, &mut tile);
            for (i, t) in tile[..rows].iter().enumerate() {
                let row = r0 + i;
                let base = row * n + p * NR;
                // SAFETY: this task alone writes rows r0..end of panel p's columns.
                let dst = unsafe { out.slice(base, cols) };
                let bias = &b.bias[p * NR..p * NR + cols];
                match residual {
                    Some(res) => {
                        let res = &res[base..base + cols];
                        for j in 0..cols {
                            dst[j] = act.apply(t[j] + bias[j] + res[j]);
                        }
                    }
                    None => {
                        for j in 0..cols {
                            dst[j] = act.apply(t[j] + bias[j]);
                        }
                    }
                }
            }
            r0 += rows;
        }
    });
}

/// One register tile: `rows` (≤ mr) rows of `a` (stride `k`) times a packed panel.
fn kernel(lvl: Level, rows: usize, a: &[f32], k: usize, panel: &[f32], tile: &mut [[f32; NR]; 6]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the level was detected on this CPU; the kernels read `rows * k` values of `a`
        // and `k * NR` of `panel`, whose lengths are those.
        unsafe {
            match (lvl, rows) {
                (Level::Avx2, 3) => return x86::tile_avx2::<3>(a, k, panel, tile),
                (Level::Avx2, 2) => return x86::tile_avx2::<2>(a, k, panel, tile),
                (Level::Avx2, 1) => return x86::tile_avx2::<1>(a, k, panel, tile),
                _ => {}
            }
        }
    }
    let _ = lvl;
    for (r, t) in tile[..rows].iter_mut().enumerate() {
        t.fill(0.0);
        for p in 0..k {
            let av = a[r * k + p];
            for (o, bv) in t.iter_mut().zip(&panel[p * NR..(p + 1) * NR]) {
                *o += av * bv;
            }
        }
    }
}

// The AVX-512 and AVX2 tiles are the same loop written twice on purpose: each must be its own
// `#[target_feature]` function over its own vector type for the intrinsics to compile to
// those instructions, and which one runs is picked at run time.
#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::{Activation, PackedB, NR};
    use std::arch::x86_64::*;

    /// Rows per AVX-512 tile: 32 columns (two registers) x 12 rows is 24 accumulators of the
    /// 32 registers, so each column pair loaded from the panel feeds 24 FMAs.
    const MR_WIDE: usize = 12;
    /// Rows per tile of a last panel with 16 or fewer columns (one register wide): 16
    /// accumulators, so a 16-channel conv does not compute 16 zero columns.
    const MR_NARROW: usize = 16;

    /// The AVX-512 product: tiles write `act(acc + bias [+ residual])` straight to `c` from
    /// registers (masked stores for a ragged last panel), so nothing is staged or re-read.
    pub fn gemm_avx512(
        a: &[f32],
        m: usize,
        b: &PackedB,
        act: Activation,
        residual: Option<&[f32]>,
        c: &mut [f32],
    ) {
        use rayon::prelude::*;
        let (k, n) = (b.k, b.n);
        let panels = n.div_ceil(NR);
        // Rows per task: a few tiles, enough tasks to balance two threads.
        let mc = MR_WIDE * 4;
        let chunks = m.div_ceil(mc);
        let out = super::SyncPtr::new(c);
        (0..chunks * panels).into_par_iter().for_each(|task| {
            let (ci, p) = (task / panels, task % panels);
            let cols = (n - p * NR).min(NR);
            let (r_start, r_end) = (ci * mc, ((ci + 1) * mc).min(m));
            let epi = Epilogue {
                bias: b.bias[p * NR..].as_ptr(),
                cols,
                act,
            };
            let mr = if cols <= 16 { MR_NARROW } else { MR_WIDE };
            let mut r0 = r_start;
            while r0 < r_end {
                let rows = (r_end - r0).min(mr);
                let base = r0 * n + p * NR;
                // SAFETY: the CPU has AVX-512F (the caller's level); the tile reads rows
                // r0..r0+rows of `a` (k values each) and the panel (k x NR), and writes only
                // this task's rows of panel p's `cols` columns of `c` (row stride n); the
                // residual has c's shape.
                unsafe {
                    let a0 = a.as_ptr().add(r0 * k);
                    let c0 = out.ptr().add(base);
                    let r0p = residual.map(|r| r.as_ptr().add(base));
                    let panel = b.panel(p).as_ptr();
                    if cols <= 16 {
                        narrow(rows, a0, k, panel, c0, n, r0p, &epi);
                    } else {
                        wide(rows, a0, k, panel, c0, n, r0p, &epi);
                    }
                }
                r0 += rows;
            }
        });
    }

    /// What a tile does to its sums before storing them.
    struct Epilogue {
        /// The bias of the panel's first column (`cols` of them are read).
        bias: *const f32,
        cols: usize,
        act: Activation,
    }

    macro_rules! dispatch_rows {
        ($f:ident, $rows:expr, $($arg:expr),*) => {
            match $rows {
                16 => $f::<16>($($arg),*),
                15 => $f::<15>($($arg),*),
                14 => $f::<14>($($arg),*),
                13 => $f::<13>($($arg),*),
                12 => $f::<12>($($arg),*),
                11 => $f::<11>($($arg),*),
                10 => $f::<10>($($arg),*),
                9 => $f::<9>($($arg),*),
                8 => $f::<8>($($arg),*),
                7 => $f::<7>($($arg),*),
                6 => $f::<6>($($arg),*),
                5 => $f::<5>($($arg),*),
                4 => $f::<4>($($arg),*),
                3 => $f::<3>($($arg),*),
                2 => $f::<2>($($arg),*),
                _ => $f::<1>($($arg),*),
            }
        };
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn wide(
        rows: usize,
        a: *const f32,
        k: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        res: Option<*const f32>,
        epi: &Epilogue,
    ) {
        dispatch_rows!(tile_wide, rows, a, k, panel, c, ldc, res, epi)
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn narrow(
        rows: usize,
        a: *const f32,
        k: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        res: Option<*const f32>,
        epi: &Epilogue,
    ) {
        dispatch_rows!(tile_narrow, rows, a, k, panel, c, ldc, res, epi)
    }

    /// `R` rows x 32 columns.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_wide<const R: usize>(
        a: *const f32,
        k: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        res: Option<*const f32>,
        epi: &Epilogue,
    ) {
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        for p in 0..k {
            let b0 = _mm512_loadu_ps(panel.add(p * NR));
            let b1 = _mm512_loadu_ps(panel.add(p * NR + 16));
            for r in 0..R {
                let av = _mm512_set1_ps(*a.add(r * k + p));
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
        }
        let (m0, m1) = masks(epi.cols);
        let bias0 = _mm512_maskz_loadu_ps(m0, epi.bias);
        let bias1 = _mm512_maskz_loadu_ps(m1, epi.bias.add(16));
        for r in 0..R {
            let (mut v0, mut v1) = (_mm512_add_ps(lo[r], bias0), _mm512_add_ps(hi[r], bias1));
            if let Some(res) = res {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, res.add(r * ldc)));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, res.add(r * ldc + 16)));
            }
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, activate(v0, epi.act));
            _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, activate(v1, epi.act));
        }
    }

    /// `R` rows x 16 columns (a last panel of 16 or fewer columns; the panel's other 16 lanes
    /// are its zero padding and are not read).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_narrow<const R: usize>(
        a: *const f32,
        k: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        res: Option<*const f32>,
        epi: &Epilogue,
    ) {
        let mut acc = [_mm512_setzero_ps(); R];
        for p in 0..k {
            let b0 = _mm512_loadu_ps(panel.add(p * NR));
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * k + p)), b0, *acc);
            }
        }
        let (m0, _) = masks(epi.cols);
        let bias = _mm512_maskz_loadu_ps(m0, epi.bias);
        for (r, acc) in acc.iter().enumerate() {
            let mut v = _mm512_add_ps(*acc, bias);
            if let Some(res) = res {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m0, res.add(r * ldc)));
            }
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, activate(v, epi.act));
        }
    }

    /// Lane masks of the first and second 16 of `cols` (≤ 32) columns.
    fn masks(cols: usize) -> (__mmask16, __mmask16) {
        let m = |n: usize| -> __mmask16 {
            if n >= 16 {
                0xffff
            } else {
                ((1u32 << n) - 1) as __mmask16
            }
        };
        (m(cols), m(cols.saturating_sub(16)))
    }

    /// `act` on 16 lanes (the depthwise kernel's epilogue too).
    #[target_feature(enable = "avx512f")]
    pub(in crate::kernels) unsafe fn activate(v: __m512, act: Activation) -> __m512 {
        let zero = _mm512_setzero_ps();
        match act {
            Activation::None => v,
            Activation::Relu => _mm512_max_ps(v, zero),
            Activation::Relu6 => _mm512_min_ps(_mm512_max_ps(v, zero), _mm512_set1_ps(6.0)),
            Activation::LeakyRelu(alpha) => {
                let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero);
                _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha))
            }
            Activation::HardSwish { scale } | Activation::HardSigmoid { scale } => {
                let r6 = _mm512_min_ps(
                    _mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.0)), zero),
                    _mm512_set1_ps(6.0),
                );
                let scale = _mm512_set1_ps(scale);
                if matches!(act, Activation::HardSwish { .. }) {
                    _mm512_mul_ps(_mm512_mul_ps(v, scale), r6)
                } else {
                    _mm512_mul_ps(r6, scale)
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2<const R: usize>(
        a: &[f32],
        k: usize,
        panel: &[f32],
        tile: &mut [[f32; NR]; 6],
    ) {
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        for p in 0..k {
            let b = [
                _mm256_loadu_ps(bp.add(p * NR)),
                _mm256_loadu_ps(bp.add(p * NR + 8)),
                _mm256_loadu_ps(bp.add(p * NR + 16)),
                _mm256_loadu_ps(bp.add(p * NR + 24)),
            ];
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*ap.add(r * k + p));
                for (a, bj) in row.iter_mut().zip(&b) {
                    *a = _mm256_fmadd_ps(av, *bj, *a);
                }
            }
        }
        for (t, row) in tile.iter_mut().zip(&acc) {
            for (j, a) in row.iter().enumerate() {
                _mm256_storeu_ps(t.as_mut_ptr().add(8 * j), *a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_a_plain_product_on_ragged_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 27, 16),
            (13, 32, 33),
            (50, 96, 70),
            (49, 320, 65),
            // A ragged wide panel (24 and 25 columns: masked second register), several row
            // chunks and a partial last tile.
            (100, 40, 24),
            (61, 17, 57),
        ] {
            let (a, w, bias, res) = (
                values(m * k, 1),
                values(k * n, 2),
                values(n, 3),
                values(m * n, 4),
            );
            let b = PackedB::new(&w, k, n, Some(&bias));
            let mut levels = vec![Level::Scalar];
            #[cfg(target_arch = "x86_64")]
            {
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    levels.push(Level::Avx2);
                }
                if is_x86_feature_detected!("avx512f") {
                    levels.push(Level::Avx512);
                }
            }
            for (lvl, act) in levels.iter().flat_map(|l| {
                [
                    Activation::None,
                    Activation::Relu6,
                    Activation::LeakyRelu(0.1),
                    Activation::HardSwish { scale: 1.0 / 6.0 },
                    Activation::HardSigmoid { scale: 0.1666 },
                ]
                .map(|a| (*l, a))
            }) {
                for residual in [None, Some(res.as_slice())] {
                    let mut c = vec![f32::NAN; m * n];
                    gemm_with(lvl, &a, m, &b, act, residual, &mut c);
                    for i in 0..m {
                        for j in 0..n {
                            let mut want: f64 = bias[j] as f64;
                            for p in 0..k {
                                want += a[i * k + p] as f64 * w[p * n + j] as f64;
                            }
                            if let Some(r) = residual {
                                want += r[i * n + j] as f64;
                            }
                            let want = act.apply(want as f32);
                            let got = c[i * n + j];
                            assert!(
                                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                "{m}x{k}x{n} {lvl:?} {act:?} [{i},{j}]: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
