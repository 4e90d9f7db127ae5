//! PyPI: `pip download --no-deps` fetches the package's wheel (a zip), never running its code.

use std::path::Path;

use super::PackageClient;
use crate::catalog::Source;
use crate::store::archive::Format;

pub fn client(src: &Source, cache: &Path) -> PackageClient {
    PackageClient {
        program: "pip",
        args: vec![
            "download".into(),
            "--no-deps".into(),
            "--only-binary=:all:".into(),
            "-q".into(),
            "-d".into(),
            cache.to_string_lossy().into_owned(),
            format!("{}=={}", src.package, src.version),
        ],
        // Wheels normalise `-` to `_` in the distribution name.
        archive_prefix: format!("{}-{}-", src.package.replace('-', "_"), src.version),
        archive_suffix: ".whl",
        format: Format::Zip,
    }
}
