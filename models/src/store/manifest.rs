//! `.manifest.json`, written beside the files of a model installed from a source that serves
//! files (the hub, a URL, a local folder): where they came from and each one's sha256 at
//! install, so the store can tell a later change (corrupt) from an intact copy when the catalog
//! pins no checksum (trust on first use).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::error::{ModelError, Result};

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

    pub fn write(&self, model_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        fs::write(model_dir.join(MANIFEST), text).map_err(|e| ModelError::io(model_dir, e))
    }
}
