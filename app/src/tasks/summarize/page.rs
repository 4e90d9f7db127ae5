//! Summarization: paste text → a summary that grows token by token (server-sent events read
//! from `fetch`'s stream), with the decode speed. Without JavaScript the form posts to
//! `/summarize/result`, a server-rendered result page.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::browser;
use super::state::SummarizeCtx;
#[cfg(feature = "hydrate")]
use super::state::NEWS_SAMPLE;
use crate::site_config::use_site_config;
use crate::widgets::{RunState, StatusLines};

#[component]
pub fn SummarizePage() -> impl IntoView {
    let config = use_site_config();
    let text_limit = config.text_limit_chars;
    let models = config.models_of("summarization");
    let ctx = SummarizeCtx {
        model: RwSignal::new(config.default_model("summarization")),
        text: RwSignal::new(String::new()),
        min_tokens: RwSignal::new("8".into()),
        max_tokens: RwSignal::new("128".into()),
        summary: RwSignal::new(String::new()),
        live: RwSignal::new((0, 0.0, 0.0)),
        done: RwSignal::new(None),
        run: RunState::new(),
    };
    let SummarizeCtx {
        model,
        text,
        min_tokens,
        max_tokens,
        summary,
        live,
        done,
        run,
    } = ctx;
    // `?example=news` (the home page's link): fill in the sample and run it once hydrated.
    let query = leptos_router::hooks::use_query_map();
    Effect::new(move |last: Option<bool>| {
        let news = query.with(|q| q.get("example").as_deref() == Some("news"));
        if news && last != Some(true) {
            #[cfg(feature = "hydrate")]
            untrack(|| {
                text.set(NEWS_SAMPLE.to_string());
                browser::start(ctx);
            });
        }
        news
    });
    let busy = run.busy;
    let chars = move || text.with(|t| t.chars().count());
    let over_limit = move || chars() > text_limit;
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        browser::start(ctx);
    };
    let on_stop = move |_| {
        #[cfg(feature = "hydrate")]
        browser::stop();
    };
    let stats = move || {
        if let Some(d) = done.get() {
            d.stats_line()
        } else {
            let (n, _, rate) = live.get();
            match (n, busy.get()) {
                (0, _) => String::new(),
                (_, true) => format!("{n} tokens so far · {rate:.1} tokens/s"),
                (_, false) => format!("{n} tokens · stopped"),
            }
        }
    };

    view! {
        <section class="task">
            <h1>"Summarization"</h1>
            <p class="lead">
                "Paste an article or a few paragraphs; a small instruction-tuned language model writes a short summary, streamed word by word as it decodes."
            </p>
            <form id="summarize-form" class="panel column" method="post" action="/summarize/result" on:submit=on_submit>
                <label for="text">"Text"</label>
                <textarea
                    id="text"
                    name="txt"
                    rows="10"
                    required
                    aria-describedby="char-count"
                    placeholder="Paste the text to summarize…"
                    on:input=move |ev| text.set(event_target_value(&ev))
                    prop:value=move || text.get()
                ></textarea>
                <p id="char-count" class="hint" class:over-limit=over_limit>
                    {move || {
                        let n = chars();
                        if n > text_limit {
                            format!("{n} / {text_limit} characters: {} over the server's limit", n - text_limit)
                        } else {
                            format!("{n} / {text_limit} characters")
                        }
                    }}
                </p>
                <div class="row">
                    <span class="field model-field">
                        <label for="model">"Model"</label>
                        <select id="model" name="model" prop:value=move || model.get() on:change=move |ev| model.set(event_target_value(&ev))>
                            {models.into_iter().map(|m| view! { <option value=m.id>{m.label}</option> }).collect_view()}
                        </select>
                    </span>
                    <span class="field">
                        <label for="min-tokens">"Min tokens"</label>
                        <input id="min-tokens" name="min" class="num" type="number" min="0" max="512" value="8" prop:value=move || min_tokens.get() on:input=move |ev| min_tokens.set(event_target_value(&ev))/>
                    </span>
                    <span class="field">
                        <label for="max-tokens">"Max tokens"</label>
                        <input id="max-tokens" name="max" class="num" type="number" min="1" max="512" value="128" prop:value=move || max_tokens.get() on:input=move |ev| max_tokens.set(event_target_value(&ev))/>
                    </span>
                    <button type="submit" id="summarize-button" prop:disabled=move || busy.get() || over_limit()>"Summarize"</button>
                    <button type="button" id="stop-button" class="secondary" prop:disabled=move || !busy.get() on:click=on_stop>"Stop"</button>
                </div>
            </form>
            <StatusLines run on_retry=Callback::new(move |_| {
                #[cfg(feature = "hydrate")]
                browser::start(ctx);
            })/>
            <h2>"Summary"</h2>
            <output id="summary" class="summary panel" aria-live="polite">{move || summary.get()}</output>
            <p id="tokens-per-s" class="latency">{stats}</p>
        </section>
    }
}
