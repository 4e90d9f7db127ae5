//! f32 matrix product with the convolution's epilogue fused in: `C = act(A·B + bias [+ R])`.
//!
//! Why our own: the vision models are 1x1 convolutions (and im2col'd dense ones) followed by a
//! bias and ReLU6. Through candle that is a matmul (the `gemm` crate, whose AVX-512 kernels are
//! nightly-only), then a broadcast add and a clamp: two more passes over the activations, each
//! allocating. Here B (the weights) is packed once at load into panels of 32 columns; a
//! register-tiled kernel, written once over [`super::simd::Lanes`] and picked at run time, runs
//! each tile over the whole depth and stores `act(sum + bias [+ residual])` straight from its
//! registers (masked stores for a ragged last panel). Tiles: AVX-512 6 rows x 32 columns,
//! AVX2 6 x 16 (the classic Haswell shape: 12 accumulators, two panel loads and a broadcast in
//! 16 registers); a last panel's final 16 (AVX-512) or 8 (AVX2) or fewer columns take a
//! one-vector tile of 8 or 12 rows, so 16-channel convs do not compute zero columns; under
//! AVX-512 a last panel of 17-31 or 1-8 columns runs AVX2's tiles instead ([`run_block`]). Tasks
//! of (up to 48 rows, evened out, x one panel; all rows when A is small and the panels are
//! many: [`rows_per_task`]) are spread over the threads (`team::for_each`).

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

/// Rows of each level's wide register tile (`x86::Tiles::WIDE`), which task chunks are cut
/// in whole multiples of.
const AVX512_WIDE: usize = 6;
const AVX2_WIDE: usize = 6;

/// Rows of a GEMM task at most: a few register tiles, so two threads get enough tasks to
/// balance on the tall products (the first layers: thousands of rows, a few panels).
const ROWS_PER_TASK: usize = 48;

/// Rows per task for an `m x k` A and `panels` panels of B. Every task reads its whole
/// panel, so a short ragged last chunk (49 rows = 48 + 1) reads the panel a second time
/// for one row: chunks are evened out instead, in whole register tiles. And when the panels
/// alone give every thread several tasks and A stays in cache, all rows go in one chunk
/// (the late layers: 49 or 196 rows, hundreds of columns), so each panel is read once.
fn rows_per_task(lvl: Level, m: usize, k: usize, panels: usize, threads: usize) -> usize {
    const A_IN_CACHE: usize = 256 * 1024;
    let tile = match lvl {
        Level::Avx512 => AVX512_WIDE,
        Level::Avx2 => AVX2_WIDE,
        Level::Scalar => 1,
    };
    if panels >= 4 * threads.max(1) && m * k * 4 <= A_IN_CACHE {
        return m.max(1);
    }
    let chunks = m.div_ceil(ROWS_PER_TASK).max(1);
    m.div_ceil(chunks)
        .next_multiple_of(tile)
        .min(ROWS_PER_TASK.max(tile))
        // An empty product (m = 0) still gets a non-zero chunk to divide by.
        .max(1)
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
    gemm_with(level(), a, m, b, act, residual, SyncPtr::new(c))
}

/// [`gemm`] into a new `m x n` buffer, which is not zeroed first: every element is written
/// (zeroing it would be one more pass over the activations, ~6 % of a detector's forward).
pub fn gemm_to_vec(
    a: &[f32],
    m: usize,
    b: &PackedB,
    act: Activation,
    residual: Option<&[f32]>,
) -> Vec<f32> {
    let len = m * b.n;
    let mut c = Vec::with_capacity(len);
    gemm_with(
        level(),
        a,
        m,
        b,
        act,
        residual,
        SyncPtr::new_uninit(&mut c.spare_capacity_mut()[..len]),
    );
    // SAFETY: `gemm_with` wrote all `len` values: its tasks cover every (row chunk, panel)
    // pair, and each block stores every row and column of its pair.
    unsafe { c.set_len(len) };
    c
}

/// `act(A · b + bias)` for an `m x k` A read in place from an image: row `i`, depth `p` is
/// `x[base(i) + offsets[p]]` (a convolution's patch whose taps all lie inside `x`: a stem
/// over a padded input). No patch is copied; the register tiles broadcast straight from `x`.
/// The same sums, in the same order, as the product of the gathered patches.
///
/// Why: gathering the stem's patches (one load and one store a value, strided by two in NCHW)
/// took 0.19 of its 0.50 ms on one thread on the 2-core AVX2 EPYC; a tile reading the image
/// instead pays one offset load per depth step, shared by its rows.
pub fn gemm_direct_to_vec(
    m: usize,
    b: &PackedB,
    act: Activation,
    x: &[f32],
    offsets: &[usize],
    base: impl Fn(usize) -> usize + Sync,
) -> Vec<f32> {
    let (k, n) = (b.k, b.n);
    assert_eq!(offsets.len(), k, "one offset per depth step");
    let reach = offsets.iter().max().map_or(0, |&o| o + 1);
    let lvl = level();
    let len = m * n;
    let mut c = Vec::with_capacity(len);
    let out = SyncPtr::new_uninit(&mut c.spare_capacity_mut()[..len]);
    let per_task = rows_per_task(lvl, m, k, 1, crate::team::size()).min(ROWS_PER_TASK);
    crate::team::for_each(m.div_ceil(per_task), |chunk| {
        let rows = chunk * per_task..((chunk + 1) * per_task).min(m);
        let mut bases = [0usize; ROWS_PER_TASK];
        for (slot, i) in bases.iter_mut().zip(rows.clone()) {
            *slot = base(i);
            assert!(
                *slot + reach <= x.len(),
                "row {i}'s patch reaches past the image"
            );
        }
        for panel in 0..n.div_ceil(NR) {
            let block = Block {
                a: ARows::InPlace {
                    x,
                    bases: &bases[..rows.len()],
                    offsets,
                },
                b,
                rows: rows.clone(),
                panel,
                act,
                residual: None,
            };
            // SAFETY: tasks cover disjoint row ranges of `out`; every read of `x` is inside
            // it (asserted for each row's base and the largest offset).
            unsafe { run_block(lvl, &block, out) }
        }
    });
    // SAFETY: the chunks cover all `m` rows and each writes every panel's columns.
    unsafe { c.set_len(len) };
    c
}

/// One task's share of the product: rows `rows` of `a` times panel `panel` of `b`, written to
/// those rows of the panel's columns of `c`.
struct Block<'a> {
    a: ARows<'a>,
    b: &'a PackedB,
    rows: std::ops::Range<usize>,
    panel: usize,
    act: Activation,
    residual: Option<&'a [f32]>,
}

/// Where a block's rows of A are.
#[derive(Clone, Copy)]
enum ARows<'a> {
    /// Stored row-major from row `row0` on (all of A, or only the rows a caller holds).
    Stored { a: &'a [f32], row0: usize },
    /// Read in place ([`gemm_direct_to_vec`]): the block's `i`-th row at depth `p` is
    /// `x[bases[i] + offsets[p]]`.
    InPlace {
        x: &'a [f32],
        bases: &'a [usize],
        offsets: &'a [usize],
    },
}

impl Block<'_> {
    /// A at `row` (one of the block's rows), depth step `p`.
    fn a_at(&self, row: usize, p: usize) -> f32 {
        match self.a {
            ARows::Stored { a, row0 } => a[(row - row0) * self.b.k + p],
            ARows::InPlace { x, bases, offsets } => x[bases[row - self.rows.start] + offsets[p]],
        }
    }

    /// The panel's columns that exist in `c` (the last panel may be ragged).
    fn cols(&self) -> usize {
        (self.b.n - self.panel * NR).min(NR)
    }
}

/// [`gemm`] with the kernels of `lvl` (tests run every level the CPU has) into `out`
/// (`m x n`), every element of which it writes through raw pointers.
fn gemm_with(
    lvl: Level,
    a: &[f32],
    m: usize,
    b: &PackedB,
    act: Activation,
    residual: Option<&[f32]>,
    out: SyncPtr,
) {
    let (k, n) = (b.k, b.n);
    assert_eq!(a.len(), m * k, "a");
    assert_eq!(out.len(), m * n, "c");
    if let Some(r) = residual {
        assert_eq!(r.len(), m * n, "residual");
    }
    let panels = n.div_ceil(NR);
    let per_task = rows_per_task(lvl, m, k, panels, crate::team::size());
    let chunks = m.div_ceil(per_task);
    crate::team::for_each(chunks * panels, |task| {
        let (ci, panel) = (task / panels, task % panels);
        let rows = ci * per_task..((ci + 1) * per_task).min(m);
        let block = Block {
            a: ARows::Stored { a, row0: 0 },
            b,
            rows,
            panel,
            act,
            residual,
        };
        // SAFETY: tasks cover disjoint (row range x panel) parts of `c`, and a block writes
        // only its own.
        unsafe { run_block(lvl, &block, out) }
    });
}

/// [`gemm`] on the calling thread only, for callers that already split their work across
/// threads (a fused block's band of rows, `classify::efficientnet_lite`).
pub fn gemm_serial(
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
    let out = SyncPtr::new(c);
    // SAFETY: one block at a time, each writing its own panel's columns of `c`.
    unsafe { run_panels(level(), a, 0..m, b, 0..n.div_ceil(NR), act, residual, out) }
}

/// [`gemm_serial`] for the columns of panels `panels` only (32 columns each, the last
/// ragged), into the product's whole `m x n` output, which other threads may be writing
/// other panels' columns of (a block split by channel ranges,
/// `classify::efficientnet_lite`).
///
/// # Safety
/// `out` is `m x n`, and no other thread writes these panels' columns.
pub(crate) unsafe fn gemm_serial_panels(
    a: &[f32],
    m: usize,
    b: &PackedB,
    act: Activation,
    panels: std::ops::Range<usize>,
    out: SyncPtr,
) {
    assert_eq!(a.len(), m * b.k, "a");
    assert_eq!(out.len(), m * b.n, "c");
    assert!(panels.end <= b.n.div_ceil(NR), "panels");
    // SAFETY: the caller's contract.
    unsafe { run_panels(level(), a, 0..m, b, panels, act, None, out) }
}

/// Rows `rows` of the product (`a` holding A's rows from `rows.start` on) times each of
/// `panels`, one block after another on the calling thread.
///
/// # Safety
/// As [`run_block`], for every block: no other task writes these rows of these panels'
/// columns of `out`.
#[allow(clippy::too_many_arguments)]
unsafe fn run_panels(
    lvl: Level,
    a: &[f32],
    rows: std::ops::Range<usize>,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    act: Activation,
    residual: Option<&[f32]>,
    out: SyncPtr,
) {
    for panel in panels {
        let block = Block {
            a: ARows::Stored {
                a,
                row0: rows.start,
            },
            b,
            rows: rows.clone(),
            panel,
            act,
            residual,
        };
        // SAFETY: the caller's contract.
        unsafe { run_block(lvl, &block, out) }
    }
}

/// Columns per panel of a [`PackedB`]: a caller splitting a product by columns splits on
/// these.
pub const PANEL_COLUMNS: usize = NR;

/// Runs one block with the kernels of `lvl`.
///
/// # Safety
/// No other task writes this block's part of `out`, which is the product's `m x n` output;
/// `lvl` was detected on this CPU.
unsafe fn run_block(lvl: Level, block: &Block, out: SyncPtr) {
    unsafe {
        match lvl {
            // A ragged last panel that one AVX-512 vector does not fit (17-31 columns) or
            // fits with half its lanes idle (1-8) runs AVX2's tiles, which cut it into
            // 16 + 8 column pieces: on a Zen 4, EfficientNet-Lite's 24- and 40-channel
            // products ran at 80 GFLOP/s in a masked AVX-512 tile against 83-90 in AVX2's
            // (`bench_gemm`, alternating). AVX2's tiles compiled into the AVX-512 function
            // (EVEX-encoded) ran them at 68-76: hence the AVX2 function itself.
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 if !matches!(block.cols(), NR | 9..=16) => {
                x86::block_avx2(block, out.ptr())
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => x86::block_avx512(block, out.ptr()),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => x86::block_avx2(block, out.ptr()),
            _ => block_scalar(block, out),
        }
    }
}

/// The portable block: one output value at a time (CPUs without AVX2, and the reference the
/// SIMD levels are tested against).
///
/// # Safety
/// No other task writes this block's part of `c`.
unsafe fn block_scalar(blk: &Block, out: SyncPtr) {
    let (k, n) = (blk.b.k, blk.b.n);
    let (cols, col0) = (blk.cols(), blk.panel * NR);
    let panel = blk.b.panel(blk.panel);
    let mut sums = [0f32; NR];
    for row in blk.rows.clone() {
        sums.fill(0.0);
        for p in 0..k {
            let av = blk.a_at(row, p);
            for (s, bv) in sums.iter_mut().zip(&panel[p * NR..(p + 1) * NR]) {
                *s += av * bv;
            }
        }
        let base = row * n + col0;
        assert!(base + cols <= out.len());
        let bias = &blk.b.bias[col0..col0 + cols];
        for j in 0..cols {
            let mut v = sums[j] + bias[j];
            if let Some(res) = blk.residual {
                v += res[base + j];
            }
            // SAFETY: in bounds (asserted); the caller's contract. A write, not a slice: the
            // output may not be initialised yet.
            unsafe { out.ptr().add(base + j).write(blk.act.apply(v)) };
        }
    }
}

/// The SIMD blocks, written once over [`Lanes`] and compiled for AVX-512 and for AVX2.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ARows, Activation, Block, NR};
    use crate::kernels::simd::{activate, Avx2, Avx512, Lanes};

    /// Register-tile heights per level: a wide tile is two vectors (`2 * N` columns) by
    /// `WIDE` rows, a narrow one (the last `N` or fewer columns of a panel, so a 16-channel
    /// conv does not compute zero columns) one vector by `NARROW` rows. AVX2's fill most of
    /// its 16 registers with accumulators (12 and 12). AVX-512's use 12 and 8 of its 32: with
    /// 24 (12 x 32) LLVM unrolls the depth loop and spills accumulators to the stack, and on
    /// a Zen 4 EPYC (2026-12-05) 12 x 32 / 16 x 16 ran EfficientNet-Lite0's products at 70
    /// GFLOP/s on one thread against 91-93 for 6 or 7 x 32 (8 x 32: 91, 10 x 32: 79) and the
    /// narrow shapes 8 % faster at 8 rows than at 16 (`bench_gemm`).
    trait Tiles: Lanes {
        const WIDE: usize;
        const NARROW: usize;
    }
    impl Tiles for Avx512 {
        const WIDE: usize = super::AVX512_WIDE;
        const NARROW: usize = 8;
    }
    impl Tiles for Avx2 {
        const WIDE: usize = super::AVX2_WIDE;
        const NARROW: usize = 12;
    }

    /// # Safety
    /// The CPU has AVX-512F; `c` is the product's `m x n` output and no other task writes
    /// this block's part.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn block_avx512(blk: &Block, c: *mut f32) {
        block::<Avx512>(blk, c)
    }

    /// # Safety
    /// As [`block_avx512`], for AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn block_avx2(blk: &Block, c: *mut f32) {
        block::<Avx2>(blk, c)
    }

    /// Where one tile reads and writes, all at its first row and column.
    struct Tile {
        a: *const f32,
        k: usize,
        panel: *const f32,
        bias: *const f32,
        /// Columns this tile stores (≤ its width).
        cols: usize,
        c: *mut f32,
        ldc: usize,
        res: Option<*const f32>,
    }

    /// Calls `f::<S, rows, W>` for a run-time `rows` of 1 to 16.
    macro_rules! by_rows {
        ($rows:expr, $f:ident::<$s:ident, _, $w:literal>($($arg:expr),*)) => {
            match $rows {
                16 => $f::<$s, 16, $w>($($arg),*),
                15 => $f::<$s, 15, $w>($($arg),*),
                14 => $f::<$s, 14, $w>($($arg),*),
                13 => $f::<$s, 13, $w>($($arg),*),
                12 => $f::<$s, 12, $w>($($arg),*),
                11 => $f::<$s, 11, $w>($($arg),*),
                10 => $f::<$s, 10, $w>($($arg),*),
                9 => $f::<$s, 9, $w>($($arg),*),
                8 => $f::<$s, 8, $w>($($arg),*),
                7 => $f::<$s, 7, $w>($($arg),*),
                6 => $f::<$s, 6, $w>($($arg),*),
                5 => $f::<$s, 5, $w>($($arg),*),
                4 => $f::<$s, 4, $w>($($arg),*),
                3 => $f::<$s, 3, $w>($($arg),*),
                2 => $f::<$s, 2, $w>($($arg),*),
                _ => $f::<$s, 1, $w>($($arg),*),
            }
        };
    }

    /// The block in column groups of two vectors (one group with AVX-512's 32-column
    /// panels, two with AVX2), each group in tiles of rows; every tile stores its epilogue
    /// straight from registers, masking a ragged last group.
    #[inline(always)]
    unsafe fn block<S: Tiles>(blk: &Block, c: *mut f32) {
        let (k, n) = (blk.b.k, blk.b.n);
        let (cols, col0) = (blk.cols(), blk.panel * NR);
        let panel = blk.b.panel(blk.panel).as_ptr();
        // A last row that every wide group would run as a one-row tile (49 rows: 8 x 6 + 1),
        // its two sums each waiting on the FMA latency, goes over the whole panel at once
        // (rows read in place stay in tiles: the same sums either way).
        let end = match blk.a {
            ARows::Stored { a, row0 } if blk.rows.len() % S::WIDE == 1 => {
                let last = blk.rows.end - 1;
                row_panel::<S>(blk, last, a.as_ptr().add((last - row0) * k), panel, c);
                last
            }
            _ => blk.rows.end,
        };
        let group = 2 * S::N;
        let mut g = 0;
        while g < cols {
            let gcols = (cols - g).min(group);
            let wide = gcols > S::N;
            let mr = if wide { S::WIDE } else { S::NARROW };
            let mut r0 = blk.rows.start;
            while r0 < end {
                let rows = (end - r0).min(mr);
                let at = r0 * n + col0 + g;
                let (a, in_place) = match blk.a {
                    ARows::Stored { a, row0 } => (a.as_ptr().add((r0 - row0) * k), None),
                    ARows::InPlace { x, bases, offsets } => {
                        let first = bases.as_ptr().add(r0 - blk.rows.start);
                        (x.as_ptr(), Some((first, offsets.as_ptr())))
                    }
                };
                let t = Tile {
                    a,
                    k,
                    panel: panel.add(g),
                    bias: blk.b.bias.as_ptr().add(col0 + g),
                    cols: gcols,
                    c: c.add(at),
                    ldc: n,
                    res: blk.residual.map(|r| r.as_ptr().add(at)),
                };
                match (in_place, wide) {
                    (None, true) => by_rows!(rows, tile::<S, _, 2>(&t, blk.act)),
                    (None, false) => by_rows!(rows, tile::<S, _, 1>(&t, blk.act)),
                    (Some(at), true) => by_rows!(rows, tile_direct::<S, _, 2>(&t, at, blk.act)),
                    (Some(at), false) => by_rows!(rows, tile_direct::<S, _, 1>(&t, at, blk.act)),
                }
                r0 += rows;
            }
            g += group;
        }
    }

    /// Row `row` of a block, stored at `a` (a batch-1 classifier's last product, 1 x 1280 x
    /// 1000; the last row of 49), over the whole panel at once: four AVX2 vectors (two AVX-512), so four
    /// independent FMA chains instead of a one-row tile's two, and the panel read front to
    /// back in one pass instead of two passes over half its lines. Each sum still runs over the depth
    /// in order, one FMA after another, as in every tile: a row gets the same bits alone as
    /// in a batch (the server batches requests).
    #[inline(always)]
    unsafe fn row_panel<S: Lanes>(
        blk: &Block,
        row: usize,
        a: *const f32,
        panel: *const f32,
        c: *mut f32,
    ) {
        let (k, n) = (blk.b.k, blk.b.n);
        let (cols, col0) = (blk.cols(), blk.panel * NR);
        let vectors = NR / S::N; // 4 (AVX2) or 2 (AVX-512)
        let mut acc = [S::zero(); 4];
        for p in 0..k {
            let av = S::splat(*a.add(p));
            for (j, acc) in acc.iter_mut().enumerate().take(vectors) {
                *acc = S::fma(av, S::load(panel.add(p * NR + j * S::N)), *acc);
            }
        }
        let at = row * n + col0;
        for j in (0..vectors).take_while(|j| j * S::N < cols) {
            let mask = S::mask(cols - j * S::N);
            let bias = S::load_masked(mask, blk.b.bias.as_ptr().add(col0 + j * S::N));
            let mut v = S::add(acc[j], bias);
            if let Some(res) = blk.residual {
                v = S::add(v, S::load_masked(mask, res.as_ptr().add(at + j * S::N)));
            }
            S::store_masked(c.add(at + j * S::N), mask, activate::<S>(v, blk.act));
        }
    }

    /// [`tile`] with row `r`'s A at `t.a + bases[r]`, depth step `p` at `offsets[p]` from it.
    #[inline(always)]
    unsafe fn tile_direct<S: Lanes, const R: usize, const W: usize>(
        t: &Tile,
        (bases, offsets): (*const usize, *const usize),
        act: Activation,
    ) {
        let rows: [*const f32; R] = std::array::from_fn(|r| t.a.add(*bases.add(r)));
        let mut acc = [[S::zero(); W]; R];
        for p in 0..t.k {
            let off = *offsets.add(p);
            let b: [S::V; W] = std::array::from_fn(|j| S::load(t.panel.add(p * NR + j * S::N)));
            for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                let av = S::splat(*row.add(off));
                for (acc, b) in acc.iter_mut().zip(&b) {
                    *acc = S::fma(av, *b, *acc);
                }
            }
        }
        store::<S, R, W>(t, &acc, act);
    }

    /// `R` rows x `W` vectors over the whole depth: each panel row loaded once feeds `R * W`
    /// FMAs; then `act(sum + bias [+ residual])` is stored.
    #[inline(always)]
    unsafe fn tile<S: Lanes, const R: usize, const W: usize>(t: &Tile, act: Activation) {
        let mut acc = [[S::zero(); W]; R];
        for p in 0..t.k {
            let b: [S::V; W] = std::array::from_fn(|j| S::load(t.panel.add(p * NR + j * S::N)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = S::splat(*t.a.add(r * t.k + p));
                for (acc, b) in acc.iter_mut().zip(&b) {
                    *acc = S::fma(av, *b, *acc);
                }
            }
        }
        store::<S, R, W>(t, &acc, act);
    }

    /// A tile's epilogue: `act(sum + bias [+ residual])`, stored from registers.
    #[inline(always)]
    unsafe fn store<S: Lanes, const R: usize, const W: usize>(
        t: &Tile,
        acc: &[[S::V; W]; R],
        act: Activation,
    ) {
        let masks: [S::Mask; W] = std::array::from_fn(|j| S::mask(t.cols.saturating_sub(j * S::N)));
        let bias: [S::V; W] =
            std::array::from_fn(|j| S::load_masked(masks[j], t.bias.add(j * S::N)));
        for (r, acc) in acc.iter().enumerate() {
            for j in 0..W {
                let mut v = S::add(acc[j], bias[j]);
                if let Some(res) = t.res {
                    v = S::add(v, S::load_masked(masks[j], res.add(r * t.ldc + j * S::N)));
                }
                S::store_masked(
                    t.c.add(r * t.ldc + j * S::N),
                    masks[j],
                    activate::<S>(v, act),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_reference::values;

    #[test]
    fn row_chunks_are_even_and_whole_tiles() {
        // Tall and narrow (a first layer): 48-row chunks.
        assert_eq!(rows_per_task(Level::Avx2, 12544, 16, 3, 2), 48);
        // 196 rows: five even chunks of whole 6-row tiles (42 x 4 + 28), not 48 x 4 + 4.
        assert_eq!(rows_per_task(Level::Avx2, 196, 480, 3, 2), 42);
        assert_eq!(rows_per_task(Level::Avx512, 196, 480, 3, 2), 42);
        // One-row tiles: five chunks of 40 (40 x 4 + 36).
        assert_eq!(rows_per_task(Level::Scalar, 196, 480, 3, 2), 40);
        // Many panels and a small A: one chunk, each panel read once.
        assert_eq!(rows_per_task(Level::Avx2, 49, 192, 36, 2), 49);
        assert_eq!(rows_per_task(Level::Avx512, 49, 1152, 10, 2), 49);
        // ... but not when A would not stay in cache.
        assert_eq!(rows_per_task(Level::Avx2, 2704, 1152, 36, 2), 48);
        assert_eq!(rows_per_task(Level::Scalar, 1, 1, 1, 2), 1);
        assert_eq!(rows_per_task(Level::Avx2, 0, 27, 1, 2), 1);
    }

    #[test]
    fn a_row_alone_gets_the_bits_it_gets_in_a_batch() {
        let (m, k, n) = (3, 1280, 1000);
        let (a, w, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
        let b = PackedB::new(&w, k, n, Some(&bias));
        let batch = gemm_to_vec(&a, m, &b, Activation::None, None);
        for r in 0..m {
            let alone = gemm_to_vec(&a[r * k..(r + 1) * k], 1, &b, Activation::None, None);
            assert_eq!(alone, batch[r * n..(r + 1) * n], "row {r}");
        }
    }

    #[test]
    fn direct_rows_give_the_product_of_the_patches() {
        use crate::kernels::conv::im2col_nhwc_slice;
        // A 3x3 stride-2 stem over NCHW images padded by a row and a column (TF's "same" for
        // an even side), and a 3x3 stride-1 conv padded all round; one and two panels.
        for &((n, c, h, w), s, pads, cout) in &[
            ((1, 3, 20, 18), 2, [0, 1, 0, 1], 32),
            ((2, 3, 9, 11), 2, [0, 1, 0, 1], 40),
            ((1, 2, 7, 6), 1, [1, 1, 1, 1], 16),
        ] {
            let k = 3;
            let x = values(n * c * h * w, 4); // NCHW
            let (w_, bias) = (values(k * k * c * cout, 5), values(cout, 6));
            let b = PackedB::new(&w_, k * k * c, cout, Some(&bias));
            // The reference: im2col patches ((ky, kx, c) order) of the NHWC image, multiplied.
            let mut nhwc = vec![0f32; x.len()];
            for (i, v) in x.iter().enumerate() {
                let (bi, ch, y, xx) = (i / (c * h * w), i / (h * w) % c, i / w % h, i % w);
                nhwc[((bi * h + y) * w + xx) * c + ch] = *v;
            }
            let (patches, (_, oh, ow)) =
                im2col_nhwc_slice(&nhwc, (n, h, w, c), (k, k), s, 1, pads).unwrap();
            let m = n * oh * ow;
            let want = gemm_to_vec(&patches, m, &b, Activation::Relu6, None);
            let [t, bt, l, r] = pads;
            let (hp, wp) = (h + t + bt, w + l + r);
            let mut padded = vec![0f32; n * c * hp * wp];
            for plane in 0..n * c {
                for y in 0..h {
                    let at = (plane * hp + y + t) * wp + l;
                    padded[at..at + w].copy_from_slice(&x[(plane * h + y) * w..][..w]);
                }
            }
            let offsets: Vec<usize> = (0..k * k * c)
                .map(|p| (p / (k * c)) * wp + (p / c % k) + (p % c) * hp * wp)
                .collect();
            let got = gemm_direct_to_vec(m, &b, Activation::Relu6, &padded, &offsets, |i| {
                let (bi, oy, ox) = (i / (oh * ow), i / ow % oh, i % ow);
                bi * c * hp * wp + oy * s * wp + ox * s
            });
            // The same sums in the same order: the same bits.
            assert_eq!(got, want, "{n}x{c}x{h}x{w} s{s} -> {cout}");
        }
    }

    #[test]
    fn an_empty_product_is_empty() {
        let b = PackedB::new(&values(27 * 16, 1), 27, 16, None);
        let offsets: Vec<usize> = (0..27).collect();
        let got = gemm_direct_to_vec(0, &b, Activation::None, &values(64, 2), &offsets, |_| 0);
        assert!(got.is_empty());
        assert!(gemm_to_vec(&[], 0, &b, Activation::None, None).is_empty());
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
                    gemm_with(lvl, &a, m, &b, act, residual, SyncPtr::new(&mut c));
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
