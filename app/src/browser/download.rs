//! Saving what a page shows or received: canvases as PNG, answers as JSON.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlAnchorElement, HtmlCanvasElement};

use super::js::{document, js_err};
use crate::widgets::run::RunState;

/// Makes the browser save `href` as `filename`.
pub fn download_url(href: &str, filename: &str) -> Result<(), String> {
    let a: HtmlAnchorElement = document()?
        .create_element("a")
        .map_err(js_err)?
        .unchecked_into();
    a.set_href(href);
    a.set_download(filename);
    a.click();
    Ok(())
}

/// Saves the canvas `id` as a PNG.
pub fn download_canvas(id: &str, filename: &str) -> Result<(), String> {
    let canvas: HtmlCanvasElement = document()?
        .get_element_by_id(id)
        .ok_or("canvas missing")?
        .unchecked_into();
    download_url(&canvas.to_data_url().map_err(js_err)?, filename)
}

/// Saves a JSON value, pretty-printed.
pub fn download_json(value: &serde_json::Value, filename: &str) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    let href = format!(
        "data:application/json;charset=utf-8,{}",
        String::from(js_sys::encode_uri_component(&text))
    );
    download_url(&href, filename)
}

/// Saves the page's last JSON answer as `{model}.json` (nothing before the first run); shows
/// a failure on the page.
pub fn download_answer(run: RunState, model: &str) {
    let result = run
        .answer
        .with_untracked(|a| {
            a.as_ref()
                .map(|a| download_json(a, &format!("{model}.json")))
        })
        .unwrap_or(Ok(()));
    if let Err(e) = result {
        run.fail(e);
    }
}
