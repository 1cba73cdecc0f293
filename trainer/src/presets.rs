//! Model sizes a user picks with `--preset`.

use clap::ValueEnum;
use vrnn_core::{Cell, Latent, MlpSpec, ModelConfig, Output};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Hidden 32, MLPs 1x32, latent 8 (39 k parameters): for tests, learns little.
    Tiny,
    /// Hidden 128, MLPs 2x128, latent 32 (0.46 M parameters, ~27 us per step).
    Small,
    /// Hidden 256, MLPs 2x256, latent 64 (1.68 M parameters, ~79 us per step).
    Medium,
    /// Hidden 512, MLPs 2x512, latent 128 (6.41 M parameters, ~0.97 ms per step).
    Large,
}

/// The paper's model variants (Table 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Variant {
    /// VRNN with a Gaussian output (the paper's VRNN-Gauss).
    VrnnGauss,
    /// VRNN with a Gaussian-mixture output, weights shared over the frame.
    VrnnGmm,
    /// VRNN whose prior is fixed at N(0, I).
    VrnnIGauss,
    /// Plain RNN with a Gaussian output (no latent).
    RnnGauss,
    /// Plain RNN with a Gaussian-mixture output (no latent).
    RnnGmm,
}

impl Variant {
    /// Sets the latent and output of `config` for this variant.
    pub fn apply(self, config: &mut ModelConfig, mixtures: usize) {
        let gmm = Output::Gmm { components: mixtures };
        (config.latent, config.output) = match self {
            Variant::VrnnGauss => (Latent::Conditional, Output::Gauss),
            Variant::VrnnGmm => (Latent::Conditional, gmm),
            Variant::VrnnIGauss => (Latent::Independent, Output::Gauss),
            Variant::RnnGauss => (Latent::None, Output::Gauss),
            Variant::RnnGmm => (Latent::None, gmm),
        };
        if config.latent == Latent::None {
            config.latent_size = 0;
        }
    }
}

impl Preset {
    pub fn config(self) -> ModelConfig {
        let (hidden, layers, width, latent) = match self {
            Preset::Tiny => (32, 1, 32, 8),
            Preset::Small => (128, 2, 128, 32),
            Preset::Medium => (256, 2, 256, 64),
            Preset::Large => (512, 2, 512, 128),
        };
        ModelConfig::uniform(
            Cell::Lstm,
            hidden,
            Latent::Conditional,
            latent,
            Output::Gauss,
            MlpSpec::new(layers, width),
        )
    }
}
