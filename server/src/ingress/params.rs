//! A request's parameters: from the query string, else the multipart form; empty counts as
//! absent; numbers checked against their range with a 400 that names them; the model named or
//! the task's default.

use std::collections::HashMap;

use axum::extract::Query;
use models::Task;

use crate::error::ApiError;
use crate::state::AppState;

pub fn query_or_400<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {}", e.body_text())))
}

/// A parameter from the query string, else from the multipart form; empty counts as absent.
pub fn pick<'a>(
    q: &'a Option<String>,
    fields: &'a HashMap<String, String>,
    key: &str,
) -> Option<&'a str> {
    q.as_deref()
        .or_else(|| fields.get(key).map(String::as_str))
        .filter(|s| !s.is_empty())
}

/// The model to run: the one named (path, query or form), else the task's default.
pub fn model_or_default(
    state: &AppState,
    named: Option<String>,
    task: Task,
) -> Result<String, ApiError> {
    match named {
        Some(id) => Ok(id),
        None => state
            .models
            .default_id(task)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::Unavailable(format!(
                    "no {} model is ready; run `candlelit models fetch`",
                    task.name()
                ))
            }),
    }
}

/// A parameter's value, where an empty one (`?confidence=`, as a form sends an empty field)
/// counts as not given.
pub fn given(raw: Option<&str>) -> Option<&str> {
    raw.filter(|r| !r.trim().is_empty())
}

/// A number parameter within `range` (empty or absent: `default`), or 400 naming it.
pub fn number_in(
    raw: Option<&str>,
    name: &str,
    range: std::ops::RangeInclusive<f32>,
    default: f32,
) -> Result<f32, ApiError> {
    let Some(raw) = given(raw) else {
        return Ok(default);
    };
    let v: f32 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{name} '{raw}' is not a number")))?;
    if !range.contains(&v) {
        return Err(ApiError::BadRequest(format!(
            "{name} must be within {}..{}, got {v}",
            range.start(),
            range.end()
        )));
    }
    Ok(v)
}
