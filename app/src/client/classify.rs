//! Classification page: one request (top 20, with the decoded image), drawn on a canvas.

use std::cell::RefCell;

use leptos::prelude::*;

use super::{draw_image, load_image, post_image, resolve, spawn_run, Source};
use crate::dto::ClassifyResponse;
use crate::pages::classify::{ClassifyCtx, FETCH_TOP_K};
use crate::pages::common::{Pick, RunInfo};

thread_local! {
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: ClassifyCtx, pick: Pick) {
    match resolve(pick, &LAST) {
        Ok(Some(src)) => spawn_run(ctx.busy, ctx.error, run(ctx, src)),
        Ok(None) => {}
        Err(e) => ctx.error.set(Some(e)),
    }
}

async fn run(ctx: ClassifyCtx, src: Source) -> Result<(), String> {
    let model = ctx.model.get_untracked();
    let url = format!("/api/v1/classify/{model}?top_k={FETCH_TOP_K}&include=image");
    let (out, round_trip_ms): (ClassifyResponse, f64) = post_image(&url, &src).await?;
    let img = load_image(out.image_png.as_deref().ok_or("no image in the answer")?).await?;
    draw_image("classify-canvas", &img)?;
    ctx.classes.set(out.top_k);
    ctx.info.set(Some(RunInfo {
        model: out.model,
        width: out.width,
        height: out.height,
        inference_ms: out.timings.inference_ms,
        server_ms: out.timings.total_ms,
        round_trip_ms,
    }));
    Ok(())
}
