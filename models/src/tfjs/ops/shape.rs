//! Layout ops: reshape, transpose, concat, split, pad, and the casts that are identities here.

use candle_core::Tensor;

use super::node::NodeArgs;
use crate::error::Result;
use crate::kernels::conv::pad_const;
use crate::tfjs::value::{Slot, Value};

#[derive(Debug, Clone)]
pub(crate) enum ShapeOp {
    Reshape(Vec<i64>),
    Transpose(Vec<usize>),
    Concat(i64),
    Split {
        axis: i64,
        sizes: Vec<i64>,
    },
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    Identity,
}

/// Lowers the layout ops; `None` for any other op.
pub(crate) fn compile(a: &NodeArgs) -> Result<Option<(ShapeOp, Vec<Slot>)>> {
    let (node, args) = (a.node, a.args);
    Ok(Some(match node.op.as_str() {
        "Reshape" => {
            a.need(2)?;
            let shape = a.const_ints(1, "the shape")?;
            (ShapeOp::Reshape(shape), vec![args[0]])
        }
        "Transpose" => {
            a.need(2)?;
            let perm = a.const_ints(1, "the permutation")?;
            (
                ShapeOp::Transpose(perm.iter().map(|&p| p as usize).collect()),
                vec![args[0]],
            )
        }
        "ConcatV2" => {
            a.need(2)?;
            let axis = a.const_ints(args.len() - 1, "the axis")?[0];
            (ShapeOp::Concat(axis), args[..args.len() - 1].to_vec())
        }
        "SplitV" => {
            a.need(3)?;
            let sizes = a.const_ints(1, "the split sizes")?;
            let axis = a.const_ints(2, "the axis")?[0];
            (ShapeOp::Split { axis, sizes }, vec![args[0]])
        }
        "Split" => {
            a.need(2)?;
            let axis = a.const_ints(0, "the axis")?[0];
            let n = node.attr_int("num_split").unwrap_or(1);
            let sizes = vec![-(n.max(1)); 1];
            (ShapeOp::Split { axis, sizes }, vec![args[1]])
        }
        "Pad" | "PadV2" => {
            a.need(2)?;
            let p = a.const_ints(1, "the paddings")?;
            let pads = p
                .chunks_exact(2)
                .map(|c| (c[0] as usize, c[1] as usize))
                .collect();
            let value = if node.op == "PadV2" && args.len() > 2 {
                let v = a.const_tensor(2, "the pad value")?;
                v.flatten_all()?
                    .to_vec1::<f32>()?
                    .first()
                    .copied()
                    .unwrap_or(0.0)
            } else {
                0.0
            };
            (ShapeOp::Pad { pads, value }, vec![args[0]])
        }
        "Cast" => a.unary(ShapeOp::Identity)?,
        _ => return Ok(None),
    }))
}

/// Normalises a possibly negative axis against `rank`.
pub(crate) fn axis(axis: i64, rank: usize) -> candle_core::Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank {
        candle_core::bail!("axis {axis} out of range for rank {rank}");
    }
    Ok(a as usize)
}

impl ShapeOp {
    /// This op on inputs transposed by `perm`, re-expressed on the inputs before the transpose
    /// (its output is then the transpose of the new op's): pads and axes move with the dims.
    pub(crate) fn before_transpose(&self, perm: &[usize]) -> Option<ShapeOp> {
        match self {
            ShapeOp::Identity => Some(ShapeOp::Identity),
            ShapeOp::Pad { pads, value } if pads.len() == perm.len() => {
                let mut moved = vec![(0, 0); pads.len()];
                for (i, p) in pads.iter().enumerate() {
                    moved[perm[i]] = *p;
                }
                Some(ShapeOp::Pad {
                    pads: moved,
                    value: *value,
                })
            }
            ShapeOp::Concat(a) => {
                let a = axis(*a, perm.len()).ok()?;
                Some(ShapeOp::Concat(perm[a] as i64))
            }
            _ => None,
        }
    }

    /// `[top, bottom, left, right]` and the value of a Pad of an NHWC tensor's spatial dims
    /// only.
    pub(crate) fn spatial_pad(&self) -> Option<([usize; 4], f32)> {
        match self {
            ShapeOp::Pad { pads, value } if pads.len() == 4 => {
                let (n, h, w, c) = (pads[0], pads[1], pads[2], pads[3]);
                (n == (0, 0) && c == (0, 0)).then_some(([h.0, h.1, w.0, w.1], *value))
            }
            _ => None,
        }
    }

    pub(crate) fn num_outputs(&self) -> usize {
        match self {
            ShapeOp::Split { sizes, .. } => match sizes.as_slice() {
                [n] if *n < 0 => (-n) as usize,
                s => s.len(),
            },
            _ => 1,
        }
    }

    pub(crate) fn run(&self, args: &[&Value]) -> candle_core::Result<Vec<Value>> {
        let x = || args[0].tensor();
        let one = |t: Tensor| Ok(vec![Value::F(t)]);
        match self {
            ShapeOp::Reshape(shape) => {
                let x = x()?;
                let known: i64 = shape.iter().filter(|&&d| d >= 0).product();
                let dims: Vec<usize> = shape
                    .iter()
                    .map(|&d| {
                        if d < 0 {
                            x.elem_count() / known.max(1) as usize
                        } else {
                            d as usize
                        }
                    })
                    .collect();
                one(x.reshape(dims)?)
            }
            ShapeOp::Transpose(perm) => one(x()?.permute(perm.as_slice())?),
            ShapeOp::Concat(a) => {
                let ts: Vec<&Tensor> = args
                    .iter()
                    .map(|a| a.tensor())
                    .collect::<candle_core::Result<_>>()?;
                let a = axis(*a, ts[0].rank())?;
                one(Tensor::cat(&ts, a)?)
            }
            ShapeOp::Split { axis: a, sizes } => {
                let x = x()?;
                let a = axis(*a, x.rank())?;
                let total = x.dim(a)?;
                let sizes: Vec<usize> = match sizes.as_slice() {
                    [n] if *n < 0 => vec![total / (-n) as usize; (-n) as usize],
                    s => {
                        let known: i64 = s.iter().filter(|&&v| v >= 0).sum();
                        s.iter()
                            .map(|&v| {
                                if v < 0 {
                                    total - known as usize
                                } else {
                                    v as usize
                                }
                            })
                            .collect()
                    }
                };
                let mut start = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for n in sizes {
                    out.push(Value::F(x.narrow(a, start, n)?));
                    start += n;
                }
                Ok(out)
            }
            ShapeOp::Pad { pads, value } => {
                let mut x = x()?.clone();
                for (d, (b, a)) in pads.iter().enumerate() {
                    x = pad_const(&x, d, *b, *a, *value)?;
                }
                one(x)
            }
            ShapeOp::Identity => Ok(vec![args[0].clone()]),
        }
    }
}
