//! `POST /api/v1/summarize/{model_id}` (JSON or server-sent events), and the seeds'
//! `POST /predict/text_summarize` and `GET /Summarizer`.

use serde::{Deserialize, Deserializer, Serialize};

/// The JSON body of the summarize routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SummarizeRequest {
    /// The text to summarize (empty: 400 "Text cannot be empty", as the seed answers). Absent or
    /// `null` reads as empty, so it gets that answer too.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[cfg_attr(feature = "openapi", schema(required = true, min_length = 1))]
    pub text: String,
    // No `#[serde(default)]` on the two lengths: an absent Option is None in an object anyway,
    // and without it serde refuses a short JSON array read as the struct by position
    // (`["text"]`), which must stay a 400.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// Answer as server-sent events (as `Accept: text/event-stream` does).
    #[serde(default)]
    pub stream: bool,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `POST /predict/text_summarize?model=<id>&min=<n>&max=<n>`.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct LegacySummarizeQuery {
    pub model: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
}

/// `GET /Summarizer?txt=...` (Ray Serve's).
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct RayQuery {
    /// The text to summarize.
    #[cfg_attr(feature = "openapi", param(required = true, min_length = 1))]
    pub txt: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SummaryTimings {
    pub prefill_ms: f64,
    pub generate_ms: f64,
    pub tokens_per_s: f64,
    pub total_ms: f64,
}

/// The non-streaming answer, and the `done` event's data when streaming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SummarizeResponse {
    pub model: String,
    pub summary: String,
    pub tokens_generated: usize,
    pub prompt_tokens: usize,
    /// The text did not fit the model's context with room for the summary and was cut.
    #[serde(default)]
    pub input_truncated: bool,
    /// `eos`, `max_tokens` or `cancelled`.
    pub stop_reason: String,
    #[serde(default)]
    pub min_tokens: usize,
    #[serde(default)]
    pub max_tokens: usize,
    pub timings: SummaryTimings,
}

impl SummarizeResponse {
    /// The line under a finished summary, on the live page and the no-JS result page.
    pub fn stats_line(&self) -> String {
        format!(
            "{} · {} tokens · {:.1} tokens/s · prompt {} tokens in {:.0} ms · total {:.0} ms · stopped: {}{}",
            self.model,
            self.tokens_generated,
            self.timings.tokens_per_s,
            self.prompt_tokens,
            self.timings.prefill_ms,
            self.timings.total_ms,
            self.stop_reason,
            if self.input_truncated { " · input truncated" } else { "" },
        )
    }
}

/// A streamed `token` event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenPiece {
    pub text: String,
}

/// One event of a streamed summary, as `/api/v1/summarize` sends it (an SSE event named
/// `token`, `done` or `error` carrying the data as JSON) and as the site's streaming server
/// function sends it (one line each: `{"token": {"text": ...}}`). Externally tagged: an
/// adjacently tagged enum would read through serde's buffering `Content`, ~12 KB of wasm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryEvent {
    /// A decoded piece of the summary.
    Token(TokenPiece),
    /// The whole answer, as the non-streaming route gives it; the stream ends.
    Done(SummarizeResponse),
    /// Why the stream ended early.
    Error(crate::StreamError),
}

impl SummaryEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            SummaryEvent::Token(_) => "token",
            SummaryEvent::Done(_) => "done",
            SummaryEvent::Error(_) => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_done_event() {
        let done = r#"{"model":"smollm2","summary":"x","tokens_generated":20,"prompt_tokens":71,"input_truncated":false,"stop_reason":"max_tokens","min_tokens":8,"max_tokens":20,"timings":{"prefill_ms":1.0,"generate_ms":2.0,"tokens_per_s":18.1,"total_ms":3.0}}"#;
        let r: SummarizeResponse = serde_json::from_str(done).unwrap();
        assert_eq!(r.tokens_generated, 20);
        assert_eq!(r.timings.tokens_per_s, 18.1);
        assert_eq!(serde_json::to_string(&r).unwrap(), done, "written as read");
    }

    #[test]
    fn missing_or_null_text_reads_as_empty() {
        for body in [r#"{}"#, r#"{"text":null}"#] {
            let r: SummarizeRequest = serde_json::from_str(body).unwrap();
            assert_eq!(r.text, "");
            assert!(!r.stream);
        }
        assert!(serde_json::from_str::<SummarizeRequest>(r#"{"text":5}"#).is_err());
        // An array is not the body (the hostile corpus's `json-array` case).
        assert!(serde_json::from_str::<SummarizeRequest>(r#"["file:///etc/passwd"]"#).is_err());
    }
}
