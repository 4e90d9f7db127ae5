//! The registry: every catalog model with its load state, and the loaded models by task.
//! Built once at start; a model that is missing, corrupt or fails to load is reported by name
//! and the others still serve.

use std::sync::Arc;

use candle_core::Device;

use crate::catalog::{Catalog, ModelSpec, Task};
use crate::classify::{Classifier, EfficientNetLite};
use crate::detect::yolov8::YoloDetector;
use crate::detect::{Detector, TfjsDetector};
use crate::segment::{DeepLabSegmenter, SegFormerClassifier, SegFormerSegmenter};
use crate::segment::{Segmenter, TfjsSegmenter};
use crate::store::{ModelState, Store};
use crate::summarize::bart::BartSummarizer;
use crate::summarize::t5::T5Summarizer;
use crate::summarize::{SmolLm, Summarizer};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LoadState {
    /// Waiting for (or in) its turn to load at start.
    Loading,
    /// Loaded; running its warm-up inference before it takes requests.
    WarmingUp,
    Ready,
    Missing {
        fix: String,
    },
    /// A hub model whose files are not in the store yet; served once they are (no restart).
    NotInstalled {
        fix: String,
    },
    Corrupt {
        detail: String,
        fix: String,
    },
    Failed {
        detail: String,
    },
    Disabled,
}

impl LoadState {
    pub fn label(&self) -> &'static str {
        match self {
            LoadState::Loading => "loading",
            LoadState::WarmingUp => "warming_up",
            LoadState::Ready => "ready",
            LoadState::Missing { .. } => "missing",
            LoadState::NotInstalled { .. } => "not_installed",
            LoadState::Corrupt { .. } => "corrupt",
            LoadState::Failed { .. } => "failed",
            LoadState::Disabled => "disabled",
        }
    }

    /// Whether readiness should wait for this model: not for disabled ones, nor for optional
    /// hub models nobody installed.
    pub fn counts_for_readiness(&self) -> bool {
        !matches!(self, LoadState::Disabled | LoadState::NotInstalled { .. })
    }

    /// Whether a later look at the store might change this state (files placed since start).
    pub fn may_appear(&self) -> bool {
        matches!(
            self,
            LoadState::Missing { .. } | LoadState::NotInstalled { .. }
        )
    }
}

/// A loaded model, by task.
#[derive(Clone)]
pub enum Model {
    Segmenter(Arc<dyn Segmenter>),
    Detector(Arc<dyn Detector>),
    Classifier(Arc<dyn Classifier>),
    Summarizer(Arc<dyn Summarizer>),
}

pub struct Entry {
    pub spec: ModelSpec,
    pub state: LoadState,
    pub model: Option<Model>,
}

pub struct Registry {
    pub catalog: Catalog,
    pub entries: Vec<Entry>,
}

/// The command that repairs a model, shown in logs and errors.
pub fn fix_command(id: &str) -> String {
    format!("candlelit models fetch {id}")
}

impl Registry {
    /// Loads every catalog model the store has (or only `enabled` ones, when given).
    pub fn load(
        catalog: Catalog,
        store: &Store,
        enabled: Option<&[String]>,
        device: &Device,
    ) -> Self {
        let entries = catalog
            .models
            .iter()
            .map(|spec| {
                let (state, model) = if enabled.is_some_and(|e| !e.iter().any(|id| id == &spec.id))
                {
                    (LoadState::Disabled, None)
                } else {
                    load_one(spec, store, device)
                };
                match &state {
                    LoadState::Ready => tracing::info!(model = %spec.id, "model ready"),
                    LoadState::Disabled => {
                        tracing::info!(model = %spec.id, "model disabled by configuration")
                    }
                    other => tracing::warn!(model = %spec.id, state = ?other, "model not served"),
                }
                Entry {
                    spec: spec.clone(),
                    state,
                    model,
                }
            })
            .collect();
        Self { catalog, entries }
    }

    /// A registry over models that are already built (tests, embedding).
    pub fn from_models(catalog: Catalog, models: Vec<(ModelSpec, Model)>) -> Self {
        let entries = models
            .into_iter()
            .map(|(spec, m)| Entry {
                spec,
                state: LoadState::Ready,
                model: Some(m),
            })
            .collect();
        Self { catalog, entries }
    }

    /// A registry over segmenters that are already built (tests, embedding).
    pub fn from_segmenters(catalog: Catalog, models: Vec<Arc<dyn Segmenter>>) -> Self {
        let models = models
            .into_iter()
            .map(|m| (m.spec().clone(), Model::Segmenter(m)))
            .collect();
        Self::from_models(catalog, models)
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.spec.id == id)
    }

    /// The task's default model id: the catalog default if it is ready, else the first ready one.
    pub fn default_id(&self, task: Task) -> Option<&str> {
        let ready = |id: &str| self.entry(id).is_some_and(|e| e.state == LoadState::Ready);
        if let Some(d) = self.catalog.default_for(task).filter(|d| ready(&d.id)) {
            return Some(&d.id);
        }
        self.entries
            .iter()
            .find(|e| e.spec.task == task && e.state == LoadState::Ready)
            .map(|e| e.spec.id.as_str())
    }
}

/// Loads one model from the store, or says why it cannot be served.
pub fn load_one(spec: &ModelSpec, store: &Store, device: &Device) -> (LoadState, Option<Model>) {
    match store.state(spec) {
        ModelState::Ready => {}
        ModelState::Missing(_) if spec.source.registry.serves_files() => {
            return (
                LoadState::NotInstalled {
                    fix: format!(
                        "{} (needs {}), or {}",
                        fix_command(&spec.id),
                        match spec.source.registry {
                            crate::catalog::Registry::Url => "download.pytorch.org",
                            _ => "the Hugging Face hub",
                        },
                        crate::hub::by_hand(spec)
                    ),
                },
                None,
            )
        }
        ModelState::Missing(_) => {
            return (
                LoadState::Missing {
                    fix: fix_command(&spec.id),
                },
                None,
            )
        }
        ModelState::Corrupt(detail) => {
            return (
                LoadState::Corrupt {
                    detail,
                    fix: fix_command(&spec.id),
                },
                None,
            )
        }
    }
    let path = store.graph_path(spec);
    let loaded: crate::Result<Model> = match (spec.task, spec.format.as_str()) {
        (Task::Segmentation, "tfjs-graph") => {
            TfjsSegmenter::load(spec, &path, device).map(|m| Model::Segmenter(Arc::new(m)))
        }
        (Task::Detection, "tfjs-graph") => {
            TfjsDetector::load(spec, &path, device).map(|m| Model::Detector(Arc::new(m)))
        }
        (Task::Summarization, "gguf") if spec.arch == "llama" => SmolLm::load(&path, device)
            .map(|m| Model::Summarizer(Arc::new(m.with_id(spec.id.clone())))),
        (Task::Classification, "safetensors") if spec.arch == "efficientnet-lite" => {
            EfficientNetLite::load(spec, &path, device).map(|m| Model::Classifier(Arc::new(m)))
        }
        (Task::Segmentation, "safetensors") if spec.arch == "deeplabv3" => {
            DeepLabSegmenter::load(spec, &path, device).map(|m| Model::Segmenter(Arc::new(m)))
        }
        (Task::Segmentation, "hf-dir") if spec.arch == "segformer" => {
            SegFormerSegmenter::load(spec, &store.model_dir(&spec.id), device)
                .map(|m| Model::Segmenter(Arc::new(m)))
        }
        (Task::Classification, "hf-dir") if spec.arch == "segformer" => {
            SegFormerClassifier::load(spec, &store.model_dir(&spec.id), device)
                .map(|m| Model::Classifier(Arc::new(m)))
        }
        (Task::Summarization, "hf-dir") if spec.arch == "t5" => {
            T5Summarizer::load(spec.id.clone(), &store.model_dir(&spec.id), device)
                .map(|m| Model::Summarizer(Arc::new(m)))
        }
        (Task::Summarization, "hf-dir") if spec.arch == "bart" => {
            BartSummarizer::load(spec.id.clone(), &store.model_dir(&spec.id), device)
                .map(|m| Model::Summarizer(Arc::new(m)))
        }
        (Task::Detection, "safetensors") if spec.arch.starts_with("yolov8") => {
            YoloDetector::load(spec, &path, device).map(|m| Model::Detector(Arc::new(m)))
        }
        (task, format) => Err(crate::ModelError::Catalog(format!(
            "no loader for {task:?} models in format '{format}'"
        ))),
    };
    match loaded {
        Ok(m) => (LoadState::Ready, Some(m)),
        Err(e) => (
            LoadState::Failed {
                detail: e.to_string(),
            },
            None,
        ),
    }
}
