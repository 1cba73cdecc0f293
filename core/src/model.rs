//! A loaded model: its configuration and every layer packed for the kernel.
//! Immutable and shared (Arc) between the voices that play it.

use std::path::Path;

use crate::config::{Latent, Mlp as MlpSpec, ModelConfig, Output};
use crate::file::{ModelError, ModelFile};
use crate::names::{self, bias, weight, LOGITS, MU, SIGMA};
use crate::nn::{Dense, Mlp, Recurrent};

/// An MLP trunk with a Gaussian head: [mu, softplus(sigma) + SIGMA_FLOOR].
#[derive(Debug)]
pub struct GaussianNet {
    pub trunk: Mlp,
    pub mu: Dense,
    pub sigma: Dense,
}

#[derive(Debug)]
pub struct Model {
    pub config: ModelConfig,
    pub phi_x: Mlp,
    /// Present for the VRNN variants.
    pub phi_z: Option<Mlp>,
    /// Present for the conditional prior (VRNN, not VRNN-I).
    pub prior: Option<GaussianNet>,
    pub encoder: Option<GaussianNet>,
    /// Heads are component-major: component k owns rows k*frame..(k+1)*frame.
    pub decoder: GaussianNet,
    /// Mixture logits (GMM output only).
    pub logits: Option<Dense>,
    pub rnn: Recurrent,
}

fn dense(f: &ModelFile, module: &str, part: &str, out: usize, input: usize) -> Dense {
    Dense::new(out, input, f.tensor(&weight(module, part)), f.tensor(&bias(module, part)))
}

fn mlp(f: &ModelFile, module: &str, spec: MlpSpec, input: usize) -> Mlp {
    let mut fan_in = input;
    let layers = (0..spec.layers)
        .map(|i| {
            let d = dense(f, module, &names::layer(i), spec.width, fan_in);
            fan_in = spec.width;
            d
        })
        .collect();
    Mlp::new(layers)
}

fn gaussian(f: &ModelFile, module: &str, spec: MlpSpec, input: usize, out: usize) -> GaussianNet {
    GaussianNet {
        trunk: mlp(f, module, spec, input),
        mu: dense(f, module, MU, out, spec.width),
        sigma: dense(f, module, SIGMA, out, spec.width),
    }
}

impl Model {
    /// Packs a validated model file for the kernel.
    pub fn from_file(f: &ModelFile) -> Model {
        let c = &f.config;
        let (h, z, fr) = (c.hidden, c.z_size(), c.frame_size);
        let k = c.output.components();
        let latent = c.has_latent();
        Model {
            config: c.clone(),
            phi_x: mlp(f, names::PHI_X, c.phi_x, fr),
            phi_z: latent.then(|| mlp(f, names::PHI_Z, c.phi_z, z)),
            prior: (c.latent == Latent::Conditional)
                .then(|| gaussian(f, names::PRIOR, c.prior, h, z)),
            encoder: latent.then(|| gaussian(f, names::ENCODER, c.encoder, c.phi_x.width + h, z)),
            decoder: gaussian(f, names::DECODER, c.decoder, c.decoder_input(), k * fr),
            logits: matches!(c.output, Output::Gmm { .. })
                .then(|| dense(f, names::DECODER, LOGITS, k, c.decoder.width)),
            rnn: Recurrent::new(
                c.cell,
                c.rnn_input(),
                h,
                f.tensor(names::RNN_WEIGHT_IH),
                f.tensor(names::RNN_WEIGHT_HH),
                f.tensor(names::RNN_BIAS_IH),
                f.tensor(names::RNN_BIAS_HH),
            ),
        }
    }

    /// Reads, validates and packs a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        Ok(Model::from_file(&ModelFile::load(path)?))
    }

    /// Bytes of weights one generation step streams through (the GMM output reads one
    /// component's rows).
    pub fn step_bytes(&self) -> usize {
        let k = self.config.output.components();
        let gauss = |g: &GaussianNet| g.trunk.bytes() + g.mu.bytes() + g.sigma.bytes();
        self.phi_x.bytes()
            + self.phi_z.as_ref().map_or(0, Mlp::bytes)
            + self.prior.as_ref().map_or(0, gauss)
            + self.decoder.trunk.bytes()
            + (self.decoder.mu.bytes() + self.decoder.sigma.bytes()) / k
            + self.logits.as_ref().map_or(0, Dense::bytes)
            + self.rnn.bytes()
    }
}
