//! The host-rate engine: frames from a Generator, band-limited resampling from the model's
//! rate to the host's (with an optional varispeed ratio), served in blocks of any size.
//! Allocation-free after construction; the output depends only on the seed and parameters,
//! never on how the host slices it into blocks.

use std::sync::Arc;

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{
    Adjustable, Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use crate::generator::Generator;
use crate::model::Model;

pub const MIN_HOST_RATE: f64 = 8_000.0;
pub const MAX_HOST_RATE: f64 = 192_000.0;
/// Default scale of the output's sampling noise. The decoder's sigma carries the model's
/// uncertainty about the waveform's fine detail; at full scale (1, the paper's ancestral
/// sampling) it is heard as broadband hiss over the voice.
pub const DEFAULT_NOISE: f32 = 0.3;
/// Default scale of the latent's sampling noise (the prior as trained).
pub const DEFAULT_TEMPERATURE: f32 = 1.0;

/// Largest varispeed ratio (either way) a Stream is built for: three octaves.
pub const MAX_PITCH_RATIO: f64 = 8.0;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("host sample rate {0} Hz is outside {MIN_HOST_RATE}..={MAX_HOST_RATE} Hz")]
    HostRate(f64),
    #[error("resampler: {0}")]
    Resampler(String),
}

pub struct Stream {
    generator: Generator,
    resampler: Async<f32>,
    /// host rate / model rate.
    base_ratio: f64,
    pitch: f64,
    out: Vec<f32>,
    out_len: usize,
    out_pos: usize,
    temperature: f32,
    noise: f32,
    frames: u64,
}

fn sinc_parameters() -> SincInterpolationParameters {
    // 256 taps with Blackman-Harris keeps images and aliases below -90 dB.
    SincInterpolationParameters {
        sinc_len: 256,
        f_cutoff: None,
        oversampling_factor: 256,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    }
}

impl Stream {
    pub fn new(model: Arc<Model>, host_rate: f64, seed: u64) -> Result<Self, StreamError> {
        Self::from_generator(Generator::new(model, seed), host_rate)
    }

    pub fn from_generator(generator: Generator, host_rate: f64) -> Result<Self, StreamError> {
        if !(MIN_HOST_RATE..=MAX_HOST_RATE).contains(&host_rate) {
            return Err(StreamError::HostRate(host_rate));
        }
        let c = &generator.model().config;
        let base_ratio = host_rate / c.sample_rate as f64;
        let resampler = Async::<f32>::new_sinc(
            base_ratio,
            MAX_PITCH_RATIO,
            &sinc_parameters(),
            c.frame_size,
            1,
            FixedAsync::Input,
        )
        .map_err(|e| StreamError::Resampler(e.to_string()))?;
        let out = vec![0.0; resampler.output_frames_max()];
        Ok(Stream {
            generator,
            resampler,
            base_ratio,
            pitch: 1.0,
            out,
            out_len: 0,
            out_pos: 0,
            temperature: DEFAULT_TEMPERATURE,
            noise: DEFAULT_NOISE,
            frames: 0,
        })
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    pub fn model(&self) -> &Arc<Model> {
        self.generator.model()
    }

    pub fn set_temperature(&mut self, t: f32) {
        self.temperature = t;
    }

    pub fn set_noise(&mut self, n: f32) {
        self.noise = n;
    }

    /// Varispeed: 2.0 plays an octave up (faster), 0.5 an octave down. Clamped to
    /// 1/MAX_PITCH_RATIO..=MAX_PITCH_RATIO; takes effect from the next frame.
    pub fn set_pitch(&mut self, ratio: f64) {
        let ratio = ratio.clamp(1.0 / MAX_PITCH_RATIO, MAX_PITCH_RATIO);
        if ratio != self.pitch {
            self.pitch = ratio;
            // Within the range given at construction, so this cannot fail.
            let _ = self.resampler.set_resample_ratio(self.base_ratio / ratio, true);
        }
    }

    /// Restarts the voice from `seed`: the same seed replays the same audio.
    pub fn reset(&mut self, seed: u64) {
        self.generator.reset(seed);
        self.resampler.reset();
        self.pitch = 1.0;
        let _ = self.resampler.set_resample_ratio(self.base_ratio, false);
        self.out_len = 0;
        self.out_pos = 0;
        self.frames = 0;
    }

    /// Samples of delay the resampler adds, at the host rate.
    pub fn latency(&self) -> usize {
        self.resampler.output_delay()
    }

    /// Frames generated since construction (or the last reset).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The next sample at the host rate.
    #[inline]
    pub fn next_sample(&mut self) -> f32 {
        if self.out_pos == self.out_len {
            self.refill();
        }
        self.out_pos += 1;
        self.out[self.out_pos - 1]
    }

    /// Fills `out` with the next samples at the host rate.
    pub fn process(&mut self, out: &mut [f32]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.out_pos == self.out_len {
                self.refill();
            }
            let n = (self.out_len - self.out_pos).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
            self.out_pos += n;
            filled += n;
        }
    }

    /// One frame from the generator through the resampler.
    fn refill(&mut self) {
        loop {
            let frame = self.generator.step(self.temperature, self.noise);
            self.frames += 1;
            let (frames, capacity) = (frame.len(), self.out.len());
            let produced = match (
                SequentialSlice::new(frame, 1, frames),
                SequentialSlice::new_mut(&mut self.out, 1, capacity),
            ) {
                (Ok(input), Ok(mut output)) => self
                    .resampler
                    .process_into_buffer(&input, &mut output, None)
                    .map_or(0, |(_, produced)| produced),
                _ => 0,
            };
            if produced > 0 {
                self.out_len = produced;
                self.out_pos = 0;
                return;
            }
        }
    }
}
