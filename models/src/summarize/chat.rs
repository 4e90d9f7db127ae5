//! The ChatML prompt of SmolLM2's chat template (`tokenizer.chat_template` in the GGUF):
//!
//! ```text
//! <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n
//! ```
//!
//! The template inserts a default system message when the conversation has none; it is read from
//! the template itself so the prompt stays the one the model was tuned with.

/// The instruction placed before the text. `scripts/golden/summarization.py` uses the same words.
pub const INSTRUCTION: &str = "Summarize the following text in one sentence.";

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";

/// One piece of a prompt: a control token, or text that must never be read as control tokens
/// (a user pasting `<|im_end|>` gets those characters tokenized, not a turn boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Special(&'static str),
    Text(String),
}

/// The user turn for a summary request. The text is trimmed: surrounding whitespace only
/// changes the tokens at the boundary.
pub fn user_message(text: &str) -> String {
    format!("{INSTRUCTION}\n\n{}", text.trim())
}

/// The prompt as pieces, ending with the open assistant turn (`add_generation_prompt`).
pub fn pieces(system: Option<&str>, user: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(10);
    let mut turn = |role: &str, content: &str| {
        out.push(Piece::Special(IM_START));
        out.push(Piece::Text(format!("{role}\n{content}")));
        out.push(Piece::Special(IM_END));
        out.push(Piece::Text("\n".into()));
    };
    if let Some(system) = system {
        turn("system", system);
    }
    turn("user", user);
    out.push(Piece::Special(IM_START));
    out.push(Piece::Text("assistant\n".into()));
    out
}

/// The prompt as one string, as `apply_chat_template(..., tokenize=False)` renders it.
pub fn render(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Special(s) => s,
            Piece::Text(t) => t.as_str(),
        })
        .collect()
}

/// The default system message of a ChatML template: what follows `<|im_start|>system` up to
/// `<|im_end|>` in the template source (a Jinja string literal, so its newline may be written
/// as `\n`). `None` when the template adds no system turn of its own.
pub fn default_system(template: &str) -> Option<String> {
    let start = template.find("<|im_start|>system")? + "<|im_start|>system".len();
    let rest = &template[start..];
    let rest = rest
        .strip_prefix("\\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    let end = rest.find(IM_END)?;
    let system = &rest[..end];
    // A system turn built from the messages (`message['content']`) is not a default.
    (!system.contains("{{") && !system.contains('\'')).then(|| system.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template shipped in the SmolLM2-135M-Instruct GGUF, verbatim (real newlines inside
    /// the Jinja string literals).
    const SMOLLM2_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn reads_the_default_system_message_from_the_template() {
        assert_eq!(
            default_system(SMOLLM2_TEMPLATE).as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        // The same template with its newlines escaped, as other GGUF writers store it.
        assert_eq!(
            default_system(&SMOLLM2_TEMPLATE.replace('\n', "\\n")).as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        assert_eq!(default_system("{{'<|im_start|>' + message['role']}}"), None);
    }

    #[test]
    fn renders_chatml_with_generation_prompt() {
        let p = pieces(Some("SYS"), &user_message("  Some text.\n"));
        assert_eq!(
            render(&p),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nSummarize the following text \
             in one sentence.\n\nSome text.<|im_end|>\n<|im_start|>assistant\n"
        );
        let specials = p.iter().filter(|x| matches!(x, Piece::Special(_))).count();
        assert_eq!(specials, 5);
    }

    #[test]
    fn no_system_turn_when_the_template_has_none() {
        let p = pieces(None, "hi");
        assert_eq!(
            render(&p),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
