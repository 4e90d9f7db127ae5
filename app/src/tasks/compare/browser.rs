//! Compare page: runs the two picked models on the same input one after the other (a fair
//! latency comparison on a small server) and draws each result on its own canvas.

use std::cell::RefCell;

use leptos::prelude::*;

use super::state::{CompareCtx, Outcome};
use crate::browser::{draw_image, put_pixels, run_pick, Source};
use crate::dto::above;
use crate::tasks::classify::browser as classify;
use crate::tasks::detect::browser as detect;
use crate::tasks::segment::browser as segment;
use crate::tasks::segment::pixels::{blend, level, TINT};
use crate::widgets::failure::Failure;
use crate::widgets::pick::Pick;

/// The confidence and threshold the compare view draws at (the task pages' defaults).
const CONFIDENCE: f32 = 0.35;
const THRESHOLD: f64 = 0.5;
const OPACITY: f64 = 0.6;

thread_local! {
    static LAST: RefCell<Option<Source>> = const { RefCell::new(None) };
}

pub fn pick(ctx: CompareCtx, pick: Pick) {
    run_pick(
        pick,
        &LAST,
        ctx.body_limit_bytes,
        ctx.run,
        |src| async move {
            ctx.outcomes.set([None, None]);
            for side in 0..2 {
                let outcome = run_one(ctx, side, &src).await?;
                ctx.outcomes.update(|o| o[side] = Some(outcome));
            }
            Ok(())
        },
    );
}

/// Runs side `side`'s model and draws its result on `#compare-a` / `#compare-b`.
async fn run_one(ctx: CompareCtx, side: usize, src: &Source) -> Result<Outcome, Failure> {
    let model = ctx.models[side].get_untracked();
    let canvas = ["compare-a", "compare-b"][side];
    let found = match ctx.task.get_untracked().as_str() {
        "segment" => {
            let f = segment::fetch_frame(&model, src, ctx.run).await?;
            let t = level(THRESHOLD);
            put_pixels(
                &blend(&f.rgba, &f.prob, t, OPACITY, TINT),
                f.width,
                f.height,
                canvas,
            )?;
            segment::legend(&f, t)
                .into_iter()
                .map(|e| format!("{} {:.1}%", e.label, e.share * 100.0))
                .collect()
        }
        "classify" => {
            let (img, classes) = classify::fetch(&model, src, ctx.run).await?;
            draw_image(canvas, &img)?;
            classes
                .iter()
                .take(5)
                .map(|c| format!("{} {:.1}%", c.label, c.probability * 100.0))
                .collect()
        }
        _ => {
            let (img, dets) = detect::fetch(&model, src, ctx.run).await?;
            let shown = above(&dets, CONFIDENCE);
            detect::draw_boxes(canvas, &img, &shown, None)?;
            if shown.is_empty() {
                vec![format!("nothing at confidence ≥ {CONFIDENCE}")]
            } else {
                shown
                    .iter()
                    .take(8)
                    .map(|d| format!("{} {:.0}%", d.label, d.score * 100.0))
                    .collect()
            }
        }
    };
    // The fetch helpers record each run in the page's run state; take this side's from there.
    let info = ctx.run.info.get_untracked().ok_or("no run recorded")?;
    Ok(Outcome { info, found })
}
