//! Pieces the image pages share: the upload form (model picker, file button, drop zone, URL
//! paste) that still posts to the seed route without JavaScript, and the status/error lines.

use leptos::prelude::*;

use crate::dto::ModelChoice;

/// What an image page shows about its last run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub inference_ms: f64,
    pub server_ms: f64,
    pub round_trip_ms: f64,
}

impl RunInfo {
    /// The latency line under the result.
    pub fn line(&self) -> String {
        format!(
            "{} · {}×{} · model {:.1} ms · server {:.1} ms · round trip {:.0} ms",
            self.model,
            self.width,
            self.height,
            self.inference_ms,
            self.server_ms,
            self.round_trip_ms,
        )
    }
}

/// What the user just did with the input controls; the page's browser code decides what to run.
pub enum Pick {
    /// The file input changed.
    File(leptos::ev::Event),
    /// Something was dropped on the drop zone.
    Drop(leptos::ev::DragEvent),
    /// The URL form was submitted with this text.
    Url(String),
    /// The upload form was submitted, or the model changed: run again on the last input.
    Again,
}

/// The two input forms. Without JavaScript both post (multipart) to `action`; `children` go
/// inside the upload form (extra fields the seed route reads, such as `confidence`).
#[component]
pub fn ImageInput(
    action: &'static str,
    submit_id: &'static str,
    submit_label: &'static str,
    models: &'static [ModelChoice],
    model: RwSignal<String>,
    busy: RwSignal<bool>,
    on_pick: Callback<Pick>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let url = RwSignal::new(String::new());
    view! {
        <form
            id="upload-form"
            class="panel"
            method="post"
            action=action
            enctype="multipart/form-data"
            on:submit=move |ev| {
                ev.prevent_default();
                on_pick.run(Pick::Again);
            }
        >
            <label for="model">"Model"</label>
            <select
                id="model"
                name="model"
                prop:value=move || model.get()
                on:change=move |ev| {
                    model.set(event_target_value(&ev));
                    on_pick.run(Pick::Again);
                }
            >
                {models.iter().map(|m| view! { <option value=m.id>{m.label}</option> }).collect_view()}
            </select>
            <label
                id="drop-zone"
                class="drop-zone"
                class:busy=move || busy.get()
                on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default()
                on:drop=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    on_pick.run(Pick::Drop(ev));
                }
            >
                <span>"Drop a photo here, or choose a file"</span>
                <input id="file" type="file" name="file" accept="image/*" on:change=move |ev| on_pick.run(Pick::File(ev))/>
            </label>
            {children.map(|c| c())}
            <button type="submit" id=submit_id>{submit_label}</button>
        </form>
        <form
            id="url-form"
            class="panel"
            method="post"
            action=action
            enctype="multipart/form-data"
            on:submit=move |ev| {
                ev.prevent_default();
                on_pick.run(Pick::Url(url.get_untracked()));
            }
        >
            <label for="image-url">"…or paste an image URL"</label>
            <input
                id="image-url"
                type="url"
                name="image_url"
                placeholder="https://example.com/photo.jpg"
                on:input=move |ev| url.set(event_target_value(&ev))
                prop:value=move || url.get()
            />
            <input type="hidden" name="model" prop:value=move || model.get()/>
            <button type="submit">"Fetch and run"</button>
        </form>
    }
}

/// The "Running…" line and the error line (`role=alert`).
#[component]
pub fn StatusLines(busy: RwSignal<bool>, error: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <p id="status" role="status" class="status">
            {move || if busy.get() { "Running…" } else { "" }}
        </p>
        <p id="error" role="alert" class="error">{move || error.get().unwrap_or_default()}</p>
    }
}
