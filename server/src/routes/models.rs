//! `GET /api/v1/models`: every catalog model with its state.

use ::models::ServingState;
use api_types::ModelInfo;
use axum::extract::State;
use axum::Json;

use crate::error::ApiError;
use crate::runtime::served::Served;
use crate::state::AppState;

/// `GET /api/v1/models`: every catalog model with its state.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, description = "Every catalog model", body = [ModelInfo])))]
pub async fn list_models(State(state): State<AppState>) -> Json<Vec<ModelInfo>> {
    Json(state.model_infos())
}

impl AppState {
    /// Every catalog model as `GET /api/v1/models` lists it.
    pub fn model_infos(&self) -> Vec<ModelInfo> {
        self.models
            .slots
            .iter()
            .map(|s| {
                let e = &s.spec;
                let engine = s.served().map(Served::options);
                ModelInfo {
                    id: e.id.clone(),
                    task: e.task.name().to_owned(),
                    name: e.name.clone(),
                    description: e.description.clone(),
                    licence: e.licence.clone(),
                    homepage: e.homepage.clone(),
                    source: format!(
                        "{:?} {}@{}",
                        e.source.registry, e.source.package, e.source.version
                    )
                    .to_lowercase(),
                    input_width: e.input.as_ref().map(|i| i.width),
                    input_height: e.input.as_ref().map(|i| i.height),
                    labels_count: e.labels.len(),
                    labels: e.labels.clone(),
                    default: self.models.default_id(e.task) == Some(e.id.as_str()),
                    store_problem: s.store_problem(),
                    workers: engine.map(|o| o.workers),
                    queue: engine.map(|o| o.queue),
                    max_batch: engine.map(|o| o.max_batch),
                    ..state_fields(s.state())
                }
            })
            .collect()
    }
}

/// A model's load state as `GET /api/v1/models` spells it: `state`, plus `detail` and `fix`
/// where they apply (the fields of `ServingState`'s own serde form, in its order).
fn state_fields(st: ServingState) -> ModelInfo {
    let state = st.label().to_owned();
    let (detail, fix) = match st {
        ServingState::Missing { fix } | ServingState::NotInstalled { fix } => (None, Some(fix)),
        ServingState::Corrupt { detail, fix } => (Some(detail), Some(fix)),
        ServingState::Failed { detail } => (Some(detail), None),
        ServingState::Loading
        | ServingState::WarmingUp
        | ServingState::Ready
        | ServingState::Disabled => (None, None),
    };
    ModelInfo {
        state,
        detail,
        fix,
        ..ModelInfo::default()
    }
}

/// 404 for a model id the catalog lacks, naming the ones it has (the `/v2` routes' answer).
pub(crate) fn unknown_model(state: &AppState, id: &str) -> ApiError {
    let known: Vec<&str> = state
        .models
        .slots
        .iter()
        .map(|s| s.spec.id.as_str())
        .collect();
    ApiError::NotFound(format!(
        "unknown model '{id}'; models: {}",
        known.join(", ")
    ))
}
