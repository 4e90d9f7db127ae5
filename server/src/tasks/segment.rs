//! Segmentation: one image through a segmenter; the class shares and the images made from the
//! model-sized maps at the input's size.

use std::sync::Arc;
use std::time::Instant;

use api_types::{ClassShare, SegmentResponse};
use base64::Engine;
use image::RgbImage;
use models::image::postprocess::{self, PERSON_TINT};
use models::Segmentation;
use models::Segmenter;

use super::{infer, ImageSource, Ran, Reserved};
use crate::error::ApiError;
use crate::ingress::decode::Need;
use crate::state::AppState;

/// A segmentation run and the model that made it.
pub struct Segmented {
    pub model: Arc<dyn Segmenter>,
    pub ran: Ran<Segmentation>,
}

/// Runs `model_id` on `image`, decoded as `need` says (see [`need_for`]).
pub async fn run(
    state: &AppState,
    model_id: &str,
    image: ImageSource,
    held: Reserved,
    need: Need,
    started: Instant,
) -> Result<Segmented, ApiError> {
    let (model, engine) = state.segmenter(model_id)?;
    let ran = infer(state, &engine, image, held, need, |img| img, started).await?;
    Ok(Segmented { model, ran })
}

/// The decode a request needs: full resolution only when the answer is drawn on the image
/// (`full`); `at_size_images` answers at the upload's size count against the output cap.
pub fn need_for(model: &dyn Segmenter, full: bool, at_size_images: u64) -> Need {
    Need {
        cover: (!full).then(|| models::image::preprocess::cover_for(model.spec().image_input())),
        output_at_size: at_size_images > 0,
    }
}

/// Whether `model` tells many classes apart (a palette), rather than a person from the rest.
pub fn multi_class(model: &dyn Segmenter) -> bool {
    model.spec().labels.len() > 2
}

/// Each class's colour: the VOC colour map for multi-class models, the person tint otherwise.
pub fn palette(model: &dyn Segmenter) -> Vec<[u8; 3]> {
    if multi_class(model) {
        postprocess::voc_palette(model.spec().labels.len())
    } else {
        vec![[0, 0, 0], PERSON_TINT]
    }
}

/// What a JSON answer carries besides the shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Include {
    pub probability: bool,
    pub image: bool,
    pub overlay: bool,
}

impl Include {
    /// From `include=probability,image,overlay`.
    pub fn parse(raw: &str) -> Self {
        Self {
            probability: raw.contains("probability"),
            image: raw.contains("image"),
            overlay: raw.contains("overlay"),
        }
    }

    pub fn count(&self) -> u64 {
        self.probability as u64 + self.image as u64 + self.overlay as u64
    }
}

impl Segmented {
    /// The image with the classes tinted at `opacity` (person models: the mask at `threshold`).
    /// Made row by row from the model-sized maps: no full-size f32 map is ever held.
    pub fn overlay(
        &self,
        palette: &[[u8; 3]],
        threshold: f32,
        opacity: f32,
    ) -> Result<RgbImage, ApiError> {
        let (img, seg) = (&self.ran.decoded.img, &self.ran.out);
        let (w, h) = self.ran.decoded.original;
        Ok(match &seg.classes {
            Some(c) => c.overlay_at(img, palette, opacity),
            None => postprocess::overlay(
                img,
                &seg.probs.mask_at(w, h, threshold),
                PERSON_TINT,
                opacity,
            )?,
        })
    }

    /// The JSON answer: class shares (multi-class: those that occur, largest first) and the
    /// images `include` asks for. `timings` are filled in by the caller.
    pub fn response(
        &self,
        palette: &[[u8; 3]],
        threshold: f32,
        opacity: f32,
        include: Include,
    ) -> Result<SegmentResponse, ApiError> {
        let seg = &self.ran.out;
        let (w, h) = self.ran.decoded.original;
        let labels = &self.model.spec().labels;
        let multi_class = multi_class(&*self.model);
        let fg = seg.probs.share_at(w, h, threshold);
        let shares = match &seg.classes {
            // Multi-class: the argmax map's shares.
            Some(c) => c.shares(labels.len()),
            None => vec![1.0 - fg, fg],
        };
        let mut classes: Vec<ClassShare> = labels
            .iter()
            .enumerate()
            .map(|(id, label)| ClassShare {
                id,
                label: label.clone(),
                share: shares.get(id).copied().unwrap_or(0.0),
                colour: Some(palette.get(id).copied().unwrap_or([255, 255, 255])),
            })
            .filter(|c| !multi_class || c.share > 0.0)
            .collect();
        if multi_class {
            classes.sort_by(|a, b| b.share.total_cmp(&a.share));
        }
        let b64 = |png: Vec<u8>| {
            format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            )
        };
        let probability_png = if include.probability {
            Some(b64(postprocess::encode_png_gray(&seg.probs.gray_at(w, h))?))
        } else {
            None
        };
        let image_png = if include.image {
            Some(b64(postprocess::encode_png_rgb(&self.ran.decoded.img)?))
        } else {
            None
        };
        let overlay_png = if include.overlay {
            Some(b64(postprocess::encode_png_rgb(
                &self.overlay(palette, threshold, opacity)?,
            )?))
        } else {
            None
        };
        Ok(SegmentResponse {
            model: self.model.spec().id.clone(),
            width: w,
            height: h,
            threshold,
            classes,
            timings: Default::default(),
            probability_png,
            image_png,
            overlay_png,
        })
    }
}
