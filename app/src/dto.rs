//! The page's view of the API: the wire types (defined once in `api_types`, re-exported here
//! under the names the pages use) and the site-only constants and helpers around them.

pub use api_types::{
    ClassProb, ClassShare, ClassifyResponse, DetectResponse, Detection, ErrorBody, ModelInfo,
    SegmentResponse, SiteConfig, SiteModel, StageTimings as Timings, SummarizeRequest,
    SummarizeResponse, SummaryEvent, SummaryTimings, TokenPiece,
};

/// The image types the server decodes (it sniffs the bytes; the browser's type is a hint).
pub const ACCEPTED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
];

/// A bundled sample photo, served by `GET /samples/{name}`.
pub struct Sample {
    pub name: &'static str,
    pub alt: &'static str,
}

/// The examples strip, in the order shown.
pub const SAMPLES: &[Sample] = &[
    Sample {
        name: "person.jpg",
        alt: "A person with a dog and a horse in a field",
    },
    Sample {
        name: "dog.jpg",
        alt: "A dog beside a bicycle, a truck behind",
    },
    Sample {
        name: "horses.jpg",
        alt: "Horses in a meadow",
    },
    Sample {
        name: "giraffe.jpg",
        alt: "A giraffe and a zebra",
    },
    Sample {
        name: "eagle.jpg",
        alt: "A bird of prey on a perch",
    },
];

/// Where the sample photos come from and under which licence.
pub const SAMPLES_LICENCE: &str = "GPL-3.0+ or MIT or WTFPL (Debian darknet)";

/// Okabe–Ito colours for boxes, picked by `class_index % 7`. The server draws its annotated
/// images with the same table (`models` draws, and cannot be a dependency of the wasm site);
/// a server test checks the two are equal.
pub const PALETTE: [[u8; 3]; 7] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
];

/// The box colour of a class.
pub fn class_colour(class_index: usize) -> [u8; 3] {
    PALETTE[class_index % PALETTE.len()]
}

/// "1 object", "3 objects".
pub fn count_objects(n: usize) -> String {
    format!("{n} object{}", if n == 1 { "" } else { "s" })
}

/// The boxes at or above `threshold`, best first.
pub fn above(detections: &[Detection], threshold: f32) -> Vec<Detection> {
    let mut out: Vec<Detection> = detections
        .iter()
        .filter(|d| d.score >= threshold)
        .cloned()
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(label: &str, score: f32) -> Detection {
        Detection {
            bbox: [0.0; 4],
            label: label.into(),
            category_id: 1,
            class_index: 0,
            score,
        }
    }

    #[test]
    fn above_filters_and_sorts() {
        let all = [det("a", 0.2), det("b", 0.9), det("c", 0.5)];
        let kept: Vec<_> = above(&all, 0.3).into_iter().map(|d| d.label).collect();
        assert_eq!(kept, ["b", "c"]);
        assert!(above(&all, 0.95).is_empty());
    }

    #[test]
    fn object_counts_agree_in_number() {
        assert_eq!(count_objects(1), "1 object");
        assert_eq!(count_objects(0), "0 objects");
    }

    #[test]
    fn palette_wraps() {
        assert_eq!(class_colour(0), [230, 159, 0]);
        assert_eq!(class_colour(7), class_colour(0));
        assert_eq!(class_colour(16), [0, 158, 115]); // dog: bluish green, as drawn by the server
    }
}
