//! Health and metrics: `/healthz` (alive), `/readyz` (every enabled model ready, per-model
//! detail), the Open Inference Protocol's `/v2/health/*` and `/v2/models/{id}[/ready]`, and
//! Prometheus `/metrics`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use models::ServingState;
use serde::Serialize;

use crate::error::ApiError;
use crate::metrics::METRICS;
use crate::state::AppState;

/// `GET /healthz`: the process is alive (answers while models still load).
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Each enabled model's state: `loading`, `warming_up`, `ready`, `missing`, ...
    #[schema(value_type = Object)]
    pub models: serde_json::Map<String, serde_json::Value>,
    /// Models serving from memory whose store copy went bad since loading (what is wrong, and
    /// the fixing command); a restart would leave them unavailable.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub store_problems: serde_json::Map<String, serde_json::Value>,
    /// True once shutdown is signalled: requests in flight finish, but a load balancer should
    /// send no new ones.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
}

fn readiness(state: &AppState) -> Readiness {
    let enabled: Vec<_> = state
        .models
        .slots
        .iter()
        .map(|s| (s.spec.id.clone(), s.state()))
        .filter(|(_, st)| st.counts_for_readiness())
        .collect();
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let ready =
        !draining && !enabled.is_empty() && enabled.iter().all(|(_, s)| *s == ServingState::Ready);
    let store_problems = state
        .models
        .slots
        .iter()
        .filter_map(|s| {
            Some((
                s.spec.id.clone(),
                serde_json::Value::from(s.store_problem()?),
            ))
        })
        .collect();
    Readiness {
        ready,
        draining,
        store_problems,
        models: enabled
            .into_iter()
            .map(|(id, s)| (id, serde_json::Value::from(s.label())))
            .collect(),
    }
}

/// `GET /readyz`: 200 when every enabled model has loaded and warmed up, else 503 (also from
/// the moment shutdown is signalled: `draining`); per-model state in the body either way.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Every enabled model is ready", body = Readiness),
    (status = 503, description = "Some model is not ready, or the server is draining", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let r = readiness(&state);
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}

/// `GET /v2/health/live` (Open Inference Protocol).
#[utoipa::path(get, path = "/v2/health/live", tag = "health",
    responses((status = 200, description = "Live")))]
pub async fn oip_live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "live": true }))
}

/// `GET /v2/health/ready` (Open Inference Protocol): as `/readyz`.
#[utoipa::path(get, path = "/v2/health/ready", tag = "health", responses(
    (status = 200, description = "Every enabled model is ready"),
    (status = 503, description = "Some model is not ready")))]
pub async fn oip_ready(State(state): State<AppState>) -> Response {
    let r = readiness(&state);
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({ "ready": r.ready }))).into_response()
}

/// The OIP model metadata: name, platform, inputs and outputs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OipModel {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    #[schema(value_type = Vec<Object>)]
    pub inputs: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub outputs: Vec<serde_json::Value>,
    pub state: String,
}

/// `GET /v2/models/{model_id}` (Open Inference Protocol model metadata).
#[utoipa::path(get, path = "/v2/models/{model_id}", tag = "health",
    params(("model_id" = String, Path, description = "A catalog model id")),
    responses((status = 200, body = OipModel), (status = 404, body = crate::error::ErrorBody)))]
pub async fn oip_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OipModel>, ApiError> {
    let slot = state
        .models
        .slot(&id)
        .ok_or_else(|| super::models::unknown_model(&state, &id))?;
    let spec = &slot.spec;
    // What `POST /v2/models/{id}/infer` takes and answers (see api::oip).
    let (inputs, outputs) = super::oip::metadata(spec);
    Ok(Json(OipModel {
        name: spec.id.clone(),
        versions: vec![spec.source.version.clone()],
        platform: format!("candle_{}", spec.format.name().replace('-', "_")),
        inputs,
        outputs,
        state: slot.state().label().to_owned(),
    }))
}

/// `GET /v2/models/{model_id}/ready` (Open Inference Protocol): 200 when the model is ready.
#[utoipa::path(get, path = "/v2/models/{model_id}/ready", tag = "health",
    params(("model_id" = String, Path, description = "A catalog model id")),
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn oip_model_ready(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let slot = state
        .models
        .slot(&id)
        .ok_or_else(|| super::models::unknown_model(&state, &id))?;
    let st = slot.state();
    let ready = st == ServingState::Ready;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        Json(serde_json::json!({ "name": id, "ready": ready, "state": st.label() })),
    )
        .into_response())
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.models.export_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    )
        .into_response()
}
