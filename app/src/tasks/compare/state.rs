//! The compare page's state and its tasks, shared by its component (`page.rs`) and its browser
//! code (`browser.rs`).

use leptos::prelude::*;

use crate::site_config::SiteConfig;
use crate::widgets::run::{RunInfo, RunState};

/// A task the page can compare on.
pub struct CompareTask {
    /// The value of the task selector, and the API path segment.
    pub key: &'static str,
    /// The API's task name (`GET /api/v1/models`).
    pub api_task: &'static str,
    pub title: &'static str,
}

pub const TASKS: &[CompareTask] = &[
    CompareTask {
        key: "detect",
        api_task: "detection",
        title: "Object detection",
    },
    CompareTask {
        key: "segment",
        api_task: "segmentation",
        title: "Person segmentation",
    },
    CompareTask {
        key: "classify",
        api_task: "classification",
        title: "Image classification",
    },
];

/// The task of the selector value `key` (the first when unknown).
pub fn task_of(key: &str) -> &'static CompareTask {
    TASKS.iter().find(|t| t.key == key).unwrap_or(&TASKS[0])
}

/// The two models a task starts with: its default and the next, or its only one twice.
pub fn default_pair(config: &SiteConfig, task: &CompareTask) -> (String, String) {
    let models = config.models_of(task.api_task);
    let a = models.first().map(|m| m.id.clone()).unwrap_or_default();
    let b = models.get(1).map_or_else(|| a.clone(), |m| m.id.clone());
    (a, b)
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
    /// The server's `--body-limit`, checked before an upload.
    pub body_limit_bytes: u64,
    pub outcomes: RwSignal<[Option<Outcome>; 2]>,
}
