//! A TF.js graph model resolved once at load into a flat list of candle steps.
//!
//! Load does all the work that does not depend on the input: it walks back from the outputs
//! (dropping nodes nothing needs), orders the rest topologically, turns every node into an
//! [`Op`] with its parameters already extracted (filters permuted to candle's OIHW, shapes and
//! axes read from their constants), folds every node whose inputs are all constant, and fails
//! with the op's name if any op is not supported. A request only runs the steps.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::format::{read_model, ConstValue, Ints, NodeDef};
use super::ops;
use crate::error::{ModelError, Result};
use crate::gemm::{gemm, Activation, PackedB};

/// A value flowing through the graph: a float tensor, or host-side integers (shapes, axes).
#[derive(Debug, Clone)]
pub enum Value {
    F(Tensor),
    I(Ints),
}

impl Value {
    fn tensor(&self) -> candle_core::Result<&Tensor> {
        match self {
            Value::F(t) => Ok(t),
            Value::I(_) => candle_core::bail!("expected a float tensor, found integers"),
        }
    }
}

type Slot = usize;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Padding {
    Valid,
    Same,
    /// (top, bottom, left, right)
    Explicit([usize; 4]),
}

/// The window of a convolution run as im2col + product.
#[derive(Debug, Clone, Copy)]
struct Im2col {
    k: (usize, usize),
    stride: usize,
    dilation: usize,
    padding: Padding,
}

#[derive(Debug, Clone)]
enum Op {
    /// Conv2D and DepthwiseConv2dNative (as a grouped conv); weights are OIHW.
    Conv {
        w: Tensor,
        stride: usize,
        dilation: usize,
        padding: Padding,
        groups: usize,
    },
    /// Conv2D as one product on NHWC rows ([`gemm`]): 1x1 stride-1 convs directly, others on
    /// im2col patches. `w` is the HWIO filter as [kh*kw*in, out], packed, with the bias and
    /// activation of a fused op folded into the product's epilogue.
    Gemm {
        w: std::sync::Arc<PackedB>,
        im2col: Option<Im2col>,
        act: Activation,
    },
    /// DepthwiseConv2dNative with multiplier 1, by the direct NHWC kernel; `w` is [kh, kw, c].
    /// A fused op's bias and activation run on each output row in the kernel.
    Depthwise {
        w: std::sync::Arc<Vec<f32>>,
        k: (usize, usize),
        stride: usize,
        dilation: usize,
        padding: Padding,
        bias: Option<std::sync::Arc<Vec<f32>>>,
        act: Activation,
    },
    /// Conv2DBackpropInput; weights are (in, out, kh, kw) and the output size comes from the graph.
    /// `tiled` is set when kernel == stride (windows do not overlap): then the op is one matmul
    /// with this [in, kh*kw*out] matrix and a reshape, all in NHWC.
    ConvTranspose {
        w: Tensor,
        stride: usize,
        padding: Padding,
        out_hw: (usize, usize),
        tiled: Option<Tensor>,
    },
    /// Grappler's fused ops (`_FusedConv2D`, `FusedDepthwiseConv2dNative`): a conv, a bias on
    /// the channel axis, then an optional activation.
    Fused {
        conv: Box<Op>,
        bias: Tensor,
        activation: Option<Box<Op>>,
    },
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    AddN,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    LeakyRelu(f32),
    Softmax,
    Pool {
        max: bool,
        k: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
    },
    ResizeBilinear {
        size: (usize, usize),
        align_corners: bool,
        half_pixel: bool,
    },
    Reshape(Vec<i64>),
    Transpose(Vec<usize>),
    Concat(i64),
    Split {
        axis: i64,
        sizes: Vec<i64>,
    },
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    MatMul {
        ta: bool,
        tb: bool,
    },
    Mean {
        axes: Vec<i64>,
        keep_dims: bool,
    },
    Identity,
}

#[derive(Debug)]
struct Step {
    node: String,
    op: Op,
    inputs: Vec<Slot>,
    outputs: Vec<Slot>,
    /// Slots whose last reader is this step; dropped after it runs to bound memory.
    release: Vec<Slot>,
}

/// A named graph input with its static shape (`-1` = any dim; `None` = any shape).
#[derive(Debug, Clone)]
pub struct GraphInput {
    pub name: String,
    pub shape: Option<Vec<i64>>,
    slot: Slot,
}

#[derive(Debug)]
pub struct Graph {
    inputs: Vec<GraphInput>,
    outputs: Vec<(String, Slot)>,
    /// Constants that steps read at run time, placed into the environment before each run.
    consts: Vec<(Slot, Value)>,
    steps: Vec<Step>,
    n_slots: usize,
}

/// Ops with no effect at inference.
const PASS_THROUGH: &[&str] = &["Identity", "StopGradient", "Snapshot", "NoOp"];

impl Graph {
    /// Loads `model.json` and its weights, resolving the outputs named in the model's signature.
    pub fn load(json_path: &Path, device: &Device) -> Result<Self> {
        let (model, weights) = read_model(json_path, device)?;
        let mut outputs: Vec<String> = model
            .signature
            .as_ref()
            .and_then(|s| s.get("outputs"))
            .and_then(|o| o.as_object())
            .map(|o| {
                o.values()
                    .filter_map(|v| v.get("name")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        outputs.sort();
        if outputs.is_empty() {
            return Err(ModelError::Graph(format!(
                "{}: the signature names no outputs",
                json_path.display()
            )));
        }
        Self::build(&model.model_topology.node, weights, &outputs)
    }

    /// Loads `model.json` computing only `outputs` (in that order): the nodes no output needs
    /// are never compiled, so a decoder written outside the graph can replace its tail.
    pub fn load_outputs(json_path: &Path, device: &Device, outputs: &[&str]) -> Result<Self> {
        let (model, weights) = read_model(json_path, device)?;
        let outputs: Vec<String> = outputs.iter().map(|o| o.to_string()).collect();
        Self::build(&model.model_topology.node, weights, &outputs)
    }

    /// Resolves the graph that computes `outputs` (`node` or `node:k`) from `nodes`.
    pub fn build(
        nodes: &[NodeDef],
        mut weights: HashMap<String, ConstValue>,
        outputs: &[String],
    ) -> Result<Self> {
        let by_name: HashMap<&str, &NodeDef> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        let order = topo_order(&by_name, outputs)?;

        let mut b = Builder::default();
        for node in order {
            b.add_node(node, &mut weights)?;
        }
        let outputs = outputs
            .iter()
            .map(|o| {
                let (name, idx) = parse_ref(o);
                let slot = b.lookup(name, idx)?;
                Ok((name.to_owned(), slot))
            })
            .collect::<Result<Vec<_>>>()?;
        b.finish(outputs)
    }

    pub fn inputs(&self) -> &[GraphInput] {
        &self.inputs
    }

    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    /// Runs the graph on one tensor per input (in [`Graph::inputs`] order); returns the outputs
    /// in [`Graph::output_names`] order.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.run_inner(inputs, None)
    }

    /// Like [`Graph::run`], also adding each step's wall time to `profile` by op kind.
    pub fn run_profiled(
        &self,
        inputs: &[Tensor],
        profile: &mut HashMap<String, f64>,
    ) -> Result<Vec<Tensor>> {
        self.run_inner(inputs, Some(profile))
    }

    fn run_inner(
        &self,
        inputs: &[Tensor],
        mut profile: Option<&mut HashMap<String, f64>>,
    ) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(ModelError::Input(format!(
                "graph takes {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut env: Vec<Option<Value>> = vec![None; self.n_slots];
        for (spec, t) in self.inputs.iter().zip(inputs) {
            // The leading dimension is the batch: graphs exported for one image declare 1, and
            // the server runs several images at once (ops whose shapes pin it fail, and callers
            // fall back to one image at a time).
            let ok = spec.shape.as_ref().is_none_or(|shape| {
                shape.len() == t.rank()
                    && shape
                        .iter()
                        .zip(t.dims())
                        .enumerate()
                        .all(|(i, (&want, &got))| want < 0 || want as usize == got || i == 0)
            });
            if !ok {
                return Err(ModelError::Input(format!(
                    "input '{}' expects shape {:?}, got {:?}",
                    spec.name,
                    spec.shape,
                    t.dims()
                )));
            }
            env[spec.slot] = Some(Value::F(t.clone()));
        }
        for (slot, v) in &self.consts {
            env[*slot] = Some(v.clone());
        }
        for step in &self.steps {
            let args: Vec<&Value> = step
                .inputs
                .iter()
                .map(|s| {
                    env[*s]
                        .as_ref()
                        .expect("topological order guarantees inputs are set")
                })
                .collect();
            let t0 = profile.is_some().then(std::time::Instant::now);
            let outs = step
                .op
                .run(&args)
                .map_err(|e| ModelError::Graph(format!("node '{}': {e}", step.node)))?;
            if let (Some(p), Some(t0)) = (profile.as_deref_mut(), t0) {
                let kind = format!("{:?}", step.op);
                let kind = kind
                    .split(|c: char| !c.is_alphanumeric())
                    .next()
                    .unwrap_or("?")
                    .to_owned();
                let kind = match &step.op {
                    Op::Conv { groups, .. } if *groups > 1 => "GroupedConv".to_owned(),
                    _ => kind,
                };
                *p.entry(kind).or_default() += t0.elapsed().as_secs_f64() * 1e3;
            }
            for (slot, v) in step.outputs.iter().zip(outs) {
                env[*slot] = Some(v);
            }
            for s in &step.release {
                env[*s] = None;
            }
        }
        self.outputs
            .iter()
            .map(|(name, s)| match env[*s].take() {
                Some(Value::F(t)) => Ok(t),
                _ => Err(ModelError::Graph(format!(
                    "output '{name}' is not a float tensor"
                ))),
            })
            .collect()
    }
}

/// Splits `node:k` into (`node`, k); a bare name is output 0.
fn parse_ref(s: &str) -> (&str, usize) {
    match s.rsplit_once(':') {
        Some((n, k)) if k.chars().all(|c| c.is_ascii_digit()) && !k.is_empty() => {
            (n, k.parse().unwrap_or(0))
        }
        _ => (s, 0),
    }
}

fn data_inputs(node: &NodeDef) -> impl Iterator<Item = &str> {
    // `^name` marks a control dependency, which inference ignores.
    node.input
        .iter()
        .filter(|i| !i.starts_with('^'))
        .map(String::as_str)
}

/// Post-order DFS from the outputs (iterative: real graphs are deep enough to blow a stack).
fn topo_order<'a>(
    by_name: &HashMap<&str, &'a NodeDef>,
    outputs: &[String],
) -> Result<Vec<&'a NodeDef>> {
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 = on stack, 2 = done
    let mut order = Vec::new();
    for out in outputs {
        let root = parse_ref(out).0;
        let mut stack: Vec<(&str, bool)> = vec![(root, false)];
        while let Some((name, expanded)) = stack.pop() {
            let node = *by_name.get(name).ok_or_else(|| {
                ModelError::Graph(format!("graph refers to missing node '{name}'"))
            })?;
            if expanded {
                state.insert(name, 2);
                order.push(node);
                continue;
            }
            match state.get(name) {
                Some(2) => continue,
                Some(1) => return Err(ModelError::Graph(format!("cycle through node '{name}'"))),
                _ => {}
            }
            state.insert(name, 1);
            stack.push((name, true));
            for i in data_inputs(node) {
                let dep = parse_ref(i).0;
                if state.get(dep) != Some(&2) {
                    stack.push((dep, false));
                }
            }
        }
    }
    Ok(order)
}

#[derive(Default)]
struct Builder {
    slots: HashMap<(String, usize), Slot>,
    known: HashMap<Slot, Value>,
    inputs: Vec<GraphInput>,
    steps: Vec<Step>,
    n_slots: usize,
}

impl Builder {
    fn new_slot(&mut self) -> Slot {
        self.n_slots += 1;
        self.n_slots - 1
    }

    fn lookup(&self, name: &str, idx: usize) -> Result<Slot> {
        self.slots
            .get(&(name.to_owned(), idx))
            .copied()
            .ok_or_else(|| ModelError::Graph(format!("no value for '{name}:{idx}'")))
    }

    fn konst(&self, slot: Slot) -> Option<&Value> {
        self.known.get(&slot)
    }

    fn add_node(
        &mut self,
        node: &NodeDef,
        weights: &mut HashMap<String, ConstValue>,
    ) -> Result<()> {
        let name = node.name.clone();
        match node.op.as_str() {
            "Const" => {
                let v = weights.remove(&name).ok_or_else(|| {
                    ModelError::Graph(format!("constant '{name}' is not in the weights manifest"))
                })?;
                let slot = self.new_slot();
                self.known.insert(
                    slot,
                    match v {
                        ConstValue::Float(t) => Value::F(t),
                        ConstValue::Int(i) => Value::I(i),
                    },
                );
                self.slots.insert((name, 0), slot);
                return Ok(());
            }
            "Placeholder" => {
                let slot = self.new_slot();
                let shape = node.attr_shape("shape");
                self.inputs.push(GraphInput {
                    name: name.clone(),
                    shape,
                    slot,
                });
                self.slots.insert((name, 0), slot);
                return Ok(());
            }
            op if PASS_THROUGH.contains(&op) => {
                let first = data_inputs(node).next().map(parse_ref);
                if let Some((src, idx)) = first {
                    let slot = self.lookup(src, idx)?;
                    self.slots.insert((name, 0), slot);
                }
                return Ok(());
            }
            _ => {}
        }
        let args: Vec<Slot> = data_inputs(node)
            .map(|i| {
                let (n, k) = parse_ref(i);
                self.lookup(n, k)
            })
            .collect::<Result<_>>()?;

        // Integer-only arithmetic (shape plumbing left by converters) is folded here.
        if args.iter().all(|s| self.known.contains_key(s)) {
            let vals: Vec<&Value> = args.iter().map(|s| &self.known[s]).collect();
            if vals.iter().any(|v| matches!(v, Value::I(_))) {
                if let Some(folded) = fold_ints(node, &vals)? {
                    let slot = self.new_slot();
                    self.known.insert(slot, Value::I(folded));
                    self.slots.insert((name, 0), slot);
                    return Ok(());
                }
            }
        }

        let (op, data) = self.compile(node, &args)?;
        let n_out = op.num_outputs();
        let outputs: Vec<Slot> = (0..n_out).map(|_| self.new_slot()).collect();
        for (k, s) in outputs.iter().enumerate() {
            self.slots.insert((name.clone(), k), *s);
        }
        if data.iter().all(|s| self.known.contains_key(s)) {
            // Constant folding: run it now, once.
            let vals: Vec<&Value> = data.iter().map(|s| &self.known[s]).collect();
            let outs = op
                .run(&vals)
                .map_err(|e| ModelError::Graph(format!("folding '{name}': {e}")))?;
            for (s, v) in outputs.iter().zip(outs) {
                self.known.insert(*s, v);
            }
        } else {
            self.steps.push(Step {
                node: name,
                op,
                inputs: data,
                outputs,
                release: Vec::new(),
            });
        }
        Ok(())
    }

    fn const_ints(&self, node: &NodeDef, slot: Slot, what: &str) -> Result<Vec<i64>> {
        match self.konst(slot) {
            Some(Value::I(i)) => Ok(i.data.clone()),
            _ => Err(ModelError::Graph(format!(
                "node '{}' ({}): {what} must be a constant integer tensor",
                node.name, node.op
            ))),
        }
    }

    fn const_tensor(&self, node: &NodeDef, slot: Slot, what: &str) -> Result<Tensor> {
        match self.konst(slot) {
            Some(Value::F(t)) => Ok(t.clone()),
            _ => Err(ModelError::Graph(format!(
                "node '{}' ({}): {what} must be a constant",
                node.name, node.op
            ))),
        }
    }

    /// Turns a node into an op plus the slots it reads at run time.
    fn compile(&self, node: &NodeDef, args: &[Slot]) -> Result<(Op, Vec<Slot>)> {
        let need = |n: usize| -> Result<()> {
            if args.len() < n {
                return Err(ModelError::Graph(format!(
                    "node '{}' ({}) needs {n} inputs",
                    node.name, node.op
                )));
            }
            Ok(())
        };
        let unary = |op: Op| -> Result<(Op, Vec<Slot>)> {
            need(1)?;
            Ok((op, vec![args[0]]))
        };
        let binary = |op: Op| -> Result<(Op, Vec<Slot>)> {
            need(2)?;
            Ok((op, vec![args[0], args[1]]))
        };
        Ok(match node.op.as_str() {
            "Conv2D" | "DepthwiseConv2dNative" => {
                need(2)?;
                check_nhwc(node)?;
                let f = self.const_tensor(node, args[1], "the filter")?; // [kh, kw, in, out|mult]
                let (kh, kw, cin, cout) = f.dims4()?;
                let stride = square(node, "strides", &node.attr_ints_required("strides")?)?;
                let dilation = dilations(node)?;
                let padding = padding(node)?;
                let unpadded = matches!(
                    padding,
                    Padding::Valid | Padding::Same | Padding::Explicit([0, 0, 0, 0])
                );
                let pack = |f: &Tensor| -> Result<std::sync::Arc<PackedB>> {
                    let v = f.flatten_all()?.to_vec1::<f32>()?;
                    Ok(std::sync::Arc::new(PackedB::new(
                        &v,
                        kh * kw * cin,
                        cout,
                        None,
                    )))
                };
                if node.op == "Conv2D" && kh == 1 && kw == 1 && stride == 1 && unpadded {
                    let op = Op::Gemm {
                        w: pack(&f)?,
                        im2col: None,
                        act: Activation::None,
                    };
                    return Ok((op, vec![args[0]]));
                }
                if node.op == "DepthwiseConv2dNative" && cout == 1 {
                    let w = f.flatten_all()?.to_vec1::<f32>()?;
                    let op = Op::Depthwise {
                        w: std::sync::Arc::new(w),
                        k: (kh, kw),
                        stride,
                        dilation,
                        padding,
                        bias: None,
                        act: Activation::None,
                    };
                    return Ok((op, vec![args[0]]));
                }
                if node.op == "Conv2D" {
                    let op = Op::Gemm {
                        w: pack(&f)?,
                        im2col: Some(Im2col {
                            k: (kh, kw),
                            stride,
                            dilation,
                            padding,
                        }),
                        act: Activation::None,
                    };
                    return Ok((op, vec![args[0]]));
                }
                let (w, groups) = if node.op == "Conv2D" {
                    (f.permute((3, 2, 0, 1))?.contiguous()?, 1)
                } else {
                    // [kh, kw, c, m] -> [c*m, 1, kh, kw]: output channel c*m + j reads input c.
                    (
                        f.reshape((kh, kw, cin * cout))?
                            .permute((2, 0, 1))?
                            .unsqueeze(1)?
                            .contiguous()?,
                        cin,
                    )
                };
                (
                    Op::Conv {
                        w,
                        stride,
                        dilation,
                        padding,
                        groups,
                    },
                    vec![args[0]],
                )
            }
            "_FusedConv2D" | "FusedDepthwiseConv2dNative" => {
                need(3)?;
                let fused = node.attr_strs("fused_ops")?;
                let unsupported = || {
                    ModelError::UnsupportedOp(format!(
                        "{} with fused ops {fused:?} (node '{}')",
                        node.op, node.name
                    ))
                };
                let activation = match fused.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    ["BiasAdd"] => None,
                    ["BiasAdd", "Relu"] => Some(Op::Relu),
                    ["BiasAdd", "Relu6"] => Some(Op::Relu6),
                    ["BiasAdd", "LeakyRelu"] => Some(Op::LeakyRelu(
                        node.attr_f32("leakyrelu_alpha").unwrap_or(0.2),
                    )),
                    _ => return Err(unsupported()),
                };
                if args.len() != 3 {
                    return Err(unsupported());
                }
                let plain = NodeDef {
                    op: if node.op == "_FusedConv2D" {
                        "Conv2D"
                    } else {
                        "DepthwiseConv2dNative"
                    }
                    .into(),
                    ..node.clone()
                };
                let (conv, data) = self.compile(&plain, &args[..2])?;
                let bias = self.const_tensor(node, args[2], "the bias")?;
                let act = match &activation {
                    None => Activation::None,
                    Some(Op::Relu) => Activation::Relu,
                    Some(Op::Relu6) => Activation::Relu6,
                    Some(Op::LeakyRelu(a)) => Activation::LeakyRelu(*a),
                    Some(_) => return Err(unsupported()),
                };
                let b = bias.flatten_all()?.to_vec1::<f32>()?;
                // Bias and activation into the kernel's epilogue where the conv has one.
                let op = match conv {
                    Op::Gemm {
                        w,
                        im2col,
                        act: Activation::None,
                    } if b.len() == w.n() => {
                        let mut w = std::sync::Arc::unwrap_or_clone(w);
                        w.add_bias(&b);
                        Op::Gemm {
                            w: std::sync::Arc::new(w),
                            im2col,
                            act,
                        }
                    }
                    Op::Depthwise {
                        w,
                        k,
                        stride,
                        dilation,
                        padding,
                        bias: None,
                        act: Activation::None,
                    } if b.len() * k.0 * k.1 == w.len() => Op::Depthwise {
                        w,
                        k,
                        stride,
                        dilation,
                        padding,
                        bias: Some(std::sync::Arc::new(b)),
                        act,
                    },
                    conv => Op::Fused {
                        conv: Box::new(conv),
                        bias,
                        activation: activation.map(Box::new),
                    },
                };
                (op, data)
            }
            "Conv2DBackpropInput" => {
                need(3)?;
                check_nhwc(node)?;
                let sizes = self.const_ints(node, args[0], "the output size")?;
                let f = self.const_tensor(node, args[1], "the filter")?; // [kh, kw, out, in]
                if dilations(node)? != 1 {
                    return Err(ModelError::Graph(format!(
                        "node '{}': dilated transposed conv",
                        node.name
                    )));
                }
                if sizes.len() != 4 {
                    return Err(ModelError::Graph(format!(
                        "node '{}': output size must have 4 dims",
                        node.name
                    )));
                }
                let stride = square(node, "strides", &node.attr_ints_required("strides")?)?;
                let w = f.permute((3, 2, 0, 1))?.contiguous()?;
                let out_hw = (sizes[1] as usize, sizes[2] as usize);
                let (kh, kw, cout, cin) = f.dims4()?;
                let padding = padding(node)?;
                let tiled = (kh == stride
                    && kw == stride
                    && matches!(padding, Padding::Same | Padding::Valid))
                .then(|| {
                    f.permute((3, 0, 1, 2))?
                        .reshape((cin, kh * kw * cout))?
                        .contiguous()
                })
                .transpose()?;
                (
                    Op::ConvTranspose {
                        w,
                        stride,
                        padding,
                        out_hw,
                        tiled,
                    },
                    vec![args[2]],
                )
            }
            "Add" | "AddV2" | "BiasAdd" => binary(Op::Add)?,
            "Sub" => binary(Op::Sub)?,
            "Mul" => binary(Op::Mul)?,
            "RealDiv" | "Div" => binary(Op::Div)?,
            "Maximum" => binary(Op::Maximum)?,
            "Minimum" => binary(Op::Minimum)?,
            "AddN" => (Op::AddN, args.to_vec()),
            "Relu" => unary(Op::Relu)?,
            "Relu6" => unary(Op::Relu6)?,
            "Sigmoid" => unary(Op::Sigmoid)?,
            "Tanh" => unary(Op::Tanh)?,
            "Softmax" => unary(Op::Softmax)?,
            "LeakyRelu" => unary(Op::LeakyRelu(node.attr_f32("alpha").unwrap_or(0.2)))?,
            "AvgPool" | "MaxPool" => {
                check_nhwc(node)?;
                let k = node.attr_ints_required("ksize")?;
                let s = node.attr_ints_required("strides")?;
                let padding = padding(node)?;
                let max = node.op == "MaxPool";
                if !max && padding != Padding::Valid {
                    return Err(ModelError::UnsupportedOp(format!(
                        "{} with SAME padding (node '{}')",
                        node.op, node.name
                    )));
                }
                let k = (k[1] as usize, k[2] as usize);
                unary(Op::Pool {
                    max,
                    k,
                    stride: (s[1] as usize, s[2] as usize),
                    padding,
                })?
            }
            "ResizeBilinear" => {
                need(2)?;
                let size = self.const_ints(node, args[1], "the size")?;
                let op = Op::ResizeBilinear {
                    size: (size[0] as usize, size[1] as usize),
                    align_corners: node.attr_bool("align_corners"),
                    half_pixel: node.attr_bool("half_pixel_centers"),
                };
                (op, vec![args[0]])
            }
            "Reshape" => {
                need(2)?;
                (
                    Op::Reshape(self.const_ints(node, args[1], "the shape")?),
                    vec![args[0]],
                )
            }
            "Transpose" => {
                need(2)?;
                let perm = self.const_ints(node, args[1], "the permutation")?;
                (
                    Op::Transpose(perm.iter().map(|&p| p as usize).collect()),
                    vec![args[0]],
                )
            }
            "ConcatV2" => {
                need(2)?;
                let (axis, data) = args.split_last().expect("need(2) checked");
                let axis = self.const_ints(node, *axis, "the axis")?[0];
                (Op::Concat(axis), data.to_vec())
            }
            "SplitV" => {
                need(3)?;
                let sizes = self.const_ints(node, args[1], "the split sizes")?;
                let axis = self.const_ints(node, args[2], "the axis")?[0];
                (Op::Split { axis, sizes }, vec![args[0]])
            }
            "Split" => {
                need(2)?;
                let axis = self.const_ints(node, args[0], "the axis")?[0];
                let n = node.attr_int("num_split").unwrap_or(1);
                (
                    Op::Split {
                        axis,
                        sizes: vec![-(n.max(1)); 1],
                    },
                    vec![args[1]],
                )
            }
            "Pad" | "PadV2" => {
                need(2)?;
                let p = self.const_ints(node, args[1], "the paddings")?;
                let pads = p
                    .chunks_exact(2)
                    .map(|c| (c[0] as usize, c[1] as usize))
                    .collect();
                let value = if node.op == "PadV2" && args.len() > 2 {
                    let v = self.const_tensor(node, args[2], "the pad value")?;
                    v.flatten_all()?
                        .to_vec1::<f32>()?
                        .first()
                        .copied()
                        .unwrap_or(0.0)
                } else {
                    0.0
                };
                (Op::Pad { pads, value }, vec![args[0]])
            }
            "MatMul" => binary(Op::MatMul {
                ta: node.attr_bool("transpose_a"),
                tb: node.attr_bool("transpose_b"),
            })?,
            "Mean" => {
                need(2)?;
                let axes = self.const_ints(node, args[1], "the axes")?;
                (
                    Op::Mean {
                        axes,
                        keep_dims: node.attr_bool("keep_dims"),
                    },
                    vec![args[0]],
                )
            }
            "Cast" => unary(Op::Identity)?,
            other => {
                return Err(ModelError::UnsupportedOp(format!(
                    "{other} (node '{}')",
                    node.name
                )))
            }
        })
    }

    fn finish(mut self, outputs: Vec<(String, Slot)>) -> Result<Graph> {
        // Last reader of every slot, so a run can drop activations as soon as they are dead.
        let keep: std::collections::HashSet<Slot> = outputs.iter().map(|(_, s)| *s).collect();
        let mut last_use: HashMap<Slot, usize> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            for s in &step.inputs {
                last_use.insert(*s, i);
            }
        }
        for (slot, i) in &last_use {
            if !keep.contains(slot) {
                self.steps[*i].release.push(*slot);
            }
        }
        let used: std::collections::HashSet<Slot> = self
            .steps
            .iter()
            .flat_map(|s| s.inputs.iter().copied())
            .collect();
        let mut consts: Vec<(Slot, Value)> = Vec::new();
        for (slot, v) in self.known {
            if used.contains(&slot) || keep.contains(&slot) {
                consts.push((slot, v));
            }
        }
        Ok(Graph {
            inputs: self.inputs,
            outputs,
            consts,
            steps: self.steps,
            n_slots: self.n_slots,
        })
    }
}

impl Padding {
    /// (top, bottom, left, right) for an input of `hw` under this padding mode.
    fn resolve(
        self,
        hw: (usize, usize),
        k: (usize, usize),
        stride: usize,
        dilation: usize,
    ) -> [usize; 4] {
        match self {
            Padding::Valid => [0; 4],
            Padding::Same => {
                let (t, b) = ops::same_padding(hw.0, k.0, stride, dilation);
                let (l, r) = ops::same_padding(hw.1, k.1, stride, dilation);
                [t, b, l, r]
            }
            Padding::Explicit(p) => p,
        }
    }
}

fn check_nhwc(node: &NodeDef) -> Result<()> {
    match node.attr_str("data_format") {
        Ok(f) if f != "NHWC" => Err(ModelError::UnsupportedOp(format!(
            "{} with data_format {f} (node '{}')",
            node.op, node.name
        ))),
        _ => Ok(()),
    }
}

fn square(node: &NodeDef, what: &str, v: &[i64]) -> Result<usize> {
    if v.len() != 4 || v[1] != v[2] {
        return Err(ModelError::UnsupportedOp(format!(
            "{} with non-square {what} {v:?} (node '{}')",
            node.op, node.name
        )));
    }
    Ok(v[1] as usize)
}

fn dilations(node: &NodeDef) -> Result<usize> {
    let d = node.attr_ints("dilations");
    if d.is_empty() {
        Ok(1)
    } else {
        square(node, "dilations", &d)
    }
}

fn padding(node: &NodeDef) -> Result<Padding> {
    match node.attr_str("padding")?.as_str() {
        "VALID" => Ok(Padding::Valid),
        "SAME" => Ok(Padding::Same),
        "EXPLICIT" => {
            let p = node.attr_ints("explicit_paddings");
            if p.len() != 8 {
                return Err(ModelError::Graph(format!(
                    "node '{}': explicit_paddings needs 8 values",
                    node.name
                )));
            }
            Ok(Padding::Explicit([
                p[2] as usize,
                p[3] as usize,
                p[4] as usize,
                p[5] as usize,
            ]))
        }
        other => Err(ModelError::UnsupportedOp(format!(
            "padding {other} (node '{}')",
            node.name
        ))),
    }
}

/// Folds ops whose inputs are constant integers (shape plumbing from ONNX→TF converters).
/// Returns `None` for ops that are not integer plumbing, so the float path handles them.
fn fold_ints(node: &NodeDef, vals: &[&Value]) -> Result<Option<Ints>> {
    let ints = |i: usize| -> Result<&Ints> {
        match vals.get(i) {
            Some(Value::I(x)) => Ok(x),
            _ => Err(ModelError::Graph(format!(
                "node '{}' ({}): input {i} must be integers",
                node.name, node.op
            ))),
        }
    };
    let elementwise = |f: fn(i64, i64) -> i64| -> Result<Option<Ints>> {
        let (a, b) = (ints(0)?, ints(1)?);
        let data = if a.data.len() == b.data.len() {
            a.data.iter().zip(&b.data).map(|(x, y)| f(*x, *y)).collect()
        } else if b.data.len() == 1 {
            a.data.iter().map(|x| f(*x, b.data[0])).collect()
        } else if a.data.len() == 1 {
            b.data.iter().map(|y| f(a.data[0], *y)).collect()
        } else {
            return Err(ModelError::Graph(format!(
                "node '{}': integer broadcast of unequal shapes",
                node.name
            )));
        };
        let shape = if a.data.len() >= b.data.len() {
            a.shape.clone()
        } else {
            b.shape.clone()
        };
        Ok(Some(Ints { shape, data }))
    };
    match node.op.as_str() {
        "Add" | "AddV2" => elementwise(|x, y| x + y),
        "Sub" => elementwise(|x, y| x - y),
        "Mul" => elementwise(|x, y| x * y),
        "FloorDiv" => elementwise(|x, y| x.div_euclid(y)),
        "FloorMod" => elementwise(|x, y| x.rem_euclid(y)),
        "Cast" => Ok(Some(ints(0)?.clone())),
        "SparseToDense" => {
            // (indices, output_shape, values, default): scatter values into a dense vector.
            let (idx, shape, values, default) = (ints(0)?, ints(1)?, ints(2)?, ints(3)?);
            let len: i64 = shape.data.iter().product();
            let mut data = vec![default.data.first().copied().unwrap_or(0); len.max(0) as usize];
            for (k, &i) in idx.data.iter().enumerate() {
                let v = if values.data.len() == 1 {
                    values.data[0]
                } else {
                    values.data[k]
                };
                *data.get_mut(i as usize).ok_or_else(|| {
                    ModelError::Graph(format!("node '{}': index out of range", node.name))
                })? = v;
            }
            Ok(Some(Ints {
                shape: shape.data.iter().map(|&d| d as usize).collect(),
                data,
            }))
        }
        "Pack" => {
            let mut data = Vec::new();
            for i in 0..vals.len() {
                data.extend(&ints(i)?.data);
            }
            Ok(Some(Ints::vector(data)))
        }
        _ => Ok(None),
    }
}

impl Op {
    fn num_outputs(&self) -> usize {
        match self {
            Op::Split { sizes, .. } => match sizes.as_slice() {
                [n] if *n < 0 => (-n) as usize,
                s => s.len(),
            },
            _ => 1,
        }
    }

    fn run(&self, args: &[&Value]) -> candle_core::Result<Vec<Value>> {
        let x = || args[0].tensor();
        let y = || args[1].tensor();
        let one = |t: Tensor| Ok(vec![Value::F(t)]);
        match self {
            Op::Conv {
                w,
                stride,
                dilation,
                padding,
                groups,
            } => {
                let x = x()?.permute((0, 3, 1, 2))?; // NHWC -> NCHW
                let (kh, kw) = (w.dim(2)?, w.dim(3)?);
                let (h, wd) = (x.dim(2)?, x.dim(3)?);
                let [t, b, l, r] = padding.resolve((h, wd), (kh, kw), *stride, *dilation);
                let (x, sym) = if t == b && l == r && t == l {
                    (x, t)
                } else {
                    (x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?, 0)
                };
                let y = x
                    .contiguous()?
                    .conv2d(w, sym, *stride, *dilation, *groups)?;
                one(y.permute((0, 2, 3, 1))?)
            }
            Op::Gemm { w, im2col, act } => {
                let x = x()?;
                let (n, h, wd, c) = x.dims4()?;
                let (out, (oh, ow)) = ops::with_f32_slice(x, |xs| -> candle_core::Result<_> {
                    let (patches, (oh, ow)) = match im2col {
                        None => (None, (h, wd)),
                        Some(i) => {
                            let pads = i.padding.resolve((h, wd), i.k, i.stride, i.dilation);
                            let (p, (_, oh, ow)) = ops::im2col_nhwc_slice(
                                xs,
                                (n, h, wd, c),
                                i.k,
                                i.stride,
                                i.dilation,
                                pads,
                            )?;
                            (Some(p), (oh, ow))
                        }
                    };
                    let a = patches.as_deref().unwrap_or(xs);
                    let m = n * oh * ow;
                    if a.len() != m * w.k() {
                        candle_core::bail!(
                            "conv input has {c} channels, the filter expects {}",
                            w.k() / im2col.map_or(1, |i| i.k.0 * i.k.1)
                        );
                    }
                    let mut out = vec![0f32; m * w.n()];
                    gemm(a, m, w, *act, None, &mut out);
                    Ok((out, (oh, ow)))
                })??;
                one(Tensor::from_vec(out, (n, oh, ow, w.n()), x.device())?)
            }
            Op::Depthwise {
                w,
                k,
                stride,
                dilation,
                padding,
                bias,
                act,
            } => {
                let x = x()?;
                let dims = x.dims4()?;
                let pads = padding.resolve((dims.1, dims.2), *k, *stride, *dilation);
                let (out, d) = ops::with_f32_slice(x, |xs| {
                    ops::depthwise_nhwc_slice(
                        xs,
                        dims,
                        w,
                        *k,
                        *stride,
                        *dilation,
                        pads,
                        bias.as_deref().map(Vec::as_slice),
                        *act,
                    )
                })??;
                one(Tensor::from_vec(out, d, x.device())?)
            }
            Op::ConvTranspose {
                tiled: Some(wm),
                stride,
                out_hw,
                ..
            } if out_hw.0 == x()?.dim(1)? * stride && out_hw.1 == x()?.dim(2)? * stride => {
                let x = x()?;
                let (n, h, wd, c) = x.dims4()?;
                let cout = wm.dim(1)? / (stride * stride);
                // [N*H*W, in] x [in, kh*kw*out] -> [N, H, W, kh, kw, out] -> [N, H, kh, W, kw, out]
                let y = x.reshape((n * h * wd, c))?.matmul(wm)?;
                let y = y
                    .reshape((n, h, wd, *stride, *stride, cout))?
                    .permute((0, 1, 3, 2, 4, 5))?;
                one(y
                    .contiguous()?
                    .reshape((n, h * stride, wd * stride, cout))?)
            }
            Op::ConvTranspose {
                w,
                stride,
                padding,
                out_hw,
                ..
            } => {
                let x = x()?.permute((0, 3, 1, 2))?.contiguous()?;
                let full = x.conv_transpose2d(w, 0, 0, *stride, 1)?;
                let (kh, kw) = (w.dim(2)?, w.dim(3)?);
                let (ih, iw) = (x.dim(2)?, x.dim(3)?);
                let crop = |t: Tensor,
                            dim: usize,
                            input: usize,
                            k: usize,
                            out: usize|
                 -> candle_core::Result<Tensor> {
                    // The forward conv that this op transposes maps `out` to `input`.
                    let before = match padding {
                        Padding::Same => ((input - 1) * stride + k).saturating_sub(out) / 2,
                        _ => 0,
                    };
                    let have = t.dim(dim)?;
                    if before + out <= have {
                        t.narrow(dim, before, out)
                    } else {
                        t.narrow(dim, before, have - before)?.pad_with_zeros(
                            dim,
                            0,
                            before + out - have,
                        )
                    }
                };
                let y = crop(full, 2, ih, kh, out_hw.0)?;
                let y = crop(y, 3, iw, kw, out_hw.1)?;
                one(y.permute((0, 2, 3, 1))?)
            }
            Op::Add => one(x()?.broadcast_add(y()?)?),
            Op::Sub => one(x()?.broadcast_sub(y()?)?),
            Op::Mul => one(x()?.broadcast_mul(y()?)?),
            Op::Div => one(x()?.broadcast_div(y()?)?),
            Op::Maximum => one(x()?.broadcast_maximum(y()?)?),
            Op::Minimum => one(x()?.broadcast_minimum(y()?)?),
            Op::AddN => {
                let mut acc = x()?.clone();
                for a in &args[1..] {
                    acc = acc.broadcast_add(a.tensor()?)?;
                }
                one(acc)
            }
            Op::Fused {
                conv,
                bias,
                activation,
            } => {
                let out = conv.run(&args[..1])?.remove(0);
                let y = out.tensor()?.broadcast_add(bias)?;
                match activation {
                    Some(act) => act.run(&[&Value::F(y)]),
                    None => one(y),
                }
            }
            Op::Relu => one(x()?.relu()?),
            Op::Relu6 => one(ops::relu6(x()?)?),
            Op::Sigmoid => one(candle_nn::ops::sigmoid(x()?)?),
            Op::Tanh => one(x()?.tanh()?),
            Op::LeakyRelu(a) => one(ops::leaky_relu(x()?, *a)?),
            Op::Softmax => one(ops::softmax_last(x()?)?),
            Op::Pool {
                max,
                k,
                stride,
                padding,
            } if *padding == Padding::Valid && *k == *stride => {
                one(ops::pool_tiled_nhwc(x()?, *k, *max)?)
            }
            Op::Pool {
                max,
                k,
                stride,
                padding,
            } => {
                let mut x = x()?.permute((0, 3, 1, 2))?;
                if *padding == Padding::Same {
                    let (t, b) = ops::same_padding(x.dim(2)?, k.0, stride.0, 1);
                    let (l, r) = ops::same_padding(x.dim(3)?, k.1, stride.1, 1);
                    x = ops::pad_const(&x, 2, t, b, f32::NEG_INFINITY)?;
                    x = ops::pad_const(&x, 3, l, r, f32::NEG_INFINITY)?;
                }
                let x = x.contiguous()?;
                let y = if *max {
                    x.max_pool2d_with_stride(*k, *stride)?
                } else {
                    x.avg_pool2d_with_stride(*k, *stride)?
                };
                one(y.permute((0, 2, 3, 1))?)
            }
            Op::ResizeBilinear {
                size,
                align_corners,
                half_pixel,
            } => one(ops::resize_bilinear_nhwc(
                x()?,
                size.0,
                size.1,
                *align_corners,
                *half_pixel,
            )?),
            Op::Reshape(shape) => {
                let x = x()?;
                let known: i64 = shape.iter().filter(|&&d| d >= 0).product();
                let dims: Vec<usize> = shape
                    .iter()
                    .map(|&d| {
                        if d < 0 {
                            x.elem_count() / known.max(1) as usize
                        } else {
                            d as usize
                        }
                    })
                    .collect();
                one(x.reshape(dims)?)
            }
            Op::Transpose(perm) => one(x()?.permute(perm.as_slice())?),
            Op::Concat(axis) => {
                let ts: Vec<&Tensor> = args
                    .iter()
                    .map(|a| a.tensor())
                    .collect::<candle_core::Result<_>>()?;
                let axis = ops::axis(*axis, ts[0].rank())?;
                one(Tensor::cat(&ts, axis)?)
            }
            Op::Split { axis, sizes } => {
                let x = x()?;
                let axis = ops::axis(*axis, x.rank())?;
                let total = x.dim(axis)?;
                let sizes: Vec<usize> = match sizes.as_slice() {
                    [n] if *n < 0 => vec![total / (-n) as usize; (-n) as usize],
                    s => {
                        let known: i64 = s.iter().filter(|&&v| v >= 0).sum();
                        s.iter()
                            .map(|&v| {
                                if v < 0 {
                                    total - known as usize
                                } else {
                                    v as usize
                                }
                            })
                            .collect()
                    }
                };
                let mut start = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for n in sizes {
                    out.push(Value::F(x.narrow(axis, start, n)?));
                    start += n;
                }
                Ok(out)
            }
            Op::Pad { pads, value } => {
                let mut x = x()?.clone();
                for (d, (b, a)) in pads.iter().enumerate() {
                    x = ops::pad_const(&x, d, *b, *a, *value)?;
                }
                one(x)
            }
            Op::MatMul { ta, tb } => {
                let a = if *ta { x()?.t()? } else { x()?.clone() };
                let b = if *tb { y()?.t()? } else { y()?.clone() };
                one(a.contiguous()?.matmul(&b.contiguous()?)?)
            }
            Op::Mean { axes, keep_dims } => {
                let x = x()?;
                let axes: Vec<usize> = axes
                    .iter()
                    .map(|&a| ops::axis(a, x.rank()))
                    .collect::<candle_core::Result<_>>()?;
                one(ops::mean_axes(x, &axes, *keep_dims)?)
            }
            Op::Identity => Ok(vec![args[0].clone()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: &str) -> NodeDef {
        serde_json::from_str(json).unwrap()
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
        let v: Vec<f32> = g
            .run(&[x])
            .unwrap()
            .remove(0)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
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
        let v: Vec<f32> = g
            .run(&[x])
            .unwrap()
            .remove(0)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(v, vec![10.0, 2.0]);
    }
}
