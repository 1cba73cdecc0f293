//! `trainer analyze`: the paper's latent-analysis figure on the user's audio. The posterior
//! mean's change from frame to frame (delta_t), the KL per frame, and the waveform, on one
//! time axis.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use serde::Serialize;
use vrnn_core::{domain, Generator, Model, PosteriorZ};

use crate::{audio, plot};

#[derive(Debug, Serialize)]
pub struct Analysis {
    pub frames: usize,
    pub frame_seconds: f64,
    /// delta_t = sum_j (mu_z,t^j - mu_z,t-1^j)^2 of the posterior mean (0 for the first frame).
    pub delta: Vec<f64>,
    /// KL(q(z_t) || p(z_t)) per frame, nats.
    pub kl: Vec<f64>,
}

/// Runs the encoder over the whole recording from a fresh state, with the posterior mean.
pub fn analyze(model: Arc<Model>, wav: &Path) -> Result<(Analysis, Vec<f32>)> {
    let c = model.config.clone();
    if !c.has_latent() {
        bail!("{} has no latent variable: analyze needs a VRNN variant", c.variant_name());
    }
    let f = c.frame_dim();
    let x = audio::load_mono(wav, c.sample_rate, c.frame_seconds())?;
    let mut g = Generator::new(model, 0);
    let (mut delta, mut kl) = (Vec::new(), Vec::new());
    let mut previous: Option<Vec<f32>> = None;
    for frame in domain::codec(&c).analyse(&x).chunks_exact(f) {
        let p = g.step_posterior(frame, PosteriorZ::Mean);
        let d = previous.as_ref().map_or(0.0, |prev| {
            prev.iter().zip(p.mu_z).map(|(a, b)| ((b - a) as f64).powi(2)).sum()
        });
        delta.push(d);
        kl.push(p.kl);
        previous = Some(p.mu_z.to_vec());
    }
    let frames = delta.len();
    Ok((Analysis { frames, frame_seconds: c.frame_seconds(), delta, kl }, x))
}

/// The three stacked panels as a PNG of `size` pixels.
pub fn figure(
    a: &Analysis,
    waveform: &[f32],
    rate: u32,
    out: &Path,
    size: (u32, u32),
) -> Result<()> {
    let t = |i: usize| i as f64 * a.frame_seconds;
    let delta: Vec<(f64, f64)> = a.delta.iter().enumerate().map(|(i, v)| (t(i), *v)).collect();
    let kl: Vec<(f64, f64)> = a.kl.iter().enumerate().map(|(i, v)| (t(i), *v)).collect();
    // One point per 4 ms keeps the waveform panel light and its envelope visible.
    let step = (rate as usize / 250).max(1);
    let wave: Vec<(f64, f64)> = waveform
        .chunks(step)
        .enumerate()
        .flat_map(|(i, c)| {
            let (lo, hi) = c.iter().fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            let ts = (i * step) as f64 / rate as f64;
            [(ts, lo as f64), (ts, hi as f64)]
        })
        .collect();
    plot::stacked(
        out,
        "time (s)",
        &[
            ("delta_t (posterior mean change)", delta),
            ("KL per frame (nats)", kl),
            ("waveform", wave),
        ],
        size,
    )
}
