//! A loaded model: its configuration and every layer packed for the kernel.
//! Immutable and shared (Arc) between the voices that play it.

use std::path::Path;

use crate::config::{Latent, Mlp as MlpSpec, ModelConfig, Output};
use crate::file::{ModelError, ModelFile};
use crate::kernel::Precision;
use crate::names::{self, bias, weight, LOGITS, MU, SIGMA};
use crate::nn::{Dense, Mlp, Recurrent};
use crate::storage;

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
    /// The format the weights were rounded to: what the model sounds like.
    pub precision: Precision,
    /// The format the kernels read them in: `precision`, or f32 holding the same values
    /// where that plays faster on this CPU (`storage::choose`).
    pub storage: Precision,
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
    /// The normalisation's divisor of each frame position (`Normalisation::std_at`).
    pub frame_std: Vec<f32>,
    /// Its offset of each frame position (`Normalisation::mean_at`).
    pub frame_mean: Vec<f32>,
}

/// A model file's tensors, rounded to one precision and held in `storage`.
struct Packer<'a> {
    file: &'a ModelFile,
    precision: Precision,
    storage: Precision,
}

impl Packer<'_> {
    fn dense(&self, module: &str, part: &str, out: usize, input: usize) -> Dense {
        let (w, b) =
            (self.file.tensor(&weight(module, part)), self.file.tensor(&bias(module, part)));
        Dense::new(out, input, w, b).with_precision(self.precision).with_precision(self.storage)
    }

    fn mlp(&self, module: &str, spec: MlpSpec, input: usize) -> Mlp {
        let mut fan_in = input;
        let layers = (0..spec.layers)
            .map(|i| {
                let d = self.dense(module, &names::layer(i), spec.width, fan_in);
                fan_in = spec.width;
                d
            })
            .collect();
        Mlp::new(layers)
    }

    fn gaussian(&self, module: &str, spec: MlpSpec, input: usize, out: usize) -> GaussianNet {
        GaussianNet {
            trunk: self.mlp(module, spec, input),
            mu: self.dense(module, MU, out, spec.width),
            sigma: self.dense(module, SIGMA, out, spec.width),
        }
    }
}

impl Model {
    /// Packs a validated model file for the kernel, weights in f32.
    pub fn from_file(f: &ModelFile) -> Model {
        Self::pack(f, Precision::F32, Precision::F32)
    }

    /// Packs a validated model file with its weights rounded to `precision`, held in the
    /// format that plays it fastest here (`storage::choose`); fails, naming the tensor, if
    /// a weight is outside the format's range.
    pub fn from_file_with(f: &ModelFile, precision: Precision) -> Result<Model, ModelError> {
        f.check_range(precision)?;
        Ok(storage::choose(Self::pack(f, precision, precision), || {
            Self::pack(f, precision, Precision::F32)
        }))
    }

    /// As `from_file_with`, held in `storage` whatever its speed: f32 (the same values
    /// widened) or `precision` itself. For measuring the kernels.
    pub fn from_file_stored(
        f: &ModelFile,
        precision: Precision,
        storage: Precision,
    ) -> Result<Model, ModelError> {
        assert!(
            storage == precision || storage == Precision::F32,
            "{precision} weights are held as {precision} or f32, not {storage}"
        );
        f.check_range(precision)?;
        Ok(Self::pack(f, precision, storage))
    }

    fn pack(f: &ModelFile, precision: Precision, storage: Precision) -> Model {
        let p = Packer { file: f, precision, storage };
        let c = &f.config;
        let (h, z, fr) = (c.hidden, c.z_size(), c.frame_dim());
        let k = c.output.components();
        let latent = c.has_latent();
        Model {
            config: c.clone(),
            precision,
            storage,
            phi_x: p.mlp(names::PHI_X, c.phi_x, fr),
            phi_z: latent.then(|| p.mlp(names::PHI_Z, c.phi_z, z)),
            prior: (c.latent == Latent::Conditional)
                .then(|| p.gaussian(names::PRIOR, c.prior, h, z)),
            encoder: latent.then(|| p.gaussian(names::ENCODER, c.encoder, c.phi_x.width + h, z)),
            decoder: p.gaussian(names::DECODER, c.decoder, c.decoder_input(), k * fr),
            logits: matches!(c.output, Output::Gmm { .. })
                .then(|| p.dense(names::DECODER, LOGITS, k, c.decoder.width)),
            rnn: Recurrent::new(
                c.cell,
                c.rnn_input(),
                h,
                f.tensor(names::RNN_WEIGHT_IH),
                f.tensor(names::RNN_WEIGHT_HH),
                f.tensor(names::RNN_BIAS_IH),
                f.tensor(names::RNN_BIAS_HH),
            )
            .with_precision(precision)
            .with_precision(storage),
            frame_std: c.normalisation.frame_std(fr),
            frame_mean: c.normalisation.frame_mean(fr),
        }
    }

    /// Reads, validates and packs a model file, weights in f32.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        Self::load_with(path, Precision::F32)
    }

    /// Reads, validates and packs a model file with its weights in `precision`.
    pub fn load_with(path: impl AsRef<Path>, precision: Precision) -> Result<Model, ModelError> {
        Self::from_file_with(&ModelFile::load(path)?, precision)
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
