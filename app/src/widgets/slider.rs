//! A range input's value, as its `input` event reports it.

use leptos::ev::Event;

/// The number a range input now holds, or `default` when its value is not a number.
///
/// In the browser it is read with `valueAsNumber` rather than parsed in Rust: `str::parse` for
/// floats brings core's float parser and its table of powers of five into the wasm (about 9 KB
/// gzipped), and a range input's value is always a number in decimal, which both read alike.
pub fn value(ev: &Event, default: f64) -> f64 {
    #[cfg(feature = "hydrate")]
    let v = {
        use wasm_bindgen::JsCast;
        ev.target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .map_or(f64::NAN, |input| input.value_as_number())
    };
    #[cfg(not(feature = "hydrate"))]
    let v = leptos::prelude::event_target_value(ev)
        .parse()
        .unwrap_or(f64::NAN);
    if v.is_nan() {
        default
    } else {
        v
    }
}
