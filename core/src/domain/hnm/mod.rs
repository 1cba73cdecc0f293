//! The harmonic-plus-noise domain: frame t holds vocoder parameters instead of samples,
//! x_t = [ln f0, harmonic envelope (BANDS values), noise envelope (BANDS values)], so that
//! harmonics and formants are a property of the synthesiser rather than something the
//! VRNN's Gaussian must predict sample by sample (DDSP's idea, with the VRNN's latent
//! recurrence generating the parameters).
//!
//! Each envelope value is 0.5 ln(S + FLOOR) of a power density S (the signal's variance per
//! unit of normalised bandwidth: white noise of variance s^2 has S = s^2 everywhere) in one
//! of BANDS mel-spaced bands, read between band centres by linear interpolation. The
//! harmonic envelope is sampled at each harmonic of f0, so shifting f0 keeps the formants
//! where they are. Unvoiced frames have a harmonic envelope at the floor and an f0
//! interpolated from their voiced neighbours, so ln f0 is one smooth contour.
//!
//! Frame t describes the signal around sample t * hop, like the MDCT's blocks: synthesis
//! of frame t plays the samples from frame t-1's centre to frame t's, so a frame's sound is
//! finished one frame after it (one frame of latency).

mod analysis;
mod bands;
mod live;
mod pitch;
mod synthesis;

pub use analysis::Analyser;
pub use live::LiveHnm;
pub use synthesis::Synthesiser;

use super::FrameCodec;

/// Mel bands of each envelope.
pub const BANDS: usize = 32;
/// Values per frame: ln f0 and the two envelopes.
pub const DIM: usize = 1 + 2 * BANDS;
/// Where each part of the frame starts.
pub const F0: usize = 0;
pub const HARMONIC: usize = 1;
pub const NOISE: usize = 1 + BANDS;
/// The pitch range analysis searches (speech and most singing).
pub const F0_MIN: f32 = 60.0;
pub const F0_MAX: f32 = 800.0;
/// Added to every power density before its logarithm (-120 dB: silence).
pub const FLOOR: f32 = 1e-12;

/// The hnm domain's codec: offline analysis, real-time synthesis.
pub struct Hnm {
    analyser: Analyser,
    synthesiser: Synthesiser,
}

impl Hnm {
    pub fn new(sample_rate: u32, hop: usize) -> Hnm {
        Hnm {
            analyser: Analyser::new(sample_rate, hop),
            synthesiser: Synthesiser::new(sample_rate, hop),
        }
    }
}

impl FrameCodec for Hnm {
    fn analyse(&self, signal: &[f32]) -> Vec<f32> {
        self.analyser.analyse(signal)
    }

    fn start_frame(&mut self, frame: &[f32]) {
        self.synthesiser.start_frame(frame);
    }

    fn render(&mut self, out: &mut [f32]) {
        self.synthesiser.render(out);
    }

    fn reset(&mut self, seed: u64) {
        self.synthesiser.reset(seed);
    }

    fn latency_frames(&self) -> usize {
        1
    }

    fn set_pitch(&mut self, ratio: f32) -> bool {
        self.synthesiser.set_pitch(ratio);
        true
    }

    fn set_formant(&mut self, ratio: f32) {
        self.synthesiser.set_formant(ratio);
    }
}
