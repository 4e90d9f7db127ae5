//! Where inference runs: the served models and their state (`served`), each model's engine of
//! worker threads with admission, batching and deadlines (`engine`), and the bounded pool for
//! the CPU work around inference (`executor`).

pub mod engine;
pub mod executor;
pub mod served;
