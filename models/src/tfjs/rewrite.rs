//! Load-time rewrites of a graph's steps that change how it runs, never what it computes.
//!
//! Graphs converted from ONNX (NanoDet) are NCHW models wrapped in transposes: every conv is
//! `Transpose(to NHWC) → Conv2D → Add(bias) → Transpose(to NCHW)`, and the activations, pads
//! and concatenations between convs run on the NCHW view. Run as written, each conv first
//! copies a strided view into a contiguous buffer and each activation walks one. Two passes:
//!
//! 1. [`sink_transposes`] moves every transpose past the element-wise ops, pads and concats
//!    after it (they give the same values on untransposed inputs, with their pads and axes
//!    permuted), where it meets the next transpose and the two cancel. What was an NCHW
//!    island between two convs then runs in NHWC, contiguous.
//! 2. [`fuse_into_convs`] folds into a conv what its kernel can do while it writes: the bias
//!    Add after it, the activation after that, and a zero Pad before it.

use std::collections::{HashMap, HashSet};

use candle_core::Tensor;

use super::graph::Step;
use super::ops::Op;
use super::value::{Slot, Value};

/// The steps of one graph being rewritten, with the constants they may read and the slots
/// the caller reads after a run (which must keep their values).
pub(super) struct Rewrite<'a> {
    pub steps: Vec<Step>,
    pub known: &'a mut HashMap<Slot, Value>,
    pub keep: &'a HashSet<Slot>,
    pub n_slots: &'a mut usize,
}

impl Rewrite<'_> {
    /// Both passes, then drops the steps nothing reads any more.
    pub fn run(mut self) -> Vec<Step> {
        self.sink_transposes();
        self.drop_dead_steps();
        self.fuse_into_convs();
        self.steps
    }

    fn new_slot(&mut self) -> Slot {
        *self.n_slots += 1;
        *self.n_slots - 1
    }

    /// One sweep in run order. `transposed[s] = (src, perm)` records that slot `s` holds `src`
    /// transposed by `perm` (composed through chains), so a later step can read `src` instead.
    fn sink_transposes(&mut self) {
        let mut transposed: HashMap<Slot, (Slot, Vec<usize>)> = HashMap::new();
        let mut alias: HashMap<Slot, Slot> = HashMap::new();
        let mut out: Vec<Step> = Vec::with_capacity(self.steps.len());
        for mut step in std::mem::take(&mut self.steps) {
            for s in &mut step.inputs {
                if let Some(a) = alias.get(s) {
                    *s = *a;
                }
            }
            if let Some(perm) = step.op.transpose_perm() {
                let (x, u) = (step.inputs[0], step.outputs[0]);
                let (src, perm) = match transposed.get(&x) {
                    // out[i] = t[perm[i]] and t[j] = src[inner[j]]: out[i] = src[inner[perm[i]]].
                    Some((src, inner)) => (*src, perm.iter().map(|&p| inner[p]).collect()),
                    None => (x, perm.to_vec()),
                };
                if is_identity(&perm) && !self.keep.contains(&u) {
                    alias.insert(u, src);
                    continue;
                }
                transposed.insert(u, (src, perm.clone()));
                step.op = if is_identity(&perm) {
                    Op::identity()
                } else {
                    Op::transpose(perm)
                };
                step.inputs = vec![src];
                out.push(step);
                continue;
            }
            match self.sunk(&step, &transposed) {
                Some((moved, perm)) => {
                    let u = step.outputs[0];
                    let v = self.new_slot();
                    transposed.insert(u, (v, perm.clone()));
                    out.push(Step {
                        outputs: vec![v],
                        ..moved
                    });
                    out.push(Step {
                        node: step.node,
                        op: Op::transpose(perm),
                        inputs: vec![v],
                        outputs: vec![u],
                        release: Vec::new(),
                    });
                }
                None => out.push(step),
            }
        }
        self.steps = out;
    }

    /// `step` re-expressed on the untransposed values when every value it reads at run time
    /// is a transpose by the same permutation (constants are transposed back to match), with
    /// that permutation; `None` when it cannot move.
    fn sunk(
        &mut self,
        step: &Step,
        transposed: &HashMap<Slot, (Slot, Vec<usize>)>,
    ) -> Option<(Step, Vec<usize>)> {
        if step.outputs.len() != 1 {
            return None;
        }
        let perm = step
            .inputs
            .iter()
            .find_map(|s| transposed.get(s).map(|(_, p)| p.clone()))?;
        let op = step.op.before_transpose(&perm)?;
        let mut inputs = Vec::with_capacity(step.inputs.len());
        for s in &step.inputs {
            match (transposed.get(s), self.known.get(s)) {
                (Some((src, p)), _) if *p == perm => inputs.push(*src),
                (None, Some(Value::F(c))) if op.broadcasts() => {
                    let c = untranspose_const(c, &perm)?;
                    let slot = self.new_slot();
                    self.known.insert(slot, Value::F(c));
                    inputs.push(slot);
                }
                _ => return None,
            }
        }
        Some((
            Step {
                node: step.node.clone(),
                op,
                inputs,
                outputs: Vec::new(),
                release: Vec::new(),
            },
            perm,
        ))
    }

    /// Removes steps whose outputs nobody reads (the transposes the sinking left behind).
    fn drop_dead_steps(&mut self) {
        let mut read: HashSet<Slot> = self.keep.clone();
        let mut live = vec![false; self.steps.len()];
        for (i, step) in self.steps.iter().enumerate().rev() {
            if step.outputs.iter().any(|s| read.contains(s)) {
                live[i] = true;
                read.extend(step.inputs.iter().copied());
            }
        }
        let mut it = live.into_iter();
        self.steps.retain(|_| it.next().unwrap_or(true));
    }

    /// Folds, until none is left: a conv's only reader being an Add of a per-channel constant
    /// (its bias) or an activation, and a spatial Pad whose only reader is a conv (zeros) or
    /// a max pool (-inf).
    fn fuse_into_convs(&mut self) {
        loop {
            let mut readers: HashMap<Slot, Vec<usize>> = HashMap::new();
            for (i, step) in self.steps.iter().enumerate() {
                for s in &step.inputs {
                    readers.entry(*s).or_default().push(i);
                }
            }
            let only_reader = |slot: Slot| match readers.get(&slot).map(Vec::as_slice) {
                Some(&[r]) if !self.keep.contains(&slot) => Some(r),
                _ => None,
            };
            let mut fused = None;
            for (i, step) in self.steps.iter().enumerate() {
                let [out] = step.outputs[..] else { continue };
                let Some(r) = only_reader(out) else { continue };
                let reader = &self.steps[r];
                if let Some((pads, value)) = step.op.spatial_pad() {
                    if let Some(op) = reader.op.with_pad(pads, value) {
                        if reader.inputs.len() == 1 {
                            fused = Some(Fused::PadIntoReader {
                                pad: i,
                                conv: r,
                                op,
                            });
                            break;
                        }
                    }
                    continue;
                }
                let op = if let Some(act) = reader.op.activation() {
                    step.op.with_activation(act)
                } else if reader.op.is_add() {
                    self.bias_of(reader, out)
                        .and_then(|b| step.op.with_bias(&b))
                } else {
                    None
                };
                if let Some(op) = op {
                    fused = Some(Fused::ReaderIntoConv {
                        conv: i,
                        reader: r,
                        op,
                    });
                    break;
                }
            }
            match fused {
                None => return,
                Some(Fused::ReaderIntoConv { conv, reader, op }) => {
                    let reader = self.steps.remove(reader);
                    let conv = &mut self.steps[conv];
                    conv.op = op;
                    conv.outputs = reader.outputs;
                }
                Some(Fused::PadIntoReader { pad, conv, op }) => {
                    let x = self.steps[pad].inputs[0];
                    let conv = &mut self.steps[conv];
                    conv.op = op;
                    conv.inputs = vec![x];
                    self.steps.remove(pad);
                }
            }
        }
    }

    /// The bias an Add step adds to `slot`: its other input, a constant with one value per
    /// channel (shape `[C]`, or `[1, …, 1, C]`).
    fn bias_of(&self, add: &Step, slot: Slot) -> Option<Vec<f32>> {
        let [a, b] = add.inputs[..] else { return None };
        let other = if a == slot { b } else { a };
        if other == slot {
            return None;
        }
        let Some(Value::F(c)) = self.known.get(&other) else {
            return None;
        };
        let dims = c.dims();
        if dims.is_empty() || dims[..dims.len() - 1].iter().any(|&d| d != 1) {
            return None;
        }
        c.flatten_all().ok()?.to_vec1::<f32>().ok()
    }
}

enum Fused {
    /// `conv`'s only reader `reader` (a bias Add or an activation) becomes part of it.
    ReaderIntoConv { conv: usize, reader: usize, op: Op },
    /// A Pad read only by the window op `conv`, which pads while it reads instead.
    PadIntoReader { pad: usize, conv: usize, op: Op },
}

fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// The constant `c'` with `transpose(c', perm) == c` (after `c` is given leading 1-dims up to
/// the permutation's rank, as broadcasting would): what an op must add to the untransposed
/// value to add `c` to the transposed one.
fn untranspose_const(c: &Tensor, perm: &[usize]) -> Option<Tensor> {
    let rank = perm.len();
    if c.rank() > rank {
        return None;
    }
    let mut dims = vec![1; rank - c.rank()];
    dims.extend_from_slice(c.dims());
    let mut inverse = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    c.reshape(dims)
        .ok()?
        .permute(inverse)
        .ok()?
        .contiguous()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn an_untransposed_constant_transposes_back_to_the_original() {
        let c = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let perm = [0, 2, 3, 1];
        let back = untranspose_const(&c, &perm).unwrap();
        assert_eq!(back.dims(), &[1, 3, 1, 2]);
        let again = back.permute(perm.to_vec()).unwrap();
        assert_eq!(again.dims(), &[1, 1, 2, 3]);
        assert_eq!(
            again.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            c.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
