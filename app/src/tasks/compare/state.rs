//! The compare page's state and its tasks, shared by its component (`page.rs`) and its browser
//! code (`browser.rs`).

use leptos::prelude::*;

use crate::dto::{ModelChoice, CLASSIFICATION_MODELS, DETECTION_MODELS, SEGMENTATION_MODELS};
use crate::widgets::run::{RunInfo, RunState};

/// A task the page can compare on.
pub struct CompareTask {
    /// The value of the task selector, and the API path segment.
    pub key: &'static str,
    /// The API's task name (`GET /api/v1/models`).
    pub api_task: &'static str,
    pub title: &'static str,
    pub models: &'static [ModelChoice],
}

pub const TASKS: &[CompareTask] = &[
    CompareTask {
        key: "detect",
        api_task: "detection",
        title: "Object detection",
        models: DETECTION_MODELS,
    },
    CompareTask {
        key: "segment",
        api_task: "segmentation",
        title: "Person segmentation",
        models: SEGMENTATION_MODELS,
    },
    CompareTask {
        key: "classify",
        api_task: "classification",
        title: "Image classification",
        models: CLASSIFICATION_MODELS,
    },
];

/// The task of the selector value `key` (the first when unknown).
pub fn task_of(key: &str) -> &'static CompareTask {
    TASKS.iter().find(|t| t.key == key).unwrap_or(&TASKS[0])
}

/// The two models a task starts with: its first two, or its only one twice.
pub fn default_pair(task: &CompareTask) -> (String, String) {
    let a = task.models[0].id;
    let b = task.models.get(1).map_or(a, |m| m.id);
    (a.to_string(), b.to_string())
}

/// One side's result: its run and a few lines saying what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub info: RunInfo,
    pub found: Vec<String>,
}

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct CompareCtx {
    pub task: RwSignal<String>,
    pub models: [RwSignal<String>; 2],
    pub run: RunState,
    pub outcomes: RwSignal<[Option<Outcome>; 2]>,
}
