//! The image input every image page shares: model picker ([`ModelPicker`]), file button, drop
//! zone, page-wide paste, URL form and the examples strip. Without JavaScript the two forms
//! still post to `action`.

use leptos::prelude::*;

use super::pick::{limits_hint, sample_named, Pick};
use super::picker::ModelPicker;
use crate::dto::{SAMPLES, SAMPLES_LICENCE};
use crate::site_config::use_site_config;
use crate::sync_view::erased;

/// The two input forms and the examples. Without JavaScript both forms post (multipart) to
/// `action`; `children` go inside the upload form (extra fields the seed route reads).
#[component]
pub fn ImageInput(
    action: &'static str,
    submit_id: &'static str,
    submit_label: &'static str,
    /// The API's task name: the picker lists the server's models of the task.
    task: &'static str,
    model: RwSignal<String>,
    busy: RwSignal<bool>,
    on_pick: Callback<Pick>,
    /// Leave out the model picker (the compare page has its own two).
    #[prop(optional)]
    no_picker: bool,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let config = use_site_config();
    let models = config.models_of(task);
    // Paste anywhere on the page: an image runs at once; text that is a URL goes to the URL form.
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::paste, move |ev| {
            if crate::browser::pasted_file(&ev).is_some() {
                ev.prevent_default();
                on_pick.run(Pick::Paste(ev));
            }
        });
        on_cleanup(move || handle.remove());
    }
    erased(view! {
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
            {(!no_picker).then(|| view! {
                <ModelPicker
                    id="model"
                    label="Model"
                    task=Signal::derive(move || task.to_string())
                    models=Signal::derive(move || models.clone())
                    model
                    on_change=Callback::new(move |_| on_pick.run(Pick::Again))
                />
            })}
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
                <span class="drop-title">"Drop a photo here, paste one (Ctrl+V), or choose a file"</span>
                <input id="file" type="file" name="file" accept="image/*" aria-describedby="limits" on:change=move |ev| on_pick.run(Pick::File(ev))/>
                <span id="limits" class="hint">{limits_hint(config.body_limit_bytes)}</span>
            </label>
            {children.map(|c| c())}
            <button type="submit" id=submit_id>{submit_label}</button>
        </form>
        // A second form, like the first but for the URL: without JavaScript each posts only its own
        // fields, so the server sees a file or a URL, never an empty file beside a URL.
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
        <Examples on_pick/>
    })
}

/// The strip of bundled sample photos; one click runs the page's model on it. Hidden until the
/// page is hydrated (the buttons need the browser code).
#[component]
pub fn Examples(on_pick: Callback<Pick>) -> impl IntoView {
    // A link such as the home page's `/detect?example=dog.jpg` runs that sample once, as soon
    // as the page is hydrated.
    // The router's query (not `window.location`), so client-side navigation counts too.
    let query = leptos_router::hooks::use_query_map();
    Effect::new(move |last: Option<Option<&'static str>>| {
        let name = query.with(|q| q.get("example").as_deref().and_then(sample_named));
        if name.is_some() && last.flatten() != name {
            #[cfg(feature = "hydrate")]
            untrack(|| on_pick.run(Pick::Sample(name.unwrap_or_default())));
        }
        name
    });
    view! {
        <section class="examples needs-js" aria-labelledby="examples-title">
            <h2 id="examples-title">"…or try an example"</h2>
            <ul class="example-list">
                {SAMPLES
                    .iter()
                    .map(|s| {
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="example"
                                    data-sample=s.name
                                    title=s.alt
                                    on:click=move |_| on_pick.run(Pick::Sample(s.name))
                                >
                                    <img src=format!("/samples/{}", s.name) alt=s.alt width="112" height="84" loading="lazy"/>
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="hint">"Example photos from Debian's darknet package, licence " {SAMPLES_LICENCE} "."</p>
        </section>
    }
}
