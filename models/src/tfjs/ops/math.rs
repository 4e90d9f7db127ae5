//! Element-wise arithmetic and activations (broadcasting like TF), AddN, MatMul, Mean and
//! Softmax.

use candle_core::{DType, Result, Tensor};

use super::node::NodeArgs;
use super::shape::axis;
use crate::kernels::gemm::Activation;
use crate::kernels::pool::mean_hw_nhwc;
use crate::kernels::with_f32_slice;
use crate::tfjs::value::{Slot, Value};

/// A two-input element-wise op the row kernel runs. An enum, not a function pointer, so each
/// op's loop is compiled on its own and vectorises (through a pointer every value was a call).
#[derive(Debug, Clone, Copy)]
enum BinaryFn {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

#[derive(Debug, Clone)]
pub(crate) enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    AddN,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    LeakyRelu(f32),
    Softmax,
    MatMul { ta: bool, tb: bool },
    Mean { axes: Vec<i64>, keep_dims: bool },
}

/// Lowers the arithmetic ops; `None` for any other op.
pub(crate) fn compile(a: &NodeArgs) -> crate::error::Result<Option<(MathOp, Vec<Slot>)>> {
    let node = a.node;
    Ok(Some(match node.op.as_str() {
        "Add" | "AddV2" | "BiasAdd" => a.binary(MathOp::Add)?,
        "Sub" => a.binary(MathOp::Sub)?,
        "Mul" => a.binary(MathOp::Mul)?,
        "RealDiv" | "Div" => a.binary(MathOp::Div)?,
        "Maximum" => a.binary(MathOp::Maximum)?,
        "Minimum" => a.binary(MathOp::Minimum)?,
        "AddN" => (MathOp::AddN, a.args.to_vec()),
        "Relu" => a.unary(MathOp::Relu)?,
        "Relu6" => a.unary(MathOp::Relu6)?,
        "Sigmoid" => a.unary(MathOp::Sigmoid)?,
        "Tanh" => a.unary(MathOp::Tanh)?,
        "Softmax" => a.unary(MathOp::Softmax)?,
        "LeakyRelu" => a.unary(MathOp::LeakyRelu(node.attr_f32("alpha").unwrap_or(0.2)))?,
        "MatMul" => a.binary(MathOp::MatMul {
            ta: node.attr_bool("transpose_a"),
            tb: node.attr_bool("transpose_b"),
        })?,
        "Mean" => {
            a.need(2)?;
            let axes = a.const_ints(1, "the axes")?;
            let op = MathOp::Mean {
                axes,
                keep_dims: node.attr_bool("keep_dims"),
            };
            (op, vec![a.args[0]])
        }
        _ => return Ok(None),
    }))
}

impl MathOp {
    /// The activation this op is, for folding into the conv before it.
    pub(crate) fn activation(&self) -> Option<Activation> {
        Some(match self {
            MathOp::Relu => Activation::Relu,
            MathOp::Relu6 => Activation::Relu6,
            MathOp::LeakyRelu(a) => Activation::LeakyRelu(*a),
            _ => return None,
        })
    }

    /// The function of a two-input element-wise op, and whether its operands commute.
    fn binary(&self) -> Option<(BinaryFn, bool)> {
        Some(match self {
            MathOp::Add => (BinaryFn::Add, true),
            MathOp::Sub => (BinaryFn::Sub, false),
            MathOp::Mul => (BinaryFn::Mul, true),
            MathOp::Div => (BinaryFn::Div, false),
            MathOp::Maximum => (BinaryFn::Max, true),
            MathOp::Minimum => (BinaryFn::Min, true),
            _ => return None,
        })
    }

    /// Whether the op works value by value (its inputs broadcast against each other), so it
    /// gives the same values on transposed inputs, transposed.
    pub(crate) fn is_elementwise(&self) -> bool {
        !matches!(
            self,
            MathOp::Softmax | MathOp::MatMul { .. } | MathOp::Mean { .. }
        )
    }

    pub(crate) fn run(&self, args: &[&Value]) -> Result<Tensor> {
        let x = || args[0].tensor();
        let y = || args[1].tensor();
        if let (Some((op, commutes)), [a, b]) = (self.binary(), args) {
            let (a, b) = (a.tensor()?, b.tensor()?);
            if let Some(t) = binary_rows(op, a, b)? {
                return Ok(t);
            }
            if commutes {
                if let Some(t) = binary_rows(op, b, a)? {
                    return Ok(t);
                }
            }
        }
        match self {
            MathOp::Add => x()?.broadcast_add(y()?),
            MathOp::Sub => x()?.broadcast_sub(y()?),
            MathOp::Mul => x()?.broadcast_mul(y()?),
            MathOp::Div => x()?.broadcast_div(y()?),
            MathOp::Maximum => x()?.broadcast_maximum(y()?),
            MathOp::Minimum => x()?.broadcast_minimum(y()?),
            MathOp::AddN => {
                let mut acc = x()?.clone();
                for a in &args[1..] {
                    acc = acc.broadcast_add(a.tensor()?)?;
                }
                Ok(acc)
            }
            MathOp::Relu => x()?.relu(),
            MathOp::Relu6 => relu6(x()?),
            MathOp::Sigmoid => candle_nn::ops::sigmoid(x()?),
            MathOp::Tanh => x()?.tanh(),
            MathOp::LeakyRelu(a) => leaky_relu(x()?, *a),
            MathOp::Softmax => softmax_last(x()?),
            MathOp::MatMul { ta, tb } => {
                let a = if *ta { x()?.t()? } else { x()?.clone() };
                let b = if *tb { y()?.t()? } else { y()?.clone() };
                a.contiguous()?.matmul(&b.contiguous()?)
            }
            MathOp::Mean { axes, keep_dims } => {
                let x = x()?;
                let axes: Vec<usize> = axes
                    .iter()
                    .map(|&a| axis(a, x.rank()))
                    .collect::<Result<_>>()?;
                mean_axes(x, &axes, *keep_dims)
            }
        }
    }
}

/// `op(a, b)` in one pass over rows of the last dim, spread over rayon's threads, where `b`
/// has `a`'s shape or is one row per image repeated over the rows between (a squeeze-and-excite
/// scale, `[N, 1, 1, C]` against `[N, H, W, C]`; or `[C]` against anything ending in C).
/// `None` for other shapes, which go through candle's broadcasting.
fn binary_rows(op: BinaryFn, a: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    let (da, db) = (a.dims(), b.dims());
    let (Some(&c), Some(&cb)) = (da.last(), db.last()) else {
        return Ok(None);
    };
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 || c == 0 || c != cb {
        return Ok(None);
    }
    // How many of a's rows share one row of b.
    let rows_a = a.elem_count() / c;
    let per_b = if da == db {
        1
    } else if db.len() <= da.len() && db.iter().rev().skip(1).all(|&d| d == 1) {
        rows_a
    } else if db.len() == da.len() && db[0] == da[0] && db[1..db.len() - 1].iter().all(|&d| d == 1)
    {
        rows_a / da[0].max(1)
    } else {
        return Ok(None);
    };
    let mut out = vec![0f32; a.elem_count()];
    with_f32_slice(a, |xa| {
        with_f32_slice(b, |xb| {
            let out = out.as_mut_slice();
            match op {
                BinaryFn::Add => rows_by(out, xa, xb, c, per_b, |x, y| x + y),
                BinaryFn::Sub => rows_by(out, xa, xb, c, per_b, |x, y| x - y),
                BinaryFn::Mul => rows_by(out, xa, xb, c, per_b, |x, y| x * y),
                BinaryFn::Div => rows_by(out, xa, xb, c, per_b, |x, y| x / y),
                BinaryFn::Max => rows_by(out, xa, xb, c, per_b, f32::max),
                BinaryFn::Min => rows_by(out, xa, xb, c, per_b, f32::min),
            }
        })
    })??;
    Ok(Some(Tensor::from_vec(out, da, a.device())?))
}

/// `out[row] = f(a[row], b[row / per_b])`, rows of `c` values, in chunks over rayon's threads.
fn rows_by(
    out: &mut [f32],
    xa: &[f32],
    xb: &[f32],
    c: usize,
    per_b: usize,
    f: impl Fn(f32, f32) -> f32 + Sync,
) {
    // Chunks of whole rows, ~64 KB each.
    let rows_per = (16384 / c).max(1);
    crate::team::for_each_chunk_mut(out, rows_per * c, |i, o| {
        let r0 = i * rows_per;
        for (j, (orow, arow)) in o
            .chunks_exact_mut(c)
            .zip(xa[r0 * c..].chunks_exact(c))
            .enumerate()
        {
            let br = (r0 + j) / per_b;
            let brow = &xb[br * c..(br + 1) * c];
            for ((o, &x), &y) in orow.iter_mut().zip(arow).zip(brow) {
                *o = f(x, y);
            }
        }
    });
}

pub(crate) fn relu6(x: &Tensor) -> Result<Tensor> {
    x.clamp(0f32, 6f32)
}

pub(crate) fn leaky_relu(x: &Tensor, alpha: f32) -> Result<Tensor> {
    // max(x, alpha * x) equals LeakyRelu for 0 <= alpha <= 1.
    x.maximum(&(x * alpha as f64)?)
}

pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax_last_dim(&x.to_dtype(DType::F32)?)
}

/// Mean over several axes, keeping them as size-1 dims when asked.
pub(crate) fn mean_axes(x: &Tensor, axes: &[usize], keep_dims: bool) -> Result<Tensor> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    if x.rank() == 4 && sorted == [1, 2] {
        // Global average pooling of NHWC (squeeze-and-excite blocks): one pass, not two
        // reductions through strided views.
        let dims = x.dims4()?;
        let m = with_f32_slice(x, |xs| mean_hw_nhwc(xs, dims))?;
        let (n, _, _, c) = dims;
        return if keep_dims {
            Tensor::from_vec(m, (n, 1, 1, c), x.device())
        } else {
            Tensor::from_vec(m, (n, c), x.device())
        };
    }
    let mut y = x.clone();
    for &a in sorted.iter().rev() {
        y = y.mean_keepdim(a)?;
    }
    if !keep_dims {
        for &a in sorted.iter().rev() {
            y = y.squeeze(a)?;
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_reference::max_abs_diff;
    use candle_core::Device;

    /// The row kernel against candle's broadcasting: same shapes, a per-image row (either
    /// operand order), a per-channel vector; and shapes it leaves to candle.
    #[test]
    fn row_broadcasts_match_candle() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 5, 7), &dev).unwrap();
        let same = Tensor::randn(0f32, 1.0, (2, 3, 5, 7), &dev).unwrap();
        let se = Tensor::randn(0f32, 1.0, (2, 1, 1, 7), &dev).unwrap();
        let ch = Tensor::randn(0f32, 1.0, 7, &dev).unwrap();
        let col = Tensor::randn(0f32, 1.0, (2, 3, 5, 1), &dev).unwrap();
        let (fx, fs, fc, fco) = (
            Value::F(x.clone()),
            Value::F(same.clone()),
            Value::F(se.clone()),
            Value::F(ch.clone()),
        );
        let fcol = Value::F(col.clone());
        // A second operand with more (leading 1) dims than the first: the result takes its
        // shape, so this is candle's broadcast, not the row kernel.
        let wide = Tensor::randn(0f32, 1.0, (1, 1, 7), &dev).unwrap();
        let fwide = Value::F(wide.clone());
        let cases: [(MathOp, [&Value; 2], Tensor); 7] = [
            (MathOp::Mul, [&fx, &fs], x.broadcast_mul(&same).unwrap()),
            (MathOp::Mul, [&fx, &fc], x.broadcast_mul(&se).unwrap()),
            (MathOp::Mul, [&fc, &fx], se.broadcast_mul(&x).unwrap()),
            (MathOp::Sub, [&fc, &fx], se.broadcast_sub(&x).unwrap()),
            (MathOp::Add, [&fx, &fco], x.broadcast_add(&ch).unwrap()),
            (
                MathOp::Maximum,
                [&fx, &fcol],
                x.broadcast_maximum(&col).unwrap(),
            ),
            (
                MathOp::Add,
                [&fco, &fwide],
                ch.broadcast_add(&wide).unwrap(),
            ),
        ];
        for (op, args, want) in cases {
            let got = op.run(&args).unwrap();
            assert_eq!(got.dims(), want.dims(), "{op:?}");
            let diff = max_abs_diff(&got, &want);
            assert!(diff == 0.0, "{op:?}: {diff}");
        }
    }

    #[test]
    fn leaky_relu_and_relu6() {
        let x = Tensor::new(&[-10f32, 0.5, 8.0], &Device::Cpu).unwrap();
        assert_eq!(
            leaky_relu(&x, 0.1).unwrap().to_vec1::<f32>().unwrap(),
            vec![-1.0, 0.5, 8.0]
        );
        assert_eq!(
            relu6(&x).unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 0.5, 6.0]
        );
    }
}
