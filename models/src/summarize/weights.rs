//! Loading a llama-architecture GGUF into candle's `quantized_llama::ModelWeights`, with the
//! weights either kept quantized or dequantized to f32 once at load.
//!
//! Why f32: on a CPU without AVX2 (this project's machines: AVX+FMA only) candle's Q4_1 matmul
//! falls back to scalar dot products, ~0.5 s per token for SmolLM2-135M, while f32 weights go
//! through the `gemm` crate's AVX/FMA kernels, ~20x faster. f32 is also what the reference
//! (transformers loading the same GGUF) computes with, so greedy tokens can match exactly.
//!
//! How: candle only dequantizes at load when the process-wide env var `CANDLE_DEQUANTIZE_ALL`
//! is set (read once per thread in `QMatMul::from_arc`); a library must not set env vars for its
//! host. `QMatMul::from_arc` also dequantizes any tensor whose GGUF dtype is already F32, and
//! `ModelWeights::from_gguf` reads tensors through any `Read + Seek`. So [`F32View`] presents the
//! file to `from_gguf` as if every tensor were stored as F32, dequantizing one tensor at a time
//! as `from_gguf` reads it: public API only, no global state, and peak memory is the f32 model
//! plus one tensor, not two copies of the model.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::{Content, TensorInfo};
use candle_core::quantized::GgmlDType;
use candle_core::Device;

/// How the weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// Dequantized to f32 at load (~650 MB for SmolLM2-135M; fast on AVX-only CPUs).
    #[default]
    F32,
    /// As stored in the file (Q4_1/Q8_0, ~100 MB); candle's quantized matmul kernels.
    Quantized,
}

/// The tensor data of a GGUF file as if every tensor were stored as little-endian F32, laid out
/// back to back from offset 0. Each tensor is dequantized when `from_gguf` first reads it.
pub struct F32View<R> {
    src: R,
    src_data_offset: u64,
    /// (start in this view, length in bytes, where the tensor lies in `src`), sorted by start.
    parts: Vec<(u64, u64, TensorInfo)>,
    len: u64,
    pos: u64,
    /// The tensor last dequantized: (index in `parts`, its values).
    cached: Option<(usize, Vec<f32>)>,
}

impl<R: Read + Seek> F32View<R> {
    /// Rewrites `ct.tensor_infos` to F32 entries in this view and returns the view.
    pub fn new(ct: &mut Content, src: R) -> Self {
        let mut infos: Vec<(String, TensorInfo)> =
            std::mem::take(&mut ct.tensor_infos).into_iter().collect();
        infos.sort_by(|a, b| a.0.cmp(&b.0));
        let mut parts = Vec::with_capacity(infos.len());
        let mut f32_infos = HashMap::with_capacity(infos.len());
        let mut start = 0u64;
        for (name, info) in infos {
            let len = info.shape.elem_count() as u64 * 4;
            f32_infos.insert(
                name,
                TensorInfo {
                    ggml_dtype: GgmlDType::F32,
                    shape: info.shape.clone(),
                    offset: start,
                },
            );
            parts.push((start, len, info));
            start += len;
        }
        let src_data_offset = ct.tensor_data_offset;
        ct.tensor_infos = f32_infos;
        ct.tensor_data_offset = 0;
        Self {
            src,
            src_data_offset,
            parts,
            len: start,
            pos: 0,
            cached: None,
        }
    }

    fn load(&mut self, idx: usize) -> std::io::Result<&[f32]> {
        if self.cached.as_ref().map(|c| c.0) != Some(idx) {
            self.cached = None; // free the previous tensor first
            let info = &self.parts[idx].2;
            let values = info
                .read(&mut self.src, self.src_data_offset, &Device::Cpu)
                .and_then(|q| q.dequantize(&Device::Cpu))
                .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
                .map_err(std::io::Error::other)?;
            self.cached = Some((idx, values));
        }
        Ok(&self.cached.as_ref().expect("just filled").1)
    }
}

impl<R: Read + Seek> Read for F32View<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let idx = self.parts.partition_point(|p| p.0 <= self.pos) - 1;
        let (start, len) = (self.parts[idx].0, self.parts[idx].1);
        let from = (self.pos - start) as usize;
        let n = buf.len().min(len as usize - from);
        let values = self.load(idx)?;
        if from.is_multiple_of(4) && n.is_multiple_of(4) {
            // The usual case: `from_gguf` reads whole tensors.
            for (dst, v) in buf[..n].chunks_exact_mut(4).zip(&values[from / 4..]) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        } else {
            for (i, dst) in buf[..n].iter_mut().enumerate() {
                let b = from + i;
                *dst = values[b / 4].to_le_bytes()[b % 4];
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for F32View<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{gguf_file, QTensor};
    use candle_core::Tensor;
    use std::io::Cursor;

    /// A small GGUF with a Q8_0 tensor and an F32 tensor, read back through the view: names,
    /// shapes and offsets are rewritten, and each tensor's values are the dequantized ones.
    #[test]
    fn view_serves_every_tensor_as_its_dequantized_f32() {
        let dev = Device::Cpu;
        let a: Vec<f32> = (0..64).map(|i| (i as f32 - 30.0) / 7.0).collect();
        let b: Vec<f32> = vec![0.25, -1.5, 3.0];
        let qa = QTensor::quantize(
            &Tensor::from_vec(a.clone(), (2, 32), &dev).unwrap(),
            GgmlDType::Q8_0,
        )
        .unwrap();
        let qb =
            QTensor::quantize(&Tensor::new(b.as_slice(), &dev).unwrap(), GgmlDType::F32).unwrap();
        let mut file = Cursor::new(Vec::new());
        gguf_file::write(&mut file, &[], &[("w.a", &qa), ("w.b", &qb)]).unwrap();
        let want_a = qa.dequantize(&dev).unwrap().flatten_all().unwrap();
        let want_a: Vec<f32> = want_a.to_vec1().unwrap();

        file.set_position(0);
        let mut ct = gguf_file::Content::read(&mut file).unwrap();
        let mut view = F32View::new(&mut ct, file);
        for (name, want) in [("w.b", b.clone()), ("w.a", want_a), ("w.b", b)] {
            let info = &ct.tensor_infos[name];
            assert_eq!(info.ggml_dtype, GgmlDType::F32);
            let got = ct.tensor(&mut view, name, &dev).unwrap();
            assert_eq!(got.dtype(), GgmlDType::F32);
            let got: Vec<f32> = got
                .dequantize(&dev)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(got, want, "{name}");
        }
        // Reads that do not start or end on a value still see the same bytes.
        let mut whole = vec![0u8; 12];
        view.seek(SeekFrom::Start(ct.tensor_infos["w.b"].offset))
            .unwrap();
        view.read_exact(&mut whole).unwrap();
        let mut pieces = Vec::new();
        view.seek(SeekFrom::Start(ct.tensor_infos["w.b"].offset))
            .unwrap();
        for chunk in [3usize, 6, 3] {
            let mut part = vec![0u8; chunk];
            view.read_exact(&mut part).unwrap();
            pieces.extend_from_slice(&part);
        }
        assert_eq!(pieces, whole);
        assert_eq!(whole[4..8], (-1.5f32).to_le_bytes());
        assert!(view.seek(SeekFrom::Current(-1_000_000)).is_err());
    }
}
