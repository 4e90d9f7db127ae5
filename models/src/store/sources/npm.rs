//! npm: `npm pack <package>@<version>` writes the package's gzipped tarball into the cache.

use std::path::Path;

use super::PackageClient;
use crate::catalog::Source;
use crate::store::archive::Format;

pub fn client(src: &Source, cache: &Path) -> PackageClient {
    PackageClient {
        program: "npm",
        args: vec![
            "pack".into(),
            format!("{}@{}", src.package, src.version),
            "--pack-destination".into(),
            cache.to_string_lossy().into_owned(),
            "--cache".into(),
            cache.join("npm-cache").to_string_lossy().into_owned(),
            "--silent".into(),
        ],
        // `npm pack @scope/name@1.2.3` writes `scope-name-1.2.3.tgz`.
        archive_prefix: format!(
            "{}-{}",
            src.package.trim_start_matches('@').replace('/', "-"),
            src.version
        ),
        archive_suffix: ".tgz",
        format: Format::TarGz,
    }
}
