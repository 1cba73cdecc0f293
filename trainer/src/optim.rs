//! Adam with global-norm gradient clipping. Its moments are plain tensors so that a
//! checkpoint can save them and a resumed run continues exactly.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};

use rayon::prelude::*;

use crate::fused::buffers::{self, CHUNK};
use crate::fused::{wide, with_values};
use crate::net::Net;

pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Updates applied so far (for bias correction).
    pub t: u64,
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

/// What one update did.
pub enum Update {
    Applied {
        grad_norm: f64,
    },
    /// The gradient was not finite: nothing changed.
    Skipped,
}

impl Adam {
    pub fn new(net: &Net, lr: f64) -> Result<Adam> {
        let zeros = || -> Result<Vec<Tensor>> {
            net.vars.iter().map(|(_, v)| Ok(v.as_tensor().zeros_like()?)).collect()
        };
        Ok(Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 0, m: zeros()?, v: zeros()? })
    }

    /// Clips the gradients to `max_norm` (global L2 norm) and applies one Adam update.
    pub fn step(&mut self, net: &Net, grads: &GradStore, max_norm: f64) -> Result<Update> {
        let mut gs = Vec::with_capacity(net.vars.len());
        for (_, var) in &net.vars {
            gs.push(match grads.get(var.as_tensor()) {
                Some(g) => g.clone(),
                None => var.as_tensor().zeros_like()?,
            });
        }
        let squares: Vec<Tensor> =
            gs.iter().map(|g| g.sqr()?.sum_all()).collect::<Result<_, _>>()?;
        let norm = (Tensor::stack(&squares, 0)?.sum_all()?.to_scalar::<f32>()? as f64).sqrt();
        if !norm.is_finite() {
            return Ok(Update::Skipped);
        }
        let scale = if norm > max_norm { max_norm / norm } else { 1.0 };
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        let k = Coefficients { scale, b1, b2, c1, c2, eps: self.eps, lr: self.lr };
        for (i, (_, var)) in net.vars.iter().enumerate() {
            let p = Parameter { w: var.as_tensor(), g: &gs[i], m: &self.m[i], v: &self.v[i] };
            let one_pass = matches!(p.w.device(), Device::Cpu)
                && [p.w, p.g, p.m, p.v]
                    .iter()
                    .all(|t| t.is_contiguous() && t.dtype() == DType::F32);
            let (m, v, w) = if one_pass { update_cpu(&k, &p)? } else { update_graph(&k, &p)? };
            (self.m[i], self.v[i]) = (m, v);
            var.set(&w)?;
        }
        Ok(Update::Applied { grad_norm: norm })
    }
}

/// One update's constants: the clipping scale, Adam's betas, their bias corrections
/// 1 - beta^t, epsilon and the learning rate.
struct Coefficients {
    scale: f64,
    b1: f64,
    b2: f64,
    c1: f64,
    c2: f64,
    eps: f64,
    lr: f64,
}

/// One parameter, its gradient and its two moments.
struct Parameter<'a> {
    w: &'a Tensor,
    g: &'a Tensor,
    m: &'a Tensor,
    v: &'a Tensor,
}

/// The new (m, v, parameter) by candle's operations, on any device.
fn update_graph(k: &Coefficients, p: &Parameter) -> Result<(Tensor, Tensor, Tensor)> {
    let g = (p.g * k.scale)?;
    let m = ((p.m * k.b1)? + (&g * (1.0 - k.b1))?)?;
    let v = ((p.v * k.b2)? + (g.sqr()? * (1.0 - k.b2))?)?;
    let denom = ((&v / k.c2)?.sqrt()? + k.eps)?;
    let delta = ((&m / k.c1)? / denom)?;
    let w = (p.w - (delta * k.lr)?)?;
    Ok((m, v, w))
}

/// The same for a contiguous f32 CPU parameter in one pass (candle's operations make a
/// dozen passes and as many tensors). Each step rounds as `update_graph` does, so both give
/// the same bits: candle's tensor-by-scalar operation is `x * (a as f32) + (b as f32)`,
/// with no fused multiply-add, and a division by a scalar multiplies by its inverse.
fn update_cpu(k: &Coefficients, p: &Parameter) -> Result<(Tensor, Tensor, Tensor)> {
    let (w, g, m, v) = (p.w, p.g, p.m, p.v);
    let f = |x: f64| x as f32;
    let (scale, b1, b2, eps, lr) = (f(k.scale), f(k.b1), f(k.b2), f(k.eps), f(k.lr));
    let (one_minus_b1, one_minus_b2) = (f(1.0 - k.b1), f(1.0 - k.b2));
    let (inv_c1, inv_c2) = (f(1.0 / k.c1), f(1.0 / k.c2));
    let n = w.elem_count();
    let (mut m1, mut v1, mut w1) = (buffers::zeros(n), buffers::zeros(n), buffers::zeros(n));
    let args = [
        (w, "a parameter"),
        (g, "a gradient"),
        (m, "Adam's first moment"),
        (v, "Adam's second moment"),
    ];
    with_values(args, |[w, g, m, v]| {
        // Chunks on rayon's threads: each element's update stands alone, so the bits do
        // not depend on the cut.
        let outputs = m1.par_chunks_mut(CHUNK).zip(v1.par_chunks_mut(CHUNK));
        outputs.zip(w1.par_chunks_mut(CHUNK)).enumerate().for_each(|(i, ((m1, v1), w1))| {
            let (start, n) = (i * CHUNK, m1.len());
            // Equal-length slices, so that the loop runs without bounds checks and
            // vectorises (the square root and division included).
            let (w, g, m, v) =
                (&w[start..][..n], &g[start..][..n], &m[start..][..n], &v[start..][..n]);
            let (v1, w1) = (&mut v1[..n], &mut w1[..n]);
            wide(
                #[inline(always)]
                || {
                    for i in 0..n {
                        let g = g[i] * scale + 0.0;
                        m1[i] = (m[i] * b1 + 0.0) + (g * one_minus_b1 + 0.0);
                        v1[i] = (v[i] * b2 + 0.0) + (g * g * one_minus_b2 + 0.0);
                        let denom = (v1[i] * inv_c2 + 0.0).sqrt() + eps;
                        let delta = (m1[i] * inv_c1 + 0.0) / denom;
                        w1[i] = w[i] - (delta * lr + 0.0);
                    }
                },
            )
        });
        Ok(())
    })?;
    let tensor = |values: Vec<f32>| Tensor::from_vec(values, w.shape(), w.device());
    Ok((tensor(m1)?, tensor(v1)?, tensor(w1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass update must give candle's bits, or resuming a run on another device
    /// (or an engine comparison) would drift.
    #[test]
    fn one_pass_update_matches_candle_bit_for_bit() -> Result<()> {
        let dev = Device::Cpu;
        let shape = (37, 11);
        let mut w = Tensor::randn(0f32, 1.0, shape, &dev)?;
        let (mut m, mut v) = (w.zeros_like()?, w.zeros_like()?);
        let (mut w2, mut m2, mut v2) = (w.clone(), m.clone(), v.clone());
        for t in 1..=5 {
            let g = (Tensor::randn(0f32, 1.0, shape, &dev)? * 10f64.powi(t - 3))?;
            let (b1, b2) = (0.9f64, 0.999f64);
            let k = Coefficients {
                scale: 0.7,
                b1,
                b2,
                c1: 1.0 - b1.powi(t),
                c2: 1.0 - b2.powi(t),
                eps: 1e-8,
                lr: 3e-4,
            };
            (m, v, w) = update_graph(&k, &Parameter { w: &w, g: &g, m: &m, v: &v })?;
            (m2, v2, w2) = update_cpu(&k, &Parameter { w: &w2, g: &g, m: &m2, v: &v2 })?;
            for (a, b) in [(&m, &m2), (&v, &v2), (&w, &w2)] {
                let bits = |t: &Tensor| -> Result<Vec<u32>> {
                    Ok(t.flatten_all()?.to_vec1::<f32>()?.iter().map(|x| x.to_bits()).collect())
                };
                assert_eq!(bits(a)?, bits(b)?, "step {t}");
            }
        }
        Ok(())
    }
}
