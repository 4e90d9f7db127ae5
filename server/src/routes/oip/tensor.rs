//! The Open Inference Protocol's request tensors (KServe v2, Triton's HTTP/REST form): the
//! request's JSON header and each input's data in JSON or as binary after it (Triton's binary
//! tensor data extension, which `tritonclient.http` uses by default). The answer's tensors are
//! encoded in `answer.rs`. Everything here is checked, never trusted: a shape that does not match its data, a
//! size that overflows, a length prefix past the end are all 400s, never a panic or a huge
//! allocation.
//!
//! Binary layout (both ways): little-endian, row-major, no padding; a BYTES element is a 4-byte
//! little-endian length and its bytes. With binary data the body is the JSON header followed by
//! each binary tensor in the order the header lists them, and `Inference-Header-Content-Length`
//! gives the JSON's length.
//!
//! (Over 500 lines with its tests: the code is the first 455 lines; the tests stay beside it.)

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::ApiError;

/// The input every image model takes, and the summarizer's.
pub const IMAGE_INPUT: &str = "image";
pub const TEXT_INPUT: &str = "text";

/// Most elements a BYTES input may hold: every model here takes one image or one text, and the
/// cap bounds what parsing a hostile body of tiny strings can allocate.
pub const MAX_BYTES_ELEMENTS: usize = 16;

pub type Parameters = serde_json::Map<String, serde_json::Value>;

/// `POST /v2/models/{model_id}/infer`'s JSON (the header, when binary data follows).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InferRequest {
    /// Echoed back in the answer.
    #[serde(default)]
    pub id: Option<String>,
    /// Task settings (`threshold`, `confidence`, `top_k`, `min_tokens`, `max_tokens`) and
    /// `binary_data_output`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Parameters,
    pub inputs: Vec<RequestInput>,
    /// The outputs wanted (default: all), each optionally `{"parameters": {"binary_data": true}}`.
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<i64>,
    /// `BYTES` (an encoded image, or UTF-8 text) or `UINT8` (RGB pixels, `[H, W, 3]`).
    pub datatype: String,
    /// `binary_data_size` when the data follows the JSON as binary.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Parameters,
    /// Row-major, flat or nested. BYTES elements are strings: text as it is; an image file as
    /// base64 (a `data:` URL prefix is allowed).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub data: Option<FlatData>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RequestOutput {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Parameters,
}

/// A tensor's JSON `data`, flattened as it is read: no `serde_json::Value` tree, whose 32 bytes
/// an element would make a 16 MiB body of small numbers cost half a gigabyte.
#[derive(Debug, Default)]
pub struct FlatData {
    /// Elements that are whole numbers 0..=255 (the only numbers an input here takes), in order.
    pub bytes: Vec<u8>,
    pub strings: Vec<String>,
    /// Elements of any other kind (other numbers, booleans, null): counted, not kept.
    pub other: usize,
    /// The first of those, for the error message.
    pub first_other: Option<String>,
}

impl FlatData {
    pub fn len(&self) -> usize {
        self.bytes.len() + self.strings.len() + self.other
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn note_other(&mut self, what: String) {
        self.other += 1;
        self.first_other.get_or_insert(what);
    }
}

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut flat = FlatData::default();
        Flatten(&mut flat).deserialize(d)?;
        Ok(flat)
    }
}

/// Appends one JSON value (an element, or a nested array of them) to a [`FlatData`].
struct Flatten<'a>(&'a mut FlatData);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers or strings")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match u8::try_from(v) {
            Ok(b) => self.0.bytes.push(b),
            Err(_) => self.0.note_other(v.to_string()),
        }
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        match u8::try_from(v) {
            Ok(b) => self.0.bytes.push(b),
            Err(_) => self.0.note_other(v.to_string()),
        }
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.note_other(v.to_string());
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.note_other(v.to_string());
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.note_other("null".into());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        if self.0.strings.len() >= MAX_BYTES_ELEMENTS {
            return Err(E::custom(format!(
                "a BYTES input holds at most {MAX_BYTES_ELEMENTS} elements here (one image or one text)"
            )));
        }
        self.0.strings.push(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(self.0))?.is_some() {}
        Ok(())
    }
}

/// An input's elements, once its shape and data agree.
#[derive(Debug)]
pub enum Data {
    /// BYTES: each element's bytes (from JSON: the string's UTF-8).
    Bytes(Vec<Vec<u8>>),
    Uint8(Vec<u8>),
}

/// One checked input.
#[derive(Debug)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Data,
    /// The data came as binary (else as JSON, where BYTES can only be UTF-8 strings).
    pub binary: bool,
}

impl Tensor {
    /// Bytes the data holds (for the memory budget).
    pub fn data_bytes(&self) -> u64 {
        match &self.data {
            Data::Bytes(v) => v.iter().map(|e| e.len() as u64 + 24).sum(),
            Data::Uint8(v) => v.len() as u64,
        }
    }
}

/// A parsed request: the header's settings and the checked inputs.
#[derive(Debug)]
pub struct Parsed {
    pub id: Option<String>,
    pub parameters: Parameters,
    pub inputs: Vec<Tensor>,
    pub outputs: Option<Vec<RequestOutput>>,
}

/// A 400 for a malformed inference request.
pub fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Parses a request body: all JSON, or (with `header_len` from `Inference-Header-Content-Length`)
/// a JSON header of that many bytes followed by binary tensor data.
pub fn parse(body: &[u8], header_len: Option<usize>) -> Result<Parsed, ApiError> {
    let (json, mut binary) = match header_len {
        Some(n) if n > body.len() => {
            return Err(bad(format!(
                "Inference-Header-Content-Length is {n}, but the body has only {} bytes",
                body.len()
            )))
        }
        Some(n) => body.split_at(n),
        None => (body, &[][..]),
    };
    let req: InferRequest = serde_json::from_slice(json).map_err(|e| {
        bad(format!(
            "bad inference request JSON: {e} (expected {{\"inputs\": [{{\"name\", \"shape\", \"datatype\", \"data\"}}]}})"
        ))
    })?;
    if req.inputs.is_empty() {
        return Err(bad("the request has no inputs"));
    }
    let mut inputs = Vec::with_capacity(req.inputs.len());
    for input in req.inputs {
        if !matches!(input.datatype.as_str(), "UINT8" | "BYTES") {
            return Err(unsupported(&input.datatype, &input.name));
        }
        let size = binary_size(&input.parameters, &input.name)?;
        let shape = dims(&input.shape, &input.name)?;
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                bad(format!(
                    "input '{}': shape {:?} is too large",
                    input.name, input.shape
                ))
            })?;
        let tensor = match (size, input.data) {
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "input '{}' has both JSON data and binary_data_size; send one",
                    input.name
                )))
            }
            (None, None) => {
                return Err(bad(format!("input '{}' has no data", input.name)));
            }
            (Some(size), None) => {
                if header_len.is_none() {
                    return Err(bad(format!(
                        "input '{}' has binary_data_size but the request has no Inference-Header-Content-Length header",
                        input.name
                    )));
                }
                if size > binary.len() {
                    return Err(bad(format!(
                        "input '{}': binary_data_size {size} is past the end of the body ({} bytes left)",
                        input.name,
                        binary.len()
                    )));
                }
                let (raw, rest) = binary.split_at(size);
                binary = rest;
                let data = from_binary(raw, &input.datatype, count, &input.name)?;
                Tensor {
                    name: input.name,
                    shape,
                    data,
                    binary: true,
                }
            }
            (None, Some(flat)) => {
                let data = from_json(flat, &input.datatype, count, &input.name)?;
                Tensor {
                    name: input.name,
                    shape,
                    data,
                    binary: false,
                }
            }
        };
        inputs.push(tensor);
    }
    if !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data follow the JSON that no input's binary_data_size accounts for",
            binary.len()
        )));
    }
    Ok(Parsed {
        id: req.id,
        parameters: req.parameters,
        inputs,
        outputs: req.outputs,
    })
}

fn dims(shape: &[i64], name: &str) -> Result<Vec<usize>, ApiError> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                bad(format!(
                    "input '{name}': shape {shape:?} has a negative dimension"
                ))
            })
        })
        .collect()
}

fn binary_size(params: &Parameters, name: &str) -> Result<Option<usize>, ApiError> {
    match params.get("binary_data_size") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                bad(format!(
                    "input '{name}': binary_data_size must be a whole number of bytes, not {v}"
                ))
            }),
    }
}

fn unsupported(datatype: &str, name: &str) -> ApiError {
    bad(format!(
        "input '{name}' has datatype '{datatype}'; this server takes BYTES (an encoded image or UTF-8 text) or UINT8 (RGB pixels)"
    ))
}

fn mismatch(name: &str, count: usize, got: usize) -> ApiError {
    bad(format!(
        "input '{name}': its shape holds {count} elements but its data has {got}"
    ))
}

fn from_binary(raw: &[u8], datatype: &str, count: usize, name: &str) -> Result<Data, ApiError> {
    match datatype {
        "UINT8" => {
            if raw.len() != count {
                return Err(mismatch(name, count, raw.len()));
            }
            Ok(Data::Uint8(raw.to_vec()))
        }
        "BYTES" => {
            if count > MAX_BYTES_ELEMENTS {
                return Err(bad(format!(
                    "input '{name}': a BYTES input holds at most {MAX_BYTES_ELEMENTS} elements here (one image or one text)"
                )));
            }
            let mut elements = Vec::with_capacity(count);
            let mut rest = raw;
            while !rest.is_empty() {
                let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                    return Err(bad(format!(
                        "input '{name}': BYTES data ends inside an element's 4-byte length"
                    )));
                };
                let len = u32::from_le_bytes(*len) as usize;
                if len > tail.len() {
                    return Err(bad(format!(
                        "input '{name}': a BYTES element of {len} bytes runs past the data's end ({} bytes left)",
                        tail.len()
                    )));
                }
                if elements.len() == count {
                    return Err(mismatch(name, count, count + 1));
                }
                let (element, tail) = tail.split_at(len);
                elements.push(element.to_vec());
                rest = tail;
            }
            if elements.len() != count {
                return Err(mismatch(name, count, elements.len()));
            }
            Ok(Data::Bytes(elements))
        }
        other => Err(unsupported(other, name)),
    }
}

fn from_json(flat: FlatData, datatype: &str, count: usize, name: &str) -> Result<Data, ApiError> {
    if flat.len() != count {
        return Err(mismatch(name, count, flat.len()));
    }
    match datatype {
        "UINT8" => {
            if let Some(v) = &flat.first_other {
                return Err(bad(format!(
                    "input '{name}' is UINT8 but its data holds {v}: whole numbers 0..255 only"
                )));
            }
            if !flat.strings.is_empty() {
                return Err(bad(format!(
                    "input '{name}' is UINT8 but its data holds strings"
                )));
            }
            Ok(Data::Uint8(flat.bytes))
        }
        "BYTES" => {
            if flat.strings.len() != count {
                return Err(bad(format!(
                    "input '{name}' is BYTES: in JSON its elements must be strings"
                )));
            }
            Ok(Data::Bytes(
                flat.strings.into_iter().map(String::into_bytes).collect(),
            ))
        }
        other => Err(unsupported(other, name)),
    }
}

/// A parameter as text, for the routes' own parsers (`number_in`, ...): numbers and strings as
/// they read, booleans as `true`/`false`.
pub fn param_text<'a>(params: &'a Parameters, key: &str) -> Option<Cow<'a, str>> {
    match params.get(key)? {
        serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        serde_json::Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// A boolean parameter (`binary_data_output`, `binary_data`): JSON booleans only.
pub fn param_bool(params: &Parameters, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(bad(format!(
            "parameter '{key}' must be true or false, not {v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_req(v: serde_json::Value) -> Result<Parsed, ApiError> {
        parse(&serde_json::to_vec(&v).unwrap(), None)
    }

    #[test]
    fn nested_json_data_is_flattened_row_major() {
        let p = json_req(serde_json::json!({"inputs": [
            {"name": "image", "shape": [2, 2, 3], "datatype": "UINT8",
             "data": [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]}]}))
        .unwrap();
        let Data::Uint8(v) = &p.inputs[0].data else {
            panic!()
        };
        assert_eq!(v, &(1..=12).collect::<Vec<u8>>());
        assert_eq!(p.inputs[0].shape, [2, 2, 3]);
    }

    #[test]
    fn binary_bytes_elements_are_length_prefixed() {
        let header = br#"{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]}"#;
        let mut body = header.to_vec();
        body.extend([2, 0, 0, 0, b'h', b'i', 1, 0, 0, 0, b'!']);
        let p = parse(&body, Some(header.len())).unwrap();
        let Data::Bytes(v) = &p.inputs[0].data else {
            panic!()
        };
        assert_eq!(v, &[b"hi".to_vec(), b"!".to_vec()]);
        // A length past the end, a torn prefix, leftovers: 400, never a panic.
        for tail in [
            vec![9u8, 0, 0, 0, b'x'],
            vec![1, 0],
            vec![1, 0, 0, 0, b'x', 0, 0],
        ] {
            let header = format!(
                r#"{{"inputs":[{{"name":"t","shape":[1],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}]}}"#,
                tail.len()
            );
            let mut body = header.clone().into_bytes();
            body.extend(&tail);
            let e = parse(&body, Some(header.len())).unwrap_err();
            assert_eq!(e.status(), 400, "{tail:?}: {e}");
        }
    }

    #[test]
    fn shapes_that_overflow_or_disagree_are_400() {
        for (shape, data) in [
            (
                serde_json::json!([u32::MAX, u32::MAX, u32::MAX]),
                serde_json::json!([1]),
            ),
            (serde_json::json!([-1, 3]), serde_json::json!([1, 2, 3])),
            (serde_json::json!([2, 3]), serde_json::json!([1, 2, 3])),
            (serde_json::json!([1]), serde_json::json!([256])),
            (serde_json::json!([1]), serde_json::json!([1.5])),
        ] {
            let e = json_req(serde_json::json!({"inputs": [
                {"name": "image", "shape": shape, "datatype": "UINT8", "data": data}]}))
            .unwrap_err();
            assert_eq!(e.status(), 400, "{shape} {data}: {e}");
        }
    }
}
