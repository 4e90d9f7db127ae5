//! Whole-graph tests: small hand-written graphs built, folded and run end to end.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use super::format::{ConstValue, Ints, NodeDef};
use super::{Graph, Rewrites};
use crate::error::ModelError;
use crate::kernels::test_reference::max_abs_diff;

fn node(json: &str) -> NodeDef {
    serde_json::from_str(json).unwrap()
}

/// The graph's first output for one input, flattened.
fn run_flat(g: &Graph, x: Tensor) -> Vec<f32> {
    g.run(&[x])
        .unwrap()
        .remove(0)
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn conv_graph(padding: &str, stride: usize) -> (Vec<NodeDef>, HashMap<String, ConstValue>) {
    let strides = format!(r#"{{"list":{{"i":["1","{stride}","{stride}","1"]}}}}"#);
    let nodes = vec![
        node(
            r#"{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"4"},{"size":"4"},{"size":"1"}]}}}}"#,
        ),
        node(r#"{"name":"w","op":"Const"}"#),
        node(r#"{"name":"b","op":"Const"}"#),
        node(&format!(
            r#"{{"name":"c","op":"Conv2D","input":["x","w"],"attr":{{"padding":{{"s":"{padding}"}},"strides":{strides}}}}}"#
        )),
        node(r#"{"name":"y","op":"AddV2","input":["c","b"]}"#),
        node(r#"{"name":"out","op":"Relu","input":["y"]}"#),
        node(r#"{"name":"unused","op":"Sqrt","input":["x"]}"#),
    ];
    let mut w = HashMap::new();
    // A 3x3 box filter (all ones), one in/out channel: HWIO [3, 3, 1, 1].
    w.insert(
        "w".to_owned(),
        ConstValue::Float(
            Tensor::ones((3, 3, 1, 1), candle_core::DType::F32, &Device::Cpu).unwrap(),
        ),
    );
    w.insert(
        "b".to_owned(),
        ConstValue::Float(Tensor::new(&[-1f32], &Device::Cpu).unwrap()),
    );
    (nodes, w)
}

#[test]
fn same_conv_with_bias_and_relu_matches_hand_computation() {
    let (nodes, w) = conv_graph("U0FNRQ==", 1); // SAME
    let plain = Graph::build_with(&nodes, w.clone(), &["out".into()], Rewrites::AsWritten);
    assert_eq!(plain.unwrap().num_steps(), 3, "unused nodes are pruned");
    let g = Graph::build(&nodes, w, &["out".into()]).unwrap();
    assert_eq!(
        g.step_kinds(),
        ["Gemm"],
        "the bias Add and the Relu run in the conv"
    );
    let x = Tensor::ones((1, 4, 4, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
    let y = g.run(&[x]).unwrap().remove(0);
    assert_eq!(y.dims(), &[1, 4, 4, 1]);
    let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    // Corners see 4 ones, edges 6, centre 9; minus the bias of 1.
    assert_eq!(&v[0..4], &[3.0, 5.0, 5.0, 3.0]);
    assert_eq!(&v[4..8], &[5.0, 8.0, 8.0, 5.0]);
}

#[test]
fn strided_same_conv_pads_after_like_tf() {
    let (nodes, w) = conv_graph("U0FNRQ==", 2);
    let g = Graph::build(&nodes, w, &["out".into()]).unwrap();
    let x = Tensor::ones((1, 4, 4, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
    let v = run_flat(&g, x);
    // TF pads 0 before and 1 after: the first window is fully inside (9), the last is clipped (4).
    assert_eq!(v, vec![8.0, 5.0, 5.0, 3.0]);
}

#[test]
fn unsupported_op_fails_at_load_with_its_name() {
    let (mut nodes, w) = conv_graph("VkFMSUQ=", 1);
    nodes.push(node(r#"{"name":"weird","op":"FancyOp","input":["out"]}"#));
    let err = Graph::build(&nodes, w, &["weird".into()]).unwrap_err();
    assert!(err.to_string().contains("FancyOp"), "{err}");
}

#[test]
fn wrong_input_shape_is_an_input_error() {
    let (nodes, w) = conv_graph("VkFMSUQ=", 1);
    let g = Graph::build(&nodes, w, &["out".into()]).unwrap();
    let x = Tensor::ones((1, 5, 4, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(g.run(&[x]), Err(ModelError::Input(_))));
}

#[test]
fn constant_subgraphs_are_folded_at_load() {
    let nodes = vec![
        node(r#"{"name":"x","op":"Placeholder"}"#),
        node(r#"{"name":"a","op":"Const"}"#),
        node(r#"{"name":"b","op":"Const"}"#),
        node(r#"{"name":"ab","op":"Mul","input":["a","b"]}"#),
        node(r#"{"name":"out","op":"Add","input":["x","ab"]}"#),
    ];
    let mut w = HashMap::new();
    w.insert(
        "a".into(),
        ConstValue::Float(Tensor::new(&[2f32], &Device::Cpu).unwrap()),
    );
    w.insert(
        "b".into(),
        ConstValue::Float(Tensor::new(&[3f32], &Device::Cpu).unwrap()),
    );
    let g = Graph::build(&nodes, w, &["out".into()]).unwrap();
    assert_eq!(g.num_steps(), 1);
    let y = g
        .run(&[Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap()])
        .unwrap()
        .remove(0);
    assert_eq!(y.to_vec1::<f32>().unwrap(), vec![7.0, 8.0]);
}

#[test]
fn depthwise_conv_and_split_and_concat() {
    let nodes = vec![
        node(r#"{"name":"x","op":"Placeholder"}"#),
        node(r#"{"name":"f","op":"Const"}"#),
        node(
            r#"{"name":"dw","op":"DepthwiseConv2dNative","input":["x","f"],"attr":{"padding":{"s":"VkFMSUQ="},"strides":{"list":{"i":["1","1","1","1"]}}}}"#,
        ),
        node(r#"{"name":"sizes","op":"Const"}"#),
        node(r#"{"name":"ax","op":"Const"}"#),
        node(
            r#"{"name":"sp","op":"SplitV","input":["dw","sizes","ax"],"attr":{"num_split":{"i":"2"}}}"#,
        ),
        node(r#"{"name":"cat","op":"ConcatV2","input":["sp:1","sp","ax"]}"#),
    ];
    let mut w = HashMap::new();
    // Per-channel 1x1 scale: channel 0 x2, channel 1 x10.
    w.insert(
        "f".into(),
        ConstValue::Float(
            Tensor::new(&[2f32, 10.0], &Device::Cpu)
                .unwrap()
                .reshape((1, 1, 2, 1))
                .unwrap(),
        ),
    );
    w.insert("sizes".into(), ConstValue::Int(Ints::vector(vec![1, -1])));
    w.insert("ax".into(), ConstValue::Int(Ints::vector(vec![-1])));
    let g = Graph::build(&nodes, w, &["cat".into()]).unwrap();
    let x = Tensor::new(&[1f32, 1.0], &Device::Cpu)
        .unwrap()
        .reshape((1, 1, 1, 2))
        .unwrap();
    let v = run_flat(&g, x);
    assert_eq!(v, vec![10.0, 2.0]);
}

fn randn(dims: &[usize], seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    let mut state = seed;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// The shape of a graph converted from ONNX (NanoDet's): NCHW values wrapped in transposes
/// around NHWC convs, with activations, pads, a residual Add, a concat and a max pool in
/// between. The rewrites leave no transpose between the convs and fold bias, activation and
/// pads into them, and the outputs stay the same.
#[test]
fn rewrites_cancel_transposes_and_fold_into_convs_without_changing_outputs() {
    let attr_conv =
        r#""attr":{"padding":{"s":"VkFMSUQ="},"strides":{"list":{"i":["1","1","1","1"]}}}"#;
    let nodes = vec![
        node(r#"{"name":"x","op":"Placeholder"}"#),
        node(r#"{"name":"to_nhwc","op":"Const"}"#),
        node(r#"{"name":"to_nchw","op":"Const"}"#),
        node(r#"{"name":"w1","op":"Const"}"#),
        node(r#"{"name":"b1","op":"Const"}"#),
        node(r#"{"name":"w2","op":"Const"}"#),
        node(r#"{"name":"b2","op":"Const"}"#),
        node(r#"{"name":"pads","op":"Const"}"#),
        node(r#"{"name":"pool_pads","op":"Const"}"#),
        node(r#"{"name":"minus_inf","op":"Const"}"#),
        node(r#"{"name":"half","op":"Const"}"#),
        node(r#"{"name":"axis","op":"Const"}"#),
        // x is NCHW [1, 3, 6, 7].
        node(r#"{"name":"p1","op":"Pad","input":["x","pads"]}"#),
        node(r#"{"name":"t1","op":"Transpose","input":["p1","to_nhwc"]}"#),
        node(&format!(
            r#"{{"name":"c1","op":"Conv2D","input":["t1","w1"],{attr_conv}}}"#
        )),
        node(r#"{"name":"a1","op":"Add","input":["c1","b1"]}"#),
        node(r#"{"name":"t2","op":"Transpose","input":["a1","to_nchw"]}"#),
        node(r#"{"name":"r1","op":"LeakyRelu","input":["t2"],"attr":{"alpha":{"f":0.1}}}"#),
        node(r#"{"name":"p2","op":"Pad","input":["r1","pads"]}"#),
        node(r#"{"name":"t3","op":"Transpose","input":["p2","to_nhwc"]}"#),
        node(&format!(
            r#"{{"name":"c2","op":"Conv2D","input":["t3","w2"],{attr_conv}}}"#
        )),
        node(r#"{"name":"a2","op":"Add","input":["b2","c2"]}"#),
        node(r#"{"name":"t4","op":"Transpose","input":["a2","to_nchw"]}"#),
        node(r#"{"name":"r2","op":"Relu6","input":["t4"]}"#),
        // A residual Add of two NCHW values, a constant scale, and a concat on channels.
        node(r#"{"name":"res","op":"AddV2","input":["r2","r1"]}"#),
        node(r#"{"name":"scaled","op":"Mul","input":["res","half"]}"#),
        node(r#"{"name":"cat","op":"ConcatV2","input":["scaled","r1","axis"]}"#),
        node(r#"{"name":"p3","op":"PadV2","input":["cat","pool_pads","minus_inf"]}"#),
        node(r#"{"name":"t5","op":"Transpose","input":["p3","to_nhwc"]}"#),
        node(
            r#"{"name":"mp","op":"MaxPool","input":["t5"],"attr":{"padding":{"s":"VkFMSUQ="},"ksize":{"list":{"i":["1","3","3","1"]}},"strides":{"list":{"i":["1","2","2","1"]}}}}"#,
        ),
        node(r#"{"name":"out","op":"Transpose","input":["mp","to_nchw"]}"#),
    ];
    let mut w = HashMap::new();
    let mut f = |name: &str, t: Tensor| w.insert(name.to_owned(), ConstValue::Float(t));
    f("w1", randn(&[3, 3, 3, 4], 1));
    f("b1", randn(&[4], 2));
    f("w2", randn(&[3, 3, 4, 4], 3));
    f("b2", randn(&[1, 1, 1, 4], 4));
    f(
        "minus_inf",
        Tensor::new(f32::NEG_INFINITY, &Device::Cpu).unwrap(),
    );
    f("half", Tensor::new(&[0.5f32], &Device::Cpu).unwrap());
    let ints = |v: Vec<i64>, shape: Vec<usize>| ConstValue::Int(Ints { data: v, shape });
    w.insert("to_nhwc".into(), ints(vec![0, 2, 3, 1], vec![4]));
    w.insert("to_nchw".into(), ints(vec![0, 3, 1, 2], vec![4]));
    w.insert(
        "pads".into(),
        ints(vec![0, 0, 0, 0, 1, 1, 1, 1], vec![4, 2]),
    );
    w.insert(
        "pool_pads".into(),
        ints(vec![0, 0, 0, 0, 1, 1, 0, 1], vec![4, 2]),
    );
    w.insert("axis".into(), ints(vec![1], vec![]));

    let out = ["out".to_owned()];
    let plain = Graph::build_with(&nodes, w.clone(), &out, Rewrites::AsWritten).unwrap();
    let g = Graph::build(&nodes, w, &out).unwrap();
    let kinds = g.step_kinds();
    assert_eq!(
        kinds,
        [
            "Pad",
            "Transpose",
            "Gemm",
            "Gemm",
            "Add",
            "Mul",
            "Concat",
            "Pool",
            "Transpose"
        ],
        "as written: {:?}",
        plain.step_kinds()
    );
    for batch in [1, 2] {
        let x = randn(&[batch, 3, 6, 7], 5 + batch as u64);
        let want = plain.run(std::slice::from_ref(&x)).unwrap().remove(0);
        let got = g.run(&[x]).unwrap().remove(0);
        assert_eq!(got.dims(), want.dims());
        assert_eq!(got.dims(), &[batch, 8, 3, 3]);
        let diff = max_abs_diff(&got, &want);
        assert!(diff < 1e-5, "batch {batch}: {diff}");
    }
}
