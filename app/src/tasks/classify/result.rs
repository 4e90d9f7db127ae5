//! The classification result page for the form posted without JavaScript.

use leptos::prelude::*;

use crate::dto::ClassifyResponse;
use crate::result_page::{document, latency};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::{ClassProb, Timings};

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
}
