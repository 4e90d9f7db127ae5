//! Browser-only code (behind `hydrate`) the task pages share: turning a [`Pick`] into a checked
//! input ([`source`]), running it with the page's busy/elapsed/error state ([`run`]), posting to
//! the API and turning failed answers into a [`Failure`] ([`http`]), decoding and drawing images
//! on canvases ([`canvas`]), downloads ([`download`]) and the shared model catalog
//! ([`catalog`]). Each task's own browser code is `tasks/<task>/browser.rs`.
//!
//! [`Pick`]: crate::widgets::pick::Pick
//! [`Failure`]: crate::widgets::failure::Failure

pub mod canvas;
pub mod catalog;
pub mod download;
pub mod http;
pub mod js;
pub mod run;
pub mod source;

pub use canvas::{draw_image, load_image, load_pixels, put_pixels, scratch_canvas};
pub use download::{download_answer, download_canvas, download_url};
pub use http::{embedded, post_image, record};
pub use run::{run_pick, spawn_run};
pub use source::{pasted_file, Source};
