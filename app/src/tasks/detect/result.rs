//! The detection result page for the form posted without JavaScript.

use leptos::prelude::*;

use crate::dto::{class_colour, count_objects, DetectResponse};
use crate::result_page::{document, latency};

/// The detection answer: the photo with the boxes laid over it as positioned elements (no
/// canvas without JavaScript), the list, the timings.
pub fn detect_html(r: &DetectResponse) -> String {
    let (w, h) = (r.width.max(1) as f32, r.height.max(1) as f32);
    let mut shown = r.detections.clone();
    shown.sort_by(|a, b| b.score.total_cmp(&a.score));
    let boxes = shown
        .iter()
        .rev()
        .map(|d| {
            let [r_, g, b] = class_colour(d.class_index);
            let [x, y, bw, bh] = d.bbox;
            let luma = 0.299 * r_ as f32 + 0.587 * g as f32 + 0.114 * b as f32;
            let style = format!(
                "left: {:.2}%; top: {:.2}%; width: {:.2}%; height: {:.2}%; border-color: rgb({r_},{g},{b})",
                x / w * 100.0,
                y / h * 100.0,
                bw / w * 100.0,
                bh / h * 100.0
            );
            let tag = format!(
                "background: rgb({r_},{g},{b}); color: {}",
                if luma > 140.0 { "#000" } else { "#fff" }
            );
            view! {
                <span class="box" style=style aria-hidden="true">
                    <span class="tag" style=tag>{format!("{} {:.0}%", d.label, d.score * 100.0)}</span>
                </span>
            }
        })
        .collect_view();
    let names: Vec<String> = shown.iter().map(|d| d.label.clone()).collect();
    let alt = if names.is_empty() {
        "The photo you sent; no objects found at this confidence".to_string()
    } else {
        format!(
            "The photo you sent, with {} boxed: {}",
            names.len(),
            names.join(", ")
        )
    };
    let body = view! {
        <section class="task result-page">
            <h1>"Detection result"</h1>
            <p class="lead">"Boxes at confidence ≥ " {format!("{:.2}", r.min_score)} "."</p>
            <div class="result">
                <figure>
                    <div class="boxed">
                        <img src=r.image_png.clone().unwrap_or_default() alt=alt/>
                        {boxes}
                    </div>
                    <figcaption id="latency" class="latency">{latency(&r.model, r.width, r.height, &r.timings)}</figcaption>
                </figure>
                <div class="side">
                    <h2>{count_objects(shown.len())}</h2>
                    <ul id="detections" class="detections">
                        {shown
                            .iter()
                            .map(|d| {
                                let [r_, g, b] = class_colour(d.class_index);
                                view! {
                                    <li>
                                        <span class="swatch" style=format!("background: rgb({r_},{g},{b})") aria-hidden="true"></span>
                                        <span class="label">{d.label.clone()}</span>
                                        <span class="score">{format!("{:.0}%", d.score * 100.0)}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </div>
            </div>
            <p><a href="/detect">"Detect in another photo"</a></p>
        </section>
    }
    .into_any();
    document("Detection result", body)
}
