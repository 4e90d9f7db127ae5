//! The segmentation result page for the form posted without JavaScript.

use leptos::prelude::*;

use super::state::swatch_style;
use crate::dto::SegmentResponse;
use crate::result_page::{document, latency};

/// The segmentation answer: the photo and its overlay side by side, the class shares with their
/// colours, and the timings.
pub fn segment_html(r: &SegmentResponse) -> String {
    let body = view! {
        <section class="task result-page">
            <h1>"Segmentation result"</h1>
            <p class="lead">"Model " {r.model.clone()} " at threshold " {format!("{:.2}", r.threshold)} "."</p>
            <div class="views">
                <figure>
                    <img src=r.image_png.clone().unwrap_or_default() alt="The photo you sent"/>
                    <figcaption>"Original"</figcaption>
                </figure>
                <figure>
                    <img src=r.overlay_png.clone().unwrap_or_default() alt=overlay_alt(r)/>
                    <figcaption>{format!("Overlay at threshold {:.2}", r.threshold)}</figcaption>
                </figure>
            </div>
            <div class="result-meta">
                <div>
                    <h2>"Classes"</h2>
                    <ul id="legend" class="legend">
                        {r.classes
                            .iter()
                            .map(|c| {
                                // Background is drawn untinted, whatever colour it is listed with.
                                let swatch = swatch_style(c.colour.filter(|_| c.label != "background"));
                                view! {
                                    <li>
                                        <span class="swatch" style=swatch aria-hidden="true"></span>
                                        <span class="label">{c.label.clone()}</span>
                                        <span class="share">{format!("{:.1}%", c.share * 100.0)}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </div>
                <div>
                    <h2>"Latency"</h2>
                    <p id="latency" class="latency">{latency(&r.model, r.width, r.height, &r.timings)}</p>
                </div>
            </div>
            <p><a href="/segment">"Segment another photo"</a></p>
        </section>
    }
    .into_any();
    document("Segmentation result", body)
}

/// The overlay's alt text: which classes it tints, largest first.
fn overlay_alt(r: &SegmentResponse) -> String {
    let tinted: Vec<String> = r
        .classes
        .iter()
        .filter(|c| c.label != "background" && c.share > 0.0)
        .map(|c| format!("{} ({:.1}%)", c.label, c.share * 100.0))
        .collect();
    if tinted.is_empty() {
        "The photo; nothing found at this threshold".into()
    } else {
        format!("The photo with {} tinted", tinted.join(", "))
    }
}
