//! The home page: one card per task, with its purpose and default model.

use leptos::prelude::*;

use crate::dto::{
    ModelChoice, CLASSIFICATION_MODELS, DETECTION_MODELS, SEGMENTATION_MODELS, SUMMARIZATION_MODELS,
};

struct Task {
    href: &'static str,
    title: &'static str,
    purpose: &'static str,
    models: &'static [ModelChoice],
}

const TASKS: &[Task] = &[
    Task {
        href: "/segment",
        title: "Segment",
        purpose: "Cut the people out of a photo, with a live threshold and blend.",
        models: SEGMENTATION_MODELS,
    },
    Task {
        href: "/detect",
        title: "Detect",
        purpose: "Box and label everyday objects; filter boxes by confidence as you slide.",
        models: DETECTION_MODELS,
    },
    Task {
        href: "/classify",
        title: "Classify",
        purpose: "Name a photo's subject among 1000 ImageNet classes.",
        models: CLASSIFICATION_MODELS,
    },
    Task {
        href: "/summarize",
        title: "Summarize",
        purpose: "Condense a few paragraphs, streamed token by token.",
        models: SUMMARIZATION_MODELS,
    },
];

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="home">
            <h1>"Pretrained models, served with candle"</h1>
            <p class="lead">
                "Each model runs on the server in Rust with candle; pick a task to try it on your own photo or text."
            </p>
            <ul class="cards">
                {TASKS
                    .iter()
                    .map(|t| {
                        view! {
                            <li class="card">
                                <h2><a href=t.href>{t.title}</a></h2>
                                <p>{t.purpose}</p>
                                <p class="model">"Default model: " {t.models[0].label}</p>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="compare-link">
                "Not sure which model to pick? " <a href="/compare">"Compare two side by side"</a>
                " on the same photo, with each one's latency."
            </p>
        </section>
    }
}
