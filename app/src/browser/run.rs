//! Running a page's request: busy flag, ticking elapsed time, the error line, and a newer run
//! superseding the one in flight.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::js::now;
use super::source::{resolve, LastSource, Source};
use crate::widgets::failure::Failure;
use crate::widgets::pick::Pick;
use crate::widgets::run::{Cancellable, RunState};

/// What every image page does with a pick: resolves it (remembered in `last`, checked against
/// `body_limit_bytes`) and runs `work` on the input, or shows why not. The pages' calls look
/// alike (their `LAST` and this call, a few lines each: `duplicates` pairs them); what each does
/// with the answer is its own.
pub fn run_pick<F, Fut>(
    pick: Pick,
    last: &'static LastSource,
    body_limit_bytes: u64,
    run: RunState,
    work: F,
) where
    F: FnOnce(Source) -> Fut,
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    match resolve(pick, last, body_limit_bytes) {
        Ok(Some(src)) => spawn_run(run, work(src)),
        Ok(None) => {}
        Err(e) => run.fail(e),
    }
}

/// Runs `fut` with the page's busy flag on, its error cleared and the elapsed time ticking;
/// shows its failure if any.
pub fn spawn_run<F>(run: RunState, fut: F)
where
    F: Future<Output = Result<(), Failure>> + 'static,
{
    // A newer input wins: the run in flight (if any) stops at its next wake-up.
    let cancelled = run.supersede();
    run.busy.set(true);
    run.error.set(None);
    run.elapsed_ms.set(0.0);
    let t0 = now();
    let ticker = {
        let cancelled = cancelled.clone();
        set_interval_with_handle(
            move || {
                if !cancelled.load(std::sync::atomic::Ordering::SeqCst) {
                    run.elapsed_ms.set(now() - t0)
                }
            },
            Duration::from_millis(100),
        )
        .ok()
    };
    spawn_local(async move {
        let result = Cancellable {
            inner: Box::pin(fut),
            cancelled,
        }
        .await;
        if let Some(t) = ticker {
            t.clear();
        }
        // Superseded: the newer run owns the busy state and the error line.
        let Some(result) = result else {
            return;
        };
        run.busy.set(false);
        if let Err(f) = result {
            run.error.set(Some(f));
        }
    });
}
