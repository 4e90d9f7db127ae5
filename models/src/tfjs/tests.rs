//! Whole-graph tests: small hand-written graphs built, folded and run end to end.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use super::format::{ConstValue, Ints, NodeDef};
use super::Graph;
use crate::error::ModelError;

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
    let g = Graph::build(&nodes, w, &["out".into()]).unwrap();
    assert_eq!(g.num_steps(), 3, "unused nodes are pruned");
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
