//! Spatial resampling: average and max pooling, and bilinear resize.

use candle_core::Tensor;

use super::node::NodeArgs;
use super::window::{check_nhwc, padding, Padding};
use crate::error::{ModelError, Result};
use crate::kernels::conv::same_padding;
use crate::kernels::pool::{pool_nhwc_slice, pool_tiled_nhwc};
use crate::kernels::resize::resize_bilinear_nhwc;
use crate::kernels::with_f32_slice;
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
    /// This max pool reading its input padded by `pads` with `value` first, when that pad
    /// cannot change a maximum (`value` no greater than any float: -inf or `f32::MIN`).
    pub(crate) fn with_pad(&self, pads: [usize; 4], value: f32) -> Option<PoolOp> {
        match self {
            PoolOp::Pool {
                max: true,
                k,
                stride,
                padding,
            } if value <= f32::MIN => Some(PoolOp::Pool {
                max: true,
                k: *k,
                stride: *stride,
                padding: padding.plus(pads)?,
            }),
            _ => None,
        }
    }

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
                let dims = x.dims4()?;
                let pads = match padding {
                    Padding::Valid => [0; 4],
                    Padding::Same => {
                        let (t, b) = same_padding(dims.1, k.0, stride.0, 1);
                        let (l, r) = same_padding(dims.2, k.1, stride.1, 1);
                        [t, b, l, r]
                    }
                    Padding::Explicit(p) => *p,
                };
                let (out, d) =
                    with_f32_slice(x, |xs| pool_nhwc_slice(xs, dims, *k, *stride, pads, *max))??;
                Tensor::from_vec(out, d, x.device())
            }
            PoolOp::ResizeBilinear {
                size,
                align_corners,
                half_pixel,
            } => resize_bilinear_nhwc(x, size.0, size.1, *align_corners, *half_pixel),
        }
    }
}
