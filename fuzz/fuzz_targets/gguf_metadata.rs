//! GGUF bytes: the header and metadata are read, and the tokenizer is built from them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cursor = std::io::Cursor::new(data);
    let Ok(ct) = candle_core::quantized::gguf_file::Content::read(&mut cursor) else {
        return;
    };
    let _ = models::summarize::tokenizer::from_gguf(&ct);
});
