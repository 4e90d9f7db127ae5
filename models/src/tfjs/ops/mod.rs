//! The TF.js ops the runtime supports, one file per family. Each family lowers its nodes at
//! load (`compile`: parameters read from attributes and constants, filters repacked for the
//! kernel that will run them) and runs the lowered op, side by side. To support a new op, add
//! its arm to the family's `compile` and its variant's `run`; [`Op::compile`] tries each family.

mod conv;
mod ints;
mod math;
mod node;
mod pool;
mod shape;
mod window;

pub(crate) use ints::fold_ints;
pub(crate) use node::NodeArgs;

use candle_core::Tensor;

use crate::error::{ModelError, Result};
use crate::kernels::gemm::Activation;
use crate::tfjs::value::{Slot, Value};

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Conv(conv::ConvOp),
    Pool(pool::PoolOp),
    Math(math::MathOp),
    Shape(shape::ShapeOp),
}

impl Op {
    /// Turns a node into an op plus the slots it reads at run time; an op no family knows is
    /// an [`ModelError::UnsupportedOp`] naming it.
    pub(crate) fn compile(a: &NodeArgs) -> Result<(Op, Vec<Slot>)> {
        if let Some((op, data)) = conv::compile(a)? {
            return Ok((Op::Conv(op), data));
        }
        if let Some((op, data)) = pool::compile(a)? {
            return Ok((Op::Pool(op), data));
        }
        if let Some((op, data)) = math::compile(a)? {
            return Ok((Op::Math(op), data));
        }
        if let Some((op, data)) = shape::compile(a)? {
            return Ok((Op::Shape(op), data));
        }
        Err(ModelError::UnsupportedOp(format!(
            "{} (node '{}')",
            a.node.op, a.node.name
        )))
    }

    /// A Transpose by `perm`.
    pub(crate) fn transpose(perm: Vec<usize>) -> Op {
        Op::Shape(shape::ShapeOp::Transpose(perm))
    }

    /// An op that passes its input on.
    pub(crate) fn identity() -> Op {
        Op::Shape(shape::ShapeOp::Identity)
    }

    /// The permutation of a Transpose.
    pub(crate) fn transpose_perm(&self) -> Option<&[usize]> {
        match self {
            Op::Shape(shape::ShapeOp::Transpose(p)) => Some(p),
            _ => None,
        }
    }

    /// This op on inputs that are all transposed by `perm`, re-expressed on the inputs before
    /// the transpose, so that the transpose can follow it instead (see `rewrite`). Element-wise
    /// math, pads and concatenations move; anything that reads a layout does not. An op that
    /// broadcasts constants ([`Op::broadcasts`]) needs them transposed back as well.
    pub(crate) fn before_transpose(&self, perm: &[usize]) -> Option<Op> {
        match self {
            Op::Math(m) if m.is_elementwise() => Some(self.clone()),
            Op::Shape(s) => s.before_transpose(perm).map(Op::Shape),
            _ => None,
        }
    }

    /// Whether the op broadcasts its inputs against each other (element-wise math).
    pub(crate) fn broadcasts(&self) -> bool {
        matches!(self, Op::Math(m) if m.is_elementwise())
    }

    /// Whether this is an addition of two tensors (Add, AddV2 or BiasAdd).
    pub(crate) fn is_add(&self) -> bool {
        matches!(self, Op::Math(math::MathOp::Add))
    }

    /// Whether this is a multiplication of two tensors.
    pub(crate) fn is_mul(&self) -> bool {
        matches!(self, Op::Math(math::MathOp::Mul))
    }

    /// This conv adding a second input (same shape as its output) before its activation.
    pub(crate) fn with_residual(&self) -> Option<Op> {
        match self {
            Op::Conv(c) => c.with_residual().map(Op::Conv),
            _ => None,
        }
    }

    /// The activation this op is (Relu, Relu6, LeakyRelu).
    pub(crate) fn activation(&self) -> Option<Activation> {
        match self {
            Op::Math(m) => m.activation(),
            _ => None,
        }
    }

    /// `[top, bottom, left, right]` and the value of a Pad of an NHWC tensor's spatial dims
    /// only.
    pub(crate) fn spatial_pad(&self) -> Option<([usize; 4], f32)> {
        match self {
            Op::Shape(s) => s.spatial_pad(),
            _ => None,
        }
    }

    /// This conv with a per-channel bias added after it, in its kernel.
    pub(crate) fn with_bias(&self, b: &[f32]) -> Option<Op> {
        match self {
            Op::Conv(c) => c.with_bias(b).map(Op::Conv),
            _ => None,
        }
    }

    /// This conv with `act` applied after it, in its kernel.
    pub(crate) fn with_activation(&self, act: Activation) -> Option<Op> {
        match self {
            Op::Conv(c) => c.with_activation(act).map(Op::Conv),
            _ => None,
        }
    }

    /// This window op (conv, max pool) reading its input padded by `[top, bottom, left,
    /// right]` with `value`, where its kernel can pad while it reads.
    pub(crate) fn with_pad(&self, pads: [usize; 4], value: f32) -> Option<Op> {
        match self {
            Op::Conv(c) if value == 0.0 => c.with_zero_pad(pads).map(Op::Conv),
            Op::Pool(p) => p.with_pad(pads, value).map(Op::Pool),
            _ => None,
        }
    }

    pub(crate) fn num_outputs(&self) -> usize {
        match self {
            Op::Shape(op) => op.num_outputs(),
            _ => 1,
        }
    }

    pub(crate) fn run(&self, args: &[&Value]) -> candle_core::Result<Vec<Value>> {
        let one = |t: Tensor| Ok(vec![Value::F(t)]);
        match self {
            Op::Conv(op) => {
                let residual = args.get(1).map(|r| r.tensor()).transpose()?;
                one(op.run_with(args[0].tensor()?, residual)?)
            }
            Op::Pool(op) => one(op.run(args[0].tensor()?)?),
            Op::Math(op) => one(op.run(args)?),
            Op::Shape(op) => op.run(args),
        }
    }

    /// The name a profile adds this op's time under: its variant (`Gemm`, `Depthwise`, `Add`…).
    pub(crate) fn kind(&self) -> String {
        let inner = match self {
            Op::Conv(op) if op.is_grouped() => return "GroupedConv".to_owned(),
            Op::Conv(op) => format!("{op:?}"),
            Op::Pool(op) => format!("{op:?}"),
            Op::Math(op) => format!("{op:?}"),
            Op::Shape(op) => format!("{op:?}"),
        };
        inner
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("?")
            .to_owned()
    }
}
