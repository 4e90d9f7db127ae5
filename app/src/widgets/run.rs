//! The state of one page's runs: what a run reports ([`RunInfo`]), the signals it drives
//! ([`RunState`]), which input it ran on ([`InputRef`]), and how a newer run cancels an older
//! one ([`Cancellable`]). The components showing them live in `status` and `api_usage`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use leptos::prelude::*;

use super::failure::Failure;
use crate::dto::Timings;

/// What an image page shows about its last run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub timings: Timings,
    pub round_trip_ms: f64,
}

impl RunInfo {
    pub fn new(
        model: String,
        width: u32,
        height: u32,
        timings: Timings,
        round_trip_ms: f64,
    ) -> Self {
        Self {
            model,
            width,
            height,
            timings,
            round_trip_ms,
        }
    }

    /// The latency line under the result.
    pub fn line(&self) -> String {
        format!(
            "{} · {}×{} · queue {:.1} ms · inference {:.1} ms · server {:.1} ms · round trip {:.0} ms",
            self.model,
            self.width,
            self.height,
            self.timings.queue_ms,
            self.timings.inference_ms,
            self.timings.total_ms,
            self.round_trip_ms,
        )
    }

    /// The time outside the server's handler: network, upload and the browser's own work.
    pub fn network_ms(&self) -> f64 {
        (self.round_trip_ms - self.timings.total_ms).max(0.0)
    }
}

/// The input of the last run, as "Use via API" names it.
#[derive(Debug, Clone, PartialEq)]
pub enum InputRef {
    /// An uploaded, pasted, dropped or example file, by name.
    File(String),
    /// An image URL the server fetched.
    Url(String),
}

/// The signals of one page's runs. All `Copy`.
#[derive(Clone, Copy)]
pub struct RunState {
    pub busy: RwSignal<bool>,
    pub error: RwSignal<Option<Failure>>,
    /// Milliseconds since the current run started (ticks while busy).
    pub elapsed_ms: RwSignal<f64>,
    pub info: RwSignal<Option<RunInfo>>,
    pub input: RwSignal<Option<InputRef>>,
    /// The last answer's JSON, as the server sent it.
    pub answer: RwSignal<Option<serde_json::Value>>,
    /// The run in flight's cancel flag: a new run sets it, so a slower earlier one can never
    /// overwrite the newer result (the latest input wins).
    pub current: StoredValue<Option<Arc<AtomicBool>>>,
}

impl RunState {
    pub fn new() -> Self {
        Self {
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            elapsed_ms: RwSignal::new(0.0),
            info: RwSignal::new(None),
            input: RwSignal::new(None),
            answer: RwSignal::new(None),
            current: StoredValue::new(None),
        }
    }

    /// Starts a run: flags the one in flight (if any) as superseded and returns this one's flag.
    pub fn supersede(&self) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        if let Some(previous) = self.current.get_value() {
            previous.store(true, Ordering::SeqCst);
        }
        self.current.set_value(Some(flag.clone()));
        flag
    }

    /// Shows `msg` as the page's error (for checks made in the browser).
    pub fn fail(&self, msg: impl Into<Failure>) {
        self.error.set(Some(msg.into()));
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}

/// A future that stops at its next wake-up once `cancelled` is set, answering `None` without
/// polling `inner` again, so none of its remaining work (drawing a stale result) runs.
pub struct Cancellable<F> {
    pub inner: std::pin::Pin<Box<F>>,
    pub cancelled: Arc<AtomicBool>,
}

impl<F: std::future::Future> std::future::Future for Cancellable<F> {
    type Output = Option<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.cancelled.load(Ordering::SeqCst) {
            return std::task::Poll::Ready(None);
        }
        self.inner.as_mut().poll(cx).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_superseded_run_stops_before_its_remaining_work() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let owner = Owner::new();
        owner.with(|| {
            let run = RunState::new();
            let first = run.supersede();
            let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
            let work = {
                let steps = steps.clone();
                async move {
                    steps.lock().unwrap().push("fetched");
                    YieldOnce(false).await; // waiting on the network
                    steps.lock().unwrap().push("drew the result");
                }
            };
            let mut fut = Box::pin(Cancellable {
                inner: Box::pin(work),
                cancelled: first.clone(),
            });
            let mut cx = Context::from_waker(Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            let second = run.supersede(); // the user picked another photo
            assert!(first.load(Ordering::SeqCst) && !second.load(Ordering::SeqCst));
            assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(None));
            assert_eq!(
                *steps.lock().unwrap(),
                ["fetched"],
                "the stale result is never drawn"
            );
        });
    }

    /// Pending once, then ready.
    struct YieldOnce(bool);
    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                std::task::Poll::Ready(())
            } else {
                self.0 = true;
                std::task::Poll::Pending
            }
        }
    }
}
