//! Result pages for the forms posted without JavaScript (`POST /segment/result`,
//! `/detect/result`, `/classify/result`, `/summarize/result`): the server runs the same handler as the JSON API and renders its
//! answer here as a plain HTML page in the site's style, with no hydration (there is no script
//! to run it). The hydrated pages never post these forms.

use leptos::prelude::*;

use crate::dto::{
    class_colour, count_objects, ClassifyResponse, DetectResponse, SegmentResponse,
    SummarizeResponse, Timings,
};

/// A whole HTML document around `body`, with the site's header and stylesheet.
fn document(title: &str, body: AnyView) -> String {
    let title = format!("{title} · candlelit");
    let owner = Owner::new();
    owner.with(move || {
        view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <link rel="stylesheet" href="/pkg/frontend.css"/>
                    <title>{title}</title>
                </head>
                <body>
                    <header class="site-header">
                        <a class="brand" href="/">"candlelit"</a>
                        <nav aria-label="Tasks">
                            <a href="/segment">"Segment"</a>
                            <a href="/detect">"Detect"</a>
                            <a href="/classify">"Classify"</a>
                            <a href="/summarize">"Summarize"</a>
                            <a href="/compare">"Compare"</a>
                        </nav>
                    </header>
                    <main>{body}</main>
                </body>
            </html>
        }
        .to_html()
    })
}

/// The latency line, as on the hydrated pages.
fn latency(model: &str, w: u32, h: u32, t: &Timings) -> String {
    format!(
        "{model} · {w}×{h} · queue {:.1} ms · inference {:.1} ms · server {:.1} ms",
        t.queue_ms, t.inference_ms, t.total_ms
    )
}

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
                                let swatch = super::segment::swatch_style(c.colour.filter(|_| c.label != "background"));
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

/// The classification answer: the photo, the top classes with bars, the timings.
pub fn classify_html(r: &ClassifyResponse) -> String {
    let body = view! {
        <section class="task result-page">
            <h1>"Classification result"</h1>
            <div class="result">
                <figure>
                    <img src=r.image_png.clone().unwrap_or_default() alt="The photo you sent"/>
                    <figcaption id="latency" class="latency">{latency(&r.model, r.width, r.height, &r.timings)}</figcaption>
                </figure>
                <div class="side">
                    <ol id="top-k" class="top-k">
                        {r.top_k
                            .iter()
                            .map(|c| {
                                let pct = c.probability * 100.0;
                                view! {
                                    <li>
                                        <span class="label">{c.label.clone()}</span>
                                        <span class="pct">{format!("{pct:.1}%")}</span>
                                        <span class="bar" aria-hidden="true">
                                            <span style=format!("width: {:.1}%", pct.clamp(0.0, 100.0))></span>
                                        </span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                </div>
            </div>
            <p><a href="/classify">"Classify another photo"</a></p>
        </section>
    }
    .into_any();
    document("Classification result", body)
}

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

/// A failed run: the server's own message, and the way back to the form.
pub fn error_html(back: &str, status: u16, message: &str, retry_after: Option<&str>) -> String {
    let retry = retry_after.map(|s| format!(" Try again in {s} s."));
    let body = view! {
        <section class="task result-page">
            <h1>"That did not work"</h1>
            <p id="error" class="error" role="alert">{message.to_string()} " (" {status} ")." {retry}</p>
            <p><a href=back.to_string()>"Back to the form"</a></p>
        </section>
    }
    .into_any();
    document("Error", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::ClassProb;

    #[test]
    fn classify_page_lists_the_classes_with_the_sites_header() {
        let r = ClassifyResponse {
            model: "m".into(),
            width: 4,
            height: 3,
            top_k: vec![ClassProb {
                index: 21,
                label: "kite".into(),
                probability: 0.51,
            }],
            timings: Timings::default(),
            image_png: Some("data:image/png;base64,AA".into()),
        };
        let html = classify_html(&r);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("kite") && html.contains("51.0%"), "{html}");
        assert!(html.contains(r#"href="/pkg/frontend.css""#));
        assert!(
            !html.contains("<script"),
            "no hydration scripts: nothing to hydrate"
        );
    }

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

    #[test]
    fn error_page_keeps_the_message_and_escapes_it() {
        let html = error_html("/segment", 415, "the data is <not> an image", Some("3"));
        assert!(html.contains("the data is &lt;not&gt; an image"), "{html}");
        assert!(html.contains("415") && html.contains("Try again in 3 s."));
    }
}
