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

use super::format::{read_model, ConstValue, NodeDef};
use super::ops::{fold_ints, NodeArgs, Op};
use super::rewrite::Rewrite;
use super::value::{Slot, Value};
use crate::error::{ModelError, Result};

#[derive(Debug)]
pub(super) struct Step {
    pub node: String,
    pub op: Op,
    pub inputs: Vec<Slot>,
    pub outputs: Vec<Slot>,
    /// Slots whose last reader is this step; dropped after it runs to bound memory.
    pub release: Vec<Slot>,
}

/// Whether a graph gets the load-time rewrites of [`super::rewrite`] (transposes sunk and
/// cancelled, bias, activation and padding folded into convs). They change how the graph
/// runs, not what it computes; `AsWritten` exists so tests can show that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rewrites {
    #[default]
    All,
    AsWritten,
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
        Self::load_with(json_path, device, None, Rewrites::All)
    }

    /// Loads `model.json` computing only `outputs` (in that order): the nodes no output needs
    /// are never compiled, so a decoder written outside the graph can replace its tail.
    pub fn load_outputs(json_path: &Path, device: &Device, outputs: &[&str]) -> Result<Self> {
        Self::load_with(json_path, device, Some(outputs), Rewrites::All)
    }

    /// [`Graph::load`] (`outputs` = `None`) or [`Graph::load_outputs`], with or without the
    /// load-time rewrites.
    pub fn load_with(
        json_path: &Path,
        device: &Device,
        outputs: Option<&[&str]>,
        rewrites: Rewrites,
    ) -> Result<Self> {
        let (model, weights) = read_model(json_path, device)?;
        let outputs: Vec<String> = match outputs {
            Some(o) => o.iter().map(|o| o.to_string()).collect(),
            None => {
                let mut names: Vec<String> = model
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
                names.sort();
                names
            }
        };
        if outputs.is_empty() {
            return Err(ModelError::Graph(format!(
                "{}: the signature names no outputs",
                json_path.display()
            )));
        }
        Self::build_with(&model.model_topology.node, weights, &outputs, rewrites)
    }

    /// Resolves the graph that computes `outputs` (`node` or `node:k`) from `nodes`.
    pub fn build(
        nodes: &[NodeDef],
        weights: HashMap<String, ConstValue>,
        outputs: &[String],
    ) -> Result<Self> {
        Self::build_with(nodes, weights, outputs, Rewrites::All)
    }

    /// [`Graph::build`], with or without the load-time rewrites.
    pub fn build_with(
        nodes: &[NodeDef],
        mut weights: HashMap<String, ConstValue>,
        outputs: &[String],
        rewrites: Rewrites,
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
        b.finish(outputs, rewrites)
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

    /// Each step's op kind in run order (`Gemm`, `Depthwise`, `Transpose`, `Add`…), as
    /// [`Graph::run_profiled`] names them.
    pub fn step_kinds(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.op.kind()).collect()
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
                *p.entry(step.op.kind()).or_default() += t0.elapsed().as_secs_f64() * 1e3;
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

        let (op, data) = Op::compile(&NodeArgs::new(node, &args, &self.known))?;
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

    fn finish(mut self, outputs: Vec<(String, Slot)>, rewrites: Rewrites) -> Result<Graph> {
        let keep: std::collections::HashSet<Slot> = outputs.iter().map(|(_, s)| *s).collect();
        if rewrites == Rewrites::All {
            self.steps = Rewrite {
                steps: std::mem::take(&mut self.steps),
                known: &mut self.known,
                keep: &keep,
                n_slots: &mut self.n_slots,
            }
            .run();
        }
        // Last reader of every slot, so a run can drop activations as soon as they are dead.
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
