//! Detection: one image through a detector, boxes in the input's own pixels.

use std::time::Instant;

use api_types::{DetectResponse, Detection};
use models::detect::{coco91_id, SCORE_FLOOR};
use models::Detections;

use super::{infer, png_data_url, reserve_output, ImageSource, Ran, Reserved};
use crate::error::ApiError;
use crate::ingress::decode::Need;
use crate::state::AppState;

/// The seed's default confidence for drawn boxes (`POST /predict`, OIP).
pub const DEFAULT_CONFIDENCE: f32 = 0.35;

/// Runs `model_id` on `image`, keeping boxes scoring `confidence` or more. With `full_image` the
/// decoded image is kept at full size (to draw on or send back); otherwise at the model's size,
/// which is enough for the boxes. Boxes, width and height come back in the input's pixels.
pub async fn run(
    state: &AppState,
    model_id: &str,
    image: ImageSource,
    held: Reserved,
    confidence: f32,
    full_image: bool,
    started: Instant,
) -> Result<Ran<Detections>, ApiError> {
    let (detector, engine) = state.detector(model_id)?;
    let need = if full_image {
        Need::full()
    } else {
        Need::model_input_of(detector.spec().image_input())
    };
    let mut ran = infer(
        state,
        &engine,
        image,
        held,
        need,
        |img| (img, confidence),
        started,
    )
    .await?;
    let (sx, sy) = ran.decoded.scale_to_original();
    for d in &mut ran.out.detections {
        d.bbox = [
            d.bbox[0] * sx,
            d.bbox[1] * sy,
            d.bbox[2] * sx,
            d.bbox[3] * sy,
        ];
    }
    (ran.out.width, ran.out.height) = ran.decoded.original;
    if need.output_at_size {
        reserve_output(&mut ran.lease, &ran.decoded, 1)?;
    }
    Ok(ran)
}

/// The JSON answer of a run; `timings` are filled in by the caller, who knows when it ends.
pub fn response(
    model_id: &str,
    ran: &Ran<Detections>,
    want_image: bool,
) -> Result<DetectResponse, ApiError> {
    let out = &ran.out;
    Ok(DetectResponse {
        model: model_id.to_owned(),
        width: out.width,
        height: out.height,
        score_floor: SCORE_FLOOR,
        min_score: out.score_floor,
        detections: out
            .detections
            .iter()
            .map(|d| Detection {
                bbox: d.coco_bbox(),
                label: d.label.clone(),
                category_id: coco91_id(d.category_id),
                class_index: d.category_id,
                score: d.score,
            })
            .collect(),
        timings: Default::default(),
        image_png: want_image
            .then(|| png_data_url(&ran.decoded.img))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    /// The annotated image (drawn here) and the page's boxes (drawn in the browser) must agree
    /// on each class's colour; the table is written twice because the wasm site cannot depend
    /// on `models`.
    #[test]
    fn the_site_and_the_server_draw_classes_in_the_same_colours() {
        assert_eq!(app::dto::PALETTE, models::image::draw::PALETTE);
    }
}
