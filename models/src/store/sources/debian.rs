//! Debian: `apt-get download` writes the .deb into the working directory (the cache).

use super::PackageClient;
use crate::catalog::Source;
use crate::store::archive::Format;

pub fn client(src: &Source) -> PackageClient {
    PackageClient {
        program: "apt-get",
        args: vec![
            "download".into(),
            "-q".into(),
            format!("{}={}", src.package, src.version),
        ],
        // apt writes `name_version_arch.deb`, with `:` (epoch) escaped as `%3a`.
        archive_prefix: format!("{}_{}_", src.package, src.version.replace(':', "%3a")),
        archive_suffix: ".deb",
        format: Format::Deb,
    }
}
