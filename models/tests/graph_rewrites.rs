//! The TF.js runtime's load-time rewrites (transposes sunk and cancelled; bias, activation and
//! padding folded into the convs; `tfjs::rewrite`) on the real graphs: every output equals the
//! graph run as written, on a real photo, and the rewritten graph runs fewer steps and at most
//! a quarter of the transposes.

mod common;
mod twin_support;

use candle_core::Device;
use models::detect::centernet;
use models::image::preprocess;
use models::tfjs::{Graph, Rewrites};

#[test]
fn rewritten_graphs_compute_what_the_graphs_as_written_compute() {
    for id in ["nanodet", "centernet", "selfie", "meet"] {
        let (spec, store) = common::ready(id);
        let path = store.graph_path(&spec);
        let outputs: Option<&[&str]> = (id == "centernet").then_some(&centernet::OUTPUTS[..]);
        let load = |r| Graph::load_with(&path, &Device::Cpu, outputs, r).unwrap();
        let (plain, rewritten) = (load(Rewrites::AsWritten), load(Rewrites::All));
        let img = preprocess::resize_for(&common::photo("person.jpg"), spec.image_input());
        let x = preprocess::to_tensor(&img, spec.image_input(), &Device::Cpu).unwrap();
        let want = plain.run(std::slice::from_ref(&x)).unwrap();
        let got = rewritten.run(&[x]).unwrap();
        for ((name, w), g) in plain.output_names().iter().zip(&want).zip(&got) {
            let scale = w.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            let scale = scale.to_scalar::<f32>().unwrap().max(1.0);
            let diff = twin_support::max_abs_diff(w, g);
            // Folding changes only the order of float additions (bias before or after).
            assert!(diff <= 1e-4 * scale, "{id} {name}: {diff} (scale {scale})");
        }
        let (before, after) = (plain.step_kinds(), rewritten.step_kinds());
        assert!(
            after.len() <= before.len(),
            "{id}: {} -> {} steps",
            before.len(),
            after.len()
        );
        // NanoDet's 83 transposes (two per conv) leave the few at its input and heads.
        let transposes = |k: &[String]| k.iter().filter(|k| *k == "Transpose").count();
        assert!(
            transposes(&after) * 4 <= transposes(&before),
            "{id}: {} transposes as written, {} rewritten: {after:?}",
            transposes(&before),
            transposes(&after)
        );
        eprintln!(
            "{id}: {} steps as written, {} rewritten; transposes {} -> {}",
            before.len(),
            after.len(),
            transposes(&before),
            transposes(&after)
        );
    }
}
