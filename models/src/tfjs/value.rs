//! What flows between a graph's steps, and where it is kept.

use candle_core::Tensor;

use super::format::Ints;

/// A value flowing through the graph: a float tensor, or host-side integers (shapes, axes).
#[derive(Debug, Clone)]
pub enum Value {
    F(Tensor),
    I(Ints),
}

impl Value {
    pub(crate) fn tensor(&self) -> candle_core::Result<&Tensor> {
        match self {
            Value::F(t) => Ok(t),
            Value::I(_) => candle_core::bail!("expected a float tensor, found integers"),
        }
    }
}

/// The index of a value in a run's environment.
pub(crate) type Slot = usize;
