//! Decoding images with the browser's decoder and drawing pixels on canvases.

use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement, ImageData};

use super::js::{document, js_err};

/// Decodes an image (data URL) with the browser's decoder.
pub async fn load_image(data_url: &str) -> Result<HtmlImageElement, String> {
    let img = HtmlImageElement::new().map_err(js_err)?;
    img.set_src(data_url);
    JsFuture::from(img.decode())
        .await
        .map_err(|e| format!("could not decode the returned image: {}", js_err(e)))?;
    Ok(img)
}

/// Decodes a PNG data URL and returns (width, height, RGBA).
pub async fn load_pixels(data_url: &str) -> Result<(u32, u32, Vec<u8>), String> {
    let img = load_image(data_url).await?;
    let (w, h) = (img.natural_width(), img.natural_height());
    let canvas = new_canvas(w, h)?;
    let cx = context(&canvas)?;
    cx.draw_image_with_html_image_element(&img, 0.0, 0.0)
        .map_err(js_err)?;
    let data = cx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .map_err(js_err)?;
    Ok((w, h, data.data().0))
}

fn new_canvas(w: u32, h: u32) -> Result<HtmlCanvasElement, String> {
    let canvas: HtmlCanvasElement = document()?
        .create_element("canvas")
        .map_err(js_err)?
        .unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    Ok(canvas)
}

pub fn context(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, String> {
    canvas
        .get_context("2d")
        .map_err(js_err)?
        .ok_or("no 2d context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "not a 2d context".to_string())
}

/// The page's canvas `id`, resized to `w`×`h`, and its 2D context.
pub fn canvas(id: &str, w: u32, h: u32) -> Result<CanvasRenderingContext2d, String> {
    let canvas: HtmlCanvasElement = document()?
        .get_element_by_id(id)
        .ok_or("canvas missing")?
        .unchecked_into();
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    context(&canvas)
}

/// Draws an image at its natural size on the canvas `id`; returns the context for more drawing.
pub fn draw_image(id: &str, img: &HtmlImageElement) -> Result<CanvasRenderingContext2d, String> {
    let cx = canvas(id, img.natural_width(), img.natural_height())?;
    cx.draw_image_with_html_image_element(img, 0.0, 0.0)
        .map_err(js_err)?;
    Ok(cx)
}

/// Puts RGBA pixels on the canvas `id`, resized to fit.
pub fn put_pixels(rgba: &[u8], w: u32, h: u32, id: &str) -> Result<(), String> {
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w, h).map_err(js_err)?;
    canvas(id, w, h)?
        .put_image_data(&data, 0.0, 0.0)
        .map_err(js_err)
}

/// A detached canvas holding RGBA pixels (for downloads of images not on the page).
pub fn scratch_canvas(rgba: &[u8], w: u32, h: u32) -> Result<HtmlCanvasElement, String> {
    let canvas = new_canvas(w, h)?;
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), w, h).map_err(js_err)?;
    context(&canvas)?
        .put_image_data(&data, 0.0, 0.0)
        .map_err(js_err)?;
    Ok(canvas)
}
