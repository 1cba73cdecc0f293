//! The VRNN step in plain f64 scalar code, straight from the equations.

use vrnn_core::generator::StepNoise;
use vrnn_core::names::{bias, layer, weight, *};
use vrnn_core::{Cell, Latent, ModelFile};

pub struct Reference<'a> {
    pub f: &'a ModelFile,
    pub h: Vec<f64>,
    pub c: Vec<f64>,
}

#[derive(Debug, Default)]
pub struct RefStep {
    pub mu0: Vec<f64>,
    pub sigma0: Vec<f64>,
    pub mu_x: Vec<f64>,
    pub sigma_x: Vec<f64>,
    pub x: Vec<f64>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

impl<'a> Reference<'a> {
    pub fn new(f: &'a ModelFile) -> Self {
        let h = f.config.hidden;
        Reference { f, h: vec![0.0; h], c: vec![0.0; h] }
    }

    pub fn linear(&self, w: &str, b: &str, x: &[f64]) -> Vec<f64> {
        let (w, b) = (self.f.tensor(w), self.f.tensor(b));
        let n = x.len();
        (0..b.len())
            .map(|r| b[r] as f64 + (0..n).map(|j| w[r * n + j] as f64 * x[j]).sum::<f64>())
            .collect()
    }

    pub fn mlp(&self, module: &str, layers: usize, x: &[f64]) -> Vec<f64> {
        let mut v = x.to_vec();
        for i in 0..layers {
            let l = layer(i);
            v = self.linear(&weight(module, &l), &bias(module, &l), &v);
            v.iter_mut().for_each(|a| *a = a.max(0.0));
        }
        v
    }

    pub fn head(&self, module: &str, part: &str, x: &[f64]) -> Vec<f64> {
        self.linear(&weight(module, part), &bias(module, part), x)
    }

    pub fn sigma(&self, module: &str, x: &[f64]) -> Vec<f64> {
        self.head(module, SIGMA, x).into_iter().map(|v| softplus(v) + 1e-4).collect()
    }

    fn recur(&mut self, input: &[f64]) {
        let c = &self.f.config;
        let n = c.hidden;
        let gx = self.linear(RNN_WEIGHT_IH, RNN_BIAS_IH, input);
        let gh = self.linear(RNN_WEIGHT_HH, RNN_BIAS_HH, &self.h);
        match c.cell {
            Cell::Lstm => {
                for k in 0..n {
                    let g = |q: usize| gx[q * n + k] + gh[q * n + k];
                    let (i, f, gg, o) = (sigmoid(g(0)), sigmoid(g(1)), g(2).tanh(), sigmoid(g(3)));
                    self.c[k] = f * self.c[k] + i * gg;
                    self.h[k] = o * self.c[k].tanh();
                }
            }
            Cell::Gru => {
                for k in 0..n {
                    let r = sigmoid(gx[k] + gh[k]);
                    let z = sigmoid(gx[n + k] + gh[n + k]);
                    let nn = (gx[2 * n + k] + r * gh[2 * n + k]).tanh();
                    self.h[k] = (1.0 - z) * nn + z * self.h[k];
                }
            }
        }
    }

    /// One generation step with the given noise.
    pub fn step(&mut self, eps: &StepNoise, temperature: f64, noise: f64) -> RefStep {
        let c = self.f.config.clone();
        let (zs, fr) = (c.z_size(), c.frame_dim());
        let (mu0, sigma0) = match c.latent {
            Latent::Conditional => {
                let t = self.mlp(PRIOR, c.prior.layers, &self.h);
                (self.head(PRIOR, MU, &t), self.sigma(PRIOR, &t))
            }
            _ => (vec![0.0; zs], vec![1.0; zs]),
        };
        let z: Vec<f64> =
            (0..zs).map(|i| mu0[i] + temperature * sigma0[i] * eps.eps_z[i] as f64).collect();
        let pz = if c.has_latent() { self.mlp(PHI_Z, c.phi_z.layers, &z) } else { vec![] };
        let dec_in: Vec<f64> = pz.iter().chain(&self.h).copied().collect();
        let hd = self.mlp(DECODER, c.decoder.layers, &dec_in);
        let k = if matches!(c.output, vrnn_core::Output::Gmm { .. }) {
            let logits = self.head(DECODER, LOGITS, &hd);
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let p: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
            let target = eps.u as f64 * p.iter().sum::<f64>();
            let mut acc = 0.0;
            p.iter()
                .position(|q| {
                    acc += q;
                    target <= acc
                })
                .unwrap_or(p.len() - 1)
        } else {
            0
        };
        let mu_x = self.head(DECODER, MU, &hd)[k * fr..(k + 1) * fr].to_vec();
        let sigma_x = self.sigma(DECODER, &hd)[k * fr..(k + 1) * fr].to_vec();
        let x: Vec<f64> =
            (0..fr).map(|i| mu_x[i] + noise * sigma_x[i] * eps.eps_x[i] as f64).collect();
        let px = self.mlp(PHI_X, c.phi_x.layers, &x);
        let rnn_in: Vec<f64> = px.iter().chain(&pz).copied().collect();
        self.recur(&rnn_in);
        RefStep { mu0, sigma0, mu_x, sigma_x, x }
    }
}
