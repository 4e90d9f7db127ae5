//! What every task page is built from: the image input and model picker, the status and
//! latency lines, the "Use via API" panel, the state of a page's runs, and a slider's value.

pub mod api_usage;
pub mod failure;
pub mod input;
pub mod pick;
pub mod picker;
pub mod run;
pub mod slider;
pub mod status;

// What every task page uses, so a page imports them in one line.
pub use api_usage::{json_sample, ApiUsage};
pub use input::ImageInput;
pub use pick::Pick;
pub use run::RunState;
pub use status::{LatencyBreakdown, StatusLines};
