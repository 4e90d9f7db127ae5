//! The state every handler reads: the settings from the flags ([`Settings`]) and the served
//! models, executor, budget, fetcher and metrics ([`AppState`]). Its own file so that the
//! modules reading it never import the crate root that composes them.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use models::{Classifier, Detector, Segmenter, ServingState, Summarizer, Task};

use crate::error::ApiError;
use crate::ingress::fetch::FetchPolicy;
use crate::ingress::limits::Limits;
use crate::ingress::{budget, conn, fetch};
use crate::runtime::engine::Place;
use crate::runtime::executor::Executor;
use crate::runtime::served::{
    ClassifyEngine, DetectEngine, SegmentEngine, Served, ServedModels, SummarizeEngine,
};
/// The knobs a handler reads; everything here has a flag (see `config`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    pub fetch: FetchPolicy,
    /// Longest a request may take end to end before it gets 504 (`--request-timeout-ms`).
    pub request_timeout: Duration,
    /// When set, API routes need `Authorization: Bearer <key>` (`--api-key`).
    pub api_key: Option<String>,
    /// Origins allowed to call the API from a browser (`--cors-origin`); empty: same origin.
    pub cors_origins: Vec<String>,
    /// Blocking threads for decoding and encoding images, and how many jobs may wait for them.
    pub cpu_workers: usize,
    pub cpu_queue: usize,
    /// Where `GET /samples/{name}` reads the sample photos (`<--model-dir>/samples`).
    pub samples_dir: PathBuf,
    /// Bytes that request data (bodies, fetched images, pixels, answers) may hold at once
    /// (`--memory-budget`).
    pub memory_budget: u64,
    /// Guards against slow and greedy clients (see `conn`).
    pub conn: conn::ConnLimits,
    /// How long the listener stays open after shutdown is signalled, with `/readyz` at 503, so
    /// a load balancer's health check takes this replica out before connections are refused
    /// (`--drain-ms`).
    pub drain: Duration,
    /// Longest a request keeps the queue place it took when its head arrived while its upload
    /// (or `image_url` fetch) is still coming in (`--upload-hold-ms`).
    pub upload_hold: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            fetch: FetchPolicy::default(),
            request_timeout: Duration::from_secs(60),
            api_key: None,
            cors_origins: Vec::new(),
            cpu_workers: 2,
            cpu_queue: 64,
            samples_dir: PathBuf::from("model-store/samples"),
            memory_budget: budget::default_limit(),
            conn: conn::ConnLimits::default(),
            drain: Duration::ZERO,
            upload_hold: Duration::from_secs(1),
        }
    }
}

/// Everything a handler needs; cheap to clone (all `Arc`s and small structs).
#[derive(Clone)]
pub struct AppState {
    pub models: Arc<ServedModels>,
    pub settings: Arc<Settings>,
    pub limits: Limits,
    pub fetch: FetchPolicy,
    /// The one URL fetcher (its client, resolver and concurrency bound).
    pub fetcher: fetch::Fetcher,
    /// The process's memory budget for request data.
    pub memory: Arc<budget::MemoryBudget>,
    /// Decoding and encoding run here, off the async runtime; inference runs on each model's
    /// own engine.
    pub cpu: Executor,
    pub leptos: LeptosOptions,
    /// Set once shutdown is signalled: readiness then answers 503 "draining".
    pub draining: Arc<AtomicBool>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

impl AppState {
    pub fn new(models: Arc<ServedModels>, settings: Settings, site_root: &str) -> Self {
        Self {
            models,
            limits: settings.limits.clone(),
            fetch: settings.fetch.clone(),
            fetcher: fetch::Fetcher::new(settings.fetch.clone()),
            memory: budget::MemoryBudget::new(settings.memory_budget),
            cpu: Executor::new(settings.cpu_workers, settings.cpu_queue),
            settings: Arc::new(settings),
            leptos: leptos_options(site_root),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// When a request that started at `started` must be answered by.
    pub fn deadline(&self, started: Instant) -> Instant {
        started + self.settings.request_timeout
    }

    /// The ready model `id` of `task`, or the 4xx/503 that explains why there is none:
    /// 404 for an unknown id (naming the task's models), 400 for a model of another task,
    /// 503 with `Retry-After` while it loads or warms up, and 503 naming the fixing command for
    /// one that is missing, corrupt or failed to load.
    pub fn model(&self, id: &str, task: Task) -> Result<Served, ApiError> {
        let slot = self.models.slot(id).ok_or_else(|| {
            let known: Vec<&str> = self
                .models
                .slots
                .iter()
                .filter(|s| s.spec.task == task)
                .map(|s| s.spec.id.as_str())
                .collect();
            ApiError::NotFound(format!(
                "unknown model '{id}'; {} models: {}",
                task.name(),
                known.join(", ")
            ))
        })?;
        if slot.spec.task != task {
            return Err(ApiError::BadRequest(format!(
                "model '{id}' is a {} model, not a {} model",
                slot.spec.task.name(),
                task.name()
            )));
        }
        if let Some(served) = slot.served() {
            return Ok(served.clone());
        }
        Err(match slot.state() {
            ServingState::Missing { fix } | ServingState::Corrupt { fix, .. } => {
                ApiError::Unavailable(format!(
                    "model '{id}' is {} in the store; run `{fix}`",
                    slot.state().label()
                ))
            }
            ServingState::NotInstalled { fix } => {
                ApiError::Unavailable(format!("model '{id}' is not installed; {fix}"))
            }
            ServingState::Loading | ServingState::WarmingUp => ApiError::NotReady(format!(
                "model '{id}' is {}; retry shortly",
                slot.state().label().replace('_', " ")
            )),
            state => ApiError::Unavailable(format!("model '{id}' is {}", state.label())),
        })
    }

    pub fn segmenter(&self, id: &str) -> Result<(Arc<dyn Segmenter>, SegmentEngine), ApiError> {
        match self.model(id, Task::Segmentation)? {
            Served::Segmenter(m, e) => Ok((m, e)),
            _ => Err(ApiError::Internal(format!("{id}: task mismatch"))),
        }
    }

    pub fn detector(&self, id: &str) -> Result<(Arc<dyn Detector>, DetectEngine), ApiError> {
        match self.model(id, Task::Detection)? {
            Served::Detector(m, e) => Ok((m, e)),
            _ => Err(ApiError::Internal(format!("{id}: task mismatch"))),
        }
    }

    pub fn classifier(&self, id: &str) -> Result<(Arc<dyn Classifier>, ClassifyEngine), ApiError> {
        match self.model(id, Task::Classification)? {
            Served::Classifier(m, e) => Ok((m, e)),
            _ => Err(ApiError::Internal(format!("{id}: task mismatch"))),
        }
    }

    /// Takes a place in the queue of the model a request is for before its body is read: a
    /// request refused for a full queue is refused at once (429, no upload parsed), and one let
    /// in is not refused after its upload has arrived. The model is the one `named` by path or
    /// query, else the task's default; unnamed, the request is refused only when every served
    /// model of `task` is full (a form field could still name one with room), and gets no
    /// place (`None`: taken once the form is read) when the default is full but another is not.
    pub fn hold_place(&self, task: Task, named: Option<&str>) -> Result<Option<Place>, ApiError> {
        if let Some(id) = named {
            return self.model(id, task)?.reserve().map(Some);
        }
        let Some(default) = self.models.default_id(task) else {
            return Ok(None); // nothing served: the route's own lookup says why
        };
        let default = self.model(default, task)?;
        let all_full = || {
            self.models
                .slots
                .iter()
                .filter(|s| s.spec.task == task)
                .filter_map(|s| s.served())
                .all(Served::is_full)
        };
        if default.is_full() && !all_full() {
            return Ok(None);
        }
        default.reserve().map(Some)
    }

    /// [`hold_place`](Self::hold_place) for routes that run through the queue later by other
    /// paths (OIP's tensors): refuses now when full, holds nothing.
    pub fn refuse_if_full(&self, task: Task, named: Option<&str>) -> Result<(), ApiError> {
        self.hold_place(task, named).map(drop)
    }

    pub fn summarizer(&self, id: &str) -> Result<(Arc<dyn Summarizer>, SummarizeEngine), ApiError> {
        match self.model(id, Task::Summarization)? {
            Served::Summarizer(m, e) => Ok((m, e)),
            _ => Err(ApiError::Internal(format!("{id}: task mismatch"))),
        }
    }
}

/// Leptos options set at run time. `LEPTOS_OUTPUT_NAME` must not be set at compile time (the
/// plain wasm-bindgen output is `frontend_bg.wasm`, which Leptos expects only then).
pub fn leptos_options(site_root: &str) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("frontend")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .build()
}
