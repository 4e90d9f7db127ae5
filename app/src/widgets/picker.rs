//! The model picker: the site's list of a task's models, then any other catalog model of the
//! task that `GET /api/v1/models` lists, with the chosen model's input size, licence and source.

use leptos::prelude::*;

use crate::dto::ModelInfo;
use crate::site_config::SiteModel;
use crate::sync_view::erased;

/// The model picker. Options: the server's list of the task's models (in the page, so the
/// server-rendered page works alone), then
/// any other catalog model of `task` the API lists, disabled unless ready.
#[component]
pub fn ModelPicker(
    /// The `<select>`'s id (`model` on the task pages).
    id: &'static str,
    label: &'static str,
    /// The API's task name: `segmentation`, `detection`, ...
    task: Signal<String>,
    models: Signal<Vec<SiteModel>>,
    model: RwSignal<String>,
    on_change: Callback<()>,
) -> impl IntoView {
    let infos = RwSignal::new(Vec::<ModelInfo>::new());
    #[cfg(feature = "hydrate")]
    crate::browser::catalog::load(infos);
    let extra = move || {
        let statics = models.get();
        infos.with(|all| {
            all.iter()
                .filter(|i| i.task == task.get() && !statics.iter().any(|m| m.id == i.id))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let info_id = format!("{id}-info");
    let current = move || infos.with(|all| all.iter().find(|i| i.id == model.get()).cloned());
    erased(view! {
        <div class="model-field">
            <label for=id>{label}</label>
            <select
                id=id
                name="model"
                aria-describedby=info_id.clone()
                prop:value=move || model.get()
                on:change=move |ev| {
                    model.set(event_target_value(&ev));
                    on_change.run(());
                }
            >
                {move || {
                    models.get().into_iter().map(|m| view! { <option value=m.id>{m.label}</option> }).collect_view()
                }}
                {move || {
                    extra()
                        .into_iter()
                        .map(|i| {
                            let label = if i.ready() {
                                i.name.clone()
                            } else {
                                format!("{} ({})", i.name, i.state.replace('_', " "))
                            };
                            view! { <option value=i.id.clone() disabled=!i.ready()>{label}</option> }
                        })
                        .collect_view()
                }}
            </select>
            <p id=info_id class="model-info">
                {move || {
                    current()
                        .map(|i| {
                            let size = match (i.input_width, i.input_height) {
                                (Some(w), Some(h)) => format!("input {w}×{h}"),
                                _ => "input: any size".to_string(),
                            };
                            view! {
                                <span class="size">{size}</span>
                                " · "
                                <span class="licence">"licence: " {i.licence.clone()}</span>
                                " · "
                                <span class="source">"source: " <a href=i.homepage.clone() rel="noopener">{i.source.clone()}</a></span>
                            }
                        })
                }}
            </p>
        </div>
    })
}
