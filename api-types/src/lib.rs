//! The HTTP API's wire types, each defined once: the server serialises them, the site parses
//! them (and `SiteConfig` travels from the server into the page). Field order, names and skip
//! rules are the JSON's: changing one changes what clients see.
//!
//! Deserialising is tolerant where the site needs it (`#[serde(default)]`); serialising is
//! exactly what the server has always written.
//!
//! - [`error`]: `ErrorBody`, every 4xx/5xx answer.
//! - [`timings`]: `StageTimings`, where an image request's time went.
//! - [`segment`], [`detect`], [`classify`], [`summarize`]: each task's query, request and answer.
//! - [`models`]: `GET /api/v1/models`.
//! - [`site`]: `SiteConfig`, the server settings and model list the pages need.

pub mod classify;
pub mod detect;
pub mod error;
pub mod models;
pub mod segment;
pub mod site;
pub mod summarize;
pub mod timings;

pub use classify::{ClassLabel, ClassProb, ClassifyQuery, ClassifyResponse};
pub use detect::{DetectQuery, DetectResponse, Detection};
pub use error::{ErrorBody, StreamError};
pub use models::ModelInfo;
pub use segment::{ClassShare, SegmentQuery, SegmentResponse};
pub use site::{SiteConfig, SiteModel};
pub use summarize::{
    LegacySummarizeQuery, RayQuery, SummarizeRequest, SummarizeResponse, SummaryEvent,
    SummaryTimings, TokenPiece,
};
pub use timings::StageTimings;
