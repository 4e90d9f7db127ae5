//! The tokenizer a GGUF carries in its metadata (`tokenizer.ggml.*`), as a `tokenizers::Tokenizer`.
//!
//! candle builds the BPE model, byte-level decoder and special tokens
//! (`candle_core::quantized::tokenizer::TokenizerFromGguf`); it does not know the `smollm`
//! pre-tokenizer and falls back to plain GPT-2 splitting. SmolLM2 splits every digit on its own
//! first (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_SMOLLM`: `\p{N}`, then the GPT-2 regex; the HF
//! tokenizer.json: `Digits(individual_digits)` then `ByteLevel`). That pre-tokenizer is set here.
//! (SmolLM2's own vocabulary has no merge involving a digit, so for it the ids come out the same
//! either way; the goldens check both against the reference.)

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};

pub(crate) fn tk_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Candle(candle_core::Error::msg(format!("tokenizer: {e}")))
}

/// The GGUF's `tokenizer.ggml.pre` value, `gpt2` when absent.
pub fn pre_name(ct: &Content) -> String {
    ct.metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| "gpt2".into())
}

/// Builds the tokenizer from a GGUF's metadata. Only byte-level BPE (`gpt2`) vocabularies with
/// the `gpt2` or `smollm` pre-tokenizers are accepted: any other would silently give ids the
/// model was not trained on.
pub fn from_gguf(ct: &Content) -> Result<Tokenizer> {
    let pre = pre_name(ct);
    let mut tk = Tokenizer::from_gguf(ct)?;
    match pre.as_str() {
        "gpt2" => {}
        "smollm" => {
            tk.with_pre_tokenizer(Some(Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])));
        }
        other => {
            return Err(tk_err(format!(
                "pre-tokenizer '{other}' is not supported (gpt2, smollm are)"
            )))
        }
    }
    Ok(tk)
}

/// Id of a token that must exist, e.g. `<|im_end|>`.
pub fn required_id(tk: &Tokenizer, token: &str) -> Result<u32> {
    tk.token_to_id(token)
        .ok_or_else(|| tk_err(format!("vocabulary has no '{token}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::bpe::BPE;
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    /// The splits the SmolLM2 pre-tokenizer makes, checked by hand against llama.cpp's regex:
    /// digits alone, spaces glued to the next word, a trailing newline run kept whole.
    #[test]
    fn smollm_pre_tokenizer_splits_digits_one_by_one() {
        let mut tk = Tokenizer::new(BPE::default());
        tk.with_pre_tokenizer(Some(Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])));
        let mut s = PreTokenizedString::from("In 2024, it's 12.5%\n\nok");
        tk.get_pre_tokenizer()
            .unwrap()
            .pre_tokenize(&mut s)
            .unwrap();
        let got: Vec<String> = s
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(p, _, _)| p.to_string())
            .collect();
        // Ġ = space, Ċ = newline in the byte-level alphabet.
        let want = [
            "In", "Ġ", "2", "0", "2", "4", ",", "Ġit", "'s", "Ġ", "1", "2", ".", "5", "%", "Ċ",
            "Ċ", "ok",
        ];
        assert_eq!(got, want);
    }
}
