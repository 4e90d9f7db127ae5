//! Object detection: upload (button, drag-drop) or URL → the photo with boxes and labels. The
//! API returns every box down to its score floor, so the confidence slider filters the list and
//! redraws the canvas in the browser without a new request. Without JavaScript the form posts
//! to the seed route `/predict` (fields `file`, `model`, `confidence`) and shows its JPEG.

use leptos::prelude::*;

use super::common::{ImageInput, Pick, RunInfo, StatusLines};
use crate::dto::{above, class_colour, Detection, DETECTION_MODELS};

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct DetectCtx {
    pub model: RwSignal<String>,
    pub confidence: RwSignal<f32>,
    pub detections: RwSignal<Vec<Detection>>,
    pub busy: RwSignal<bool>,
    pub error: RwSignal<Option<String>>,
    pub info: RwSignal<Option<RunInfo>>,
}

#[component]
pub fn DetectPage() -> impl IntoView {
    let ctx = DetectCtx {
        model: RwSignal::new(DETECTION_MODELS[0].id.to_string()),
        confidence: RwSignal::new(0.35),
        detections: RwSignal::new(Vec::new()),
        busy: RwSignal::new(false),
        error: RwSignal::new(None),
        info: RwSignal::new(None),
    };
    let DetectCtx {
        model,
        confidence,
        detections,
        busy,
        error,
        info,
    } = ctx;
    let on_pick = Callback::new(move |pick: Pick| {
        #[cfg(feature = "hydrate")]
        crate::client::detect::pick(ctx, pick);
        #[cfg(not(feature = "hydrate"))]
        let _ = pick;
    });
    let on_confidence = move |ev: leptos::ev::Event| {
        confidence.set(event_target_value(&ev).parse().unwrap_or(0.35));
        #[cfg(feature = "hydrate")]
        crate::client::detect::redraw(ctx);
    };
    let shown = Memo::new(move |_| above(&detections.get(), confidence.get()));

    view! {
        <section class="task">
            <h1>"Object detection"</h1>
            <p class="lead">
                "Find and label everyday objects (80 COCO classes). The server returns every box it is even slightly sure of; the confidence slider hides the weaker ones right here in your browser."
            </p>
            <ImageInput
                action="/predict"
                submit_id="detect-button"
                submit_label="Detect"
                models=DETECTION_MODELS
                model
                busy
                on_pick
            >
                <div class="slider-row">
                    <label for="confidence">
                        "Confidence ≥ " <output id="confidence-value">{move || format!("{:.2}", confidence.get())}</output>
                    </label>
                    <input id="confidence" name="confidence" type="range" min="0.05" max="0.95" step="0.01" prop:value=move || confidence.get() on:input=on_confidence/>
                </div>
            </ImageInput>
            <StatusLines busy error/>
            <div class="result">
                <figure>
                    <canvas id="detect-canvas" aria-label="The photo with the detected objects boxed and labelled"></canvas>
                    <figcaption id="latency" class="latency">
                        {move || {
                            info.get()
                                .map(|i| i.line())
                                .unwrap_or_else(|| "Choose a photo to start.".into())
                        }}
                    </figcaption>
                </figure>
                <div class="side">
                    <h2>{move || format!("{} objects", shown.get().len())}</h2>
                    <ul id="detections" class="detections">
                        {move || {
                            shown.get()
                                .into_iter()
                                .map(|d| {
                                    let [r, g, b] = class_colour(d.class_index);
                                    view! {
                                        <li>
                                            <span class="swatch" style=format!("background: rgb({r},{g},{b})")></span>
                                            <span class="label">{d.label}</span>
                                            <span class="score">{format!("{:.0}%", d.score * 100.0)}</span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                </div>
            </div>
        </section>
    }
}
