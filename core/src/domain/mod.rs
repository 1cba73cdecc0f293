//! Frame domains: how a model's frame vector x_t relates to the waveform. `Time` is the
//! paper's (x_t = 200 waveform samples); `Mdct` sees each frame through an orthogonal lapped
//! transform, so the likelihood stays exact in the waveform's own scale while the model
//! works on spectral coefficients; `Hnm` holds a vocoder's parameters (f0 and harmonic and
//! noise envelopes), so voiced harmonics and formants come from the synthesiser. Analysis
//! (waveform to frames) serves training, evaluation and resynthesis, and live analysis the
//! input a voice follows; synthesis (frames to waveform) runs in the audio thread.

pub mod hnm;
mod mdct;
mod time;

pub use hnm::Hnm;
pub use mdct::{LiveMdct, Mdct};
pub use time::{LiveTime, Time};

use crate::config::{Domain, ModelConfig};

/// One frame domain's analysis and synthesis.
pub trait FrameCodec: Send {
    /// The frames of a whole `signal`, frame-major (`frame_dim()` values each,
    /// unnormalised), as many as cover it. Offline: allocates.
    fn analyse(&self, signal: &[f32]) -> Vec<f32>;
    /// Begins synthesising the next frame: its hop (the frame size) of finished samples
    /// then comes out of `render`. Allocation-free, like `render`.
    fn start_frame(&mut self, frame: &[f32]);
    /// The current frame's next `out.len()` samples (at most what is left of its hop). The
    /// samples do not depend on how a hop is cut, so a stream can spread a frame's
    /// synthesis over the callbacks that play it.
    fn render(&mut self, out: &mut [f32]);
    /// Turns the next frame into the next `out.len()` (= the hop) finished samples.
    fn synthesise(&mut self, frame: &[f32], out: &mut [f32]) {
        self.start_frame(frame);
        self.render(out);
    }
    /// Forgets the frames synthesised so far (a voice restarts); `seed` draws whatever
    /// randomness synthesis adds of its own.
    fn reset(&mut self, seed: u64);
    /// Frames by which synthesis lags analysis: the samples of analysed frame t come out
    /// of synthesis with frame t + latency_frames.
    fn latency_frames(&self) -> usize;
    /// Transposes what synthesis plays by `ratio` while keeping its spectral envelope, if
    /// the domain can (true); otherwise the caller varies the playback speed instead.
    fn set_pitch(&mut self, _ratio: f32) -> bool {
        false
    }
    /// Moves the spectral envelope (formants) by `ratio`, where the domain can.
    fn set_formant(&mut self, _ratio: f32) {}
}

/// Live analysis: the frames of a signal that arrives one hop (the frame size) at a time,
/// allocation-free after construction (live input runs it in the audio thread).
pub trait LiveAnalyser: Send {
    /// Takes the next hop of samples; writes frame k - `lookahead()` after hop k (frame t
    /// as offline analysis numbers it; those before the first are of the silence before the
    /// signal).
    fn push(&mut self, hop: &[f32], frame: &mut [f32]);
    /// Hops a frame waits for the samples after it that its analysis reads.
    fn lookahead(&self) -> usize;
    /// Forgets the signal so far.
    fn reset(&mut self);
}

/// The live analyser of a model's domain (allocates: build it outside the audio thread).
pub fn live_analyser(config: &ModelConfig) -> Box<dyn LiveAnalyser> {
    match config.domain {
        Domain::Time => Box::new(LiveTime),
        Domain::Mdct => Box::new(LiveMdct::new(config.frame_size)),
        Domain::Hnm => Box::new(hnm::LiveHnm::new(config.sample_rate, config.frame_size)),
    }
}

/// A frame's samples made whole at its start and handed out as they are asked for (the
/// domains whose synthesis is cheap enough to do at once).
struct Finished {
    samples: Vec<f32>,
    pos: usize,
}

impl Finished {
    fn new(hop: usize) -> Finished {
        Finished { samples: vec![0.0; hop], pos: hop }
    }

    fn render(&mut self, out: &mut [f32]) {
        out.copy_from_slice(&self.samples[self.pos..self.pos + out.len()]);
        self.pos += out.len();
    }
}

/// The codec of a model's domain (allocates its tables: build it outside the audio thread).
pub fn codec(config: &ModelConfig) -> Box<dyn FrameCodec> {
    match config.domain {
        Domain::Time => Box::new(Time::new(config.frame_size)),
        Domain::Mdct => Box::new(Mdct::new(config.frame_size)),
        Domain::Hnm => Box::new(Hnm::new(config.sample_rate, config.frame_size)),
    }
}
