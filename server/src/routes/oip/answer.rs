//! The Open Inference Protocol's answer: output tensors encoded as JSON or, where the client
//! asked, as binary after the JSON header (Triton's binary tensor data extension; the layout is
//! described in `tensor.rs`).

use serde::Serialize;

use crate::error::ApiError;

/// An answer's tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum OutData {
    Uint8(Vec<u8>),
    Fp32(Vec<f32>),
    /// Every BYTES output here is UTF-8 text (labels, a summary).
    Bytes(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutTensor {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: OutData,
}

impl OutTensor {
    pub fn datatype(&self) -> &'static str {
        match self.data {
            OutData::Uint8(_) => "UINT8",
            OutData::Fp32(_) => "FP32",
            OutData::Bytes(_) => "BYTES",
        }
    }

    fn binary(&self) -> Vec<u8> {
        match &self.data {
            OutData::Uint8(v) => v.clone(),
            OutData::Fp32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            OutData::Bytes(v) => v
                .iter()
                .flat_map(|s| (s.len() as u32).to_le_bytes().into_iter().chain(s.bytes()))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct ResponseHeader<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<OutputHeader<'a>>,
}

#[derive(Serialize)]
struct OutputHeader<'a> {
    name: &'a str,
    datatype: &'a str,
    shape: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<JsonData<'a>>,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonData<'a> {
    Uint8(&'a [u8]),
    Fp32(&'a [f32]),
    Bytes(&'a [String]),
}

/// An encoded answer: the body, and the JSON header's length when binary data follows it.
pub struct Encoded {
    pub body: Vec<u8>,
    pub header_len: Option<usize>,
}

/// Encodes the answer: each output as JSON `data`, or (where its flag is set) as binary after
/// the JSON header.
pub fn encode(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    outputs: &[(OutTensor, bool)],
) -> Result<Encoded, ApiError> {
    let mut tail = Vec::new();
    let mut headers = Vec::with_capacity(outputs.len());
    for (t, binary) in outputs {
        let (parameters, data) = if *binary {
            let raw = t.binary();
            let size = raw.len();
            tail.extend(raw);
            (
                Some(BinarySize {
                    binary_data_size: size,
                }),
                None,
            )
        } else {
            let data = match &t.data {
                OutData::Uint8(v) => JsonData::Uint8(v),
                OutData::Fp32(v) => JsonData::Fp32(v),
                OutData::Bytes(v) => JsonData::Bytes(v),
            };
            (None, Some(data))
        };
        headers.push(OutputHeader {
            name: t.name,
            datatype: t.datatype(),
            shape: &t.shape,
            parameters,
            data,
        });
    }
    let mut body = serde_json::to_vec(&ResponseHeader {
        model_name,
        model_version,
        id,
        outputs: headers,
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let any_binary = outputs.iter().any(|(_, b)| *b);
    let header_len = any_binary.then_some(body.len());
    body.extend(tail);
    Ok(Encoded { body, header_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_encode_as_json_or_binary() {
        let t = OutTensor {
            name: "scores",
            shape: vec![2],
            data: OutData::Fp32(vec![0.5, 1.0]),
        };
        let s = OutTensor {
            name: "labels",
            shape: vec![1],
            data: OutData::Bytes(vec!["dog".into()]),
        };
        let e = encode(
            "m",
            "1",
            Some("r"),
            &[(t.clone(), false), (s.clone(), true)],
        )
        .unwrap();
        let n = e.header_len.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&e.body[..n]).unwrap();
        assert_eq!(v["id"], "r");
        assert_eq!(v["outputs"][0]["data"], serde_json::json!([0.5, 1.0]));
        assert_eq!(v["outputs"][1]["parameters"]["binary_data_size"], 7);
        assert_eq!(&e.body[n..], &[3, 0, 0, 0, b'd', b'o', b'g']);
        let e = encode("m", "1", None, &[(t, false)]).unwrap();
        assert!(e.header_len.is_none());
    }
}
