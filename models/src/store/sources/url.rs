//! A plain HTTPS download (torchvision's checkpoints): one file into `<cache>/url/`, reused
//! while its sha256 starts with the prefix the catalog gives as `version`, then installed.

use std::fs;
use std::path::Path;

use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::store::checksum::sha256_file;
use crate::store::install::install_files;

/// Downloads the file (once) and installs it into `dest`. Fails fast when the host cannot be
/// reached, saying how to place the file by hand.
pub fn fetch(spec: &ModelSpec, cache: &Path, dest: &Path) -> Result<()> {
    let [file] = spec.files.as_slice() else {
        return Err(ModelError::Catalog(format!(
            "{}: a url source has exactly one file",
            spec.id
        )));
    };
    let dir = cache.join("url");
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
    install_files(spec, &dir, prefix, dest)
}
