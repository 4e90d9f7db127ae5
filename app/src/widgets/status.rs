//! How a run is going and how it went: the in-flight line with the elapsed time, the error
//! line (the server's own words) with Retry when the server was busy, and the latency split.

use leptos::prelude::*;

use super::run::{RunInfo, RunState};
use crate::sync_view::SyncView;

/// The "Running… 1.2 s" line, the error line (`role=alert`) and, for errors worth retrying
/// (429/503/504, network), a Retry button that runs `on_retry`.
#[component]
pub fn StatusLines(run: RunState, on_retry: Callback<()>) -> impl IntoView {
    let retryable = move || run.error.with(|e| e.as_ref().is_some_and(|e| e.retryable));
    view! {
        <div class="status-row">
            <p id="status" role="status" class="status">
                {move || if run.busy.get() { "Running… " } else { "" }}
                // The ticking seconds are for sighted users; screen readers hear "Running…" once.
                <span id="elapsed" aria-hidden="true">
                    {move || {
                        if run.busy.get() {
                            format!("{:.1} s", run.elapsed_ms.get() / 1000.0)
                        } else {
                            String::new()
                        }
                    }}
                </span>
            </p>
            <p id="error" role="alert" class="error">
                {move || run.error.get().map(|e| e.message).unwrap_or_default()}
            </p>
            <Show when=retryable>
                // Erased as children: SyncView keeps their unused async hydration out of the wasm.
                {SyncView(view! {
                    <button type="button" id="retry-button" class="secondary" on:click=move |_| on_retry.run(())>
                        "Retry"
                    </button>
                })}
            </Show>
        </div>
    }
}

/// The latency of a run as one stacked bar (queue, decode, pre-process, inference,
/// post-process, network) with the numbers beside; `id` prefixes the element ids.
#[component]
pub fn LatencyBreakdown(info: Signal<Option<RunInfo>>, id: &'static str) -> impl IntoView {
    view! {
        {move || {
            info.get()
                .map(|i| {
                    let t = &i.timings;
                    let parts = [
                        ("queue", "Queue", t.queue_ms),
                        ("decode", "Decode", t.decode_ms),
                        ("pre", "Pre-process", t.preprocess_ms),
                        ("inference", "Inference", t.inference_ms),
                        ("post", "Post-process", t.postprocess_ms),
                        ("network", "Network and browser", i.network_ms()),
                    ];
                    let whole = parts.iter().map(|p| p.2).sum::<f64>().max(1e-6);
                    view! {
                        <div class="latency-breakdown" id=format!("{id}-breakdown")>
                            <div class="bar" aria-hidden="true">
                                {parts
                                    .iter()
                                    .map(|(key, _, ms)| {
                                        view! {
                                            <span class=format!("seg {key}") style=format!("width: {:.2}%", ms / whole * 100.0)></span>
                                        }
                                    })
                                    .collect_view()}
                            </div>
                            <dl>
                                {parts
                                    .iter()
                                    .map(|(key, name, ms)| {
                                        view! {
                                            <div class=format!("part {key}")>
                                                <dt><span class=format!("key {key}") aria-hidden="true"></span>{*name}</dt>
                                                <dd>{format!("{ms:.1} ms")}</dd>
                                            </div>
                                        }
                                    })
                                    .collect_view()}
                            </dl>
                        </div>
                    }
                })
        }}
    }
}
