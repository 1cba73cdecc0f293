//! The VRNN in candle, for training. It mirrors vrnn-core exactly: the same configuration
//! type, the same tensor names (vrnn_core::names) and the same equations, batched over
//! sequences. Tested against vrnn-core to 1e-4.

use std::collections::HashMap;

use anyhow::{Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor, Var, D};
use vrnn_core::config::{Latent, Mlp, Output};
use vrnn_core::names::{self, bias, layer, tensor_specs, weight, LOGITS, MU, SIGMA};
use vrnn_core::{Cell, ModelConfig, ModelFile, Rng};

use crate::fused::loss::HALF_LN_2PI;
use crate::fused::scan::SIGMA_FLOOR;
use crate::fused::{self, Engine, Posterior, ScanOutput};

pub struct Net {
    pub config: ModelConfig,
    /// In `tensor_specs` order, so that files and checkpoints list them the same way.
    pub vars: Vec<(String, Var)>,
    index: HashMap<String, usize>,
    /// What runs the recurrent chain in `forward`.
    pub engine: Engine,
}

/// Per-frame loss terms of a batch, `[batch, steps]`.
pub struct Losses {
    pub kl: Tensor,
    pub nll: Tensor,
}

/// Every intermediate the equivalence test compares, `[batch * steps, .]` row b*T + t.
pub struct Trace {
    pub h_prev: Tensor,
    pub mu0: Option<Tensor>,
    /// The prior's sigma head before its softplus (`Trace::sigma0` gives sigma).
    pub sigma0_raw: Option<Tensor>,
    pub mu_z: Option<Tensor>,
    pub sigma_z: Option<Tensor>,
}

impl Trace {
    pub fn sigma0(&self) -> Result<Option<Tensor>> {
        self.sigma0_raw.as_ref().map(sigma_of_raw).transpose()
    }
}

/// A voice's recurrent state for `Net::generate_step`, `[1, hidden]` each.
pub struct Voice {
    pub h: Tensor,
    pub c: Tensor,
}

/// log(1 + e^x), stable for large |x|.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?)
}

/// A Gaussian head's deviation from its raw output: softplus, then the floor.
fn sigma_of_raw(raw: &Tensor) -> Result<Tensor> {
    Ok((softplus(raw)? + SIGMA_FLOOR)?)
}

fn log_sum_exp(x: &Tensor, dim: usize) -> Result<Tensor> {
    let max = x.max_keepdim(dim)?.detach();
    Ok((x.broadcast_sub(&max)?.exp()?.sum_keepdim(dim)?.log()? + max)?.squeeze(dim)?)
}

impl Net {
    fn from_values(config: ModelConfig, values: Vec<(String, Tensor)>) -> Result<Net> {
        let vars: Vec<(String, Var)> = values
            .into_iter()
            .map(|(n, t)| Ok((n, Var::from_tensor(&t)?)))
            .collect::<Result<_>>()?;
        let index = vars.iter().enumerate().map(|(i, (n, _))| (n.clone(), i)).collect();
        Ok(Net { config, vars, index, engine: Engine::Fused })
    }

    /// Fresh weights, uniform in +-1/sqrt(fan_in) (PyTorch's default), drawn from `seed`.
    pub fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Net> {
        config.validate().map_err(anyhow::Error::msg)?;
        let mut rng = Rng::new(seed);
        let values = tensor_specs(config)
            .into_iter()
            .map(|s| {
                let fan_in = if s.shape.len() == 2 { s.shape[1] } else { config.hidden };
                let bound = 1.0 / (fan_in as f32).sqrt();
                let n: usize = s.shape.iter().product();
                let v: Vec<f32> = (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) * bound).collect();
                Ok((s.name, Tensor::from_vec(v, s.shape, device)?))
            })
            .collect::<Result<_>>()?;
        Self::from_values(config.clone(), values)
    }

    pub fn from_file(file: &ModelFile, device: &Device) -> Result<Net> {
        let values = tensor_specs(&file.config)
            .into_iter()
            .map(|s| {
                Ok((s.name.clone(), Tensor::from_slice(file.tensor(&s.name), s.shape, device)?))
            })
            .collect::<Result<_>>()?;
        Self::from_values(file.config.clone(), values)
    }

    pub fn to_file(&self, config: &ModelConfig) -> Result<ModelFile> {
        let tensors = self
            .vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().flatten_all()?.to_vec1::<f32>()?)))
            .collect::<Result<HashMap<_, _>>>()?;
        ModelFile::new(config.clone(), tensors, "trained weights").context("exporting the model")
    }

    pub fn var(&self, name: &str) -> &Tensor {
        self.vars[self.index[name]].1.as_tensor()
    }

    pub fn parameter_count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    fn linear(&self, module: &str, part: &str, x: &Tensor) -> Result<Tensor> {
        self.layer(module, part, x, false)
    }

    /// `x w^T + b`, through a ReLU when `relu`: one op of its own on the fused engine.
    fn layer(&self, module: &str, part: &str, x: &Tensor, relu: bool) -> Result<Tensor> {
        let (w, b) = (self.var(&weight(module, part)), self.var(&bias(module, part)));
        if self.engine.on(x.device()) == Engine::Fused {
            return Ok(fused::dense::linear(x, w, b, relu)?);
        }
        let y = x.matmul(&w.t()?)?.broadcast_add(b)?;
        Ok(if relu { y.relu()? } else { y })
    }

    fn mlp(&self, module: &str, spec: Mlp, x: &Tensor) -> Result<Tensor> {
        let mut v = x.clone();
        for i in 0..spec.layers {
            v = self.layer(module, &layer(i), &v, true)?;
        }
        Ok(v)
    }

    fn gaussian(&self, module: &str, spec: Mlp, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (mu, raw) = self.gaussian_raw(module, spec, x)?;
        Ok((mu, sigma_of_raw(&raw)?))
    }

    /// A Gaussian head's mu and its sigma before the softplus, which the fused losses take.
    fn gaussian_raw(&self, module: &str, spec: Mlp, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = self.mlp(module, spec, x)?;
        Ok((self.linear(module, MU, &t)?, self.linear(module, SIGMA, &t)?))
    }

    fn cell(&self, x: &Tensor, h: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
        let gx = x
            .matmul(&self.var(names::RNN_WEIGHT_IH).t()?)?
            .broadcast_add(self.var(names::RNN_BIAS_IH))?;
        let gh = h
            .matmul(&self.var(names::RNN_WEIGHT_HH).t()?)?
            .broadcast_add(self.var(names::RNN_BIAS_HH))?;
        let sig = candle_nn::ops::sigmoid;
        match self.config.cell {
            Cell::Lstm => {
                let g = (gx + gh)?.chunk(4, 1)?;
                let c = ((sig(&g[1])? * c)? + (sig(&g[0])? * g[2].tanh()?)?)?;
                let h = (sig(&g[3])? * c.tanh()?)?;
                Ok((h, c))
            }
            Cell::Gru => {
                let (x3, h3) = (gx.chunk(3, 1)?, gh.chunk(3, 1)?);
                let r = sig(&(&x3[0] + &h3[0])?)?;
                let z = sig(&(&x3[1] + &h3[1])?)?;
                let n = (&x3[2] + (r * &h3[2])?)?.tanh()?;
                let h = (&n + (z * (h - &n)?)?)?;
                Ok((h, c.clone()))
            }
        }
    }

    /// A fresh voice's zero state.
    pub fn voice(&self, device: &Device) -> Result<Voice> {
        let h = Tensor::zeros((1, self.config.hidden), DType::F32, device)?;
        Ok(Voice { c: h.clone(), h })
    }

    /// One generation step of one voice, the same function as vrnn-core's
    /// `Generator::step_with_noise` (`eps_z` `[1, latent]`, `eps_x` `[1, frame]`, `u` picks
    /// the mixture component): returns the normalised frame and advances `voice`.
    pub fn generate_step(
        &self,
        voice: &mut Voice,
        eps_z: &Tensor,
        eps_x: &Tensor,
        u: f32,
        temperature: f64,
        noise: f64,
    ) -> Result<Tensor> {
        let c = &self.config;
        let f = c.frame_dim();
        let pz = if c.has_latent() {
            let z = match c.latent {
                Latent::Conditional => {
                    let (mu0, sigma0) = self.gaussian(names::PRIOR, c.prior, &voice.h)?;
                    (mu0 + (sigma0 * (eps_z * temperature)?)?)?
                }
                _ => (eps_z * temperature)?,
            };
            Some(self.mlp(names::PHI_Z, c.phi_z, &z)?)
        } else {
            None
        };
        let dec_in = match &pz {
            Some(pz) => Tensor::cat(&[pz, &voice.h], 1)?,
            None => voice.h.clone(),
        };
        let hd = self.mlp(names::DECODER, c.decoder, &dec_in)?;
        let k = match c.output {
            Output::Gauss => 0,
            Output::Gmm { .. } => {
                let mut logits = self.linear(names::DECODER, LOGITS, &hd)?.squeeze(0)?.to_vec1()?;
                vrnn_core::generator::pick_component(&mut logits, u)
            }
        };
        let mu = self.linear(names::DECODER, MU, &hd)?.narrow(1, k * f, f)?;
        let sigma = softplus(&self.linear(names::DECODER, SIGMA, &hd)?.narrow(1, k * f, f)?)?;
        let x = (mu + ((sigma + SIGMA_FLOOR)? * (eps_x * noise)?)?)?;
        let px = self.mlp(names::PHI_X, c.phi_x, &x)?;
        let rnn_in = match &pz {
            Some(pz) => Tensor::cat(&[&px, pz], 1)?,
            None => px,
        };
        (voice.h, voice.c) = self.cell(&rnn_in, &voice.h, &voice.c)?;
        Ok(x)
    }

    /// Teacher-forced pass over `x` `[batch, steps, frame]` (normalised), with posterior
    /// noise `eps_z` `[steps, batch, latent]` (ignored without a latent).
    pub fn forward(&self, x: &Tensor, eps_z: &Tensor) -> Result<(Losses, Trace)> {
        let c = &self.config;
        let (b, t, f) = x.dims3()?;
        let n = b * t;
        let xf = x.reshape((n, f))?;
        let px = self.mlp(names::PHI_X, c.phi_x, &xf)?;
        let scanned = if self.engine.on(x.device()) == Engine::Fused {
            fused::scan(self, &px, b, t, eps_z)?
        } else {
            self.scan_reference(&px.reshape((b, t, c.phi_x.width))?, eps_z)?
        };
        self.losses(&xf, scanned, (b, t))
    }

    /// The recurrent chain op by op, frame by frame: what `fused::scan` computes.
    fn scan_reference(&self, px: &Tensor, eps_z: &Tensor) -> Result<ScanOutput> {
        let c = &self.config;
        let (b, t, _) = px.dims3()?;
        let (hid, z) = (c.hidden, c.z_size());
        let n = b * t;
        let mut h = Tensor::zeros((b, hid), DType::F32, px.device())?;
        let mut cs = h.clone();
        let (mut hs, mut mu_zs, mut sigma_zs, mut pzs) = (vec![], vec![], vec![], vec![]);
        for step in 0..t {
            let px_t = px.i((.., step, ..))?;
            hs.push(h.clone());
            let rnn_in = if c.has_latent() {
                let enc_in = Tensor::cat(&[&px_t, &h], 1)?;
                let (mu_z, sigma_z) = self.gaussian(names::ENCODER, c.encoder, &enc_in)?;
                let zt = (&mu_z + (&sigma_z * eps_z.i(step)?)?)?;
                let pz = self.mlp(names::PHI_Z, c.phi_z, &zt)?;
                let rnn_in = Tensor::cat(&[&px_t, &pz], 1)?;
                mu_zs.push(mu_z);
                sigma_zs.push(sigma_z);
                pzs.push(pz);
                rnn_in
            } else {
                px_t
            };
            (h, cs) = self.cell(&rnn_in, &h, &cs)?;
        }
        let flat = |v: &[Tensor], width: usize| -> Result<Tensor> {
            Ok(Tensor::stack(v, 1)?.reshape((n, width))?)
        };
        let h_prev = flat(&hs, hid)?;
        let latent = if c.has_latent() {
            Some(Posterior {
                mu_sigma: Tensor::cat(&[flat(&mu_zs, z)?, flat(&sigma_zs, z)?], 1)?,
                decoder_input: Tensor::cat(&[flat(&pzs, c.phi_z.width)?, h_prev.clone()], 1)?,
            })
        } else {
            None
        };
        Ok(ScanOutput { h_prev, latent })
    }

    /// The prior, the decoder and the loss terms, batched over every frame: on the fused
    /// engine each term is one op of its own (`fused::loss`).
    fn losses(
        &self,
        xf: &Tensor,
        scanned: ScanOutput,
        (b, t): (usize, usize),
    ) -> Result<(Losses, Trace)> {
        let c = &self.config;
        let fused = self.engine.on(xf.device()) == Engine::Fused;
        let n = xf.dims2()?.0;
        let h_prev = scanned.h_prev;
        let mut trace = Trace {
            h_prev: h_prev.clone(),
            mu0: None,
            sigma0_raw: None,
            mu_z: None,
            sigma_z: None,
        };
        let (kl, dec_in) = if let Some(post) = scanned.latent {
            let z = c.z_size();
            let (mu_z, sigma_z) = (post.mu_sigma.narrow(1, 0, z)?, post.mu_sigma.narrow(1, z, z)?);
            let kl = match c.latent {
                Latent::Conditional => {
                    let (mu0, raw0) = self.gaussian_raw(names::PRIOR, c.prior, &h_prev)?;
                    let kl = if fused {
                        fused::loss::gaussian_kl(&post.mu_sigma, &mu0, &raw0)?
                    } else {
                        gaussian_kl(&mu_z, &sigma_z, &mu0, &sigma_of_raw(&raw0)?)?
                    };
                    trace.mu0 = Some(mu0);
                    trace.sigma0_raw = Some(raw0);
                    kl
                }
                _ => {
                    // Against N(0, I): ln(1/s) + (s^2 + m^2)/2 - 1/2.
                    let per = ((sigma_z.sqr()? + mu_z.sqr()?)? * 0.5)?;
                    ((per - sigma_z.log()?)? - 0.5)?.sum(1)?
                }
            };
            trace.mu_z = Some(mu_z);
            trace.sigma_z = Some(sigma_z);
            (kl, post.decoder_input)
        } else {
            (Tensor::zeros(n, DType::F32, xf.device())?, h_prev)
        };
        let hd = self.mlp(names::DECODER, c.decoder, &dec_in)?;
        let nll = self.decoder_nll(xf, &hd, fused)?;
        Ok((Losses { kl: kl.reshape((b, t))?, nll: nll.reshape((b, t))? }, trace))
    }

    /// -log p(x_t | z_t, h_{t-1}) per frame from the decoder's last hidden layer `hd`.
    fn decoder_nll(&self, xf: &Tensor, hd: &Tensor, fused: bool) -> Result<Tensor> {
        let (n, f) = xf.dims2()?;
        let mu = self.linear(names::DECODER, MU, hd)?;
        let raw = self.linear(names::DECODER, SIGMA, hd)?;
        // Each mixture component's NLL, `[n, k]`.
        let per_component = |k: usize| -> Result<Tensor> {
            if fused {
                return Ok(fused::loss::gaussian_nll(xf, &mu, &raw)?);
            }
            let (mu, sigma) = (mu.reshape((n, k, f))?, sigma_of_raw(&raw)?.reshape((n, k, f))?);
            let xk = xf.unsqueeze(1)?.broadcast_as((n, k, f))?;
            Ok(gaussian_nll(&xk, &mu, &sigma)?.sum(2)?)
        };
        Ok(match self.config.output {
            Output::Gauss => per_component(1)?.squeeze(1)?,
            Output::Gmm { components: k } => {
                let ll = per_component(k)?.neg()?;
                let logits = self.linear(names::DECODER, LOGITS, hd)?;
                let log_pi = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
                log_sum_exp(&(log_pi + ll)?, 1)?.neg()?
            }
        })
    }
}

/// Element-wise -log N(x; mu, sigma^2).
fn gaussian_nll(x: &Tensor, mu: &Tensor, sigma: &Tensor) -> Result<Tensor> {
    let d = ((x - mu)? / sigma)?;
    Ok(((d.sqr()? * 0.5)? + sigma.log()?)?.affine(1.0, HALF_LN_2PI)?)
}

/// KL(N(mq, sq^2) || N(mp, sp^2)) summed over the last dimension.
fn gaussian_kl(mq: &Tensor, sq: &Tensor, mp: &Tensor, sp: &Tensor) -> Result<Tensor> {
    let ratio = (sp.log()? - sq.log()?)?;
    let num = (sq.sqr()? + (mq - mp)?.sqr()?)?;
    let term = (num / (sp.sqr()? * 2.0)?)?;
    Ok(((ratio + term)? - 0.5)?.sum(1)?)
}
