//! The Hugging Face hub: the catalog's files downloaded with the `hf-hub` client into
//! `<cache>/hub` (a hub cache layout), then installed like a hand-placed folder.

use std::path::Path;

use crate::catalog::{ModelSpec, Registry};
use crate::error::{ModelError, Result};
use crate::store::install::{cached_snapshot, file_list, install_files, locate};

/// The hint every hub or URL failure ends with: how to place the files by hand.
pub fn by_hand(spec: &ModelSpec) -> String {
    if spec.source.registry == Registry::Url {
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

/// Downloads the model's files with the hub client into `<cache>/hub` and installs them into
/// `dest`. `endpoint` overrides the hub address (`HF_ENDPOINT`). Fails fast when the hub cannot
/// be reached, saying how to place the files by hand.
pub fn fetch(spec: &ModelSpec, cache: &Path, dest: &Path, endpoint: Option<String>) -> Result<()> {
    let cache = cache.join("hub");
    if let Some(snap) = cached_snapshot(&cache, &spec.source.package, &spec.source.version) {
        if let Ok((src, commit)) = locate(spec, &snap) {
            return install_files(spec, &src, &commit, dest);
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
    install_files(spec, &dir, &commit, dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::store::install::tests::{tmp, HUB_MODEL};

    #[test]
    fn an_unreachable_hub_fails_fast_saying_how_to_install_by_hand() {
        let spec = Catalog::parse(HUB_MODEL).unwrap().models.remove(0);
        let t0 = std::time::Instant::now();
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let err = fetch(
            &spec,
            &tmp("dl2"),
            &tmp("store2").join("tiny"),
            Some("http://127.0.0.1:9".into()),
        )
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
