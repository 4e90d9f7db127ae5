//! Element-wise arithmetic and activations (broadcasting like TF), AddN, MatMul, Mean and
//! Softmax.

use candle_core::{DType, Result, Tensor};

use super::node::NodeArgs;
use super::shape::axis;
use crate::kernels::gemm::Activation;
use crate::tfjs::value::{Slot, Value};

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
    let mut y = x.clone();
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
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
    use candle_core::Device;

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
