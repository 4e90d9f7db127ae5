//! Weight-format conversions the store runs after extracting or installing a model's files,
//! when its catalog entry has a `convert` (the one dispatch is [`run`]).
//!
//! PyTorch's legacy `.pth` format (before torch 1.6) is not a zip: it is five pickles in a row
//! (magic number, protocol, system info, the state dict, the list of storage keys) followed by
//! each storage's raw bytes (an i64 element count, then the data) in that key order. candle reads
//! only the zip format, so this converts the legacy file to safetensors once, at fetch time.
//! Only the pickle opcodes and classes a state dict uses are accepted; nothing is executed.

use std::collections::HashMap;
use std::io::{BufRead, Cursor, Read};
use std::path::{Path, PathBuf};

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

use crate::catalog::{Conversion, ConversionKind, ModelSpec};
use crate::error::{ModelError, Result};

/// Converts `dir/<c.from>` into the model's graph file `dir/<spec.graph>` as the catalog asks;
/// returns the written path.
pub fn run(spec: &ModelSpec, c: &Conversion, dir: &Path) -> Result<PathBuf> {
    let (from, to) = (dir.join(&c.from), dir.join(&spec.graph));
    tracing::info!(model = %spec.id, from = %c.from, to = %spec.graph, "converting");
    match c.kind {
        ConversionKind::TorchLegacy => torch_legacy_to_safetensors(&from, &to)?,
        ConversionKind::TorchZip => torch_zip_to_safetensors(&from, &to)?,
    }
    Ok(to)
}

/// The first pickle of a legacy file: protocol 2, LONG1 of 10 bytes = torch's magic number
/// 0x1950a86a20f9469cfc6c (little endian), STOP. Compared as bytes because it overflows i64.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
];

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::Convert(msg.into())
}

fn read_pickle(r: &mut impl BufRead) -> Result<Object> {
    let mut stack = Stack::empty();
    stack
        .read_loop(r)
        .map_err(|e| bad(format!("pickle: {e}")))?;
    stack.finalize().map_err(|e| bad(format!("pickle: {e}")))
}

/// Where one tensor's data lives: a storage key, an element offset, shape and strides.
struct TensorRef {
    storage: String,
    dtype: DType,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

fn usizes(o: Object) -> Result<Vec<usize>> {
    match o {
        Object::Tuple(v) | Object::List(v) => v
            .into_iter()
            .map(|x| match x {
                Object::Int(i) if i >= 0 => Ok(i as usize),
                Object::Long(i) if i >= 0 => Ok(i as usize),
                other => Err(bad(format!("expected a size, got {other:?}"))),
            })
            .collect(),
        other => Err(bad(format!("expected a tuple of sizes, got {other:?}"))),
    }
}

fn storage_dtype(class: &str) -> Result<DType> {
    Ok(match class {
        "FloatStorage" => DType::F32,
        "HalfStorage" => DType::F16,
        "DoubleStorage" => DType::F64,
        "LongStorage" => DType::I64,
        "ByteStorage" => DType::U8,
        other => return Err(bad(format!("unsupported storage type {other}"))),
    })
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)` where storage is a persistent id
/// `('storage', <class>, key, location, numel[, view])`.
fn tensor_ref(value: Object) -> Result<TensorRef> {
    let (callable, args) = value
        .reduce()
        .map_err(|o| bad(format!("expected a tensor, got {o:?}")))?;
    match callable {
        Object::Class {
            module_name,
            class_name,
        } if module_name == "torch._utils" && class_name == "_rebuild_tensor_v2" => {}
        other => return Err(bad(format!("unexpected tensor constructor {other:?}"))),
    }
    let mut args = args
        .tuple()
        .map_err(|o| bad(format!("args {o:?}")))?
        .into_iter();
    let mut next = || args.next().ok_or_else(|| bad("short tensor args"));
    let storage = match next()? {
        Object::PersistentLoad(id) => *id,
        other => return Err(bad(format!("expected a storage, got {other:?}"))),
    };
    let offset = match next()? {
        Object::Int(i) if i >= 0 => i as usize,
        Object::Long(i) if i >= 0 => i as usize,
        other => return Err(bad(format!("bad offset {other:?}"))),
    };
    let shape = usizes(next()?)?;
    let stride = usizes(next()?)?;
    let mut id = storage
        .tuple()
        .map_err(|o| bad(format!("storage id {o:?}")))?
        .into_iter();
    let _tag = id.next();
    let class = match id.next() {
        Some(Object::Class { class_name, .. }) => class_name,
        other => return Err(bad(format!("storage class {other:?}"))),
    };
    let key = match id.next() {
        Some(Object::Unicode(k)) => k,
        other => return Err(bad(format!("storage key {other:?}"))),
    };
    Ok(TensorRef {
        storage: key,
        dtype: storage_dtype(&class)?,
        offset,
        shape,
        stride,
    })
}

/// Reads a legacy `.pth` state dict into named CPU tensors.
pub fn read_torch_legacy(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    if !bytes.starts_with(&LEGACY_MAGIC) {
        return Err(bad("not a torch legacy file (no magic number)"));
    }
    let mut r = Cursor::new(bytes);
    r.set_position(LEGACY_MAGIC.len() as u64);
    let _protocol = read_pickle(&mut r)?;
    let _sys_info = read_pickle(&mut r)?;
    let dict = match read_pickle(&mut r)? {
        // An OrderedDict with `_metadata` set comes as BUILD(dict, state).
        Object::Build { callable, .. } => *callable,
        other => other,
    };
    let entries = dict
        .dict()
        .map_err(|o| bad(format!("expected a state dict, got {o:?}")))?;
    let keys = match read_pickle(&mut r)? {
        Object::List(k) | Object::Tuple(k) => k
            .into_iter()
            .map(|k| String::try_from(k).map_err(|o| bad(format!("storage key {o:?}"))))
            .collect::<Result<Vec<_>>>()?,
        other => return Err(bad(format!("expected storage keys, got {other:?}"))),
    };
    let mut refs: Vec<(String, TensorRef)> = Vec::new();
    for (k, v) in entries {
        let name = String::try_from(k).map_err(|o| bad(format!("tensor name {o:?}")))?;
        // The module versions torch keeps beside the tensors (merged in by BUILD).
        if name == "_metadata" {
            continue;
        }
        refs.push((name, tensor_ref(v)?));
    }
    let dtype_of: HashMap<&str, DType> = refs
        .iter()
        .map(|(_, t)| (t.storage.as_str(), t.dtype))
        .collect();
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    for key in &keys {
        let mut n = [0u8; 8];
        r.read_exact(&mut n)
            .map_err(|e| bad(format!("storage {key}: {e}")))?;
        let numel = i64::from_le_bytes(n);
        let dtype = *dtype_of
            .get(key.as_str())
            .ok_or_else(|| bad(format!("storage {key} is used by no tensor")))?;
        let len =
            usize::try_from(numel).map_err(|_| bad("negative numel"))? * dtype.size_in_bytes();
        let start = r.position() as usize;
        let data = bytes
            .get(start..start + len)
            .ok_or_else(|| bad(format!("storage {key} is truncated")))?;
        r.set_position((start + len) as u64);
        let t = Tensor::from_raw_buffer(data, dtype, &[numel as usize], &Device::Cpu)?;
        storages.insert(key.clone(), t);
    }
    refs.into_iter()
        .map(|(name, t)| {
            let storage = storages
                .get(&t.storage)
                .ok_or_else(|| bad(format!("{name}: storage {} missing", t.storage)))?;
            Ok((
                name.clone(),
                view(storage, &t).map_err(|e| bad(format!("{name}: {e}")))?,
            ))
        })
        .collect()
}

/// The tensor a (storage, offset, shape, stride) view describes. State dicts hold contiguous
/// tensors and transposed ones (a permutation of contiguous strides, e.g. a Linear weight saved
/// after `.t()`); anything else (overlapping or gapped views) is refused, not copied wrong.
fn view(storage: &Tensor, t: &TensorRef) -> Result<Tensor> {
    let numel: usize = t.shape.iter().product();
    let data = storage.narrow(0, t.offset, numel)?;
    if numel <= 1 {
        return Ok(data.reshape(t.shape.clone())?);
    }
    // Order the dims from the largest stride to the smallest: if the view is a permuted
    // contiguous tensor, that order is contiguous.
    let mut order: Vec<usize> = (0..t.shape.len()).collect();
    order.sort_by_key(|&d| std::cmp::Reverse((t.stride[d], t.shape[d])));
    let mut expected = 1usize;
    for &d in order.iter().rev() {
        if t.shape[d] > 1 && t.stride[d] != expected {
            return Err(bad(format!(
                "unsupported strides {:?} for shape {:?}",
                t.stride, t.shape
            )));
        }
        expected *= t.shape[d];
    }
    let permuted_shape: Vec<usize> = order.iter().map(|&d| t.shape[d]).collect();
    let mut inverse = vec![0usize; order.len()];
    for (i, &d) in order.iter().enumerate() {
        inverse[d] = i;
    }
    Ok(data
        .reshape(permuted_shape)?
        .permute(inverse)?
        .contiguous()?)
}

/// Converts a legacy `.pth` file to safetensors at `to` (through a temporary name).
pub fn torch_legacy_to_safetensors(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| ModelError::io(from, e))?;
    let tensors: HashMap<String, Tensor> = read_torch_legacy(&bytes)?.into_iter().collect();
    save_safetensors(&tensors, to)
}

/// A PyTorch zip checkpoint (the format since 1.6; torchvision's weights) to safetensors, read
/// with candle's own pickle reader. Written under a temporary name first.
pub fn torch_zip_to_safetensors(from: &Path, to: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = candle_core::pickle::read_all(from)
        .map_err(|e| ModelError::Convert(format!("{}: {e}", from.display())))?
        .into_iter()
        .collect();
    if tensors.is_empty() {
        return Err(ModelError::Convert(format!(
            "{}: no tensors (not a state dict?)",
            from.display()
        )));
    }
    save_safetensors(&tensors, to)
}

/// Writes `tensors` to `to` through a temporary name, readable by all.
fn save_safetensors(tensors: &HashMap<String, Tensor>, to: &Path) -> Result<()> {
    let tmp = to.with_extension("partial");
    candle_core::safetensors::save(tensors, &tmp)?;
    std::fs::rename(&tmp, to).map_err(|e| ModelError::io(to, e))?;
    readable_by_all(to)
}

/// The writer's temp file is 0600; a store filled as one user is served by another (the image's
/// uid 10001 reads a store mounted from the host), so the converted file is made 0644.
fn readable_by_all(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ModelError::io(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_that_are_not_legacy_pth() {
        // A pickle of the int 7 (protocol 2): not the magic number.
        let not_magic = [0x80, 0x02, b'K', 7, b'.'];
        assert!(read_torch_legacy(&not_magic)
            .unwrap_err()
            .to_string()
            .contains("magic"));
        assert!(read_torch_legacy(b"PK\x03\x04zipfile").is_err());
    }

    #[test]
    fn contiguous_and_transposed_views() {
        let s = Tensor::arange(0f32, 12., &Device::Cpu).unwrap();
        let ok = TensorRef {
            storage: "0".into(),
            dtype: DType::F32,
            offset: 2,
            shape: vec![2, 3],
            stride: vec![3, 1],
        };
        let v = view(&s, &ok).unwrap();
        assert_eq!(v.to_vec2::<f32>().unwrap(), [[2., 3., 4.], [5., 6., 7.]]);
        // A [2, 3] tensor stored transposed (as torch saves `linear.weight.t()`).
        let transposed = TensorRef {
            offset: 0,
            stride: vec![1, 2],
            ..ok
        };
        let t = view(&s, &transposed).unwrap();
        assert_eq!(t.to_vec2::<f32>().unwrap(), [[0., 2., 4.], [1., 3., 5.]]);
        let overlapping = TensorRef {
            stride: vec![1, 1],
            ..transposed
        };
        assert!(view(&s, &overlapping).is_err());
    }
}
