//! Object detection: upload (button, drag-drop, paste, example) or URL → the photo with boxes
//! and labels. The API returns every box down to its score floor, so the confidence slider
//! filters the list and redraws the canvas in the browser without a new request; hovering or
//! focusing a box or its list entry highlights it. Without JavaScript the forms post to
//! `/detect/result` (fields `file`, `model`, `confidence`), a server-rendered result page.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::browser;
use super::state::DetectCtx;
use crate::dto::{above, class_colour, count_objects};
use crate::site_config::use_site_config;
use crate::sync_view::SyncView;
use crate::widgets::{
    json_sample, slider, ApiUsage, ImageInput, LatencyBreakdown, Pick, RunState, StatusLines,
};

#[component]
pub fn DetectPage() -> impl IntoView {
    let config = use_site_config();
    let ctx = DetectCtx {
        model: RwSignal::new(config.default_model("detection")),
        body_limit_bytes: config.body_limit_bytes,
        confidence: RwSignal::new(0.35),
        detections: RwSignal::new(Vec::new()),
        hover: RwSignal::new(None),
        run: RunState::new(),
    };
    let DetectCtx {
        model,
        confidence,
        detections,
        hover,
        run,
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
    let highlight = move |i: Option<usize>| {
        if hover.get_untracked() != i {
            hover.set(i);
            redraw();
        }
    };
    let on_confidence = move |ev: leptos::ev::Event| {
        confidence.set(slider::value(&ev, 0.35) as f32);
        hover.set(None);
        redraw();
    };
    let on_canvas_move = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        highlight(browser::box_at(ctx, &ev));
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let download = move |what: &'static str| {
        #[cfg(feature = "hydrate")]
        browser::download(ctx, what);
        #[cfg(not(feature = "hydrate"))]
        let _ = what;
    };
    let shown = Memo::new(move |_| above(&detections.get(), confidence.get()));
    let has_result = move || run.info.with(Option::is_some);
    let api_path = Signal::derive(move || {
        format!(
            "/api/v1/detect/{}?confidence={:.2}",
            model.get(),
            confidence.get()
        )
    });
    // What the plain call answers: only the boxes at or above the confidence asked for.
    let sample = Signal::derive(move || {
        run.answer
            .with(|a| {
                a.as_ref().map(|a| {
                    let mut a = a.clone();
                    a["detections"] = serde_json::to_value(shown.get()).unwrap_or_default();
                    a["min_score"] = serde_json::json!(confidence.get());
                    json_sample(&a, 5)
                })
            })
            .unwrap_or_default()
    });

    view! {
        <section class="task">
            <h1>"Object detection"</h1>
            <p class="lead">
                "Find and label everyday objects (80 COCO classes). The server returns every box it is even slightly sure of; the confidence slider hides the weaker ones right here in your browser."
            </p>
            <ImageInput
                action="/detect/result"
                submit_id="detect-button"
                submit_label="Detect"
                task="detection"
                model
                busy=run.busy
                on_pick
            >
                // Erased as children: SyncView keeps their unused async hydration out of the wasm.
                {SyncView(view! {
                    <div class="slider-row">
                        <label for="confidence">
                            "Confidence ≥ " <output id="confidence-value">{move || format!("{:.2}", confidence.get())}</output>
                        </label>
                        <input id="confidence" name="confidence" type="range" min="0.05" max="0.95" step="0.01" value="0.35" prop:value=move || confidence.get() on:input=on_confidence/>
                    </div>
                })}
            </ImageInput>
            <StatusLines run on_retry=Callback::new(move |_| on_pick.run(Pick::Again))/>
            <div class="result">
                <figure>
                    <canvas
                        id="detect-canvas"
                        role="img"
                        aria-label=move || {
                            let names: Vec<String> = shown.get().iter().map(|d| d.label.clone()).collect();
                            if names.is_empty() {
                                "The photo; no objects found at this confidence".to_string()
                            } else {
                                format!("The photo with {} boxed: {}", names.len(), names.join(", "))
                            }
                        }
                        on:mousemove=on_canvas_move
                        on:mouseleave=move |_| highlight(None)
                    ></canvas>
                    <figcaption id="latency" class="latency">
                        {move || run.info.get().map(|i| i.line()).unwrap_or_else(|| "Choose a photo to start.".into())}
                    </figcaption>
                </figure>
                <div class="side">
                    <h2>{move || count_objects(shown.get().len())}</h2>
                    <ul id="detections" class="detections">
                        {move || {
                            shown.get()
                                .into_iter()
                                .enumerate()
                                .map(|(i, d)| {
                                    let [r, g, b] = class_colour(d.class_index);
                                    view! {
                                        <li
                                            tabindex="0"
                                            class:active=move || hover.get() == Some(i)
                                            on:mouseenter=move |_| highlight(Some(i))
                                            on:mouseleave=move |_| highlight(None)
                                            on:focus=move |_| highlight(Some(i))
                                            on:blur=move |_| highlight(None)
                                        >
                                            <span class="swatch" style=format!("background: rgb({r},{g},{b})") aria-hidden="true"></span>
                                            <span class="label">{d.label}</span>
                                            <span class="score">{format!("{:.0}%", d.score * 100.0)}</span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                    <div class="downloads" role="group" aria-label="Downloads">
                        <button type="button" id="download-image" class="secondary" prop:disabled=move || !has_result() on:click=move |_| download("image")>"Annotated PNG"</button>
                        <button type="button" id="download-json" class="secondary" prop:disabled=move || !has_result() on:click=move |_| download("json")>"JSON"</button>
                    </div>
                    <LatencyBreakdown info=run.info.into() id="detect"/>
                </div>
            </div>
            <ApiUsage input=run.input path=api_path sample/>
        </section>
    }
}
