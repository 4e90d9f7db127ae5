//! Shapes shared between the server's JSON and the page. Plain serde types, no candle.

use serde::{Deserialize, Serialize};

/// A segmentation model the page offers.
#[derive(Debug, Clone, Copy)]
pub struct ModelChoice {
    pub id: &'static str,
    pub label: &'static str,
}

/// The segmentation models in the catalog, default first.
pub const SEGMENTATION_MODELS: &[ModelChoice] = &[
    ModelChoice {
        id: "selfie",
        label: "MediaPipe Selfie (256×256)",
    },
    ModelChoice {
        id: "meet",
        label: "MediaPipe Meet (256×144)",
    },
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassShare {
    pub id: usize,
    pub label: String,
    pub share: f32,
    /// The class's colour in the server's overlay and colour outputs.
    #[serde(default)]
    pub colour: Option<[u8; 3]>,
}

/// Where a request's time went on the server, in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// Waiting in the model's queue (and for the rest of its batch).
    pub queue_ms: f64,
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
    pub total_ms: f64,
}

/// `POST /api/v1/segment/{id}?output=json&include=probability,image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub threshold: f32,
    pub classes: Vec<ClassShare>,
    pub timings: Timings,
    #[serde(default)]
    pub probability_png: Option<String>,
    #[serde(default)]
    pub image_png: Option<String>,
    #[serde(default)]
    pub overlay_png: Option<String>,
}

/// Every API error body: `{"error","type","code"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: Option<u16>,
}

/// One catalog model as `GET /api/v1/models` lists it (the fields the page shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub task: String,
    pub name: String,
    #[serde(default)]
    pub licence: String,
    #[serde(default)]
    pub homepage: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub input_width: Option<u32>,
    #[serde(default)]
    pub input_height: Option<u32>,
    /// `ready`, `loading`, `not_installed`, ...
    #[serde(default)]
    pub state: String,
}

impl ModelInfo {
    pub fn ready(&self) -> bool {
        self.state == "ready"
    }
}

/// The server's default request body limit (`--body-limit`), checked before an upload.
pub const BODY_LIMIT_BYTES: f64 = 16.0 * 1024.0 * 1024.0;

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

/// The detection models in the catalog, default first.
pub const DETECTION_MODELS: &[ModelChoice] = &[
    ModelChoice {
        id: "nanodet",
        label: "NanoDet-g 416 (fast)",
    },
    ModelChoice {
        id: "centernet",
        label: "CenterNet MobileNetV3 512 (accurate)",
    },
];

/// The classification models in the catalog, default first.
pub const CLASSIFICATION_MODELS: &[ModelChoice] = &[ModelChoice {
    id: "efficientnet-lite0",
    label: "EfficientNet-Lite0 (ImageNet-1k)",
}];

/// The summarization models in the catalog, default first.
pub const SUMMARIZATION_MODELS: &[ModelChoice] = &[ModelChoice {
    id: "smollm2",
    label: "SmolLM2-135M-Instruct (Q4_1 GGUF)",
}];

/// Okabe–Ito colours for boxes, picked by `class_index % 7` (as the server's `draw.rs`).
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

/// One box of `POST /api/v1/detect/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// `[x, y, width, height]` in the original image's pixels.
    pub bbox: [f32; 4],
    pub label: String,
    pub category_id: u32,
    pub class_index: usize,
    pub score: f32,
}

/// `POST /api/v1/detect/{id}?include=image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub score_floor: f32,
    pub min_score: f32,
    pub detections: Vec<Detection>,
    pub timings: Timings,
    #[serde(default)]
    pub image_png: Option<String>,
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

/// One class of `POST /api/v1/classify/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassProb {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// `POST /api/v1/classify/{id}?top_k=n&include=image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifyResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub top_k: Vec<ClassProb>,
    pub timings: Timings,
    #[serde(default)]
    pub image_png: Option<String>,
}

/// `POST /api/v1/summarize/{id}` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummarizeRequest {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    pub stream: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryTimings {
    pub prefill_ms: f64,
    pub generate_ms: f64,
    pub tokens_per_s: f64,
    pub total_ms: f64,
}

/// The non-streaming answer, and the `done` event's data when streaming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummarizeResponse {
    pub model: String,
    pub summary: String,
    pub tokens_generated: usize,
    pub prompt_tokens: usize,
    #[serde(default)]
    pub input_truncated: bool,
    pub stop_reason: String,
    pub timings: SummaryTimings,
}

impl SummarizeResponse {
    /// The line under a finished summary, on the live page and the no-JS result page.
    pub fn stats_line(&self) -> String {
        format!(
            "{} · {} tokens · {:.1} tokens/s · prompt {} tokens in {:.0} ms · total {:.0} ms · stopped: {}{}",
            self.model,
            self.tokens_generated,
            self.timings.tokens_per_s,
            self.prompt_tokens,
            self.timings.prefill_ms,
            self.timings.total_ms,
            self.stop_reason,
            if self.input_truncated { " · input truncated" } else { "" },
        )
    }
}

/// The server's default text limit (`--text-limit`), in characters, shown by the text box.
pub const TEXT_LIMIT_CHARS: usize = 20_000;

/// A streamed `token` event's data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPiece {
    pub text: String,
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

    #[test]
    fn parses_the_done_event() {
        let done = r#"{"model":"smollm2","summary":"x","tokens_generated":20,"prompt_tokens":71,"input_truncated":false,"stop_reason":"max_tokens","min_tokens":8,"max_tokens":20,"timings":{"prefill_ms":1.0,"generate_ms":2.0,"tokens_per_s":18.1,"total_ms":3.0}}"#;
        let r: SummarizeResponse = serde_json::from_str(done).unwrap();
        assert_eq!(r.tokens_generated, 20);
        assert_eq!(r.timings.tokens_per_s, 18.1);
    }
}
