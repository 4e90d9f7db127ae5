//! A seq2seq checkpoint as a [`Summarizer`]: a network ([`T5`](super::t5::T5) or
//! [`Bart`](super::bart::Bart)) and the text side of its checkpoint ([`Seq2SeqText`]). Each
//! network's file adds the `load` that reads its checkpoint directory.

use super::model::Seq2SeqModel;
use super::text::Seq2SeqText;
use crate::error::Result;
use crate::summarize::task::{SummarizeRequest, Summarizer, Summary};

/// With `num_beams > 1`, `on_token` is called once, at the end, with the whole text (beam
/// search knows the winner only then); greedy decoding streams token by token.
pub struct Seq2SeqSummarizer<M> {
    pub(super) id: String,
    pub(super) model: M,
    pub(super) text: Seq2SeqText,
}

impl<M: Seq2SeqModel> Seq2SeqSummarizer<M> {
    pub fn model(&self) -> &M {
        &self.model
    }

    pub fn text(&self) -> &Seq2SeqText {
        &self.text
    }

    /// The same model with `num_beams` instead of the checkpoint's (1: greedy, streamed).
    pub fn with_num_beams(mut self, num_beams: usize) -> Self {
        self.text.set_num_beams(num_beams);
        self
    }
}

// The trait's two methods, shaped like SmolLm's impl; the bodies differ.
impl<M: Seq2SeqModel> Summarizer for Seq2SeqSummarizer<M> {
    fn id(&self) -> &str {
        &self.id
    }

    fn summarize(
        &self,
        req: &SummarizeRequest,
        on_token: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Summary> {
        let mut req = req.clone();
        if let Some(cap) = self.model.max_new_tokens() {
            req.max_tokens = req.max_tokens.min(cap);
        }
        self.text.summarize(&self.id, &self.model, &req, on_token)
    }
}
