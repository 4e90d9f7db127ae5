//! The home page: one card per task, with its purpose, default model and a click-to-try
//! example (a link that opens the task's page and runs its default model on a bundled sample).

use leptos::prelude::*;

use crate::site_config::use_site_config;

struct Task {
    href: &'static str,
    title: &'static str,
    purpose: &'static str,
    /// The API's task name, for the server's default model.
    api_task: &'static str,
    /// The example the card's "try it" link runs, and its thumbnail (none for text).
    example: &'static str,
    thumbnail: Option<&'static str>,
}

const TASKS: &[Task] = &[
    Task {
        href: "/segment",
        title: "Segment",
        purpose: "Cut the people out of a photo, with a live threshold and blend.",
        api_task: "segmentation",
        example: "person.jpg",
        thumbnail: Some("/samples/person.jpg"),
    },
    Task {
        href: "/detect",
        title: "Detect",
        purpose: "Box and label everyday objects; filter boxes by confidence as you slide.",
        api_task: "detection",
        example: "dog.jpg",
        thumbnail: Some("/samples/dog.jpg"),
    },
    Task {
        href: "/classify",
        title: "Classify",
        purpose: "Name a photo's subject among 1000 ImageNet classes.",
        api_task: "classification",
        example: "eagle.jpg",
        thumbnail: Some("/samples/eagle.jpg"),
    },
    Task {
        href: "/summarize",
        title: "Summarize",
        purpose: "Condense a few paragraphs, streamed token by token.",
        api_task: "summarization",
        example: "news",
        thumbnail: None,
    },
];

#[component]
pub fn HomePage() -> impl IntoView {
    let config = use_site_config();
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
                        let default_model = config.models_of(t.api_task).into_iter().next().map(|m| m.label);
                        view! {
                            <li class="card">
                                <h2><a href=t.href>{t.title}</a></h2>
                                <p>{t.purpose}</p>
                                <p class="model">"Default model: " {default_model}</p>
                                <a class="try" href=format!("{}?example={}", t.href, t.example)>
                                    {t.thumbnail.map(|src| view! { <img src=src alt="" width="96" height="72" loading="lazy"/> })}
                                    <span>{if t.thumbnail.is_some() { format!("Try it on {}", t.example) } else { "Try it on a news story".to_string() }}</span>
                                </a>
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
