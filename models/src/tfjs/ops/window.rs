//! The sliding window of convolutions and pools: TF's padding modes and the stride/dilation
//! attributes, read at load and resolved against the input size at run time.

use crate::error::{ModelError, Result};
use crate::kernels::conv::same_padding;
use crate::tfjs::format::NodeDef;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Padding {
    Valid,
    Same,
    /// (top, bottom, left, right)
    Explicit([usize; 4]),
}

impl Padding {
    /// This padding after the input was padded by `pads` (top, bottom, left, right) first, as
    /// one explicit padding; `None` for SAME, whose amounts depend on the size it pads.
    pub fn plus(self, pads: [usize; 4]) -> Option<Padding> {
        match self {
            Padding::Valid => Some(Padding::Explicit(pads)),
            Padding::Explicit(q) => {
                Some(Padding::Explicit(std::array::from_fn(|i| q[i] + pads[i])))
            }
            Padding::Same => None,
        }
    }

    /// (top, bottom, left, right) for an input of `hw` under this padding mode.
    pub fn resolve(
        self,
        hw: (usize, usize),
        k: (usize, usize),
        stride: usize,
        dilation: usize,
    ) -> [usize; 4] {
        match self {
            Padding::Valid => [0; 4],
            Padding::Same => {
                let (t, b) = same_padding(hw.0, k.0, stride, dilation);
                let (l, r) = same_padding(hw.1, k.1, stride, dilation);
                [t, b, l, r]
            }
            Padding::Explicit(p) => p,
        }
    }
}

pub(crate) fn check_nhwc(node: &NodeDef) -> Result<()> {
    match node.attr_str("data_format") {
        Ok(f) if f != "NHWC" => Err(ModelError::UnsupportedOp(format!(
            "{} with data_format {f} (node '{}')",
            node.op, node.name
        ))),
        _ => Ok(()),
    }
}

/// The spatial value of a 4-element NHWC attribute, which must be the same for H and W.
pub(crate) fn square(node: &NodeDef, what: &str, v: &[i64]) -> Result<usize> {
    if v.len() != 4 || v[1] != v[2] {
        return Err(ModelError::UnsupportedOp(format!(
            "{} with non-square {what} {v:?} (node '{}')",
            node.op, node.name
        )));
    }
    Ok(v[1] as usize)
}

/// The `dilations` attribute (1 when absent).
pub(crate) fn dilations(node: &NodeDef) -> Result<usize> {
    let d = node.attr_ints("dilations");
    if d.is_empty() {
        Ok(1)
    } else {
        square(node, "dilations", &d)
    }
}

/// The `padding` attribute (and `explicit_paddings` for EXPLICIT).
pub(crate) fn padding(node: &NodeDef) -> Result<Padding> {
    match node.attr_str("padding")?.as_str() {
        "VALID" => Ok(Padding::Valid),
        "SAME" => Ok(Padding::Same),
        "EXPLICIT" => {
            let p = node.attr_ints("explicit_paddings");
            if p.len() != 8 {
                return Err(ModelError::Graph(format!(
                    "node '{}': explicit_paddings needs 8 values",
                    node.name
                )));
            }
            Ok(Padding::Explicit([
                p[2] as usize,
                p[3] as usize,
                p[4] as usize,
                p[5] as usize,
            ]))
        }
        other => Err(ModelError::UnsupportedOp(format!(
            "padding {other} (node '{}')",
            node.name
        ))),
    }
}
