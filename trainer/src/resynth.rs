//! `trainer resynth`: the posterior reconstruction of a recording, so that a user hears
//! what the model has captured. Each frame goes through the encoder (its mean or a sample
//! of z_t), the decoder's output is played (its mean plus `noise` times its sigma, as in
//! generation: 0 is the mean, 1 a sample), and the true frame is fed back into the
//! recurrence, as in training. With `follow`, the same input goes through the plugin's
//! live path instead (a Listener and a following Stream at the host rate).

use std::sync::Arc;

use vrnn_core::listen::MAX_BLOCK;
use vrnn_core::{domain, Follow, Generator, Listener, Model, PosteriorZ, Rng, Stream};

/// How resynthesis picks z_t.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pick {
    /// The distribution's mean (deterministic).
    Mean,
    /// A sample from it (seeded).
    Sample,
}

#[derive(Clone, Copy, Debug)]
pub struct ResynthOptions {
    pub z: Pick,
    /// Scale of the output's sampling noise.
    pub noise: f32,
    pub seed: u64,
}

/// The reconstruction of `signal` (at the model's rate), aligned with it and as long.
pub fn resynthesise(model: Arc<Model>, signal: &[f32], o: ResynthOptions) -> Vec<f32> {
    let c = model.config.clone();
    let (n, dim) = (c.frame_size, c.frame_dim());
    let mut codec = domain::codec(&c);
    codec.reset(o.seed);
    let frames = codec.analyse(signal);
    let (frame_std, frame_mean) = (model.frame_std.clone(), model.frame_mean.clone());
    let mut generator = Generator::new(model, o.seed);
    let mut rng = Rng::new(o.seed ^ 0x2E5E_17E5);
    let z_mode = match o.z {
        Pick::Mean => PosteriorZ::Mean,
        Pick::Sample => PosteriorZ::Sample,
    };
    let mut frame = vec![0.0; dim];
    let mut out = vec![0.0; (frames.len() / dim + codec.latency_frames()) * n];
    let mut chunks = out.chunks_exact_mut(n);
    for x in frames.chunks_exact(dim) {
        generator.step_posterior(x, z_mode);
        let (mu, sigma) = (generator.output_mu(), generator.output_sigma());
        for i in 0..dim {
            let eps = if o.noise != 0.0 { o.noise * rng.gaussian() } else { 0.0 };
            frame[i] = (mu[i] + sigma[i] * eps) * frame_std[i] + frame_mean[i];
        }
        if let Some(o) = chunks.next() {
            codec.synthesise(&frame, o);
        }
    }
    // Flush the overlap-add with silent frames, then drop the codec's delay.
    frame.fill(0.0);
    for o in chunks {
        codec.synthesise(&frame, o);
    }
    let delay = codec.latency_frames() * n;
    let mut aligned = out[delay..].to_vec();
    aligned.resize(signal.len(), 0.0);
    aligned
}

/// Live resynthesis, offline: `signal` (at the host rate `rate`) played into a Listener and
/// a Stream that follows it, in MAX_BLOCK blocks, as the plugin plays its input; the output
/// shifted by the reported latency so that it lines up with the input, as long as it.
#[derive(Clone, Copy, Debug)]
pub struct FollowOptions {
    pub follow: f32,
    pub temperature: f32,
    pub noise: f32,
    pub seed: u64,
    pub gate_db: f32,
    pub rate: u32,
}

pub fn follow(model: Arc<Model>, signal: &[f32], o: FollowOptions) -> anyhow::Result<Vec<f32>> {
    let host = o.rate as f64;
    let mut listener = Listener::new(&model.config, host)?;
    listener.set_gate_db(o.gate_db);
    let mut stream = Stream::new(model, host, o.seed)?;
    stream.set_temperature(o.temperature);
    stream.set_noise(o.noise);
    let delay = stream.follow_latency(&listener);
    let mut input = signal.to_vec();
    input.resize(signal.len() + delay, 0.0);
    let mut out = vec![0.0; input.len()];
    for (x, y) in input.chunks(MAX_BLOCK).zip(out.chunks_mut(MAX_BLOCK)) {
        let at = listener.pushed();
        listener.push(x);
        stream.process_following(y, Some(Follow { input: &listener, amount: o.follow, at }));
    }
    Ok(out.split_off(delay))
}
