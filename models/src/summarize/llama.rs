//! The llama architecture's forward pass on the CPU, with the GGUF's weights kept quantized
//! ([`QMatrix`]) and every buffer reused between tokens.
//!
//! Why not `candle_transformers::quantized_llama`: each token there runs ~25 tensor ops per
//! layer, each allocating its output, grows the KV cache by concatenation (a copy of the whole
//! cache per token), and goes through `QMatMul`, whose kernels are chosen at compile time. Here
//! a token is a handful of fused matmuls (q|k|v stacked, gate|up stacked) over rayon's threads,
//! a KV cache that grows in place, and attention written out per head. GGUF parsing and the
//! fallback dequantization of other formats stay candle's.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::GgmlDType;
use candle_core::Device;

use super::qkernels::{axpy, dot_f32, Format, QMatrix};
use super::weights::{Activations, WeightFormat};
use crate::error::{ModelError, Result};
use crate::kernels::sync_ptr::SyncPtr;

/// The shape of a llama model, from GGUF metadata.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub eps: f32,
    pub rope_base: f32,
}

struct Layer {
    attn_norm: Vec<f32>,
    /// q, k and v projections stacked: `(heads + 2 kv_heads) * head_dim` rows.
    qkv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    /// gate and up projections stacked: `2 ffn` rows.
    gate_up: QMatrix,
    down: QMatrix,
}

/// Weights of a llama model (shared read-only by every request).
pub struct Llama {
    cfg: LlamaConfig,
    embed: QMatrix,
    layers: Vec<Layer>,
    out_norm: Vec<f32>,
    /// `None`: tied to `embed` (SmolLM2 ships no `output.weight`).
    output: Option<QMatrix>,
    /// cos/sin of every position up to `context`, `head_dim / 2` each.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
    context: usize,
}

fn meta_u32(ct: &Content, key: &str) -> Result<usize> {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_u32().ok())
        .map(|v| v as usize)
        .ok_or_else(|| ModelError::Input(format!("GGUF metadata '{key}' missing")))
}

fn meta_f32(ct: &Content, key: &str, default: f32) -> f32 {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_f32().ok())
        .unwrap_or(default)
}

/// Reads one tensor as a matrix (1-D tensors come back as 1 row). Q4_1 and Q8_0 stay as
/// stored; other formats are dequantized by candle.
fn read_matrix(
    ct: &Content,
    file: &mut File,
    name: &str,
    weights: WeightFormat,
) -> Result<QMatrix> {
    let info = ct
        .tensor_infos
        .get(name)
        .ok_or_else(|| ModelError::Input(format!("GGUF tensor '{name}' missing")))?;
    let dims = info.shape.dims();
    let (rows, cols) = match *dims {
        [n] => (1, n),
        [r, c] => (r, c),
        _ => {
            return Err(ModelError::Input(format!(
                "GGUF tensor '{name}' has shape {dims:?}"
            )))
        }
    };
    let format = match info.ggml_dtype {
        GgmlDType::Q4_1 => Some(Format::Q4_1),
        GgmlDType::Q8_0 => Some(Format::Q8_0),
        _ => None,
    };
    let m = match format {
        Some(f) => {
            let mut blocks = vec![0u8; rows * cols / super::qkernels::BLOCK * f.block_bytes()];
            file.seek(SeekFrom::Start(ct.tensor_data_offset + info.offset))
                .and_then(|_| file.read_exact(&mut blocks))
                .map_err(|e| ModelError::Input(format!("reading GGUF tensor '{name}': {e}")))?;
            QMatrix::from_blocks(rows, cols, f, blocks)
        }
        None => {
            let q = info.read(file, ct.tensor_data_offset, &Device::Cpu)?;
            let v = q
                .dequantize(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            QMatrix::from_f32(rows, cols, v)
        }
    }
    .map_err(|e| ModelError::Input(format!("GGUF tensor '{name}': {e}")))?;
    Ok(match weights {
        WeightFormat::F32 if m.format() != Format::F32 => m.to_f32(),
        _ => m,
    })
}

fn read_vector(ct: &Content, file: &mut File, name: &str, len: usize) -> Result<Vec<f32>> {
    let m = read_matrix(ct, file, name, WeightFormat::F32)?;
    if m.rows() * m.cols() != len {
        return Err(ModelError::Input(format!(
            "GGUF tensor '{name}' has {} values, expected {len}",
            m.rows() * m.cols()
        )));
    }
    let mut v = vec![0f32; len];
    m.row_into(0, &mut v);
    Ok(v)
}

impl Llama {
    /// Loads a llama-architecture GGUF. `context` bounds positions (the RoPE table's size).
    pub fn load(
        ct: &Content,
        file: &mut File,
        weights: WeightFormat,
        activations: Activations,
        context: usize,
    ) -> Result<Self> {
        // Repacked for the int8 kernels where they run and are asked for.
        let prep = |m: QMatrix| match activations {
            Activations::Int8 => m.prepared(),
            Activations::F32 => m,
        };
        let dim = meta_u32(ct, "llama.embedding_length")?;
        let heads = meta_u32(ct, "llama.attention.head_count")?;
        let kv_heads = meta_u32(ct, "llama.attention.head_count_kv").unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || dim % heads != 0 || heads % kv_heads != 0 {
            return Err(ModelError::Input(format!(
                "GGUF: {heads} heads / {kv_heads} KV heads do not divide {dim}"
            )));
        }
        let head_dim = dim / heads;
        let embed = read_matrix(ct, file, "token_embd.weight", weights)?;
        let cfg = LlamaConfig {
            dim,
            layers: meta_u32(ct, "llama.block_count")?,
            heads,
            kv_heads,
            head_dim,
            ffn: meta_u32(ct, "llama.feed_forward_length")?,
            vocab: embed.rows(),
            eps: meta_f32(ct, "llama.attention.layer_norm_rms_epsilon", 1e-5),
            rope_base: meta_f32(ct, "llama.rope.freq_base", 10_000.0),
        };
        if embed.cols() != dim {
            return Err(ModelError::Input(format!(
                "GGUF: token_embd has {} columns, embedding_length is {dim}",
                embed.cols()
            )));
        }
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let t = |n: &str| format!("blk.{i}.{n}.weight");
            let mut m = |n: &str| read_matrix(ct, file, &t(n), weights);
            let (q, k, v, wo) = (m("attn_q")?, m("attn_k")?, m("attn_v")?, m("attn_output")?);
            let (gate, up, down) = (m("ffn_gate")?, m("ffn_up")?, m("ffn_down")?);
            let kv = kv_heads * head_dim;
            let want = [
                (&q, dim, dim),
                (&k, kv, dim),
                (&v, kv, dim),
                (&wo, dim, dim),
                (&gate, cfg.ffn, dim),
                (&up, cfg.ffn, dim),
                (&down, dim, cfg.ffn),
            ];
            for (m, rows, cols) in want {
                if (m.rows(), m.cols()) != (rows, cols) {
                    return Err(ModelError::Input(format!(
                        "GGUF block {i}: {m:?}, expected {rows}x{cols}"
                    )));
                }
            }
            let stack = |p: &[QMatrix]| {
                QMatrix::stack(p).map_err(|e| ModelError::Input(format!("GGUF block {i}: {e}")))
            };
            layers.push(Layer {
                attn_norm: read_vector(ct, file, &t("attn_norm"), dim)?,
                qkv: prep(stack(&[q, k, v])?),
                wo: prep(wo),
                ffn_norm: read_vector(ct, file, &t("ffn_norm"), dim)?,
                gate_up: prep(stack(&[gate, up])?),
                down: prep(down),
            });
        }
        let out_norm = read_vector(ct, file, "output_norm.weight", dim)?;
        let output = if ct.tensor_infos.contains_key("output.weight") {
            Some(prep(read_matrix(ct, file, "output.weight", weights)?))
        } else {
            None
        };
        let half = head_dim / 2;
        let (mut rope_cos, mut rope_sin) = (vec![0f32; context * half], vec![0f32; context * half]);
        for p in 0..context {
            for i in 0..half {
                let freq = 1.0 / cfg.rope_base.powf(2.0 * i as f32 / head_dim as f32);
                let a = p as f32 * freq;
                rope_cos[p * half + i] = a.cos();
                rope_sin[p * half + i] = a.sin();
            }
        }
        Ok(Self {
            cfg,
            embed: prep(embed),
            layers,
            out_norm,
            output,
            rope_cos,
            rope_sin,
            context,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Bytes of weights held in memory.
    pub fn weight_bytes(&self) -> usize {
        let l: usize = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes() + l.wo.bytes() + l.gate_up.bytes() + l.down.bytes())
            .sum();
        l + self.embed.bytes() + self.output.as_ref().map_or(0, QMatrix::bytes)
    }

    /// Runs `tokens` at positions `pos..` on `cache` (which must hold exactly `pos` positions;
    /// a smaller `pos` rewinds it) and returns the logits after the last token.
    pub fn forward(&self, cache: &mut KvCache, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        let c = &self.cfg;
        let t = tokens.len();
        if t == 0 || pos > cache.len || pos + t > self.context {
            return Err(ModelError::Input(format!(
                "positions {pos}..{} with {} cached and a {}-token context",
                pos + t,
                cache.len,
                self.context
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(ModelError::Input(format!(
                "token id {bad} outside the vocabulary"
            )));
        }
        cache.prepare(c, pos, t);
        let (dim, kv) = (c.dim, c.kv_heads * c.head_dim);
        let s = &mut cache.scratch;
        for (i, &id) in tokens.iter().enumerate() {
            self.embed
                .row_into(id as usize, &mut s.h[i * dim..(i + 1) * dim]);
        }
        for (li, l) in self.layers.iter().enumerate() {
            rms_norm(&s.h, &l.attn_norm, c.eps, dim, &mut s.xn);
            l.qkv.matmul(&s.xn, t, &mut s.qkv);
            let qkv_w = dim + 2 * kv;
            let (kc, vc) = (&mut cache.k[li], &mut cache.v[li]);
            for i in 0..t {
                let row = &mut s.qkv[i * qkv_w..(i + 1) * qkv_w];
                let (q, rest) = row.split_at_mut(dim);
                let (k, v) = rest.split_at_mut(kv);
                self.rope(q, pos + i);
                self.rope(k, pos + i);
                s.q[i * dim..(i + 1) * dim].copy_from_slice(q);
                kc[(pos + i) * kv..(pos + i + 1) * kv].copy_from_slice(k);
                vc[(pos + i) * kv..(pos + i + 1) * kv].copy_from_slice(v);
            }
            attention(c, &s.q, kc, vc, pos, t, &mut s.att, &mut s.scores);
            l.wo.matmul(&s.att, t, &mut s.proj);
            for (h, p) in s.h.iter_mut().zip(&s.proj) {
                *h += p;
            }
            rms_norm(&s.h, &l.ffn_norm, c.eps, dim, &mut s.xn);
            l.gate_up.matmul(&s.xn, t, &mut s.gu);
            for i in 0..t {
                let gu = &s.gu[i * 2 * c.ffn..(i + 1) * 2 * c.ffn];
                let (g, u) = gu.split_at(c.ffn);
                for ((a, g), u) in s.act[i * c.ffn..(i + 1) * c.ffn].iter_mut().zip(g).zip(u) {
                    *a = g / (1.0 + (-g).exp()) * u;
                }
            }
            l.down.matmul(&s.act, t, &mut s.proj);
            for (h, p) in s.h.iter_mut().zip(&s.proj) {
                *h += p;
            }
        }
        cache.len = pos + t;
        // Only the last position's logits are needed: the prompt's others would be discarded.
        let last = &s.h[(t - 1) * dim..t * dim];
        rms_norm(last, &self.out_norm, c.eps, dim, &mut s.xn[..dim]);
        let mut logits = vec![0f32; c.vocab];
        self.output
            .as_ref()
            .unwrap_or(&self.embed)
            .matmul(&s.xn[..dim], 1, &mut logits);
        Ok(logits)
    }

    /// Rotates each head of `x` (interleaved pairs, as GGUF's permuted q/k weights expect).
    fn rope(&self, x: &mut [f32], pos: usize) {
        let half = self.cfg.head_dim / 2;
        let cos = &self.rope_cos[pos * half..(pos + 1) * half];
        let sin = &self.rope_sin[pos * half..(pos + 1) * half];
        for head in x.chunks_exact_mut(self.cfg.head_dim) {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * cos[i] - b * sin[i];
                pair[1] = a * sin[i] + b * cos[i];
            }
        }
    }
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32, dim: usize, out: &mut [f32]) {
    for (xi, oi) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let ms = dot_f32(xi, xi) / dim as f32;
        let r = 1.0 / (ms + eps).sqrt();
        for ((o, x), w) in oi.iter_mut().zip(xi).zip(w) {
            *o = x * r * w;
        }
    }
}

/// Causal attention of tokens at `pos..pos+t` over cached positions `0..pos+t`, one rayon task
/// per head. `att` gets `t x dim`.
#[allow(clippy::too_many_arguments)]
fn attention(
    c: &LlamaConfig,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos: usize,
    t: usize,
    att: &mut [f32],
    scores: &mut [Vec<f32>],
) {
    let (dim, hd, kv) = (c.dim, c.head_dim, c.kv_heads * c.head_dim);
    let group = c.heads / c.kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let out = SyncPtr::new(att);
    crate::team::for_each_chunk_mut(scores, 1, |h, sc| {
        let sc = &mut sc[0];
        let g = h / group;
        for i in 0..t {
            let n = pos + i + 1;
            let qi = &q[i * dim + h * hd..i * dim + (h + 1) * hd];
            let sc = &mut sc[..n];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in sc.iter_mut().enumerate() {
                *s = dot_f32(qi, &k[j * kv + g * hd..j * kv + (g + 1) * hd]) * scale;
                max = max.max(*s);
            }
            let mut sum = 0.0;
            for s in sc.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            // SAFETY: head h of token i is written by this task only; `att` outlives the call.
            let o = unsafe { out.slice(i * dim + h * hd, hd) };
            o.fill(0.0);
            for (j, s) in sc.iter().enumerate() {
                axpy(s / sum, &v[j * kv + g * hd..j * kv + (g + 1) * hd], o);
            }
        }
    });
}

/// Per-token work buffers, sized for the longest chunk of tokens run so far.
#[derive(Default)]
struct Scratch {
    h: Vec<f32>,
    xn: Vec<f32>,
    qkv: Vec<f32>,
    q: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    gu: Vec<f32>,
    act: Vec<f32>,
    /// One score row per head.
    scores: Vec<Vec<f32>>,
}

/// One request's state: keys and values of every layer, and the work buffers. Grows in place
/// (amortised doubling), so decoding a token allocates nothing.
#[derive(Default)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    scratch: Scratch,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the keys and values.
    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|b| b.capacity() * 4).sum()
    }

    /// Makes room for `t` tokens at `pos` (dropping anything cached after `pos`).
    fn prepare(&mut self, c: &LlamaConfig, pos: usize, t: usize) {
        let kv = c.kv_heads * c.head_dim;
        let need = (pos + t) * kv;
        self.k.resize_with(c.layers, Vec::new);
        self.v.resize_with(c.layers, Vec::new);
        for b in self.k.iter_mut().chain(self.v.iter_mut()) {
            if b.len() < need {
                // Amortised: grow to at least double, so one token never copies the cache.
                let target = need.max(b.len() * 2).max(256 * kv);
                b.resize(target, 0.0);
            }
        }
        self.len = pos;
        let s = &mut self.scratch;
        let grow = |b: &mut Vec<f32>, n: usize| {
            if b.len() < n {
                b.resize(n, 0.0);
            }
        };
        grow(&mut s.h, t * c.dim);
        grow(&mut s.xn, t * c.dim);
        grow(&mut s.qkv, t * (c.dim + 2 * kv));
        grow(&mut s.q, t * c.dim);
        grow(&mut s.att, t * c.dim);
        grow(&mut s.proj, t * c.dim);
        grow(&mut s.gu, t * 2 * c.ffn);
        grow(&mut s.act, t * c.ffn);
        s.scores.resize_with(c.heads, Vec::new);
        let cap = self.k[0].len() / kv;
        for sc in &mut s.scores {
            grow(sc, cap);
        }
        // Exact lengths for the kernels, which check them.
        s.h.truncate(t * c.dim);
        s.xn.truncate(t * c.dim);
        s.qkv.truncate(t * (c.dim + 2 * kv));
        s.q.truncate(t * c.dim);
        s.att.truncate(t * c.dim);
        s.proj.truncate(t * c.dim);
        s.gu.truncate(t * 2 * c.ffn);
        s.act.truncate(t * c.ffn);
    }
}
