//! The candlelit server: configuration, the HTTP API, limits, safe URL fetching, the bounded
//! executor, and the Leptos site, composed by [`app`].

pub mod api;
pub mod config;
pub mod error;
pub mod executor;
pub mod fetch;
pub mod input;
pub mod limits;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{any, get, post};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use models::segment::Segmenter;
use models::summarize::Summarizer;
use models::{Classifier, Detector, LoadState, Model, Registry, Task};

use crate::api::ModelInfo;
use crate::error::ApiError;
use crate::executor::Executor;
use crate::fetch::FetchPolicy;
use crate::limits::Limits;

/// Everything a handler needs; cheap to clone (all `Arc`s and small structs).
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub limits: Limits,
    pub fetch: FetchPolicy,
    pub executor: Executor,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

impl AppState {
    pub fn new(
        registry: Registry,
        limits: Limits,
        fetch: FetchPolicy,
        executor: Executor,
        site_root: &str,
    ) -> Self {
        Self {
            registry: Arc::new(registry),
            limits,
            fetch,
            executor,
            leptos: leptos_options(site_root),
        }
    }

    /// The loaded model `id` of `task`, or the 4xx/503 that explains why there is none:
    /// 404 for an unknown id (naming the task's models), 400 for a model of another task,
    /// 503 (with the fixing command) for one that is missing, corrupt or failed to load.
    pub fn model(&self, id: &str, task: Task) -> Result<Model, ApiError> {
        let entry = self.registry.entry(id).ok_or_else(|| {
            let known: Vec<&str> = self
                .registry
                .entries
                .iter()
                .filter(|e| e.spec.task == task)
                .map(|e| e.spec.id.as_str())
                .collect();
            ApiError::NotFound(format!(
                "unknown model '{id}'; {} models: {}",
                task.name(),
                known.join(", ")
            ))
        })?;
        if entry.spec.task != task {
            return Err(ApiError::BadRequest(format!(
                "model '{id}' is a {} model, not a {} model",
                entry.spec.task.name(),
                task.name()
            )));
        }
        match (&entry.state, &entry.model) {
            (LoadState::Ready, Some(m)) => Ok(m.clone()),
            (LoadState::Missing { fix } | LoadState::Corrupt { fix, .. }, _) => {
                Err(ApiError::Unavailable(format!(
                    "model '{id}' is {} in the store; run `{fix}`",
                    entry.state.label()
                )))
            }
            (state, _) => Err(ApiError::Unavailable(format!(
                "model '{id}' is {}",
                state.label()
            ))),
        }
    }

    pub fn segmenter(&self, id: &str) -> Result<Arc<dyn Segmenter>, ApiError> {
        match self.model(id, Task::Segmentation)? {
            Model::Segmenter(m) => Ok(m),
            _ => Err(ApiError::Internal(format!("{id}: registry task mismatch"))),
        }
    }

    pub fn detector(&self, id: &str) -> Result<Arc<dyn Detector>, ApiError> {
        match self.model(id, Task::Detection)? {
            Model::Detector(m) => Ok(m),
            _ => Err(ApiError::Internal(format!("{id}: registry task mismatch"))),
        }
    }

    pub fn summarizer(&self, id: &str) -> Result<Arc<dyn Summarizer>, ApiError> {
        match self.model(id, Task::Summarization)? {
            Model::Summarizer(m) => Ok(m),
            _ => Err(ApiError::Internal(format!("{id}: registry task mismatch"))),
        }
    }

    pub fn classifier(&self, id: &str) -> Result<Arc<dyn Classifier>, ApiError> {
        match self.model(id, Task::Classification)? {
            Model::Classifier(m) => Ok(m),
            _ => Err(ApiError::Internal(format!("{id}: registry task mismatch"))),
        }
    }

    pub fn model_infos(&self) -> Vec<ModelInfo> {
        self.registry
            .entries
            .iter()
            .map(|e| ModelInfo {
                id: e.spec.id.clone(),
                task: e.spec.task,
                name: e.spec.name.clone(),
                description: e.spec.description.clone(),
                licence: e.spec.licence.clone(),
                homepage: e.spec.homepage.clone(),
                source: format!(
                    "{:?} {}@{}",
                    e.spec.source.registry, e.spec.source.package, e.spec.source.version
                )
                .to_lowercase(),
                input_width: e.spec.input.as_ref().map(|i| i.width),
                input_height: e.spec.input.as_ref().map(|i| i.height),
                labels: e.spec.labels.clone(),
                default: self.registry.default_id(e.spec.task) == Some(e.spec.id.as_str()),
                state: e.state.clone(),
            })
            .collect()
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

/// The whole HTTP surface: API routes, health, the Leptos pages and static files.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/segment", post(api::segment_legacy))
        .route("/api/v1/segment/{model_id}", post(api::segment_v1))
        .route("/predict", post(api::detect_legacy))
        .route("/api/v1/detect/{model_id}", post(api::detect_v1))
        .route("/predict/image_classes", post(api::classify_legacy))
        .route("/api/v1/classify/{model_id}", post(api::classify_v1))
        .route("/predict/text_summarize", post(api::summarize_legacy))
        .route("/Summarizer", get(api::summarize_ray))
        .route("/api/v1/summarize/{model_id}", post(api::summarize_v1))
        .route("/api/v1/models", get(api::list_models))
        .route("/api/{*rest}", any(api::api_not_found))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .layer(DefaultBodyLimit::max(state.limits.body_bytes));

    let routes = generate_route_list(app::App);
    let site = Router::new()
        .leptos_routes(&state, routes, {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ));

    api.merge(site)
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}
