//! Integer shape plumbing (left by ONNX→TF converters) computed at load, on host integers.

use crate::error::{ModelError, Result};
use crate::tfjs::format::{Ints, NodeDef};
use crate::tfjs::value::Value;

/// Folds ops whose inputs are constant integers (shape plumbing from ONNX→TF converters).
/// Returns `None` for ops that are not integer plumbing, so the float path handles them.
pub(crate) fn fold_ints(node: &NodeDef, vals: &[&Value]) -> Result<Option<Ints>> {
    let ints = |i: usize| -> Result<&Ints> {
        match vals.get(i) {
            Some(Value::I(x)) => Ok(x),
            _ => Err(ModelError::Graph(format!(
                "node '{}' ({}): input {i} must be integers",
                node.name, node.op
            ))),
        }
    };
    let elementwise = |f: fn(i64, i64) -> i64| -> Result<Option<Ints>> {
        let (a, b) = (ints(0)?, ints(1)?);
        let data = if a.data.len() == b.data.len() {
            a.data.iter().zip(&b.data).map(|(x, y)| f(*x, *y)).collect()
        } else if b.data.len() == 1 {
            a.data.iter().map(|x| f(*x, b.data[0])).collect()
        } else if a.data.len() == 1 {
            b.data.iter().map(|y| f(a.data[0], *y)).collect()
        } else {
            return Err(ModelError::Graph(format!(
                "node '{}': integer broadcast of unequal shapes",
                node.name
            )));
        };
        let shape = if a.data.len() >= b.data.len() {
            a.shape.clone()
        } else {
            b.shape.clone()
        };
        Ok(Some(Ints { shape, data }))
    };
    match node.op.as_str() {
        "Add" | "AddV2" => elementwise(|x, y| x + y),
        "Sub" => elementwise(|x, y| x - y),
        "Mul" => elementwise(|x, y| x * y),
        "FloorDiv" => elementwise(|x, y| x.div_euclid(y)),
        "FloorMod" => elementwise(|x, y| x.rem_euclid(y)),
        "Cast" => Ok(Some(ints(0)?.clone())),
        "SparseToDense" => {
            // (indices, output_shape, values, default): scatter values into a dense vector.
            let (idx, shape, values, default) = (ints(0)?, ints(1)?, ints(2)?, ints(3)?);
            let len: i64 = shape.data.iter().product();
            let mut data = vec![default.data.first().copied().unwrap_or(0); len.max(0) as usize];
            for (k, &i) in idx.data.iter().enumerate() {
                let v = if values.data.len() == 1 {
                    values.data[0]
                } else {
                    values.data[k]
                };
                *data.get_mut(i as usize).ok_or_else(|| {
                    ModelError::Graph(format!("node '{}': index out of range", node.name))
                })? = v;
            }
            Ok(Some(Ints {
                shape: shape.data.iter().map(|&d| d as usize).collect(),
                data,
            }))
        }
        "Pack" => {
            let mut data = Vec::new();
            for i in 0..vals.len() {
                data.extend(&ints(i)?.data);
            }
            Ok(Some(Ints::vector(data)))
        }
        _ => Ok(None),
    }
}
