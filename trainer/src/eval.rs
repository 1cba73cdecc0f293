//! `trainer eval`: the negative ELBO of recordings under a model, computed by vrnn-core's
//! posterior step (the engine the plugin plays), per frame and per 0.5 s sequence.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use vrnn_core::generator::log_sum_exp_f64;
use vrnn_core::rng::derive_seed;
use vrnn_core::{domain, Generator, Model, PosteriorZ};

use crate::audio;

/// Every number in nats. `*_norm` in the model's normalised space; `*_raw` in the
/// waveform's own scale (floats in [-1, 1]): raw = norm + sum_i ln(std_i) per frame (the
/// frame domains' transforms are orthogonal and add nothing). For hnm models `*_raw` is
/// the density of the unnormalised vocoder parameters, which no waveform model compares
/// with (`raw_scale` says which).
#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub variant: String,
    /// The frame domain (time, mdct or hnm); the raw-scale numbers compare across the
    /// waveform domains (time and mdct).
    pub domain: String,
    /// What the raw-scale numbers are a density of: "waveform" or "hnm parameters".
    pub raw_scale: String,
    /// True for the RNN baselines: the NLL is exact, not a bound.
    pub exact: bool,
    pub frames: usize,
    pub sequences: usize,
    pub sequence_frames: usize,
    pub nelbo_per_frame_norm: f64,
    pub nelbo_per_sequence_norm: f64,
    pub nelbo_per_frame_raw: f64,
    pub nelbo_per_sequence_raw: f64,
    pub kl_per_frame: f64,
    pub recon_nll_per_frame_norm: f64,
    pub recon_nll_per_frame_raw: f64,
    /// Posterior samples per sequence for the importance-sampled estimate (0: not computed;
    /// always 0 for the RNN baselines, whose likelihood is exact).
    pub is_samples: usize,
    /// Importance-sampled estimate of -log p(x) (the paper's "~"), the posterior as proposal:
    /// -log (1/K sum_k p(x, z^k) / q(z^k | x)), per frame and per sequence, both scales.
    pub nll_is_per_frame_norm: Option<f64>,
    pub nll_is_per_sequence_norm: Option<f64>,
    pub nll_is_per_frame_raw: Option<f64>,
    pub nll_is_per_sequence_raw: Option<f64>,
    /// The mean over the same K samples of -log (p(x, z^k) / q(z^k | x)): a Monte-Carlo
    /// negative ELBO, never below the IS estimate (equal to it for K = 1).
    pub nelbo_mc_per_frame_norm: Option<f64>,
}

/// log p(x, z) - log q(z | x) of one sequence for one posterior sample of its z's.
fn log_weight(g: &mut Generator, sequence: &[f32], frame: usize, seed: u64) -> f64 {
    g.reset(seed);
    sequence
        .chunks_exact(frame)
        .map(|x| {
            let p = g.step_posterior(x, PosteriorZ::Sample);
            p.log_prior_over_posterior - p.nll
        })
        .sum()
}

/// Scores `files` in sequences of `seq_len` frames, each from a fresh state, with one
/// posterior sample per frame (an unbiased estimate of the ELBO), and with `is_samples`
/// posterior samples per sequence for the importance-sampled log-likelihood.
pub fn evaluate(
    model: Arc<Model>,
    files: &[PathBuf],
    seq_len: usize,
    seed: u64,
    is_samples: usize,
) -> Result<Evaluation> {
    let signals = audio::load_all(files, model.config.sample_rate, model.config.frame_seconds())?;
    evaluate_signals(model, &signals, seq_len, seed, is_samples)
}

/// As `evaluate`, on waveforms already at the model's rate.
pub fn evaluate_signals(
    model: Arc<Model>,
    signals: &[Vec<f32>],
    seq_len: usize,
    seed: u64,
    is_samples: usize,
) -> Result<Evaluation> {
    let c = model.config.clone();
    let f = c.frame_dim();
    let codec = domain::codec(&c);
    let mut generator = Generator::new(model, seed);
    let (mut kl, mut nll, mut frames, mut sequences) = (0.0, 0.0, 0usize, 0usize);
    let is_samples = if c.has_latent() { is_samples } else { 0 };
    let (mut nll_is, mut nelbo_mc) = (0.0, 0.0);
    let mut weights = vec![0.0; is_samples];
    for x in signals {
        for sequence in codec.analyse(x).chunks_exact(f * seq_len) {
            generator.reset(seed ^ sequences as u64);
            for frame in sequence.chunks_exact(f) {
                let p = generator.step_posterior(frame, PosteriorZ::Sample);
                kl += p.kl;
                nll += p.nll;
                frames += 1;
            }
            if is_samples > 0 {
                for (k, w) in weights.iter_mut().enumerate() {
                    let sample_seed = derive_seed(seed, (sequences * is_samples + k) as u64);
                    *w = log_weight(&mut generator, sequence, f, sample_seed);
                }
                nll_is -= log_sum_exp_f64(&weights) - (is_samples as f64).ln();
                nelbo_mc -= weights.iter().sum::<f64>() / is_samples as f64;
            }
            sequences += 1;
        }
    }
    if frames == 0 {
        anyhow::bail!("no complete {seq_len}-frame sequence to evaluate: the recordings are shorter than {:.2} s", seq_len as f64 * c.frame_seconds());
    }
    let n = frames as f64;
    let log_det = c.normalisation.log_det(f);
    let nelbo = (kl + nll) / n;
    Ok(Evaluation {
        variant: c.variant_name().to_string(),
        domain: c.domain.name().to_string(),
        raw_scale: if c.domain.waveform_likelihood() { "waveform" } else { "hnm parameters" }
            .into(),
        exact: !c.has_latent(),
        frames,
        sequences,
        sequence_frames: seq_len,
        nelbo_per_frame_norm: nelbo,
        nelbo_per_sequence_norm: nelbo * seq_len as f64,
        nelbo_per_frame_raw: nelbo + log_det,
        nelbo_per_sequence_raw: (nelbo + log_det) * seq_len as f64,
        kl_per_frame: kl / n,
        recon_nll_per_frame_norm: nll / n,
        recon_nll_per_frame_raw: nll / n + log_det,
        is_samples,
        nll_is_per_frame_norm: (is_samples > 0).then(|| nll_is / n),
        nll_is_per_sequence_norm: (is_samples > 0).then(|| nll_is / n * seq_len as f64),
        nll_is_per_frame_raw: (is_samples > 0).then(|| nll_is / n + log_det),
        nll_is_per_sequence_raw: (is_samples > 0).then(|| (nll_is / n + log_det) * seq_len as f64),
        nelbo_mc_per_frame_norm: (is_samples > 0).then(|| nelbo_mc / n),
    })
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.exact {
            "negative log-likelihood (exact)"
        } else {
            "negative ELBO (>= -log p)"
        };
        writeln!(
            f,
            "{} ({} domain): {} frames in {} sequences of {} frames",
            self.variant, self.domain, self.frames, self.sequences, self.sequence_frames
        )?;
        if self.raw_scale != "waveform" {
            writeln!(f, "(an hnm model's likelihood is a density of vocoder parameter frames, not of the waveform: it does not compare with time or mdct models)")?;
        }
        let raw = format!("raw {}", self.raw_scale);
        writeln!(f, "{what}, nats:")?;
        writeln!(
            f,
            "  per frame:    {:>12.3} normalised   {:>12.3} {raw}",
            self.nelbo_per_frame_norm, self.nelbo_per_frame_raw
        )?;
        writeln!(
            f,
            "  per sequence: {:>12.3} normalised   {:>12.3} {raw}",
            self.nelbo_per_sequence_norm, self.nelbo_per_sequence_raw
        )?;
        writeln!(f, "  KL per frame: {:>12.3}", self.kl_per_frame)?;
        write!(
            f,
            "  reconstruction NLL per frame: {:.3} normalised, {:.3} raw",
            self.recon_nll_per_frame_norm, self.recon_nll_per_frame_raw
        )?;
        if let (Some(fr), Some(sq), Some(frr), Some(sqr)) = (
            self.nll_is_per_frame_norm,
            self.nll_is_per_sequence_norm,
            self.nll_is_per_frame_raw,
            self.nll_is_per_sequence_raw,
        ) {
            writeln!(
                f,
                "\nimportance-sampled -log p (~, {} posterior samples per sequence), nats:",
                self.is_samples
            )?;
            writeln!(f, "  per frame:    {fr:>12.3} normalised   {frr:>12.3} {raw}")?;
            write!(f, "  per sequence: {sq:>12.3} normalised   {sqr:>12.3} {raw}")?;
        }
        Ok(())
    }
}
