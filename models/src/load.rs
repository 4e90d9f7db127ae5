//! Loading one catalog model from the store into a [`Model`], dispatched on the catalog's task,
//! format and arch, and the state of a model as served ([`ServingState`]). The server decides
//! which models to load and when (`server/src/runtime/served.rs`); this only knows how.

use std::sync::Arc;

use candle_core::Device;

use crate::catalog::{Arch, Format, ModelSpec, Task};
use crate::classify::{EfficientNetLite, SegFormerClassifier};
use crate::detect::yolov8::YoloDetector;
use crate::detect::TfjsDetector;
use crate::segment::{DeepLabSegmenter, SegFormerSegmenter, TfjsSegmenter};
use crate::store::{Store, StoreState};
use crate::summarize::SmolLm;
use crate::summarize::{BartSummarizer, T5Summarizer};
use crate::task::Model;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServingState {
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

impl ServingState {
    pub fn label(&self) -> &'static str {
        match self {
            ServingState::Loading => "loading",
            ServingState::WarmingUp => "warming_up",
            ServingState::Ready => "ready",
            ServingState::Missing { .. } => "missing",
            ServingState::NotInstalled { .. } => "not_installed",
            ServingState::Corrupt { .. } => "corrupt",
            ServingState::Failed { .. } => "failed",
            ServingState::Disabled => "disabled",
        }
    }

    /// Whether readiness should wait for this model: not for disabled ones, nor for optional
    /// hub models nobody installed.
    pub fn counts_for_readiness(&self) -> bool {
        !matches!(
            self,
            ServingState::Disabled | ServingState::NotInstalled { .. }
        )
    }

    /// Whether a later look at the store might change this state (files placed since start).
    pub fn may_appear(&self) -> bool {
        matches!(
            self,
            ServingState::Missing { .. } | ServingState::NotInstalled { .. }
        )
    }
}

/// The command that repairs a model, shown in logs and errors.
pub fn fix_command(id: &str) -> String {
    format!("candlelit models fetch {id}")
}

/// Loads one model from the store, or says why it cannot be served.
pub fn load_one(spec: &ModelSpec, store: &Store, device: &Device) -> (ServingState, Option<Model>) {
    match store.state(spec) {
        StoreState::Ready => {}
        StoreState::Missing(_) if spec.source.registry.serves_files() => {
            return (
                ServingState::NotInstalled {
                    fix: format!(
                        "{} (needs {}), or {}",
                        fix_command(&spec.id),
                        match spec.source.registry {
                            crate::catalog::Registry::Url => "download.pytorch.org",
                            _ => "the Hugging Face hub",
                        },
                        crate::store::sources::hub::by_hand(spec)
                    ),
                },
                None,
            )
        }
        StoreState::Missing(_) => {
            return (
                ServingState::Missing {
                    fix: fix_command(&spec.id),
                },
                None,
            )
        }
        StoreState::Corrupt(detail) => {
            return (
                ServingState::Corrupt {
                    detail,
                    fix: fix_command(&spec.id),
                },
                None,
            )
        }
    }
    let path = store.graph_path(spec);
    let loaded: crate::Result<Model> = match (spec.task, spec.format, spec.arch) {
        (Task::Segmentation, Format::TfjsGraph, _) => {
            TfjsSegmenter::load(spec, &path, device).map(|m| Model::Segmenter(Arc::new(m)))
        }
        (Task::Detection, Format::TfjsGraph, _) => {
            TfjsDetector::load(spec, &path, device).map(|m| Model::Detector(Arc::new(m)))
        }
        (Task::Summarization, Format::Gguf, Some(Arch::Llama)) => SmolLm::load(&path, device)
            .map(|m| Model::Summarizer(Arc::new(m.with_id(spec.id.clone())))),
        (Task::Classification, Format::Safetensors, Some(Arch::EfficientNetLite)) => {
            EfficientNetLite::load(spec, &path, device).map(|m| Model::Classifier(Arc::new(m)))
        }
        (Task::Segmentation, Format::Safetensors, Some(Arch::DeepLabV3)) => {
            DeepLabSegmenter::load(spec, &path, device).map(|m| Model::Segmenter(Arc::new(m)))
        }
        (Task::Segmentation, Format::HfDir, Some(Arch::SegFormer)) => {
            SegFormerSegmenter::load(spec, &store.model_dir(&spec.id), device)
                .map(|m| Model::Segmenter(Arc::new(m)))
        }
        (Task::Classification, Format::HfDir, Some(Arch::SegFormer)) => {
            SegFormerClassifier::load(spec, &store.model_dir(&spec.id), device)
                .map(|m| Model::Classifier(Arc::new(m)))
        }
        (Task::Summarization, Format::HfDir, Some(Arch::T5)) => {
            T5Summarizer::load(spec.id.clone(), &store.model_dir(&spec.id), device)
                .map(|m| Model::Summarizer(Arc::new(m)))
        }
        (Task::Summarization, Format::HfDir, Some(Arch::Bart)) => {
            BartSummarizer::load(spec.id.clone(), &store.model_dir(&spec.id), device)
                .map(|m| Model::Summarizer(Arc::new(m)))
        }
        (Task::Detection, Format::Safetensors, Some(Arch::YoloV8n | Arch::YoloV8s)) => {
            YoloDetector::load(spec, &path, device).map(|m| Model::Detector(Arc::new(m)))
        }
        (task, format, arch) => Err(crate::ModelError::Catalog(format!(
            "no loader for {task:?} models in format '{}' with arch {arch:?}",
            format.name()
        ))),
    };
    match loaded {
        Ok(m) => (ServingState::Ready, Some(m)),
        Err(e) => (
            ServingState::Failed {
                detail: e.to_string(),
            },
            None,
        ),
    }
}
