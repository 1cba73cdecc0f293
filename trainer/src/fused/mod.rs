//! The fused training engine: the VRNN's recurrent chain as one candle custom op with a
//! hand-written backward pass (`scan`), so that a training step is a few large matrix
//! products and one pass over the sequence instead of dozens of small graph operations per
//! frame. What does not depend on h_{t-1} stays in the candle graph, batched over every
//! frame at once: phi_x and its parts of the encoder's first layer and of the gates before
//! the scan (one product, `dense`); the prior and the decoder after it, and the loss terms
//! as ops of their own (`loss`). CPU only; other devices keep the reference graph.

pub(crate) mod buffers;
pub mod dense;
mod gemm;
pub mod loss;
pub mod scan;

use std::sync::Mutex;

use anyhow::Result;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;
pub(crate) use vrnn_core::kernel::wide;
use vrnn_core::names::{self, bias, layer, weight, MU, SIGMA};
use vrnn_core::ModelConfig;

use crate::net::Net;
pub use scan::{Dims, LatentDims};

/// The floats the fused ops are written for: f32 to train, f64 to check against finite
/// differences.
pub trait Real: num_traits::Float + 'static + Send + Sync {
    /// The logistic function, tanh, softplus (ln(1 + e^x)) and ln: in f32 vrnn-core's
    /// branch-free forms (1e-6 relative; the compiler vectorises them, where libm's cost a
    /// call each), in f64 the exact ones, so that finite differences check the gradients'
    /// formulas.
    fn gate_sigmoid(self) -> Self;
    fn gate_tanh(self) -> Self;
    fn fast_softplus(self) -> Self;
    /// For positive x only.
    fn fast_ln(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn gate_sigmoid(self) -> f32 {
        vrnn_core::kernel::sigmoid(self)
    }

    #[inline(always)]
    fn gate_tanh(self) -> f32 {
        vrnn_core::kernel::tanh(self)
    }

    #[inline(always)]
    fn fast_softplus(self) -> f32 {
        vrnn_core::kernel::softplus(self)
    }

    #[inline(always)]
    fn fast_ln(self) -> f32 {
        vrnn_core::kernel::ln(self)
    }
}

impl Real for f64 {
    fn gate_sigmoid(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }

    fn gate_tanh(self) -> f64 {
        self.tanh()
    }

    fn fast_softplus(self) -> f64 {
        self.max(0.0) + (-self.abs()).exp().ln_1p()
    }

    fn fast_ln(self) -> f64 {
        self.ln()
    }
}

pub(crate) fn c<T: Real>(v: f64) -> T {
    T::from(v).expect("a representable constant")
}

/// Which implementation runs the recurrent chain in training and evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The fused scan with its own backward pass (CPU; other devices use the reference).
    Fused,
    /// The candle graph built op by op, per frame: the path the fused one is tested against.
    Reference,
}

impl Engine {
    /// The engine that runs on `device`: the fused one is CPU-only.
    pub fn on(self, device: &candle_core::Device) -> Engine {
        if device.is_cpu() {
            self
        } else {
            Engine::Reference
        }
    }
}

/// The scan's results, `[batch * steps, .]` rows b * steps + t, as the reference graph
/// gives them.
pub struct ScanOutput {
    pub h_prev: Tensor,
    /// The posterior and phi_z(z) when the model has a latent.
    pub latent: Option<Posterior>,
}

pub struct Posterior {
    /// mu_z, then sigma_z: `[rows, 2z]`.
    pub mu_sigma: Tensor,
    /// phi_z(z_t) and h_{t-1} side by side: the decoder's input.
    pub decoder_input: Tensor,
}

pub fn dims(config: &ModelConfig, batch: usize, steps: usize) -> Dims {
    let widths = |m: vrnn_core::config::Mlp| vec![m.width; m.layers];
    Dims {
        batch,
        steps,
        hidden: config.hidden,
        cell: config.cell,
        latent: config.has_latent().then(|| LatentDims {
            encoder: widths(config.encoder),
            z: config.latent_size,
            phi_z: widths(config.phi_z),
        }),
        threads: candle_core::utils::get_num_threads(),
    }
}

/// The chain over `px` (`[batch * steps, phi_x width]`, rows b * steps + t) with posterior
/// noise `eps` (`[steps, batch, latent]`).
pub fn scan(
    net: &Net,
    px: &Tensor,
    batch: usize,
    steps: usize,
    eps: &Tensor,
) -> Result<ScanOutput> {
    let c = &net.config;
    let d = dims(c, batch, steps);
    let (wx, hid) = (c.phi_x.width, c.hidden);
    let ih = net.var(names::RNN_WEIGHT_IH);
    // The phi_x parts of the gates and of the encoder's first layer, with their biases:
    // one product over every frame, straight into the scan's input rows.
    let (mut w_in, mut b_in) = (vec![ih.narrow(1, 0, wx)?], vec![net.var(names::RNN_BIAS_IH)]);
    let mut pieces = Vec::new();
    let noise = if c.has_latent() {
        let first = net.var(&weight(names::ENCODER, &layer(0)));
        w_in.push(first.narrow(1, 0, wx)?);
        b_in.push(net.var(&bias(names::ENCODER, &layer(0))));
        pieces.push(first.narrow(1, wx, hid)?);
        let mut linear = |module: &str, part: &str| {
            pieces.push(net.var(&weight(module, part)).clone());
            pieces.push(net.var(&bias(module, part)).clone());
        };
        for i in 1..c.encoder.layers {
            linear(names::ENCODER, &layer(i));
        }
        linear(names::ENCODER, MU);
        linear(names::ENCODER, SIGMA);
        for i in 0..c.phi_z.layers {
            linear(names::PHI_Z, &layer(i));
        }
        pieces.push(ih.narrow(1, wx, c.phi_z.width)?);
        eps.flatten_all()?.to_vec1::<f32>()?
    } else {
        Vec::new()
    };
    let w_in = Tensor::cat(&w_in, 0)?.contiguous()?;
    let input = dense::linear(px, &w_in, &Tensor::cat(&b_in, 0)?, false)?;
    pieces.push(net.var(names::RNN_WEIGHT_HH).clone());
    pieces.push(net.var(names::RNN_BIAS_HH).clone());
    let flat = pieces.iter().map(|p| p.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
    let weights = Tensor::cat(&flat, 0)?;
    let (z, layout) = (c.z_size(), d.output_layout());
    // Rows in and rows out, as the products around it have them: a reshape would be one
    // more node whose gradient candle zero-fills and adds.
    let out = input.apply_op2(&weights, ScanOp { dims: d, eps: noise, saved: Mutex::new(None) })?;
    let block = |(col, width): (usize, usize)| out.narrow(1, col, width);
    let latent = if c.has_latent() {
        Some(Posterior {
            mu_sigma: block((layout.mu.0, 2 * z))?,
            decoder_input: block((0, layout.h.0 + layout.h.1))?,
        })
    } else {
        None
    };
    Ok(ScanOutput { h_prev: block(layout.h)?, latent })
}

/// The fewest sequences worth a piece of their own. The batch is cut into one piece per
/// thread (sequences are independent in the scan) that run side by side, their weight
/// gradients summed in piece order: deterministic for a given thread count, equal across
/// thread counts to rounding.
const MIN_PIECE: usize = 8;

struct ScanOp {
    dims: Dims,
    eps: Vec<f32>,
    /// The forward pass's activations per piece, for the backward pass (PyTorch's saved
    /// tensors).
    saved: Mutex<Option<Vec<scan::Saved<f32>>>>,
}

/// One piece of the batch: its dimensions and its first sequence.
struct Piece {
    dims: Dims,
    first: usize,
}

impl ScanOp {
    fn pieces(&self) -> Vec<Piece> {
        let d = &self.dims;
        let count = d.threads.min(d.batch.div_ceil(MIN_PIECE)).max(1);
        let size = d.batch.div_ceil(count);
        // Threads left over when there are fewer pieces than threads go to each piece's
        // matrix products.
        let threads = (d.threads / count).max(1);
        (0..d.batch.div_ceil(size))
            .map(|i| {
                let first = i * size;
                let batch = size.min(d.batch - first);
                Piece { dims: Dims { batch, threads, ..d.clone() }, first }
            })
            .collect()
    }

    /// The piece's posterior noise, `[steps, piece batch, z]`.
    fn piece_eps(&self, p: &Piece) -> Vec<f32> {
        let z = p.dims.latent.as_ref().map_or(0, |l| l.z);
        let row = self.dims.batch * z;
        (0..self.dims.steps)
            .flat_map(|t| &self.eps[t * row + p.first * z..][..p.dims.batch * z])
            .copied()
            .collect()
    }
}

/// The f32 values of a custom op's argument, which the fused ops need contiguous.
fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{what} must be contiguous"),
    }
}

/// Runs `f` on the f32 values of contiguous CPU tensors, in place (no copy); each tensor
/// comes with what to call it in an error.
pub(crate) fn with_values<const N: usize, R>(
    tensors: [(&Tensor, &str); N],
    f: impl FnOnce([&[f32]; N]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let held = tensors.map(|(t, what)| (t.storage_and_layout(), what));
    let mut values: [&[f32]; N] = [&[]; N];
    for (v, ((storage, layout), what)) in values.iter_mut().zip(&held) {
        *v = match &**storage {
            Storage::Cpu(s) => contiguous(s, layout, what)?,
            _ => candle_core::bail!("{what} must be on the CPU"),
        };
    }
    f(values)
}

impl CustomOp2 for ScanOp {
    fn name(&self) -> &'static str {
        "vrnn-fused-scan"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (input, weights) = (
            contiguous(s1, l1, "the fused scan's input")?,
            contiguous(s2, l2, "the fused scan's weights")?,
        );
        let d = &self.dims;
        let (kin, kout) = (d.steps * d.input_width(), d.steps * d.output_width());
        let pieces = self.pieces();
        let mut out = buffers::zeros(d.batch * kout);
        let saved = out
            .par_chunks_mut(pieces[0].dims.batch * kout)
            .zip(pieces.par_iter())
            .map(|(out, p)| {
                let input = &input[p.first * kin..][..p.dims.batch * kin];
                let eps = self.piece_eps(p);
                wide(
                    #[inline(always)]
                    || scan::forward(&p.dims, weights, input, &eps, out),
                )
            })
            .collect();
        *self.saved.lock().expect("scan state poisoned") = Some(saved);
        Ok((CpuStorage::F32(out), Shape::from((d.batch * d.steps, d.output_width()))))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let saved = self.saved.lock().expect("scan state poisoned").take();
        let Some(saved) = saved else {
            candle_core::bail!("the fused scan's backward pass ran twice or before its forward")
        };
        let grad = grad_res.contiguous()?;
        let d = &self.dims;
        let (kin, kout) = (d.steps * d.input_width(), d.steps * d.output_width());
        let pieces = self.pieces();
        let mut gi = buffers::zeros(arg1.elem_count());
        let parts: Vec<Vec<f32>> = with_values(
            [(&grad, "the fused scan's output gradient"), (arg2, "the fused scan's weights")],
            |[grad, weights]| {
                Ok(gi
                    .par_chunks_mut(pieces[0].dims.batch * kin)
                    .zip(pieces.par_iter())
                    .zip(saved.into_par_iter())
                    .map(|((gi, p), saved)| {
                        let grad = &grad[p.first * kout..][..p.dims.batch * kout];
                        let eps = self.piece_eps(p);
                        wide(
                            #[inline(always)]
                            || scan::backward(&p.dims, weights, &eps, &saved, grad, gi),
                        )
                    })
                    .collect())
            },
        )?;
        let mut parts = parts.into_iter();
        // The pieces' weight gradients summed in piece order, each piece's input gradient
        // written in place by it.
        let mut gw = parts.next().expect("a batch has a piece");
        for part in parts {
            buffers::add_into(&mut gw, &part);
        }
        let dev = arg1.device();
        Ok((
            Some(Tensor::from_vec(gi, arg1.shape(), dev)?),
            Some(Tensor::from_vec(gw, arg2.shape(), dev)?),
        ))
    }
}
