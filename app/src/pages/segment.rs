//! Person segmentation: upload (button, drag-drop) or URL → original | overlay side by side,
//! with threshold and opacity sliders that redraw in the browser without a new request.
//! Without JavaScript the forms post to `/segment?output=overlay` and the browser shows the PNG.

use leptos::prelude::*;

use super::common::{ImageInput, Pick, StatusLines};
use crate::dto::SEGMENTATION_MODELS;

/// What the page shows about the last run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub person_share: f32,
    pub inference_ms: f64,
    pub server_ms: f64,
    pub round_trip_ms: f64,
}

#[component]
pub fn SegmentPage() -> impl IntoView {
    let model = RwSignal::new(SEGMENTATION_MODELS[0].id.to_string());
    let threshold = RwSignal::new(0.5f64);
    let opacity = RwSignal::new(0.6f64);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let info = RwSignal::new(None::<RunInfo>);
    let ctx = PageCtx {
        model,
        threshold,
        opacity,
        busy,
        error,
        info,
    };

    // Without `hydrate` (server rendering) the handlers below are inert and never read `ctx`.
    #[cfg(not(feature = "hydrate"))]
    let _ = ctx;
    let on_pick = Callback::new(move |pick: Pick| {
        #[cfg(feature = "hydrate")]
        crate::client::segment::pick(ctx, pick);
        #[cfg(not(feature = "hydrate"))]
        let _ = pick;
    });
    let on_threshold = move |ev: leptos::ev::Event| {
        threshold.set(event_target_value(&ev).parse().unwrap_or(0.5));
        #[cfg(feature = "hydrate")]
        crate::client::segment::redraw(ctx);
    };
    let on_opacity = move |ev: leptos::ev::Event| {
        opacity.set(event_target_value(&ev).parse().unwrap_or(0.6));
        #[cfg(feature = "hydrate")]
        crate::client::segment::redraw(ctx);
    };

    view! {
        <section class="task">
            <h1>"Person segmentation"</h1>
            <p class="lead">
                "Find the people in a photo. The model runs on the server with candle; the sliders re-threshold and blend the returned probability map right here in your browser."
            </p>
            <ImageInput
                action="/segment?output=overlay"
                submit_id="segment-button"
                submit_label="Segment"
                models=SEGMENTATION_MODELS
                model
                busy
                on_pick
            />
            <div class="panel sliders">
                <label for="threshold">
                    "Threshold " <output id="threshold-value">{move || format!("{:.2}", threshold.get())}</output>
                </label>
                <input id="threshold" type="range" min="0.01" max="0.99" step="0.01" prop:value=move || threshold.get() on:input=on_threshold/>
                <label for="opacity">
                    "Opacity " <output id="opacity-value">{move || format!("{:.2}", opacity.get())}</output>
                </label>
                <input id="opacity" type="range" min="0" max="1" step="0.05" prop:value=move || opacity.get() on:input=on_opacity/>
            </div>
            <StatusLines busy error/>
            <div class="views">
                <figure>
                    <canvas id="original-canvas" aria-label="The original image"></canvas>
                    <figcaption>"Original"</figcaption>
                </figure>
                <figure>
                    <canvas id="overlay-canvas" aria-label="The image with detected people tinted orange"></canvas>
                    <figcaption>"Overlay"</figcaption>
                </figure>
            </div>
            <p id="latency" class="latency">
                {move || {
                    info.get()
                        .map(|i| {
                            format!(
                                "{} · {}×{} · person {:.1}% · model {:.1} ms · server {:.1} ms · round trip {:.0} ms",
                                i.model,
                                i.width,
                                i.height,
                                i.person_share * 100.0,
                                i.inference_ms,
                                i.server_ms,
                                i.round_trip_ms,
                            )
                        })
                        .unwrap_or_default()
                }}
            </p>
        </section>
    }
}

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct PageCtx {
    pub model: RwSignal<String>,
    pub threshold: RwSignal<f64>,
    pub opacity: RwSignal<f64>,
    pub busy: RwSignal<bool>,
    pub error: RwSignal<Option<String>>,
    pub info: RwSignal<Option<RunInfo>>,
}
