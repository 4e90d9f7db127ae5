//! The attention arithmetic T5 and BART share, before each model's output projection. Scaling
//! differs (T5 folds it into its weights, BART scales the query), so it is the caller's.

use candle_core::Tensor;

use crate::error::Result;

/// Softmax attention of `q` `[b, h, tq, hd]` over `k`, `v` `[b, h, tk, hd]`, plus an optional
/// additive bias broadcast over rows; `[b, tq, h * hd]` out.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let mut scores = q.matmul(&k.t()?)?;
    if let Some(b) = bias {
        scores = scores.broadcast_add(b)?;
    }
    let ctx = candle_nn::ops::softmax_last_dim(&scores)?.matmul(v)?;
    let (b, h, tq, hd) = ctx.dims4()?;
    Ok(ctx.transpose(1, 2)?.reshape((b, tq, h * hd))?)
}

/// One query per row (`q` `[rows, h, 1, hd]`) over keys shared by every row (the encoder's,
/// `[1, h, s, hd]`): rows become the query axis of a single batch, so the encoder keys are never
/// copied per beam. `[rows, 1, h * hd]` out.
pub fn attend_shared(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let (rows, h, one, hd) = q.dims4()?;
    debug_assert_eq!(one, 1);
    let q = q.transpose(0, 2)?.contiguous()?; // [1, h, rows, hd]
    let ctx = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?.matmul(v)?;
    Ok(ctx.transpose(0, 2)?.reshape((rows, 1, h * hd))?)
}
