pub mod classify;
pub mod common;
pub mod detect;
pub mod home;
pub mod segment;
pub mod summarize;
