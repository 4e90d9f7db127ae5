use std::path::Path;

/// Every failure the models crate can report. The server maps these to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog: {0}")]
    Catalog(String),
    #[error("graph: {0}")]
    Graph(String),
    #[error("unsupported op: {0}")]
    UnsupportedOp(String),
    /// The caller's input cannot be used (wrong shape, undecodable image, too large).
    #[error("{0}")]
    Input(String),
    #[error("image: {0}")]
    Image(#[from] image::ImageError),
    #[error("fetch: {0}")]
    Fetch(String),
    #[error("convert: {0}")]
    Convert(String),
    #[error("model '{id}' is {state}; run `{fix}`")]
    NotReady {
        id: String,
        state: String,
        fix: String,
    },
}

impl ModelError {
    /// A batch's result as one result per item: on failure every item gets the error.
    pub(crate) fn for_each<T>(n: usize, batch: Result<Vec<T>>) -> Vec<Result<T>> {
        match batch {
            Ok(v) => v.into_iter().map(Ok).collect(),
            Err(e) => (0..n)
                .map(|_| Err(ModelError::Graph(e.to_string())))
                .collect(),
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;
