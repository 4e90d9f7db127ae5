//! One folder per task page. In each: `state.rs` (the page's signals and shared types),
//! `page.rs` (the component, rendered on the server and hydrated), `browser.rs` (behind
//! `hydrate`: requests, canvases, downloads) and `result.rs` (behind `ssr`: the page the
//! server renders for a form posted without JavaScript). `page` imports `state` and `browser`;
//! `browser` imports `state` only.

pub mod classify;
pub mod compare;
pub mod detect;
pub mod segment;
pub mod summarize;
