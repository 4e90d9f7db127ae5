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

    pub(crate) fn num_outputs(&self) -> usize {
        match self {
            Op::Shape(op) => op.num_outputs(),
            _ => 1,
        }
    }

    pub(crate) fn run(&self, args: &[&Value]) -> candle_core::Result<Vec<Value>> {
        let one = |t: Tensor| Ok(vec![Value::F(t)]);
        match self {
            Op::Conv(op) => one(op.run(args[0].tensor()?)?),
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
