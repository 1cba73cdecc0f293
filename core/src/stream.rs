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

use crate::domain::{self, FrameCodec};
use crate::generator::Generator;
use crate::listen::Listener;
use crate::model::Model;

pub const MIN_HOST_RATE: f64 = 8_000.0;
pub const MAX_HOST_RATE: f64 = 192_000.0;
/// Default scale of the output's sampling noise where no model is known yet (the plugin's
/// Noise knob): the built-in voice's domain's natural level. Every domain has its own
/// (`Domain::default_noise`), which a new Stream starts from.
pub const DEFAULT_NOISE: f32 = crate::builtin::BUILTIN_DOMAIN.default_noise();
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

/// When a frame's generation step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Whole, in the callback that needs the frame's first sample: no added latency, but
    /// that callback carries the step's full cost.
    Immediate,
    /// In pieces, spread over the playback of the frame before it (one frame of look-ahead,
    /// reported in `latency`), so that every callback carries a similar share.
    Spread,
}

/// Model-rate samples the resampler takes per call: small, so that resampling is spread as
/// evenly as the steps.
const RESAMPLER_CHUNK: usize = 32;
/// Host samples between two pieces of a spread step.
const PACE: usize = 16;

pub struct Stream {
    generator: Generator,
    /// Turns the generator's frames (in the model's domain) into samples.
    codec: Box<dyn FrameCodec>,
    schedule: Schedule,
    resampler: Async<f32>,
    /// host rate / model rate.
    base_ratio: f64,
    pitch: f64,
    /// Samples per frame; the next sample of the current frame to feed to the resampler,
    /// and whether that frame is the silence played while the first spread step runs.
    frame_len: usize,
    frame_pos: usize,
    silent: bool,
    chunk: Vec<f32>,
    out: Vec<f32>,
    out_len: usize,
    out_pos: usize,
    temperature: f32,
    noise: f32,
    frames: u64,
    /// Host samples since the running step began, and over how many to spread it.
    since_begin: usize,
    horizon: usize,
}

/// What a step follows: a live input's frames, by how much.
#[derive(Clone, Copy)]
pub struct Follow<'a> {
    pub input: &'a Listener,
    /// 0 (improvise from the prior) to 1 (the encoder's posterior of the input).
    pub amount: f32,
    /// The input's clock (`Listener::pushed`) at the first sample this call makes.
    pub at: u64,
}

/// One mono chunk through `resampler` into `out`: the samples it made (none on an error,
/// which the fixed chunk and buffer sizes rule out).
pub(crate) fn resample_chunk(resampler: &mut Async<f32>, chunk: &[f32], out: &mut [f32]) -> usize {
    let capacity = out.len();
    match (SequentialSlice::new(chunk, 1, chunk.len()), SequentialSlice::new_mut(out, 1, capacity))
    {
        (Ok(input), Ok(mut output)) => resampler
            .process_into_buffer(&input, &mut output, None)
            .map_or(0, |(_, produced)| produced),
        _ => 0,
    }
}

pub(crate) fn sinc_parameters() -> SincInterpolationParameters {
    // 256 taps with Blackman-Harris keep images and aliases below -100 dB (tested); linear
    // interpolation of a 256-times oversampled kernel is as clean as cubic at half the cost.
    SincInterpolationParameters {
        sinc_len: 256,
        f_cutoff: None,
        oversampling_factor: 256,
        interpolation: SincInterpolationType::Linear,
        window: WindowFunction::BlackmanHarris2,
    }
}

impl Stream {
    pub fn new(model: Arc<Model>, host_rate: f64, seed: u64) -> Result<Self, StreamError> {
        Self::from_generator(Generator::new(model, seed), host_rate)
    }

    /// A stream whose steps are spread over the callbacks (`Schedule::Spread`).
    pub fn from_generator(generator: Generator, host_rate: f64) -> Result<Self, StreamError> {
        Self::with_schedule(generator, host_rate, Schedule::Spread)
    }

    pub fn with_schedule(
        generator: Generator,
        host_rate: f64,
        schedule: Schedule,
    ) -> Result<Self, StreamError> {
        if !(MIN_HOST_RATE..=MAX_HOST_RATE).contains(&host_rate) {
            return Err(StreamError::HostRate(host_rate));
        }
        let c = &generator.model().config;
        let base_ratio = host_rate / c.sample_rate as f64;
        let resampler = Async::<f32>::new_sinc(
            base_ratio,
            MAX_PITCH_RATIO,
            &sinc_parameters(),
            RESAMPLER_CHUNK,
            1,
            FixedAsync::Input,
        )
        .map_err(|e| StreamError::Resampler(e.to_string()))?;
        let out = vec![0.0; resampler.output_frames_max()];
        let mut codec = domain::codec(c);
        codec.reset(generator.seed());
        let (noise, frame_len) = (c.domain.default_noise(), c.frame_size);
        let mut stream = Stream {
            codec,
            generator,
            schedule,
            resampler,
            base_ratio,
            pitch: 1.0,
            frame_len,
            frame_pos: 0,
            silent: true,
            chunk: vec![0.0; RESAMPLER_CHUNK],
            out,
            out_len: 0,
            out_pos: 0,
            temperature: DEFAULT_TEMPERATURE,
            noise,
            frames: 0,
            since_begin: 0,
            horizon: 1,
        };
        stream.start();
        Ok(stream)
    }

    pub fn schedule(&self) -> Schedule {
        self.schedule
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

    /// Moves the formants by `ratio` (hnm models; other domains ignore it).
    pub fn set_formant(&mut self, ratio: f32) {
        self.codec.set_formant(ratio);
    }

    /// Transposes: 2.0 plays an octave up, 0.5 an octave down. An hnm model moves its f0
    /// and keeps its formants; other domains play faster or slower (varispeed). Clamped to
    /// 1/MAX_PITCH_RATIO..=MAX_PITCH_RATIO; takes effect from the next frame.
    pub fn set_pitch(&mut self, ratio: f64) {
        let ratio = ratio.clamp(1.0 / MAX_PITCH_RATIO, MAX_PITCH_RATIO);
        if ratio != self.pitch {
            self.pitch = ratio;
            if !self.codec.set_pitch(ratio as f32) {
                // Within the range given at construction, so this cannot fail.
                let _ = self.resampler.set_resample_ratio(self.base_ratio / ratio, true);
            }
        }
    }

    /// Changes when steps run; the voice restarts from its seed (allocation-free, so an
    /// audio thread can switch).
    pub fn set_schedule(&mut self, schedule: Schedule) {
        if schedule != self.schedule {
            self.schedule = schedule;
            self.reset(self.generator.seed());
        }
    }

    /// Restarts the voice from `seed`: the same seed replays the same audio.
    pub fn reset(&mut self, seed: u64) {
        self.generator.reset(seed);
        self.codec.reset(seed);
        self.codec.set_pitch(1.0);
        self.resampler.reset();
        self.pitch = 1.0;
        let _ = self.resampler.set_resample_ratio(self.base_ratio, false);
        self.out_len = 0;
        self.out_pos = 0;
        self.frames = 0;
        self.start();
    }

    /// The first frame: generated when first needed, or (spread) a frame of silence played
    /// while the first step runs.
    fn start(&mut self) {
        self.silent = true;
        match self.schedule {
            Schedule::Immediate => self.frame_pos = self.frame_len,
            Schedule::Spread => {
                self.frame_pos = 0;
                self.begin_step(None);
            }
        }
    }

    /// Samples of delay at the host rate (at the original pitch): the resampler's, the
    /// frame domain's (a frame for MDCT's overlap-add), and for a spread schedule the frame
    /// of look-ahead.
    pub fn latency(&self) -> usize {
        let look_ahead = match self.schedule {
            Schedule::Immediate => 0,
            Schedule::Spread => 1,
        };
        let frames = look_ahead + self.codec.latency_frames();
        let frame_samples = (frames * self.frame_len) as f64 * self.base_ratio;
        self.resampler.output_delay() + frame_samples.round() as usize
    }

    /// Frames generated since construction (or the last reset).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Host samples from an input sample to its sound in the output when the stream follows
    /// `input`: the listener's delay, the wait for the next step to begin (half a frame on
    /// average), and the stream's own latency.
    pub fn follow_latency(&self, input: &Listener) -> usize {
        let half_frame = self.frame_len as f64 * self.base_ratio / 2.0;
        input.latency() + half_frame.round() as usize + self.latency()
    }

    /// The next sample at the host rate.
    #[inline]
    pub fn next_sample(&mut self) -> f32 {
        self.next_sample_following(None)
    }

    /// The next sample, following `follow` as `process_following` does.
    #[inline]
    pub fn next_sample_following(&mut self, follow: Option<Follow<'_>>) -> f32 {
        if self.out_pos == self.out_len {
            self.refill(follow);
        }
        self.out_pos += 1;
        self.played(1);
        self.out[self.out_pos - 1]
    }

    /// Fills `out` with the next samples at the host rate.
    pub fn process(&mut self, out: &mut [f32]) {
        self.process_following(out, None);
    }

    /// As `process`, each step following `follow`'s input (when given and its gate is
    /// open) by its amount. The input must have been pushed through the end of this block
    /// first: a step takes the newest input frame complete at the sample where it begins
    /// (on the input's clock), so the output does not depend on how the blocks are cut.
    pub fn process_following(&mut self, out: &mut [f32], follow: Option<Follow<'_>>) {
        let mut filled = 0;
        while filled < out.len() {
            if self.out_pos == self.out_len {
                self.refill(follow.map(|f| Follow { at: f.at + filled as u64, ..f }));
            }
            let to_pace = PACE - self.since_begin % PACE;
            let n = (self.out_len - self.out_pos).min(out.len() - filled).min(to_pace);
            out[filled..filled + n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
            self.out_pos += n;
            filled += n;
            self.played(n);
        }
    }

    /// Counts `n` samples played (never across a multiple of PACE) and, at each multiple,
    /// carries the running step on to its share of the horizon.
    #[inline]
    fn played(&mut self, n: usize) {
        self.since_begin += n;
        if self.since_begin.is_multiple_of(PACE) && self.generator.stepping() {
            let done = self.since_begin.min(self.horizon) as u128;
            let cost = self.generator.running_step_cost() as u128;
            let target = (cost * done / self.horizon as u128) as usize;
            self.generator.work(target);
        }
    }

    /// Begins the next frame's step: following the input frame complete by now, when there
    /// is one and its gate is open; from the prior otherwise.
    fn start_step(&mut self, follow: Option<Follow<'_>>) {
        let (t, n) = (self.temperature, self.noise);
        match follow.and_then(|f| f.input.frame_at(f.at).map(|x| (x, f.amount))) {
            Some(((frame, true), amount)) => self.generator.begin_follow_step(frame, amount, t, n),
            _ => self.generator.begin_step(t, n),
        }
    }

    fn begin_step(&mut self, follow: Option<Follow<'_>>) {
        self.start_step(follow);
        self.since_begin = 0;
        // The next frame is needed after this one's samples have gone into the resampler, up
        // to a chunk early; spread the step over that time at the current pitch.
        let frame = self.frame_len;
        let model_samples = frame - RESAMPLER_CHUNK.min(frame / 2);
        let host = model_samples as f64 * self.base_ratio / self.pitch;
        self.horizon = (host as usize).max(PACE);
    }

    /// Starts synthesising the next frame: the finished spread step (then the next one
    /// begins), or a whole step now.
    fn next_frame(&mut self, follow: Option<Follow<'_>>) {
        if self.schedule == Schedule::Immediate {
            self.start_step(follow);
        }
        self.generator.finish_step();
        self.codec.start_frame(self.generator.frame());
        self.frame_pos = 0;
        self.silent = false;
        self.frames += 1;
        if self.schedule == Schedule::Spread {
            self.begin_step(follow);
        }
    }

    /// One chunk of model-rate samples through the resampler, synthesised as it is needed
    /// (so a frame's synthesis is spread over the callbacks that play it).
    fn refill(&mut self, follow: Option<Follow<'_>>) {
        loop {
            let mut filled = 0;
            while filled < RESAMPLER_CHUNK {
                if self.frame_pos == self.frame_len {
                    self.next_frame(follow);
                }
                let n = (RESAMPLER_CHUNK - filled).min(self.frame_len - self.frame_pos);
                let samples = &mut self.chunk[filled..filled + n];
                if self.silent {
                    samples.fill(0.0);
                } else {
                    self.codec.render(samples);
                }
                self.frame_pos += n;
                filled += n;
            }
            let produced = resample_chunk(&mut self.resampler, &self.chunk, &mut self.out);
            if produced > 0 {
                self.out_len = produced;
                self.out_pos = 0;
                return;
            }
        }
    }
}
