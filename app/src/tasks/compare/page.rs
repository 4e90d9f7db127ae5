//! Compare: two models of the same task on the same photo, one after the other (so neither
//! slows the other down), results side by side with each one's latency split. Needs
//! JavaScript; the task pages work without it.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::browser;
use super::state::{default_pair, task_of, CompareCtx, TASKS};
use crate::site_config::use_site_config;
use crate::widgets::picker::ModelPicker;
use crate::widgets::{ImageInput, LatencyBreakdown, Pick, RunState, StatusLines};

#[component]
pub fn ComparePage() -> impl IntoView {
    let config = use_site_config();
    let (a, b) = default_pair(&config, &TASKS[0]);
    let ctx = CompareCtx {
        body_limit_bytes: config.body_limit_bytes,
        task: RwSignal::new(TASKS[0].key.to_string()),
        models: [RwSignal::new(a), RwSignal::new(b)],
        run: RunState::new(),
        outcomes: RwSignal::new([None, None]),
    };
    let CompareCtx {
        task,
        models,
        run,
        outcomes,
        ..
    } = ctx;
    // As on every task page: the browser code exists only with `hydrate`.
    let on_pick = Callback::new(move |pick: Pick| {
        #[cfg(feature = "hydrate")]
        browser::pick(ctx, pick);
        #[cfg(not(feature = "hydrate"))]
        let _ = (pick, ctx);
    });
    let again = Callback::new(move |_| on_pick.run(Pick::Again));
    let task_models = {
        let config = config.clone();
        Signal::derive(move || config.models_of(task_of(&task.get()).api_task))
    };
    let on_task = move |ev: leptos::ev::Event| {
        let t = task_of(&event_target_value(&ev));
        let (a, b) = default_pair(&config, t);
        task.set(t.key.to_string());
        models[0].set(a);
        models[1].set(b);
        outcomes.set([None, None]);
        on_pick.run(Pick::Again);
    };
    let api_task = Signal::derive(move || task_of(&task.get()).api_task.to_string());

    let side = move |i: usize| {
        let name = ["a", "b"][i];
        let info = Signal::derive(move || outcomes.with(|o| o[i].as_ref().map(|o| o.info.clone())));
        view! {
            <figure class="compare-side">
                <canvas id=format!("compare-{name}") role="img" aria-label=move || format!("Result of model {}", models[i].get())></canvas>
                <figcaption>
                    <p id=format!("latency-{name}") class="latency">
                        {move || info.get().map(|i| i.line()).unwrap_or_else(|| format!("{}: waiting for a photo", models[i].get()))}
                    </p>
                    <LatencyBreakdown info id=if i == 0 { "compare-a" } else { "compare-b" }/>
                    <ul id=format!("found-{name}") class="found">
                        {move || {
                            outcomes.with(|o| o[i].as_ref().map(|o| o.found.clone()).unwrap_or_default())
                                .into_iter()
                                .map(|line| view! { <li>{line}</li> })
                                .collect_view()
                        }}
                    </ul>
                </figcaption>
            </figure>
        }
    };

    view! {
        <section class="task">
            <h1>"Compare models"</h1>
            <p class="lead">
                "Run two models of the same task on the same photo, one after the other, and see what each finds and how long it takes."
            </p>
            <noscript><p class="error">"Comparing needs JavaScript; the task pages work without it."</p></noscript>
            <div class="panel compare-pickers">
                <div class="model-field">
                    <label for="compare-task">"Task"</label>
                    <select id="compare-task" prop:value=move || task.get() on:change=on_task>
                        {TASKS.iter().map(|t| view! { <option value=t.key>{t.title}</option> }).collect_view()}
                    </select>
                </div>
                <ModelPicker id="model-a" label="Model A" task=api_task models=task_models model=models[0] on_change=again/>
                <ModelPicker id="model-b" label="Model B" task=api_task models=task_models model=models[1] on_change=again/>
            </div>
            <ImageInput
                action="/predict"
                submit_id="compare-button"
                submit_label="Compare"
                task="detection"
                model=models[0]
                busy=run.busy
                on_pick
                no_picker=true
            />
            <StatusLines run on_retry=again/>
            <div class="compare-grid">
                {side(0)}
                {side(1)}
            </div>
        </section>
    }
}
