//! State the image pages share: what a run reports ([`RunInfo`], [`Failure`]), the signals of
//! one run ([`RunState`]), what the user picked ([`Pick`]) and the checks made before an upload.
//! The components built on them live in `input`, `status` and `api_usage`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use leptos::prelude::*;

use crate::dto::{ErrorBody, Timings, ACCEPTED_TYPES, BODY_LIMIT_BYTES};

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

/// Why a run failed, as the user sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    pub message: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The server's `Retry-After`, in seconds.
    pub retry_after: Option<u32>,
    /// Worth a Retry button: the server was busy or unavailable, or the network failed.
    pub retryable: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            ..Self::default()
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl Failure {
    /// A failed answer: the server's own `error` text (or the raw body), its status and type,
    /// and for 429/503/504 a hint to retry (after `Retry-After` seconds when given).
    pub fn from_answer(status: u16, retry_after: Option<&str>, body: &str) -> Self {
        let parsed = serde_json::from_str::<ErrorBody>(body).ok();
        let text = parsed
            .as_ref()
            .map(|e| e.error.clone())
            .unwrap_or_else(|| body.trim().to_string());
        let kind = parsed.map(|e| format!(" {}", e.kind)).unwrap_or_default();
        let retry_after = retry_after.and_then(|s| s.trim().parse::<u32>().ok());
        let (lead, retryable) = match status {
            429 => ("The server is busy: ", true),
            503 => ("The model cannot answer right now: ", true),
            504 => ("The server ran out of time: ", true),
            _ => ("", false),
        };
        let hint = match (retryable, retry_after) {
            (false, _) => String::new(),
            (true, Some(s)) => format!(" It asks to retry in {s} s."),
            (true, None) => " Retry in a moment.".to_string(),
        };
        Self {
            message: format!("{lead}{text} ({status}{kind}).{hint}"),
            status: Some(status),
            retry_after,
            retryable,
        }
    }

    /// The request never got an answer (server down, connection cut).
    pub fn network(detail: &str) -> Self {
        Self {
            message: format!("The request failed: {detail}. Is the server running?"),
            retryable: true,
            ..Self::default()
        }
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

/// What the user just did with the input controls; the page's browser code decides what to run.
pub enum Pick {
    /// The file input changed.
    File(leptos::ev::Event),
    /// Something was dropped on the drop zone.
    Drop(leptos::ev::DragEvent),
    /// Something was pasted on the page (an image, or an image URL).
    Paste(leptos::ev::ClipboardEvent),
    /// One of the bundled sample photos (`GET /samples/{name}`).
    Sample(&'static str),
    /// The URL form was submitted with this text.
    Url(String),
    /// The upload form was submitted, the model changed, or Retry: run again on the last input.
    Again,
}

/// Checks a file against what the server accepts before uploading it: the browser's type (the
/// server sniffs the bytes, so an unknown type is let through) and the body limit.
pub fn check_upload(name: &str, mime: &str, size: f64) -> Result<(), String> {
    if !mime.is_empty() && !ACCEPTED_TYPES.contains(&mime) {
        return Err(format!(
            "“{name}” is {mime}, not a photo the models read. Choose a JPEG, PNG, WebP, GIF or BMP image."
        ));
    }
    // Leave room for the multipart envelope around the file.
    if size + 4096.0 > BODY_LIMIT_BYTES {
        return Err(format!(
            "“{name}” is {:.1} MiB; the server accepts uploads up to {:.0} MiB. Try a smaller or more compressed photo.",
            size / 1048576.0,
            BODY_LIMIT_BYTES / 1048576.0
        ));
    }
    Ok(())
}

/// The "what the server accepts" hint under the file button.
pub fn limits_hint() -> String {
    format!(
        "JPEG, PNG, WebP, GIF or BMP · up to {:.0} MiB",
        BODY_LIMIT_BYTES / 1048576.0
    )
}

/// `name` if it is one of the bundled samples (the only names a link may run).
pub fn sample_named(name: &str) -> Option<&'static str> {
    crate::dto::SAMPLES
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.name)
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
    fn example_links_name_only_the_bundled_samples() {
        assert_eq!(sample_named("dog.jpg"), Some("dog.jpg"));
        assert_eq!(sample_named("../secret"), None);
        assert_eq!(sample_named(""), None);
    }

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

    #[test]
    fn busy_answers_keep_the_servers_words_and_offer_retry() {
        let body = r#"{"error":"model 'nanodet' queue is full","type":"overloaded","code":429}"#;
        let f = Failure::from_answer(429, Some("1"), body);
        assert!(f.retryable);
        assert_eq!(f.retry_after, Some(1));
        assert!(
            f.message.contains("model 'nanodet' queue is full"),
            "{}",
            f.message
        );
        assert!(f.message.contains("429 overloaded"), "{}", f.message);
        assert!(f.message.contains("retry in 1 s"), "{}", f.message);
    }

    #[test]
    fn client_errors_are_not_retryable_and_non_json_bodies_are_shown() {
        let f = Failure::from_answer(
            415,
            None,
            r#"{"error":"the data is not an image","type":"unsupported_media_type","code":415}"#,
        );
        assert!(!f.retryable);
        assert_eq!(
            f.message,
            "the data is not an image (415 unsupported_media_type)."
        );
        let f = Failure::from_answer(502, None, "Bad Gateway\n");
        assert_eq!(f.message, "Bad Gateway (502).");
    }

    #[test]
    fn uploads_are_checked_for_type_and_size() {
        assert!(check_upload("a.jpg", "image/jpeg", 1e6).is_ok());
        assert!(check_upload("a", "", 1e6).is_ok());
        assert!(check_upload("notes.txt", "text/plain", 10.0)
            .unwrap_err()
            .contains("text/plain"));
        assert!(check_upload("big.jpg", "image/jpeg", 17.0 * 1048576.0)
            .unwrap_err()
            .contains("up to 16 MiB"));
    }
}
