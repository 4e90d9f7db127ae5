//! Image classification: upload (button, drag-drop, paste, example) or URL → the top classes
//! with bars. One request asks for the top 20; the "show the top" selector re-slices them in
//! the browser. Without JavaScript the forms post to `/classify/result`, a server-rendered
//! result page.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::browser;
use super::state::{ClassifyCtx, FETCH_TOP_K};
use crate::site_config::use_site_config;
use crate::widgets::{
    json_sample, ApiUsage, ImageInput, LatencyBreakdown, Pick, RunState, StatusLines,
};

#[component]
pub fn ClassifyPage() -> impl IntoView {
    let config = use_site_config();
    let ctx = ClassifyCtx {
        model: RwSignal::new(config.default_model("classification")),
        body_limit_bytes: config.body_limit_bytes,
        classes: RwSignal::new(Vec::new()),
        run: RunState::new(),
    };
    let ClassifyCtx {
        model,
        classes,
        run,
        ..
    } = ctx;
    let k = RwSignal::new(5usize);
    // As on every task page: the browser code exists only with `hydrate`.
    let on_pick = Callback::new(move |pick: Pick| {
        #[cfg(feature = "hydrate")]
        browser::pick(ctx, pick);
        #[cfg(not(feature = "hydrate"))]
        let _ = (pick, ctx);
    });
    let download = move |_| {
        #[cfg(feature = "hydrate")]
        browser::download(ctx);
    };
    let api_path =
        Signal::derive(move || format!("/api/v1/classify/{}?top_k={}", model.get(), k.get()));
    let sample = Signal::derive(move || {
        run.answer
            .with(|a| a.as_ref().map(|a| json_sample(a, k.get())))
            .unwrap_or_default()
    });

    view! {
        <section class="task">
            <h1>"Image classification"</h1>
            <p class="lead">
                "Name the main subject of a photo, out of the 1000 ImageNet classes, with the model's confidence in each guess."
            </p>
            <ImageInput
                action="/classify/result"
                submit_id="classify-button"
                submit_label="Classify"
                task="classification"
                model
                busy=run.busy
                on_pick
            />
            <StatusLines run on_retry=Callback::new(move |_| on_pick.run(Pick::Again))/>
            <div class="result">
                <figure>
                    <canvas
                        id="classify-canvas"
                        role="img"
                        aria-label=move || {
                            classes.with(|c| c.first().map(|c| format!("The photo that was classified: {}", c.label)))
                                .unwrap_or_else(|| "The photo that was classified".into())
                        }
                    ></canvas>
                    <figcaption id="latency" class="latency">
                        {move || run.info.get().map(|i| i.line()).unwrap_or_else(|| "Choose a photo to start.".into())}
                    </figcaption>
                </figure>
                <div class="side">
                    <label for="top-k-count">"Show the top "</label>
                    <select id="top-k-count" prop:value=move || k.get().to_string() on:change=move |ev| k.set(event_target_value(&ev).parse().unwrap_or(5))>
                        {[1usize, 3, 5, 10, FETCH_TOP_K].map(|n| view! { <option value=n.to_string() selected=n == 5>{n}</option> }).collect_view()}
                    </select>
                    <ol id="top-k" class="top-k">
                        {move || {
                            classes.get()
                                .into_iter()
                                .take(k.get())
                                .map(|c| {
                                    let pct = c.probability * 100.0;
                                    view! {
                                        <li>
                                            <span class="label">{c.label}</span>
                                            <span class="pct">{format!("{pct:.1}%")}</span>
                                            <span class="bar" aria-hidden="true">
                                                <span style=format!("width: {:.1}%", pct.clamp(0.0, 100.0))></span>
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ol>
                    <div class="downloads" role="group" aria-label="Downloads">
                        <button type="button" id="download-json" class="secondary" prop:disabled=move || run.info.with(Option::is_none) on:click=download>"JSON"</button>
                    </div>
                    <LatencyBreakdown info=run.info.into() id="classify"/>
                </div>
            </div>
            <ApiUsage input=run.input path=api_path sample/>
        </section>
    }
}
