//! A node being lowered to an op: its attributes, the slots of its inputs, and which of those
//! are constants known at load.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::{ModelError, Result};
use crate::tfjs::format::NodeDef;
use crate::tfjs::value::{Slot, Value};

pub(crate) struct NodeArgs<'a> {
    pub node: &'a NodeDef,
    pub args: &'a [Slot],
    known: &'a HashMap<Slot, Value>,
}

impl<'a> NodeArgs<'a> {
    pub fn new(node: &'a NodeDef, args: &'a [Slot], known: &'a HashMap<Slot, Value>) -> Self {
        Self { node, args, known }
    }

    /// The same constants, for another node (a fused op lowered as its plain conv).
    pub fn with<'b>(&'b self, node: &'b NodeDef, args: &'b [Slot]) -> NodeArgs<'b> {
        NodeArgs {
            node,
            args,
            known: self.known,
        }
    }

    pub fn need(&self, n: usize) -> Result<()> {
        if self.args.len() < n {
            return Err(ModelError::Graph(format!(
                "node '{}' ({}) needs {n} inputs",
                self.node.name, self.node.op
            )));
        }
        Ok(())
    }

    /// An op reading the first input at run time.
    pub fn unary<T>(&self, op: T) -> Result<(T, Vec<Slot>)> {
        self.need(1)?;
        Ok((op, vec![self.args[0]]))
    }

    /// An op reading the first two inputs at run time.
    pub fn binary<T>(&self, op: T) -> Result<(T, Vec<Slot>)> {
        self.need(2)?;
        Ok((op, vec![self.args[0], self.args[1]]))
    }

    /// Input `i`, which must be a constant integer tensor.
    pub fn const_ints(&self, i: usize, what: &str) -> Result<Vec<i64>> {
        match self.known.get(&self.args[i]) {
            Some(Value::I(i)) => Ok(i.data.clone()),
            _ => Err(ModelError::Graph(format!(
                "node '{}' ({}): {what} must be a constant integer tensor",
                self.node.name, self.node.op
            ))),
        }
    }

    /// Input `i`, which must be a constant float tensor.
    pub fn const_tensor(&self, i: usize, what: &str) -> Result<Tensor> {
        match self.known.get(&self.args[i]) {
            Some(Value::F(t)) => Ok(t.clone()),
            _ => Err(ModelError::Graph(format!(
                "node '{}' ({}): {what} must be a constant",
                self.node.name, self.node.op
            ))),
        }
    }
}
