//! NanoDet-g runs end to end on the TF.js graph runtime (decoding and serving come with the
//! detection issue): every op it uses loads, the outputs have the documented shapes, and on
//! dog.jpg the strongest class scores are the objects in the photo.

mod common;

use candle_core::{Device, IndexOp};
use models::image::preprocess;
use models::tfjs::Graph;

#[test]
fn nanodet_graph_runs_and_sees_the_dog_the_bicycle_and_the_truck() {
    let (spec, store) = common::ready("nanodet");
    let graph = Graph::load(&store.graph_path(&spec), &Device::Cpu).unwrap();
    let img = preprocess::resize_for(&common::photo("dog.jpg"), spec.image_input());
    let x = preprocess::to_tensor(&img, spec.image_input(), &Device::Cpu).unwrap();
    assert_eq!(x.dims(), &[1, 3, 416, 416]);
    let outs = graph.run(&[x]).unwrap();
    let names = graph.output_names();
    let by = |n: &str| &outs[names.iter().position(|o| *o == n).unwrap()];
    // Class scores per stride (8, 16, 32) and box distributions (4 sides x 11 bins).
    assert_eq!(by("Identity").dims(), &[1, 2704, 80]);
    assert_eq!(by("Identity_1").dims(), &[1, 676, 80]);
    assert_eq!(by("Identity_2").dims(), &[1, 169, 80]);
    for n in ["Identity_3", "Identity_4", "Identity_5"] {
        assert_eq!(by(n).dims()[2], 44, "{n}");
    }
    // Best score of each COCO class over all cells and strides.
    let mut best = vec![0f32; 80];
    for n in ["Identity", "Identity_1", "Identity_2"] {
        let s = by(n)
            .i(0)
            .unwrap()
            .max(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (b, v) in best.iter_mut().zip(s) {
            *b = b.max(v);
        }
    }
    // COCO-80 indices: 1 bicycle, 7 truck, 16 dog (weights.md: 0.68, 0.37, 0.47).
    for (class, name, min) in [(1, "bicycle", 0.5), (16, "dog", 0.35), (7, "truck", 0.25)] {
        assert!(best[class] > min, "{name}: best score {}", best[class]);
    }
    let mut ranked: Vec<usize> = (0..80).collect();
    ranked.sort_by(|a, b| best[*b].total_cmp(&best[*a]));
    assert!(
        ranked[..4].contains(&1) && ranked[..4].contains(&16),
        "top classes {:?}",
        &ranked[..4]
    );
}
