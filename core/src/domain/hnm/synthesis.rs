//! Real-time hnm synthesis: an additive bank of harmonics of f0 whose amplitudes come from
//! the harmonic envelope at each harmonic's frequency, plus noise shaped by the noise
//! envelope. Within a frame f0 and every harmonic's amplitude move linearly from the
//! previous frame's values to this one's, with one continuous phase, so nothing clicks at
//! frame boundaries; the noise is a random spectrum per frame through an inverse FFT,
//! sine-windowed over two hops and overlap-added (the window's squares sum to one, so the
//! noise keeps its power). Everything is allocated in `new`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

use super::bands::Bands;
use super::{BANDS, F0, F0_MIN, FLOOR, HARMONIC, NOISE};
use crate::Rng;

/// Harmonics above this share of Nyquist are left out (no aliasing while f0 glides).
const BANDWIDTH: f32 = 0.95;
/// The most harmonics one frame plays (f0 at F0_MIN / 2 at 16 kHz needs about 250).
const MAX_HARMONICS: usize = 256;
/// Envelope values are clamped to this range of 0.5 ln S before use (a generated frame can
/// hold anything): from the floor to +20 dB above full-scale white noise.
const ENVELOPE_RANGE: (f32, f32) = (-14.0, 2.3);
/// Samples the oscillator bank computes side by side.
const LANES: usize = 8;
/// sqrt(3): a uniform value in +-sqrt(3) has unit variance.
const SQRT_3: f32 = 1.732_050_8;

pub struct Synthesiser {
    rate: f32,
    hop: usize,
    bands: Bands,
    /// The fundamental's phase in cycles, in [0, 1).
    phase: f64,
    /// The previous frame's f0 and harmonic amplitudes (where this frame starts from), this
    /// frame's (where it ends), and how many harmonics either plays.
    f0: f32,
    amplitudes: Vec<f32>,
    target_f0: f32,
    next: Vec<f32>,
    count: usize,
    /// The next sample of the frame to render.
    pos: usize,
    /// Whether a frame has been played since the last reset (the first fades in).
    started: bool,
    pitch: f32,
    formant: f32,
    noise_fft: Arc<dyn ComplexToReal<f32>>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    block: Vec<f32>,
    /// Each noise bin's place between band centres, read through the formant shift that
    /// `bin_formant` holds (rebuilt in place when the formant moves, not every frame).
    bin_bands: Vec<(usize, f32)>,
    bin_formant: f32,
    window: Vec<f32>,
    tail: Vec<f32>,
    rng: Rng,
}

impl Synthesiser {
    pub fn new(sample_rate: u32, hop: usize) -> Synthesiser {
        let rate = sample_rate as f32;
        let bands = Bands::new(sample_rate);
        let fft_len = (2 * hop).next_power_of_two();
        let noise_fft = RealFftPlanner::<f32>::new().plan_fft_inverse(fft_len);
        let bin_bands = (0..fft_len / 2 + 1)
            .map(|b| bands.position(b as f32 * rate / fft_len as f32))
            .collect();
        let window = (0..2 * hop)
            .map(|i| (std::f32::consts::PI * (i as f32 + 0.5) / (2 * hop) as f32).sin())
            .collect();
        Synthesiser {
            rate,
            hop,
            bands,
            phase: 0.0,
            f0: F0_MIN,
            amplitudes: vec![0.0; MAX_HARMONICS],
            target_f0: F0_MIN,
            next: vec![0.0; MAX_HARMONICS],
            count: 0,
            pos: hop,
            started: false,
            pitch: 1.0,
            formant: 1.0,
            spectrum: noise_fft.make_input_vec(),
            scratch: noise_fft.make_scratch_vec(),
            block: noise_fft.make_output_vec(),
            noise_fft,
            bin_bands,
            bin_formant: 1.0,
            window,
            tail: vec![0.0; hop],
            rng: Rng::new(0),
        }
    }

    pub fn reset(&mut self, seed: u64) {
        self.phase = 0.0;
        self.amplitudes.fill(0.0);
        self.started = false;
        self.tail.fill(0.0);
        self.pos = self.hop;
        self.rng = Rng::new(seed ^ 0x4E01_5E00);
    }

    /// Multiplies f0 (MIDI notes and bends); the envelopes stay where they are.
    pub fn set_pitch(&mut self, ratio: f32) {
        self.pitch = if ratio.is_finite() { ratio.clamp(0.125, 8.0) } else { 1.0 };
    }

    /// Moves both envelopes up (> 1) or down in frequency: the formants, not the pitch.
    pub fn set_formant(&mut self, ratio: f32) {
        self.formant = if ratio.is_finite() { ratio.clamp(0.5, 2.0) } else { 1.0 };
    }

    /// Begins one hnm frame (unnormalised): its `hop` samples then come from `render`.
    pub fn start_frame(&mut self, frame: &[f32]) {
        if self.started {
            self.finish_frame();
        }
        let nyquist = 0.5 * self.rate;
        let ln_f0 = frame[F0];
        let f0 = if ln_f0.is_finite() { ln_f0.exp() * self.pitch } else { self.f0 };
        let f0 = f0.clamp(0.5 * F0_MIN, 0.25 * self.rate);
        let mut envelope = [0.0f32; 2 * BANDS];
        for (e, v) in envelope.iter_mut().zip(&frame[HARMONIC..NOISE + BANDS]) {
            *e = if v.is_finite() {
                v.clamp(ENVELOPE_RANGE.0, ENVELOPE_RANGE.1)
            } else {
                ENVELOPE_RANGE.0
            };
        }
        let (harmonic, noise) = envelope.split_at(BANDS);
        let count = ((BANDWIDTH * nyquist / f0) as usize).min(MAX_HARMONICS);
        for (k, a) in self.next.iter_mut().enumerate() {
            let hz = (k + 1) as f32 * f0;
            *a = if k < count {
                let density =
                    (2.0 * self.bands.value_at(harmonic, hz / self.formant)).exp() - FLOOR;
                2.0 * (f0 * density.max(0.0) / self.rate).sqrt()
            } else {
                0.0
            };
        }
        if !self.started {
            self.f0 = f0;
            self.started = true;
        }
        self.target_f0 = f0;
        self.count = self
            .amplitudes
            .iter()
            .zip(&self.next)
            .rposition(|(a, b)| *a != 0.0 || *b != 0.0)
            .map_or(0, |k| k + 1);
        self.noise(noise);
        self.pos = 0;
    }

    /// The current frame's next `out.len()` samples: harmonics and noise.
    pub fn render(&mut self, out: &mut [f32]) {
        let start = self.pos;
        self.harmonics(out);
        for (i, o) in (start..).zip(out.iter_mut()) {
            *o += self.block[i] * self.window[i] + self.tail[i];
        }
        self.pos += out.len();
    }

    /// The frame played becomes the one the next starts from.
    fn finish_frame(&mut self) {
        std::mem::swap(&mut self.amplitudes, &mut self.next);
        self.f0 = self.target_f0;
        let hop = self.hop;
        for (i, t) in self.tail.iter_mut().enumerate() {
            *t = self.block[hop + i] * self.window[hop + i];
        }
    }

    /// Writes the harmonics of the frame's samples `self.pos..` into `out`, from the
    /// previous frame's f0 and amplitudes to this one's. LANES consecutive samples at a
    /// time: their recurrences are independent, so they overlap in the pipeline (and in
    /// SIMD registers) instead of waiting on each other. Every sample is computed alone, so
    /// the result does not depend on where a hop is cut.
    fn harmonics(&mut self, out: &mut [f32]) {
        let (n, count) = (self.hop, self.count);
        let (from, to) = (self.f0 as f64, self.target_f0 as f64);
        let rate = self.rate as f64;
        for (block, chunk) in out.chunks_mut(LANES).enumerate() {
            let first = self.pos + block * LANES;
            let (mut alpha, mut cur, mut twice_cos) =
                ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
            for l in 0..chunk.len() {
                alpha[l] = (first + l + 1) as f64 / n as f64;
                self.phase = (self.phase + (from + (to - from) * alpha[l]) / rate).fract();
                let (s, c) = (std::f64::consts::TAU * self.phase).sin_cos();
                (cur[l], twice_cos[l]) = (s, 2.0 * c);
            }
            // sin(k phi) by the Chebyshev recurrence, each amplitude moving linearly.
            let (mut prev, mut start, mut delta) =
                ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
            for (a, b) in self.amplitudes[..count].iter().zip(&self.next[..count]) {
                let (a, d) = (*a as f64, (*b - *a) as f64);
                for l in 0..LANES {
                    start[l] += a * cur[l];
                    delta[l] += d * cur[l];
                    let following = twice_cos[l] * cur[l] - prev[l];
                    prev[l] = cur[l];
                    cur[l] = following;
                }
            }
            for (l, o) in chunk.iter_mut().enumerate() {
                *o = (start[l] + alpha[l] * delta[l]) as f32;
            }
        }
    }

    /// Draws this frame's noise block (two hops, windowed when rendered; its first half
    /// overlaps the last block's tail).
    fn noise(&mut self, envelope: &[f32]) {
        let scale = 1.0 / self.block.len() as f32;
        if self.bin_formant != self.formant {
            // The formant shift reads the envelope lower (or higher) in frequency.
            let bin_hz = self.rate * scale / self.formant;
            for (b, place) in self.bin_bands.iter_mut().enumerate() {
                *place = self.bands.position(b as f32 * bin_hz);
            }
            self.bin_formant = self.formant;
        }
        for (c, &(j, w)) in self.spectrum.iter_mut().zip(&self.bin_bands) {
            let v = envelope[j] + w * (envelope[j + 1] - envelope[j]);
            let density = ((2.0 * v).exp() - FLOOR).max(0.0);
            let amplitude = (0.5 * density * scale).sqrt();
            // Uniform rather than Gaussian parts: the inverse FFT sums hundreds of bins, so
            // each sample is Gaussian all the same, without a logarithm per bin.
            let (re, im) = (self.rng.uniform() - 0.5, self.rng.uniform() - 0.5);
            *c = Complex::new(2.0 * SQRT_3 * amplitude * re, 2.0 * SQRT_3 * amplitude * im);
        }
        let last = self.spectrum.len() - 1;
        self.spectrum[0] = Complex::new(0.0, 0.0);
        self.spectrum[last] = Complex::new(0.0, 0.0);
        // The lengths come from the plan and the end bins are real, so this cannot fail.
        let _ = self.noise_fft.process_with_scratch(
            &mut self.spectrum,
            &mut self.block,
            &mut self.scratch,
        );
    }
}
