//! The image functions' output codec: JSON, read in the browser into the typed answer *and*
//! kept as the text it came as. The page shows and downloads the API's JSON as sent ("Use via
//! API", the JSON download); writing the typed answer back out instead would print every `f32`
//! through `f64` (`0.5019887` as `0.5019887089729309`) and copy the embedded images once more.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A typed answer and, in the browser, the JSON it was read from (empty on the server).
pub struct Kept<T> {
    pub value: T,
    pub json: String,
}

impl<T> From<T> for Kept<T> {
    fn from(value: T) -> Self {
        Self {
            value,
            json: String::new(),
        }
    }
}

/// The encoding behind [`KeptJson`].
pub struct KeptJsonEncoding;

/// The output codec of the image server functions.
pub type KeptJson = Post<KeptJsonEncoding>;

impl ContentType for KeptJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for KeptJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<Kept<T>> for KeptJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &Kept<T>) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(&output.value).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<Kept<T>> for KeptJsonEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<Kept<T>, Self::Error> {
        let json = String::from_utf8(bytes.to_vec())
            .map_err(<serde_json::Error as serde::de::Error>::custom)?;
        Ok(Kept {
            value: serde_json::from_str(&json)?,
            json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_kept_beside_the_value() {
        let sent = Bytes::from_static(b"[0.5019887, 2.0]");
        let k: Kept<Vec<f32>> = KeptJsonEncoding::decode(sent).unwrap();
        assert_eq!(k.value, vec![0.5019887, 2.0]);
        assert_eq!(k.json, "[0.5019887, 2.0]");
        // What it spares: the typed answer written back out prints its f32s through f64.
        let rewritten = serde_json::to_value(&k.value).unwrap().to_string();
        assert_ne!(rewritten, "[0.5019887,2.0]", "{rewritten}");
        let out = KeptJsonEncoding::encode(&Kept::from(vec![3u32])).unwrap();
        assert_eq!(&out[..], b"[3]");
    }
}
