//! Tensor names and shapes of the model file, defined once for the trainer and the loader.
//!
//! Dense weights are `[out, in]` (as candle-nn's Linear); biases `[out]`.
//! Recurrent gates are stacked in PyTorch order: LSTM i, f, g, o; GRU r, z, n.
//! The decoder's GMM heads are component-major: row `k * frame_size + i`.

use crate::config::{Latent, Mlp, ModelConfig, Output};

pub const PHI_X: &str = "phi_x";
pub const PHI_Z: &str = "phi_z";
pub const PRIOR: &str = "prior";
pub const ENCODER: &str = "encoder";
pub const DECODER: &str = "decoder";
pub const RNN_WEIGHT_IH: &str = "rnn.weight_ih";
pub const RNN_WEIGHT_HH: &str = "rnn.weight_hh";
pub const RNN_BIAS_IH: &str = "rnn.bias_ih";
pub const RNN_BIAS_HH: &str = "rnn.bias_hh";

/// Heads that follow an MLP trunk.
pub const MU: &str = "mu";
pub const SIGMA: &str = "sigma";
pub const LOGITS: &str = "logits";

pub fn weight(module: &str, part: &str) -> String {
    format!("{module}.{part}.weight")
}

pub fn bias(module: &str, part: &str) -> String {
    format!("{module}.{part}.bias")
}

/// Name of the i-th hidden layer of an MLP, as used in `weight` and `bias`.
pub fn layer(i: usize) -> String {
    i.to_string()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

fn dense(out: &mut Vec<TensorSpec>, module: &str, part: &str, rows: usize, cols: usize) {
    out.push(TensorSpec { name: weight(module, part), shape: vec![rows, cols] });
    out.push(TensorSpec { name: bias(module, part), shape: vec![rows] });
}

fn mlp(out: &mut Vec<TensorSpec>, module: &str, spec: Mlp, input: usize) {
    let mut fan_in = input;
    for i in 0..spec.layers {
        dense(out, module, &layer(i), spec.width, fan_in);
        fan_in = spec.width;
    }
}

/// Every tensor the configuration needs, in a fixed order.
pub fn tensor_specs(cfg: &ModelConfig) -> Vec<TensorSpec> {
    let mut out = Vec::new();
    let (h, z, f) = (cfg.hidden, cfg.z_size(), cfg.frame_dim());
    mlp(&mut out, PHI_X, cfg.phi_x, f);
    if cfg.has_latent() {
        mlp(&mut out, PHI_Z, cfg.phi_z, z);
        if cfg.latent == Latent::Conditional {
            mlp(&mut out, PRIOR, cfg.prior, h);
            dense(&mut out, PRIOR, MU, z, cfg.prior.width);
            dense(&mut out, PRIOR, SIGMA, z, cfg.prior.width);
        }
        mlp(&mut out, ENCODER, cfg.encoder, cfg.phi_x.width + h);
        dense(&mut out, ENCODER, MU, z, cfg.encoder.width);
        dense(&mut out, ENCODER, SIGMA, z, cfg.encoder.width);
    }
    mlp(&mut out, DECODER, cfg.decoder, cfg.decoder_input());
    let k = cfg.output.components();
    dense(&mut out, DECODER, MU, k * f, cfg.decoder.width);
    dense(&mut out, DECODER, SIGMA, k * f, cfg.decoder.width);
    if let Output::Gmm { .. } = cfg.output {
        dense(&mut out, DECODER, LOGITS, k, cfg.decoder.width);
    }
    let gates = cfg.cell.gates() * h;
    out.push(TensorSpec { name: RNN_WEIGHT_IH.into(), shape: vec![gates, cfg.rnn_input()] });
    out.push(TensorSpec { name: RNN_WEIGHT_HH.into(), shape: vec![gates, h] });
    out.push(TensorSpec { name: RNN_BIAS_IH.into(), shape: vec![gates] });
    out.push(TensorSpec { name: RNN_BIAS_HH.into(), shape: vec![gates] });
    out
}

/// Key of the configuration JSON in the safetensors header metadata.
pub const CONFIG_METADATA_KEY: &str = "vrnn_config";
