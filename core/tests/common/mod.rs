//! Shared by the tests and benchmarks: random model files and a plain scalar reference
//! implementation of the VRNN step, written from the paper's equations with no packing.
#![allow(dead_code)]

pub mod reference;

use std::collections::HashMap;

use vrnn_core::names::tensor_specs;
use vrnn_core::{Cell, Latent, MlpSpec, ModelConfig, ModelFile, Output, Rng};

/// Weights drawn uniformly in +-1/sqrt(fan_in), PyTorch's default.
pub fn random_model(config: &ModelConfig, seed: u64) -> ModelFile {
    let mut rng = Rng::new(seed);
    let tensors: HashMap<String, Vec<f32>> = tensor_specs(config)
        .into_iter()
        .map(|s| {
            let fan_in = *s.shape.last().unwrap_or(&1);
            let fan_in = if s.shape.len() == 2 { fan_in } else { config.hidden.max(1) };
            let bound = 1.0 / (fan_in as f32).sqrt();
            let n: usize = s.shape.iter().product();
            let v = (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) * bound).collect();
            (s.name, v)
        })
        .collect();
    ModelFile::new(config.clone(), tensors, "<random>").expect("random model is valid")
}

/// A small configuration of each kind, for tests that must stay fast.
pub fn small_config(cell: Cell, latent: Latent, output: Output) -> ModelConfig {
    ModelConfig {
        frame_size: 40,
        ..ModelConfig::uniform(cell, 32, latent, 8, output, MlpSpec::new(2, 24))
    }
}

/// Every variant the paper compares, with both cells.
pub fn all_small_configs() -> Vec<ModelConfig> {
    let mut out = Vec::new();
    for cell in [Cell::Lstm, Cell::Gru] {
        for latent in [Latent::Conditional, Latent::Independent, Latent::None] {
            for output in [Output::Gauss, Output::Gmm { components: 3 }] {
                out.push(small_config(cell, latent, output));
            }
        }
    }
    out
}

/// A small hnm-domain configuration normalised like a voice: f0 around 150 Hz, envelopes
/// around -43 dB, so a random model's frames are plausible vocoder parameters.
pub fn hnm_config() -> ModelConfig {
    use vrnn_core::domain::hnm;
    let mut c = small_config(Cell::Lstm, Latent::Conditional, Output::Gauss);
    c.domain = vrnn_core::Domain::Hnm;
    c.frame_size = 200;
    let mut centre = vec![-5.0; hnm::DIM];
    centre[hnm::F0] = 150f32.ln();
    c.normalisation.centre = centre;
    c.normalisation.scale = vec![0.3; hnm::DIM];
    c
}
