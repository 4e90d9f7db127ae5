//! Load-time rewrites of a graph's steps that change how it runs, never what it computes.
//!
//! Graphs converted from ONNX (NanoDet) are NCHW models wrapped in transposes: every conv is
//! `Transpose(to NHWC) → Conv2D → Add(bias) → Transpose(to NCHW)`, and the activations, pads
//! and concatenations between convs run on the NCHW view. Run as written, each conv first
//! copies a strided view into a contiguous buffer and each activation walks one. Two passes:
//!
//! 1. [`Rewrite::sink_transposes`] moves every transpose past the element-wise ops, pads and concats
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
use crate::kernels::gemm::Activation;

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

    /// Folds, until none is left, what a conv's kernel can do while it reads or writes:
    /// - a spatial Pad whose only reader is a conv (zeros) or a max pool (-inf);
    /// - the conv's only reader: an activation, or an Add of a per-channel constant (a bias)
    ///   or of another tensor (a residual, which the GEMM adds in its epilogue);
    /// - MobileNetV3's hard-swish (`x * (1/6) * relu6(x + 3)`: a Mul and an Add reading x,
    ///   a Relu6, a Mul) and hard-sigmoid (`relu6(x + 3) * (1/6)`) written out after it.
    fn fuse_into_convs(&mut self) {
        while let Some(f) = self.next_fusion() {
            let node = self.steps[f.into].node.clone();
            self.steps[f.into] = Step {
                node,
                op: f.op,
                inputs: f.inputs,
                outputs: f.outputs,
                release: Vec::new(),
            };
            let mut gone = f.remove;
            gone.sort_unstable();
            for i in gone.into_iter().rev() {
                self.steps.remove(i);
            }
        }
    }

    fn next_fusion(&self) -> Option<Fusion> {
        let mut readers: HashMap<Slot, Vec<usize>> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            for s in &step.inputs {
                readers.entry(*s).or_default().push(i);
            }
        }
        let readers_of = |slot: Slot| -> &[usize] {
            if self.keep.contains(&slot) {
                return &[];
            }
            readers.get(&slot).map_or(&[], Vec::as_slice)
        };
        let only_reader = |slot: Slot| match readers_of(slot) {
            &[r] => Some(r),
            _ => None,
        };
        for (i, step) in self.steps.iter().enumerate() {
            let [out] = step.outputs[..] else { continue };
            if let Some((pads, value)) = step.op.spatial_pad() {
                let Some(r) = only_reader(out) else { continue };
                let reader = &self.steps[r];
                if let (Some(op), 1) = (reader.op.with_pad(pads, value), reader.inputs.len()) {
                    return Some(Fusion {
                        into: r,
                        op,
                        inputs: step.inputs.clone(),
                        outputs: reader.outputs.clone(),
                        remove: vec![i],
                    });
                }
                continue;
            }
            if let Some(f) = self.hard_activation(i, &readers_of) {
                return Some(f);
            }
            let Some(r) = only_reader(out) else { continue };
            let reader = &self.steps[r];
            let into_conv = |op: Option<Op>| {
                op.map(|op| Fusion {
                    into: i,
                    op,
                    inputs: step.inputs.clone(),
                    outputs: reader.outputs.clone(),
                    remove: vec![r],
                })
            };
            if let Some(act) = reader.op.activation() {
                if let Some(f) = into_conv(step.op.with_activation(act)) {
                    return Some(f);
                }
            } else if reader.op.is_add() {
                if let Some(b) = self.bias_of(reader, out) {
                    if let Some(f) = into_conv(step.op.with_bias(&b)) {
                        return Some(f);
                    }
                } else if let Some(f) = self.residual(i, r) {
                    return Some(f);
                }
            }
        }
        None
    }

    /// Conv `i`'s output read only by Add `r` with another tensor computed at run time: the
    /// conv adds it in its epilogue, at the Add's place in the order (where both are ready).
    fn residual(&self, i: usize, r: usize) -> Option<Fusion> {
        let (conv, add) = (&self.steps[i], &self.steps[r]);
        let [a, b] = add.inputs[..] else { return None };
        let other = if a == conv.outputs[0] { b } else { a };
        if other == conv.outputs[0] || self.known.contains_key(&other) || conv.inputs.len() != 1 {
            return None;
        }
        Some(Fusion {
            into: r,
            op: conv.op.with_residual()?,
            inputs: vec![conv.inputs[0], other],
            outputs: add.outputs.clone(),
            remove: vec![i],
        })
    }

    /// Conv `i` followed by hard-swish or hard-sigmoid written out in element-wise ops.
    fn hard_activation<'r>(
        &self,
        i: usize,
        readers_of: &dyn Fn(Slot) -> &'r [usize],
    ) -> Option<Fusion> {
        let conv = &self.steps[i];
        let x = conv.outputs[0];
        let step = |j: usize| &self.steps[j];
        let out = |j: usize| self.steps[j].outputs[0];
        let scalar = |j: usize, slot: Slot| self.scalar_operand(step(j), slot);
        let is_add_3 = |j: usize, slot| step(j).op.is_add() && scalar(j, slot) == Some(3.0);
        // 1/6 as stored: float16 weights make it 0.16663.
        let sixth = |j: usize, slot| {
            let v = scalar(j, slot).filter(|v| (v * 6.0 - 1.0).abs() < 1e-3)?;
            step(j).op.is_mul().then_some(v)
        };
        let is_relu6 = |j: usize| step(j).op.activation() == Some(Activation::Relu6);
        let only = |slot: Slot| match readers_of(slot) {
            &[r] => Some(r),
            _ => None,
        };
        let fusion = |act, last: usize, remove: Vec<usize>| {
            Some(Fusion {
                into: i,
                op: conv.op.with_activation(act)?,
                inputs: conv.inputs.clone(),
                outputs: self.steps[last].outputs.clone(),
                remove,
            })
        };
        match *readers_of(x) {
            // x + 3 -> relu6 -> * 1/6
            [add] if is_add_3(add, x) => {
                let relu = only(out(add)).filter(|&j| is_relu6(j))?;
                let mul = only(out(relu))?;
                let scale = sixth(mul, out(relu))?;
                fusion(Activation::HardSigmoid { scale }, mul, vec![add, relu, mul])
            }
            // (x * 1/6) * relu6(x + 3), the two readers in either order
            [p, q] => {
                let (add, scale) = if is_add_3(p, x) { (p, q) } else { (q, p) };
                if !is_add_3(add, x) {
                    return None;
                }
                let v = sixth(scale, x)?;
                let relu = only(out(add)).filter(|&j| is_relu6(j))?;
                let mul = only(out(relu))?;
                let m = step(mul);
                let reads = |s: Slot| m.inputs.contains(&s);
                if !m.op.is_mul() || !reads(out(scale)) || !reads(out(relu)) {
                    return None;
                }
                if only(out(scale)) != Some(mul) {
                    return None;
                }
                fusion(
                    Activation::HardSwish { scale: v },
                    mul,
                    vec![add, scale, relu, mul],
                )
            }
            _ => None,
        }
    }

    /// The other operand of a binary step reading `slot`, when it is a one-value constant.
    fn scalar_operand(&self, step: &Step, slot: Slot) -> Option<f32> {
        let [a, b] = step.inputs[..] else { return None };
        let other = if a == slot { b } else { a };
        match self.known.get(&other) {
            Some(Value::F(c)) if c.elem_count() == 1 => {
                c.flatten_all().ok()?.to_vec1().ok()?.first().copied()
            }
            _ => None,
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

/// Steps merged into one: step `into` becomes `op` reading `inputs` and writing `outputs`,
/// and the steps in `remove` are dropped.
struct Fusion {
    into: usize,
    op: Op,
    inputs: Vec<Slot>,
    outputs: Vec<Slot>,
    remove: Vec<usize>,
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
