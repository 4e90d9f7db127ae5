//! The summarization result page for the form posted without JavaScript.

use leptos::prelude::*;

use crate::dto::SummarizeResponse;
use crate::result_page::document;

/// The summary, with its length, speed and why it stopped.
pub fn summarize_html(r: &SummarizeResponse) -> String {
    let body = view! {
        <section class="task result-page">
            <h1>"Summary"</h1>
            <output id="summary" class="summary panel">{r.summary.clone()}</output>
            <p id="tokens-per-s" class="latency">{r.stats_line()}</p>
            <p><a href="/summarize">"Summarize another text"</a></p>
        </section>
    }
    .into_any();
    document("Summary", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_page_shows_the_text_and_its_stats() {
        let r = SummarizeResponse {
            model: "smollm2".into(),
            summary: "Cats <sleep> a lot.".into(),
            tokens_generated: 6,
            prompt_tokens: 40,
            input_truncated: true,
            stop_reason: "eos".into(),
            min_tokens: 8,
            max_tokens: 128,
            timings: crate::dto::SummaryTimings {
                prefill_ms: 12.0,
                generate_ms: 300.0,
                tokens_per_s: 20.0,
                total_ms: 320.0,
            },
        };
        let html = summarize_html(&r);
        assert!(html.contains("Cats &lt;sleep&gt; a lot."), "{html}");
        assert!(html.contains("6 tokens · 20.0 tokens/s") && html.contains("input truncated"));
    }
}
