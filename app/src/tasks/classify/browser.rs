//! Classification page: one request (top 20, with the decoded image), drawn on a canvas.

use std::cell::RefCell;

use leptos::prelude::*;
use web_sys::HtmlImageElement;

use super::state::{ClassifyCtx, FETCH_TOP_K};
use crate::browser::{
    download_answer, draw_image, embedded, load_image, post_image, record, run_pick, Source,
};
use crate::dto::ClassProb;
use crate::server_fns::classify_image;
use crate::widgets::failure::Failure;
use crate::widgets::pick::Pick;
use crate::widgets::run::{RunInfo, RunState};

thread_local! {
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: ClassifyCtx, pick: Pick) {
    run_pick(
        pick,
        &LAST,
        ctx.body_limit_bytes,
        ctx.run,
        |src| async move {
            let (img, classes) = fetch(&ctx.model.get_untracked(), &src, ctx.run).await?;
            draw_image("classify-canvas", &img)?;
            ctx.classes.set(classes);
            Ok(())
        },
    );
}

/// Runs `model` on `src`: the decoded original and the top classes; records the run in `run`.
// The image pages' fetches share their steps (post, embedded image, run record): each answer
// type is its own, alike only in field names, so these lines repeat instead of going through a
// trait the bundle would pay for.
pub async fn fetch(
    model: &str,
    src: &Source,
    run: RunState,
) -> Result<(HtmlImageElement, Vec<ClassProb>), Failure> {
    let query = format!("model={model}&top_k={FETCH_TOP_K}&include=image");
    let ans = post_image(classify_image, query, src).await?;
    let out = ans.body;
    let img = load_image(embedded(&out.image_png, "image")?).await?;
    let info = RunInfo::new(
        out.model,
        out.width,
        out.height,
        out.timings,
        ans.round_trip_ms,
    );
    record(run, src, info, ans.raw);
    Ok((img, out.top_k))
}

/// Saves the last JSON answer.
pub fn download(ctx: ClassifyCtx) {
    download_answer(ctx.run, &ctx.model.get_untracked());
}
