//! Everything between the socket and a task's input: connection guards (`conn`), reading a
//! request's image from an upload, a raw body or a URL (`input`, `fetch`), the limits and the
//! memory budget it is read under (`limits`, `budget`), bounded decoding (`decode`), and its
//! parameters (`params`).

pub mod budget;
pub mod conn;
pub mod decode;
pub mod fetch;
pub mod input;
pub mod limits;
pub mod params;
