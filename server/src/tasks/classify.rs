//! Classification: one image through a classifier, the top classes best first.

use std::time::Instant;

use api_types::{ClassLabel, ClassProb, ClassifyResponse};
use models::classify::{short_label, top_k};
use models::Classification;

use super::{infer, png_data_url, reserve_output, ImageSource, Ran, Reserved};
use crate::error::ApiError;
use crate::ingress::decode::Need;
use crate::state::AppState;

pub const DEFAULT_TOP_K: usize = 5;

/// `top_k` within 1..=`classes` (empty or absent: the default, at most `classes`), or 400.
pub fn parse_top_k(raw: Option<&str>, classes: usize) -> Result<usize, ApiError> {
    let Some(raw) = crate::ingress::params::given(raw) else {
        return Ok(DEFAULT_TOP_K.min(classes));
    };
    match raw.trim().parse::<usize>() {
        Ok(k) if (1..=classes).contains(&k) => Ok(k),
        _ => Err(ApiError::BadRequest(format!(
            "top_k must be a whole number within 1..{classes}, got '{raw}'"
        ))),
    }
}

/// A classification run and its `k` best classes.
pub struct Classified {
    pub ran: Ran<Classification>,
    pub top_k: Vec<ClassProb>,
}

/// Runs `model_id` on `image` and keeps the `k` best classes (see [`parse_top_k`]). With
/// `full_image` the decoded image is kept at full size (to send back).
pub async fn run(
    state: &AppState,
    model_id: &str,
    image: ImageSource,
    held: Reserved,
    k: usize,
    full_image: bool,
    started: Instant,
) -> Result<Classified, ApiError> {
    let (model, engine) = state.classifier(model_id)?;
    let labels = &model.spec().labels;
    let need = if full_image {
        Need::full()
    } else {
        Need::model_input_of(model.spec().image_input())
    };
    let mut ran = infer(state, &engine, image, held, need, |img| img, started).await?;
    if full_image {
        reserve_output(&mut ran.lease, &ran.decoded, 1)?;
    }
    let top_k = top_k(&ran.out.probs, labels, k)
        .into_iter()
        .map(|r| ClassProb {
            index: r.index,
            label: r.label,
            probability: r.probability,
        })
        .collect();
    Ok(Classified { ran, top_k })
}

impl Classified {
    /// The JSON answer; `timings` are filled in by the caller, who knows when it ends.
    pub fn response(&self, model_id: &str, want_image: bool) -> Result<ClassifyResponse, ApiError> {
        let (width, height) = self.ran.decoded.original;
        Ok(ClassifyResponse {
            model: model_id.to_owned(),
            width,
            height,
            top_k: self.top_k.clone(),
            timings: Default::default(),
            image_png: want_image
                .then(|| png_data_url(&self.ran.decoded.img))
                .transpose()?,
        })
    }

    /// The seed's answer: the best class's common name.
    pub fn label(&self, model_id: &str) -> ClassLabel {
        let best = &self.top_k[0];
        ClassLabel {
            class_label: short_label(&best.label).to_owned(),
            label: best.label.clone(),
            probability: best.probability,
            model: model_id.to_owned(),
        }
    }
}
