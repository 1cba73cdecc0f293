//! Adam with global-norm gradient clipping. Its moments are plain tensors so that a
//! checkpoint can save them and a resumed run continues exactly.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::Tensor;

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
        for (i, (_, var)) in net.vars.iter().enumerate() {
            let g = (&gs[i] * scale)?;
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let denom = ((&self.v[i] / c2)?.sqrt()? + self.eps)?;
            let delta = ((&self.m[i] / c1)? / denom)?;
            var.set(&(var.as_tensor() - (delta * self.lr)?)?)?;
        }
        Ok(Update::Applied { grad_norm: norm })
    }
}
