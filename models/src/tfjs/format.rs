//! Reading a TF.js graph model from disk: `model.json` (a GraphDef in JSON plus a weights
//! manifest) and the `.bin` shards it names, concatenated in manifest order.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::{ModelError, Result};

#[derive(Debug, Deserialize)]
pub struct ModelJson {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(rename = "modelTopology")]
    pub model_topology: Topology,
    #[serde(rename = "weightsManifest")]
    pub weights_manifest: Vec<ManifestGroup>,
    #[serde(default)]
    pub signature: Option<Json>,
}

#[derive(Debug, Deserialize)]
pub struct Topology {
    pub node: Vec<NodeDef>,
}

/// One GraphDef node. Attribute values stay as JSON and are read through the typed accessors
/// below, so an attribute we never look at can have any shape.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeDef {
    pub name: String,
    pub op: String,
    #[serde(default)]
    pub input: Vec<String>,
    #[serde(default)]
    pub attr: HashMap<String, Json>,
}

#[derive(Debug, Deserialize)]
pub struct ManifestGroup {
    pub paths: Vec<String>,
    pub weights: Vec<WeightSpec>,
}

#[derive(Debug, Deserialize)]
pub struct WeightSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    #[serde(default)]
    pub quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
pub struct Quantization {
    pub dtype: String,
    #[serde(default)]
    pub scale: Option<f32>,
    #[serde(default)]
    pub min: Option<f32>,
}

/// Integer tensors (shapes, axes, paddings) are kept on the host: they parameterise ops at load
/// time and never take part in arithmetic on the hot path.
#[derive(Debug, Clone, PartialEq)]
pub struct Ints {
    pub shape: Vec<usize>,
    pub data: Vec<i64>,
}

impl Ints {
    pub fn vector(data: Vec<i64>) -> Self {
        Self {
            shape: vec![data.len()],
            data,
        }
    }
}

/// A constant from the weights file.
#[derive(Debug, Clone)]
pub enum ConstValue {
    Float(Tensor),
    Int(Ints),
}

impl NodeDef {
    fn attr(&self, key: &str) -> Option<&Json> {
        self.attr.get(key)
    }

    fn missing(&self, key: &str) -> ModelError {
        ModelError::Graph(format!(
            "node '{}' ({}) lacks attribute '{key}'",
            self.name, self.op
        ))
    }

    pub fn attr_str(&self, key: &str) -> Result<String> {
        let s = self
            .attr(key)
            .and_then(|a| a.get("s"))
            .and_then(Json::as_str)
            .ok_or_else(|| self.missing(key))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| {
                ModelError::Graph(format!("node '{}': bad base64 in '{key}': {e}", self.name))
            })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A list-of-strings attribute (base64 in the JSON); empty when absent.
    pub fn attr_strs(&self, key: &str) -> Result<Vec<String>> {
        let items = self
            .attr(key)
            .and_then(|a| a.get("list"))
            .and_then(|l| l.get("s"))
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        items
            .iter()
            .map(|v| {
                let s = v.as_str().ok_or_else(|| self.missing(key))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| {
                        ModelError::Graph(format!(
                            "node '{}': bad base64 in '{key}': {e}",
                            self.name
                        ))
                    })?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            })
            .collect()
    }

    pub fn attr_bool(&self, key: &str) -> bool {
        self.attr(key)
            .and_then(|a| a.get("b"))
            .and_then(Json::as_bool)
            .unwrap_or(false)
    }

    pub fn attr_f32(&self, key: &str) -> Option<f32> {
        self.attr(key)
            .and_then(|a| a.get("f"))
            .and_then(Json::as_f64)
            .map(|v| v as f32)
    }

    pub fn attr_int(&self, key: &str) -> Option<i64> {
        self.attr(key).and_then(|a| a.get("i")).and_then(json_int)
    }

    /// An int list attribute; an empty or absent list reads as empty.
    pub fn attr_ints(&self, key: &str) -> Vec<i64> {
        self.attr(key)
            .and_then(|a| a.get("list"))
            .and_then(|l| l.get("i"))
            .and_then(Json::as_array)
            .map(|v| v.iter().filter_map(json_int).collect())
            .unwrap_or_default()
    }

    pub fn attr_ints_required(&self, key: &str) -> Result<Vec<i64>> {
        let v = self.attr_ints(key);
        if v.is_empty() {
            return Err(self.missing(key));
        }
        Ok(v)
    }

    /// The static shape of a Placeholder (`-1` for unknown dims).
    pub fn attr_shape(&self, key: &str) -> Option<Vec<i64>> {
        let dims = self.attr(key)?.get("shape")?.get("dim")?.as_array()?;
        Some(
            dims.iter()
                .map(|d| d.get("size").and_then(json_int).unwrap_or(-1))
                .collect(),
        )
    }
}

/// GraphDef JSON writes int64 values as strings.
fn json_int(v: &Json) -> Option<i64> {
    match v {
        Json::String(s) => s.parse().ok(),
        Json::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Parses `model.json` and decodes every weight named in its manifest.
pub fn read_model(
    json_path: &Path,
    device: &Device,
) -> Result<(ModelJson, HashMap<String, ConstValue>)> {
    let text = std::fs::read_to_string(json_path).map_err(|e| ModelError::io(json_path, e))?;
    let model: ModelJson = serde_json::from_str(&text).map_err(|e| {
        ModelError::Graph(format!(
            "{}: not a TF.js model.json: {e}",
            json_path.display()
        ))
    })?;
    if let Some(f) = &model.format {
        if f != "graph-model" {
            return Err(ModelError::Graph(format!(
                "{}: format '{f}' is not 'graph-model'",
                json_path.display()
            )));
        }
    }
    let dir = json_path.parent().unwrap_or(Path::new("."));
    let mut weights = HashMap::new();
    for group in &model.weights_manifest {
        let mut bytes = Vec::new();
        for p in &group.paths {
            let path = dir.join(p);
            bytes.extend(std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?);
        }
        decode_group(&group.weights, &bytes, device, &mut weights)?;
    }
    Ok((model, weights))
}

/// Splits one manifest group's bytes into named constants, in manifest order, with no padding.
pub fn decode_group(
    specs: &[WeightSpec],
    bytes: &[u8],
    device: &Device,
    out: &mut HashMap<String, ConstValue>,
) -> Result<()> {
    let mut offset = 0usize;
    for spec in specs {
        let numel: usize = spec.shape.iter().product();
        let stored = spec
            .quantization
            .as_ref()
            .map(|q| q.dtype.as_str())
            .unwrap_or(spec.dtype.as_str());
        let width = match stored {
            "float32" | "int32" => 4,
            "float16" | "uint16" | "int16" => 2,
            "uint8" | "int8" | "bool" => 1,
            other => {
                return Err(ModelError::Graph(format!(
                    "weight '{}': unsupported dtype '{other}'",
                    spec.name
                )))
            }
        };
        let len = numel * width;
        let chunk = bytes.get(offset..offset + len).ok_or_else(|| {
            ModelError::Graph(format!(
                "weights file too short at '{}' (need {} bytes at {offset})",
                spec.name, len
            ))
        })?;
        offset += len;
        let value = match (spec.dtype.as_str(), stored) {
            ("float32", "float32") => ConstValue::Float(Tensor::from_raw_buffer(
                chunk,
                DType::F32,
                &spec.shape,
                device,
            )?),
            ("float32", "float16") => ConstValue::Float(
                Tensor::from_raw_buffer(chunk, DType::F16, &spec.shape, device)?
                    .to_dtype(DType::F32)?,
            ),
            ("float32", "uint8") | ("float32", "uint16") => {
                let q = spec
                    .quantization
                    .as_ref()
                    .expect("quantised dtype implies quantization");
                let (scale, min) = (q.scale.unwrap_or(1.0), q.min.unwrap_or(0.0));
                let vals: Vec<f32> = if width == 1 {
                    chunk.iter().map(|&b| b as f32 * scale + min).collect()
                } else {
                    chunk
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 * scale + min)
                        .collect()
                };
                ConstValue::Float(Tensor::from_vec(vals, spec.shape.as_slice(), device)?)
            }
            ("int32", "int32") => ConstValue::Int(Ints {
                shape: spec.shape.clone(),
                data: chunk
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                    .collect(),
            }),
            ("bool", "bool") => ConstValue::Int(Ints {
                shape: spec.shape.clone(),
                data: chunk.iter().map(|&b| b as i64).collect(),
            }),
            (logical, stored) => {
                return Err(ModelError::Graph(format!(
                    "weight '{}': unsupported dtype {logical} stored as {stored}",
                    spec.name
                )))
            }
        };
        out.insert(spec.name.clone(), value);
    }
    if offset != bytes.len() {
        return Err(ModelError::Graph(format!(
            "weights file has {} bytes but the manifest describes {offset}",
            bytes.len()
        )));
    }
    Ok(())
}

impl ConstValue {
    pub fn int(self) -> Option<Ints> {
        match self {
            ConstValue::Int(i) => Some(i),
            ConstValue::Float(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, shape: &[usize], dtype: &str, q: Option<&str>) -> WeightSpec {
        WeightSpec {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: dtype.into(),
            quantization: q.map(|d| Quantization {
                dtype: d.into(),
                scale: None,
                min: None,
            }),
        }
    }

    #[test]
    fn decodes_fp16_and_int32_in_manifest_order() {
        let mut bytes = Vec::new();
        for v in [1.5f32, -2.0, 0.25] {
            bytes.extend(half::f16::from_f32(v).to_le_bytes());
        }
        for v in [7i32, -1] {
            bytes.extend(v.to_le_bytes());
        }
        let specs = [
            spec("w", &[3], "float32", Some("float16")),
            spec("s", &[2], "int32", None),
        ];
        let mut out = HashMap::new();
        decode_group(&specs, &bytes, &Device::Cpu, &mut out).unwrap();
        match &out["w"] {
            ConstValue::Float(t) => assert_eq!(t.to_vec1::<f32>().unwrap(), vec![1.5, -2.0, 0.25]),
            _ => panic!("w should be float"),
        }
        assert_eq!(out["s"].clone().int().unwrap().data, vec![7, -1]);
    }

    #[test]
    fn rejects_a_short_or_long_weights_file() {
        let specs = [spec("w", &[4], "float32", None)];
        let mut out = HashMap::new();
        assert!(decode_group(&specs, &[0u8; 12], &Device::Cpu, &mut out).is_err());
        assert!(decode_group(&specs, &[0u8; 20], &Device::Cpu, &mut out).is_err());
    }

    #[test]
    fn reads_base64_string_attributes() {
        let node: NodeDef = serde_json::from_str(
            r#"{"name":"c","op":"Conv2D","attr":{"padding":{"s":"U0FNRQ=="},"strides":{"list":{"i":["1","2","2","1"]}}}}"#,
        )
        .unwrap();
        assert_eq!(node.attr_str("padding").unwrap(), "SAME");
        assert_eq!(node.attr_ints("strides"), vec![1, 2, 2, 1]);
        assert!(node.attr_str("data_format").is_err());
    }
}
