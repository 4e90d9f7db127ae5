//! Person segmentation: upload (button, drag-drop, paste, example) or URL → original | overlay
//! side by side or as a before/after split, with threshold and opacity sliders that redraw in
//! the browser without a new request, a legend with each class's live pixel share, and
//! downloads. Without JavaScript the forms post to `/segment/result`, a server-rendered result
//! page.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::browser;
use super::state::{swatch_style, SegmentCtx};
use crate::site_config::use_site_config;
use crate::sync_view::SyncView;
use crate::widgets::{
    json_sample, slider, ApiUsage, ImageInput, LatencyBreakdown, Pick, RunState, StatusLines,
};

#[component]
pub fn SegmentPage() -> impl IntoView {
    let config = use_site_config();
    let ctx = SegmentCtx {
        model: RwSignal::new(config.default_model("segmentation")),
        body_limit_bytes: config.body_limit_bytes,
        threshold: RwSignal::new(0.5),
        opacity: RwSignal::new(0.6),
        run: RunState::new(),
        legend: RwSignal::new(Vec::new()),
        split: RwSignal::new(false),
        split_at: RwSignal::new(50.0),
        highlight: RwSignal::new(None),
    };
    let SegmentCtx {
        model,
        threshold,
        opacity,
        run,
        legend,
        split,
        split_at,
        highlight,
        ..
    } = ctx;

    // As on every task page: the browser code exists only with `hydrate`.
    let on_pick = Callback::new(move |pick: Pick| {
        #[cfg(feature = "hydrate")]
        browser::pick(ctx, pick);
        #[cfg(not(feature = "hydrate"))]
        let _ = (pick, ctx);
    });
    let redraw = move || {
        #[cfg(feature = "hydrate")]
        browser::redraw(ctx);
    };
    let on_threshold = move |ev: leptos::ev::Event| {
        threshold.set(slider::value(&ev, 0.5));
        redraw();
    };
    let hover = move |row: Option<usize>| {
        if highlight.get_untracked() != row {
            highlight.set(row);
            redraw();
        }
    };
    let on_opacity = move |ev: leptos::ev::Event| {
        opacity.set(slider::value(&ev, 0.6));
        redraw();
    };
    let download = move |what: &'static str| {
        #[cfg(feature = "hydrate")]
        browser::download(ctx, what);
        #[cfg(not(feature = "hydrate"))]
        let _ = what;
    };
    let has_result = move || run.info.with(Option::is_some);
    let api_path = Signal::derive(move || {
        format!(
            "/api/v1/segment/{}?output=json&threshold={:.2}",
            model.get(),
            threshold.get()
        )
    });
    let sample = Signal::derive(move || {
        run.answer
            .with(|a| a.as_ref().map(|a| json_sample(a, 10)))
            .unwrap_or_default()
    });

    view! {
        <section class="task">
            <h1>"Person segmentation"</h1>
            <p class="lead">
                "Find the people in a photo. The model runs on the server with candle; the sliders re-threshold and blend the returned probability map right here in your browser."
            </p>
            <ImageInput
                action="/segment/result"
                submit_id="segment-button"
                submit_label="Segment"
                task="segmentation"
                model
                busy=run.busy
                on_pick
            />
            <div class="panel sliders">
                // Two sliders of one shape, written out: each binds its own signal, handler and
                // range, and the markup is what the browser tests address by id.
                <span class="slider-field">
                    <label for="threshold">
                        "Threshold " <output id="threshold-value">{move || format!("{:.2}", threshold.get())}</output>
                    </label>
                    <input id="threshold" type="range" min="0.01" max="0.99" step="0.01" prop:value=move || threshold.get() on:input=on_threshold/>
                </span>
                <span class="slider-field">
                    <label for="opacity">
                        "Opacity " <output id="opacity-value">{move || format!("{:.2}", opacity.get())}</output>
                    </label>
                    <input id="opacity" type="range" min="0" max="1" step="0.05" prop:value=move || opacity.get() on:input=on_opacity/>
                </span>
                <label class="toggle" for="split-toggle">
                    <input id="split-toggle" type="checkbox" prop:checked=move || split.get() on:change=move |ev| split.set(event_target_checked(&ev))/>
                    " Before/after slider"
                </label>
                <Show when=move || split.get()>
                    // Erased as children: SyncView keeps their unused async hydration out of the wasm.
                    {SyncView(view! {
                        <label for="split">"Split at " <output>{move || format!("{:.0}%", split_at.get())}</output></label>
                        <input id="split" type="range" min="0" max="100" step="1" prop:value=move || split_at.get() on:input=move |ev| split_at.set(slider::value(&ev, 50.0))/>
                    })}
                </Show>
            </div>
            <StatusLines run on_retry=Callback::new(move |_| on_pick.run(Pick::Again))/>
            <div
                id="views"
                class="views"
                class:split=move || split.get()
                style=move || format!("--split: {:.1}%", split_at.get())
            >
                <figure>
                    <canvas id="original-canvas" role="img" aria-label="The original photo"></canvas>
                    <figcaption>"Original"</figcaption>
                </figure>
                <figure class="overlay-figure">
                    <canvas id="overlay-canvas" role="img" aria-label="The photo with the people found tinted orange"></canvas>
                    <figcaption>"Overlay"</figcaption>
                </figure>
            </div>
            <div class="result-meta">
                <div class="legend-box">
                    <h2>"Legend"</h2>
                    <ul id="legend" class="legend">
                        {move || {
                            legend
                                .get()
                                .into_iter()
                                .enumerate()
                                .map(|(row, e)| {
                                    let swatch = swatch_style(e.colour);
                                    let share = format!("{:.1}%", e.share * 100.0);
                                    let title = format!("{}: {share} of the pixels; hover or focus to highlight", e.label);
                                    view! {
                                        <li
                                            tabindex="0"
                                            title=title
                                            class:highlighted=move || highlight.get() == Some(row)
                                            on:mouseenter=move |_| hover(Some(row))
                                            on:mouseleave=move |_| hover(None)
                                            on:focus=move |_| hover(Some(row))
                                            on:blur=move |_| hover(None)
                                        >
                                            <span class="swatch" style=swatch aria-hidden="true"></span>
                                            <span class="label">{e.label}</span>
                                            <span class="share">{share}</span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                    <div class="downloads" role="group" aria-label="Downloads">
                        <button type="button" id="download-mask" class="secondary" prop:disabled=move || !has_result() on:click=move |_| download("mask")>"Mask PNG"</button>
                        <button type="button" id="download-overlay" class="secondary" prop:disabled=move || !has_result() on:click=move |_| download("overlay")>"Overlay PNG"</button>
                        <button type="button" id="download-json" class="secondary" prop:disabled=move || !has_result() on:click=move |_| download("json")>"JSON"</button>
                    </div>
                </div>
                <div class="timing-box">
                    <h2>"Latency"</h2>
                    <p id="latency" class="latency">
                        {move || run.info.get().map(|i| i.line()).unwrap_or_else(|| "Choose a photo to start.".into())}
                    </p>
                    <LatencyBreakdown info=run.info.into() id="segment"/>
                </div>
            </div>
            <ApiUsage input=run.input path=api_path sample/>
        </section>
    }
}
