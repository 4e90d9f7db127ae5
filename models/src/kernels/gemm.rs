//! f32 matrix product with the convolution's epilogue fused in: `C = act(A·B + bias [+ R])`.
//!
//! Why our own: the vision models are 1x1 convolutions (and im2col'd dense ones) followed by a
//! bias and ReLU6. Through candle that is a matmul (the `gemm` crate, whose AVX-512 kernels are
//! nightly-only, so AVX2 on our CPUs), then a broadcast add and a clamp: two more passes over
//! the activations, each allocating. Here B (the weights) is packed once at load into panels of
//! 32 columns, a register-tiled kernel (AVX-512: 6 rows x 32, AVX2: 3 x 32, picked at run time)
//! runs each tile over the whole depth, and the epilogue adds the bias, the residual and the
//! activation while the tile is still in cache. Tiles are spread over rayon's threads.

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
                (Level::Avx512, 6) => return x86::tile_avx512::<6>(a, k, panel, tile),
                (Level::Avx512, 5) => return x86::tile_avx512::<5>(a, k, panel, tile),
                (Level::Avx512, 4) => return x86::tile_avx512::<4>(a, k, panel, tile),
                (Level::Avx512, 3) => return x86::tile_avx512::<3>(a, k, panel, tile),
                (Level::Avx512, 2) => return x86::tile_avx512::<2>(a, k, panel, tile),
                (Level::Avx512, 1) => return x86::tile_avx512::<1>(a, k, panel, tile),
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
mod x86 {
    use super::NR;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile_avx512<const R: usize>(
        a: &[f32],
        k: usize,
        panel: &[f32],
        tile: &mut [[f32; NR]; 6],
    ) {
        let (ap, bp) = (a.as_ptr(), panel.as_ptr());
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        for p in 0..k {
            let b0 = _mm512_loadu_ps(bp.add(p * NR));
            let b1 = _mm512_loadu_ps(bp.add(p * NR + 16));
            for r in 0..R {
                let av = _mm512_set1_ps(*ap.add(r * k + p));
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
        }
        for r in 0..R {
            _mm512_storeu_ps(tile[r].as_mut_ptr(), lo[r]);
            _mm512_storeu_ps(tile[r].as_mut_ptr().add(16), hi[r]);
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
