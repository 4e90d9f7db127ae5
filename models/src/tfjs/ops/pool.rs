//! Spatial resampling: average and max pooling, and bilinear resize.

use candle_core::Tensor;

use super::node::NodeArgs;
use super::window::{check_nhwc, padding, Padding};
use crate::error::{ModelError, Result};
use crate::kernels::conv::{pad_const, same_padding};
use crate::kernels::pool::pool_tiled_nhwc;
use crate::kernels::resize::resize_bilinear_nhwc;
use crate::tfjs::value::Slot;

#[derive(Debug, Clone)]
pub(crate) enum PoolOp {
    Pool {
        max: bool,
        k: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
    },
    ResizeBilinear {
        size: (usize, usize),
        align_corners: bool,
        half_pixel: bool,
    },
}

/// Lowers the pooling and resize ops; `None` for any other op.
pub(crate) fn compile(a: &NodeArgs) -> Result<Option<(PoolOp, Vec<Slot>)>> {
    let node = a.node;
    Ok(Some(match node.op.as_str() {
        "AvgPool" | "MaxPool" => {
            check_nhwc(node)?;
            let k = node.attr_ints_required("ksize")?;
            let s = node.attr_ints_required("strides")?;
            let padding = padding(node)?;
            let max = node.op == "MaxPool";
            if !max && padding != Padding::Valid {
                return Err(ModelError::UnsupportedOp(format!(
                    "{} with SAME padding (node '{}')",
                    node.op, node.name
                )));
            }
            let k = (k[1] as usize, k[2] as usize);
            a.unary(PoolOp::Pool {
                max,
                k,
                stride: (s[1] as usize, s[2] as usize),
                padding,
            })?
        }
        "ResizeBilinear" => {
            a.need(2)?;
            let size = a.const_ints(1, "the size")?;
            let op = PoolOp::ResizeBilinear {
                size: (size[0] as usize, size[1] as usize),
                align_corners: node.attr_bool("align_corners"),
                half_pixel: node.attr_bool("half_pixel_centers"),
            };
            (op, vec![a.args[0]])
        }
        _ => return Ok(None),
    }))
}

impl PoolOp {
    pub(crate) fn run(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            PoolOp::Pool {
                max,
                k,
                stride,
                padding,
            } if *padding == Padding::Valid && *k == *stride => pool_tiled_nhwc(x, *k, *max),
            PoolOp::Pool {
                max,
                k,
                stride,
                padding,
            } => {
                let mut x = x.permute((0, 3, 1, 2))?;
                if *padding == Padding::Same {
                    let (t, b) = same_padding(x.dim(2)?, k.0, stride.0, 1);
                    let (l, r) = same_padding(x.dim(3)?, k.1, stride.1, 1);
                    x = pad_const(&x, 2, t, b, f32::NEG_INFINITY)?;
                    x = pad_const(&x, 3, l, r, f32::NEG_INFINITY)?;
                }
                let x = x.contiguous()?;
                let y = if *max {
                    x.max_pool2d_with_stride(*k, *stride)?
                } else {
                    x.avg_pool2d_with_stride(*k, *stride)?
                };
                y.permute((0, 2, 3, 1))
            }
            PoolOp::ResizeBilinear {
                size,
                align_corners,
                half_pixel,
            } => resize_bilinear_nhwc(x, size.0, size.1, *align_corners, *half_pixel),
        }
    }
}
