//! Convolutions: Conv2D (as one [`gemm`] product, directly or on im2col patches),
//! DepthwiseConv2dNative (the direct NHWC kernel, or candle's grouped conv), Grappler's fused
//! conv + bias + activation, and Conv2DBackpropInput (transposed conv).

use std::sync::Arc;

use candle_core::Tensor;

use super::math::{leaky_relu, relu6};
use super::node::NodeArgs;
use super::window::{check_nhwc, dilations, padding, square, Padding};
use crate::error::{ModelError, Result};
use crate::kernels::conv::{im2col_nhwc_slice, output_size};
use crate::kernels::depthwise::depthwise_nhwc_slice;
use crate::kernels::gemm::{gemm_to_vec, Activation, PackedB};
use crate::kernels::with_f32_slice;
use crate::tfjs::format::NodeDef;
use crate::tfjs::value::Slot;

/// The window of a convolution run as im2col + product.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Im2col {
    k: (usize, usize),
    stride: usize,
    dilation: usize,
    padding: Padding,
}

#[derive(Debug, Clone)]
pub(crate) enum ConvOp {
    /// DepthwiseConv2dNative with a channel multiplier (as a grouped conv); weights are OIHW.
    Conv {
        w: Tensor,
        stride: usize,
        dilation: usize,
        padding: Padding,
        groups: usize,
    },
    /// Conv2D as one product on NHWC rows ([`gemm`]): 1x1 stride-1 convs directly, others on
    /// im2col patches. `w` is the HWIO filter as [kh*kw*in, out], packed, with the bias and
    /// activation of a fused op folded into the product's epilogue. With `residual`, the op
    /// reads a second input of the output's shape and the epilogue adds it before `act`.
    Gemm {
        w: Arc<PackedB>,
        im2col: Option<Im2col>,
        act: Activation,
        residual: bool,
    },
    /// DepthwiseConv2dNative with multiplier 1, by the direct NHWC kernel; `w` is [kh, kw, c].
    /// A fused op's bias and activation run on each output row in the kernel.
    Depthwise {
        w: Arc<Vec<f32>>,
        k: (usize, usize),
        stride: usize,
        dilation: usize,
        padding: Padding,
        bias: Option<Arc<Vec<f32>>>,
        act: Activation,
    },
    /// Conv2DBackpropInput; weights are (in, out, kh, kw) and the output size comes from the graph.
    /// `tiled` is set when kernel == stride (windows do not overlap): then the op is one matmul
    /// with this [in, kh*kw*out] matrix and a reshape, all in NHWC.
    ConvTranspose {
        w: Tensor,
        stride: usize,
        padding: Padding,
        out_hw: (usize, usize),
        tiled: Option<Tensor>,
    },
    /// Grappler's fused ops (`_FusedConv2D`, `FusedDepthwiseConv2dNative`) whose conv has no
    /// epilogue of its own: the conv, a bias on the channel axis, then the activation.
    Fused {
        conv: Box<ConvOp>,
        bias: Tensor,
        act: Activation,
    },
}

/// Lowers the conv ops; `None` for any other op.
pub(crate) fn compile(a: &NodeArgs) -> Result<Option<(ConvOp, Vec<Slot>)>> {
    Ok(Some(match a.node.op.as_str() {
        "Conv2D" | "DepthwiseConv2dNative" => compile_conv(a)?,
        "_FusedConv2D" | "FusedDepthwiseConv2dNative" => compile_fused(a)?,
        "Conv2DBackpropInput" => compile_transposed(a)?,
        _ => return Ok(None),
    }))
}

fn compile_conv(a: &NodeArgs) -> Result<(ConvOp, Vec<Slot>)> {
    let (node, args) = (a.node, a.args);
    a.need(2)?;
    check_nhwc(node)?;
    let f = a.const_tensor(1, "the filter")?; // [kh, kw, in, out|mult]
    let (kh, kw, cin, cout) = f.dims4()?;
    let stride = square(node, "strides", &node.attr_ints_required("strides")?)?;
    let dilation = dilations(node)?;
    let padding = padding(node)?;
    let unpadded = matches!(
        padding,
        Padding::Valid | Padding::Same | Padding::Explicit([0, 0, 0, 0])
    );
    let pack = |f: &Tensor| -> Result<Arc<PackedB>> {
        let v = f.flatten_all()?.to_vec1::<f32>()?;
        Ok(Arc::new(PackedB::new(&v, kh * kw * cin, cout, None)))
    };
    if node.op == "Conv2D" {
        let im2col = (kh != 1 || kw != 1 || stride != 1 || !unpadded).then_some(Im2col {
            k: (kh, kw),
            stride,
            dilation,
            padding,
        });
        let op = ConvOp::Gemm {
            w: pack(&f)?,
            im2col,
            act: Activation::None,
            residual: false,
        };
        return Ok((op, vec![args[0]]));
    }
    if cout == 1 {
        let w = f.flatten_all()?.to_vec1::<f32>()?;
        let op = ConvOp::Depthwise {
            w: Arc::new(w),
            k: (kh, kw),
            stride,
            dilation,
            padding,
            bias: None,
            act: Activation::None,
        };
        return Ok((op, vec![args[0]]));
    }
    // [kh, kw, c, m] -> [c*m, 1, kh, kw]: output channel c*m + j reads input c.
    let w = f
        .reshape((kh, kw, cin * cout))?
        .permute((2, 0, 1))?
        .unsqueeze(1)?
        .contiguous()?;
    let op = ConvOp::Conv {
        w,
        stride,
        dilation,
        padding,
        groups: cin,
    };
    Ok((op, vec![args[0]]))
}

fn compile_fused(a: &NodeArgs) -> Result<(ConvOp, Vec<Slot>)> {
    let (node, args) = (a.node, a.args);
    a.need(3)?;
    let fused = node.attr_strs("fused_ops")?;
    let unsupported = || {
        ModelError::UnsupportedOp(format!(
            "{} with fused ops {fused:?} (node '{}')",
            node.op, node.name
        ))
    };
    let act = match fused.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["BiasAdd"] => Activation::None,
        ["BiasAdd", "Relu"] => Activation::Relu,
        ["BiasAdd", "Relu6"] => Activation::Relu6,
        ["BiasAdd", "LeakyRelu"] => {
            Activation::LeakyRelu(node.attr_f32("leakyrelu_alpha").unwrap_or(0.2))
        }
        _ => return Err(unsupported()),
    };
    if args.len() != 3 {
        return Err(unsupported());
    }
    let plain = NodeDef {
        op: if node.op == "_FusedConv2D" {
            "Conv2D"
        } else {
            "DepthwiseConv2dNative"
        }
        .into(),
        ..node.clone()
    };
    let (conv, data) = compile_conv(&a.with(&plain, &args[..2]))?;
    let bias = a.const_tensor(2, "the bias")?;
    // Bias and activation into the kernel's epilogue where the conv has one.
    let b = bias.flatten_all()?.to_vec1::<f32>()?;
    let op = conv
        .with_bias(&b)
        .and_then(|c| c.with_activation(act))
        .unwrap_or(ConvOp::Fused {
            conv: Box::new(conv),
            bias,
            act,
        });
    Ok((op, data))
}

fn compile_transposed(a: &NodeArgs) -> Result<(ConvOp, Vec<Slot>)> {
    let (node, args) = (a.node, a.args);
    a.need(3)?;
    check_nhwc(node)?;
    let sizes = a.const_ints(0, "the output size")?;
    let f = a.const_tensor(1, "the filter")?; // [kh, kw, out, in]
    if dilations(node)? != 1 {
        return Err(ModelError::Graph(format!(
            "node '{}': dilated transposed conv",
            node.name
        )));
    }
    if sizes.len() != 4 {
        return Err(ModelError::Graph(format!(
            "node '{}': output size must have 4 dims",
            node.name
        )));
    }
    let stride = square(node, "strides", &node.attr_ints_required("strides")?)?;
    let w = f.permute((3, 2, 0, 1))?.contiguous()?;
    let out_hw = (sizes[1] as usize, sizes[2] as usize);
    let (kh, kw, cout, cin) = f.dims4()?;
    let padding = padding(node)?;
    let tiled = (kh == stride && kw == stride && matches!(padding, Padding::Same | Padding::Valid))
        .then(|| {
            f.permute((3, 0, 1, 2))?
                .reshape((cin, kh * kw * cout))?
                .contiguous()
        })
        .transpose()?;
    let op = ConvOp::ConvTranspose {
        w,
        stride,
        padding,
        out_hw,
        tiled,
    };
    Ok((op, vec![args[2]]))
}

impl ConvOp {
    /// This conv with a per-output-channel `bias` added after it, folded into the kernel's
    /// epilogue; `None` where the kernel has no bias of its own or already applies an activation.
    pub(crate) fn with_bias(&self, b: &[f32]) -> Option<ConvOp> {
        match self {
            ConvOp::Gemm {
                w,
                im2col,
                act: Activation::None,
                residual,
            } if b.len() == w.n() => {
                let mut w = PackedB::clone(w);
                w.add_bias(b);
                Some(ConvOp::Gemm {
                    w: Arc::new(w),
                    im2col: *im2col,
                    act: Activation::None,
                    residual: *residual,
                })
            }
            ConvOp::Depthwise {
                w,
                k,
                stride,
                dilation,
                padding,
                bias,
                act: Activation::None,
            } if b.len() * k.0 * k.1 == w.len() => {
                let mut sum = b.to_vec();
                if let Some(old) = bias {
                    sum.iter_mut().zip(old.iter()).for_each(|(s, o)| *s += o);
                }
                Some(ConvOp::Depthwise {
                    w: w.clone(),
                    k: *k,
                    stride: *stride,
                    dilation: *dilation,
                    padding: *padding,
                    bias: Some(Arc::new(sum)),
                    act: Activation::None,
                })
            }
            _ => None,
        }
    }

    /// This conv followed by `act`, applied in the kernel's epilogue.
    pub(crate) fn with_activation(&self, act: Activation) -> Option<ConvOp> {
        let mut op = self.clone();
        match &mut op {
            ConvOp::Gemm { act: a, .. } | ConvOp::Depthwise { act: a, .. }
                if *a == Activation::None =>
            {
                *a = act;
                Some(op)
            }
            _ => None,
        }
    }

    /// This conv adding a second input, of its output's shape, before its activation (a
    /// residual connection): the GEMM's epilogue does it, so only GEMM convs take one.
    pub(crate) fn with_residual(&self) -> Option<ConvOp> {
        match self {
            ConvOp::Gemm {
                w,
                im2col,
                act: Activation::None,
                residual: false,
            } => Some(ConvOp::Gemm {
                w: w.clone(),
                im2col: *im2col,
                act: Activation::None,
                residual: true,
            }),
            _ => None,
        }
    }

    /// This conv reading its input zero-padded by `[top, bottom, left, right]` first (a Pad
    /// before a VALID conv): the kernels pad while they read, so the padded copy is never made.
    pub(crate) fn with_zero_pad(&self, pads: [usize; 4]) -> Option<ConvOp> {
        let mut op = self.clone();
        match &mut op {
            ConvOp::Gemm { im2col, .. } => {
                let window = im2col.get_or_insert(Im2col {
                    k: (1, 1),
                    stride: 1,
                    dilation: 1,
                    padding: Padding::Valid,
                });
                window.padding = window.padding.plus(pads)?;
            }
            ConvOp::Depthwise { padding, .. } => *padding = padding.plus(pads)?,
            _ => return None,
        }
        Some(op)
    }

    /// A grouped conv (candle's path), which a profile lists apart from the direct kernels.
    pub(crate) fn is_grouped(&self) -> bool {
        matches!(self, ConvOp::Conv { groups, .. } if *groups > 1)
    }

    pub(crate) fn run(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.run_with(x, None)
    }

    /// Runs the conv on `x`; a conv folded with a residual Add also reads `residual`.
    pub(crate) fn run_with(
        &self,
        x: &Tensor,
        residual: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        match self {
            ConvOp::Conv {
                w,
                stride,
                dilation,
                padding,
                groups,
            } => {
                let x = x.permute((0, 3, 1, 2))?; // NHWC -> NCHW
                let (kh, kw) = (w.dim(2)?, w.dim(3)?);
                let (h, wd) = (x.dim(2)?, x.dim(3)?);
                let [t, b, l, r] = padding.resolve((h, wd), (kh, kw), *stride, *dilation);
                let (x, sym) = if t == b && l == r && t == l {
                    (x, t)
                } else {
                    (x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?, 0)
                };
                let y = x
                    .contiguous()?
                    .conv2d(w, sym, *stride, *dilation, *groups)?;
                y.permute((0, 2, 3, 1))
            }
            ConvOp::Gemm {
                w,
                im2col,
                act,
                residual: true,
            } => {
                let r = residual.ok_or_else(|| {
                    candle_core::Error::Msg("a conv with a residual Add needs two inputs".into())
                })?;
                run_gemm(x, w, im2col.as_ref(), *act, Some(r))
            }
            ConvOp::Gemm { w, im2col, act, .. } => run_gemm(x, w, im2col.as_ref(), *act, None),
            ConvOp::Depthwise {
                w,
                k,
                stride,
                dilation,
                padding,
                bias,
                act,
            } => {
                let dims = x.dims4()?;
                let pads = padding.resolve((dims.1, dims.2), *k, *stride, *dilation);
                let (out, d) = with_f32_slice(x, |xs| {
                    depthwise_nhwc_slice(
                        xs,
                        dims,
                        w,
                        *k,
                        *stride,
                        *dilation,
                        pads,
                        bias.as_deref().map(Vec::as_slice),
                        *act,
                    )
                })??;
                Tensor::from_vec(out, d, x.device())
            }
            ConvOp::ConvTranspose {
                tiled: Some(wm),
                stride,
                out_hw,
                ..
            } if out_hw.0 == x.dim(1)? * stride && out_hw.1 == x.dim(2)? * stride => {
                let (n, h, wd, c) = x.dims4()?;
                let cout = wm.dim(1)? / (stride * stride);
                // [N*H*W, in] x [in, kh*kw*out] -> [N, H, W, kh, kw, out] -> [N, H, kh, W, kw, out]
                let y = x.reshape((n * h * wd, c))?.matmul(wm)?;
                let y = y
                    .reshape((n, h, wd, *stride, *stride, cout))?
                    .permute((0, 1, 3, 2, 4, 5))?;
                y.contiguous()?.reshape((n, h * stride, wd * stride, cout))
            }
            ConvOp::ConvTranspose {
                w,
                stride,
                padding,
                out_hw,
                ..
            } => run_transposed(x, w, *stride, *padding, *out_hw),
            ConvOp::Fused { conv, bias, act } => activate(&conv.run(x)?.broadcast_add(bias)?, *act),
        }
    }
}

fn run_gemm(
    x: &Tensor,
    w: &PackedB,
    im2col: Option<&Im2col>,
    act: Activation,
    residual: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (n, h, wd, c) = x.dims4()?;
    let (oh, ow) = match im2col {
        None => (h, wd),
        Some(i) => {
            let pads = i.padding.resolve((h, wd), i.k, i.stride, i.dilation);
            output_size("conv", (h, wd), i.k, i.stride, i.dilation, pads)?
        }
    };
    let out_dims = (n, oh, ow, w.n());
    // A residual that does not have the output's shape is a broadcast Add: done after.
    let (fused, late) = match residual {
        Some(r) if r.dims() == [n, oh, ow, w.n()] => (Some(r.contiguous()?), None),
        Some(r) => (None, Some(r)),
        None => (None, None),
    };
    let epilogue_act = if late.is_some() {
        Activation::None
    } else {
        act
    };
    let out = with_f32_slice(x, |xs| -> candle_core::Result<_> {
        let patches = match im2col {
            None => None,
            Some(i) => {
                let pads = i.padding.resolve((h, wd), i.k, i.stride, i.dilation);
                let (p, _) = im2col_nhwc_slice(xs, (n, h, wd, c), i.k, i.stride, i.dilation, pads)?;
                Some(p)
            }
        };
        let a = patches.as_deref().unwrap_or(xs);
        let m = n * oh * ow;
        if a.len() != m * w.k() {
            candle_core::bail!(
                "conv input has {c} channels, the filter expects {}",
                w.k() / im2col.map_or(1, |i| i.k.0 * i.k.1)
            );
        }
        Ok(match &fused {
            Some(r) => with_f32_slice(r, |rs| gemm_to_vec(a, m, w, epilogue_act, Some(rs)))?,
            None => gemm_to_vec(a, m, w, epilogue_act, None),
        })
    })??;
    let y = Tensor::from_vec(out, out_dims, x.device())?;
    match late {
        Some(r) => activate(&y.broadcast_add(r)?, act),
        None => Ok(y),
    }
}

/// `act` through candle ops (the paths with no kernel epilogue).
fn activate(y: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::None => Ok(y.clone()),
        Activation::Relu => y.relu(),
        Activation::Relu6 => relu6(y),
        Activation::LeakyRelu(a) => leaky_relu(y, a),
        Activation::HardSwish { scale } => (y * scale as f64)? * relu6(&(y + 3.0)?)?,
        Activation::HardSigmoid { scale } => relu6(&(y + 3.0)?)? * scale as f64,
    }
}

fn run_transposed(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: Padding,
    out_hw: (usize, usize),
) -> candle_core::Result<Tensor> {
    let x = x.permute((0, 3, 1, 2))?.contiguous()?;
    let full = x.conv_transpose2d(w, 0, 0, stride, 1)?;
    let (kh, kw) = (w.dim(2)?, w.dim(3)?);
    let (ih, iw) = (x.dim(2)?, x.dim(3)?);
    let crop = |t: Tensor, dim: usize, input: usize, k: usize, out: usize| {
        // The forward conv that this op transposes maps `out` to `input`.
        let before = match padding {
            Padding::Same => ((input - 1) * stride + k).saturating_sub(out) / 2,
            _ => 0,
        };
        let have = t.dim(dim)?;
        if before + out <= have {
            t.narrow(dim, before, out)
        } else {
            t.narrow(dim, before, have - before)?
                .pad_with_zeros(dim, 0, before + out - have)
        }
    };
    let y = crop(full, 2, ih, kh, out_hw.0)?;
    let y = crop(y, 3, iw, kw, out_hw.1)?;
    y.permute((0, 2, 3, 1))
}
