//! One folder per task page. In each: `state.rs` (the page's signals and shared types),
//! `page.rs` (the component, rendered on the server and hydrated), `browser.rs` (behind
//! `hydrate`: requests, canvases, downloads) and `result.rs` (behind `ssr`: the page the
//! server renders for a form posted without JavaScript). `page` imports `state` and `browser`;
//! `browser` imports `state` only.
//!
//! The pages' first lines look alike on purpose (`duplicates` lists them): each builds its own
//! `state` context from signals of its own types and hands its browser code a `Pick` callback
//! behind `cfg(hydrate)`. What is shared is in `widgets/` and `browser/`; a macro over the
//! remaining field-by-field set-up would hide each page's state rather than share logic. The
//! same holds for `classify/browser.rs` and `detect/browser.rs`'s `pick`: one shape, different
//! answers and canvases, the common steps (`resolve`, `spawn_run`, `post_image`) already shared.

pub mod classify;
pub mod compare;
pub mod detect;
pub mod segment;
pub mod summarize;
