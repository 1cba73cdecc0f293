//! Offline analysis of a recording into hnm frames: YIN pitch with the voicing decision
//! smoothed over neighbouring frames, the power density per mel band from a short Hann
//! spectrum, and each band's split into harmonic and noise power by its autocorrelation at
//! the period (the windowed autocorrelation divided by the window's own, as in Boersma
//! 1993), computed from a spectrum of the longer pitch segment.
//!
//! No parameter may sit at a constant for a whole class of frames: a Gaussian decoder
//! learns such a spike with a vanishing sigma, and a generated voice that falls into it
//! (every unvoiced frame's harmonic envelope at the floor, say) never leaves. So each
//! band's harmonic and noise shares stay within MIN_SHARE of its power, and the recording
//! gets a faint seeded dither, so that digital silence has a noise floor that varies like
//! any other noise.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use super::bands::Bands;
use super::pitch::{Pitch, Yin};
use super::{BANDS, DIM, F0, FLOOR, HARMONIC, NOISE};

/// Frames in the median that removes single-frame octave errors from the contour.
pub(super) const MEDIAN: usize = 5;
/// The least share of a band's power that harmonics or noise take (-25 dB): an unvoiced
/// band's harmonics are this far under its noise, a fully periodic band's noise this far
/// under its harmonics.
const MIN_SHARE: f32 = 0.003;
/// RMS of the dither (-100 dBFS, about 16-bit quantisation noise).
pub(super) const DITHER: f32 = 1e-5;
pub(super) const DITHER_SEED: u64 = 0xD1_7E5;
/// Where a recording has no voiced frame yet: the contour's value.
pub(super) const UNVOICED_F0: f32 = 120.0;

pub struct Analyser {
    hop: usize,
    rate: f32,
    yin: Yin,
    bands: Bands,
    /// The envelope spectrum: a Hann window of about two hops.
    envelope: Spectrum,
    /// Each band's bins of the envelope spectrum.
    band_bins: Vec<std::ops::Range<usize>>,
    /// The harmonicity spectrum: a Hann window over the pitch segment, zero-padded.
    harmonicity: Spectrum,
    /// The harmonicity window's normalised autocorrelation at each lag.
    window_acf: Vec<f32>,
}

/// One spectrum's working buffers, made once.
struct FftBuffers {
    input: Vec<f32>,
    output: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
}

/// The buffers one frame's analysis works in (allocated once: live analysis reuses them).
pub struct FrameBuffers {
    envelope: FftBuffers,
    harmonicity: FftBuffers,
    power: Vec<f32>,
    harm_power: Vec<f32>,
    /// A pitch segment and YIN's difference function.
    pub(super) segment: Vec<f32>,
    pub(super) diff: Vec<f32>,
}

/// A windowed power spectrum of one length.
struct Spectrum {
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl Spectrum {
    fn new(window_len: usize, fft_len: usize) -> Spectrum {
        let window = (0..window_len)
            .map(|i| {
                let x = std::f32::consts::PI * (i as f32 + 0.5) / window_len as f32;
                x.sin() * x.sin()
            })
            .collect();
        Spectrum { window, fft: RealFftPlanner::<f32>::new().plan_fft_forward(fft_len) }
    }

    fn fft_len(&self) -> usize {
        self.fft.len()
    }

    /// |X_b|^2 of the window times the samples around `centre` (zeros outside the signal),
    /// into `power` (its capacity kept: allocation-free once it has grown).
    fn power(&self, signal: &[f32], centre: usize, b: &mut FftBuffers, power: &mut Vec<f32>) {
        let n = self.window.len();
        let start = centre as isize - (n / 2) as isize;
        for (i, (v, w)) in b.input.iter_mut().zip(&self.window).enumerate() {
            *v = sample(signal, start + i as isize) * w;
        }
        b.input[n..].fill(0.0);
        // The lengths come from the plan, so this cannot fail.
        let _ = self.fft.process_with_scratch(&mut b.input, &mut b.output, &mut b.scratch);
        power.clear();
        power.extend(b.output.iter().map(|c| c.norm_sqr()));
    }

    fn buffers(&self) -> FftBuffers {
        FftBuffers {
            input: self.fft.make_input_vec(),
            output: self.fft.make_output_vec(),
            scratch: self.fft.make_scratch_vec(),
        }
    }

    fn window_power(&self) -> f32 {
        self.window.iter().map(|w| w * w).sum()
    }
}

fn sample(signal: &[f32], i: isize) -> f32 {
    usize::try_from(i).ok().and_then(|i| signal.get(i)).copied().unwrap_or(0.0)
}

impl Analyser {
    pub fn new(sample_rate: u32, hop: usize) -> Analyser {
        let rate = sample_rate as f32;
        let yin = Yin::new(sample_rate);
        let bands = Bands::new(sample_rate);
        let envelope_len = (2 * hop + 1).next_power_of_two();
        let envelope = Spectrum::new(envelope_len, envelope_len);
        let bin_hz = rate / envelope_len as f32;
        let band_bins = (0..BANDS)
            .map(|j| {
                let (lo, hi) = bands.edges(j);
                let (a, b) = ((lo / bin_hz).ceil() as usize, (hi / bin_hz).ceil() as usize);
                if b > a {
                    a..b.min(envelope_len / 2 + 1)
                } else {
                    let nearest = (bands.centre(j) / bin_hz).round() as usize;
                    nearest..nearest + 1
                }
            })
            .collect();
        let segment = yin.segment_len();
        let harmonicity = Spectrum::new(segment, (2 * segment).next_power_of_two());
        let w = &harmonicity.window;
        let energy = harmonicity.window_power();
        let window_acf = (0..segment)
            .map(|lag| w.iter().zip(&w[lag..]).map(|(a, b)| a * b).sum::<f32>() / energy)
            .collect();
        Analyser { hop, rate, yin, bands, envelope, band_bins, harmonicity, window_acf }
    }

    /// Frames 0..=ceil(L/hop), frame t centred on sample t * hop.
    pub fn analyse(&self, signal: &[f32]) -> Vec<f32> {
        let mut rng = crate::Rng::new(DITHER_SEED);
        let dithered: Vec<f32> = signal.iter().map(|v| v + DITHER * rng.gaussian()).collect();
        let signal = &dithered[..];
        let frames = signal.len().div_ceil(self.hop) + 1;
        let mut b = self.buffers();
        let f0 = self.contour(signal, frames, &mut b);
        let mut out = vec![0.0; frames * DIM];
        for (t, frame) in out.chunks_exact_mut(DIM).enumerate() {
            self.frame_at(signal, t * self.hop, f0[t], &mut b, frame);
        }
        out
    }

    /// Working buffers for `frame_at` and `pitch_at`.
    pub fn buffers(&self) -> FrameBuffers {
        let segment = self.yin.segment_len();
        FrameBuffers {
            envelope: self.envelope.buffers(),
            harmonicity: self.harmonicity.buffers(),
            power: Vec::with_capacity(self.envelope.fft_len() / 2 + 1),
            harm_power: Vec::with_capacity(self.harmonicity.fft_len() / 2 + 1),
            segment: vec![0.0; segment],
            diff: vec![0.0; segment],
        }
    }

    /// Samples a frame reads on either side of its centre.
    pub fn reach(&self) -> usize {
        let half = |n: usize| n / 2 + 1;
        half(self.yin.segment_len()).max(half(self.envelope.window.len()))
    }

    /// YIN's pitch of the segment centred on `centre`.
    pub fn pitch_at(&self, signal: &[f32], centre: usize, b: &mut FrameBuffers) -> Pitch {
        let start = centre as isize - (b.segment.len() / 2) as isize;
        for (i, v) in b.segment.iter_mut().enumerate() {
            *v = sample(signal, start + i as isize);
        }
        self.yin.estimate(&b.segment, &mut b.diff)
    }

    /// The frame centred on `centre`: `f0` is the contour's value there and whether the
    /// frame is voiced (then its bands are split into harmonics and noise at that f0).
    pub fn frame_at(
        &self,
        signal: &[f32],
        centre: usize,
        f0: (f32, Option<f32>),
        b: &mut FrameBuffers,
        frame: &mut [f32],
    ) {
        let norm = self.envelope.window_power();
        self.envelope.power(signal, centre, &mut b.envelope, &mut b.power);
        if f0.1.is_some() {
            self.harmonicity.power(signal, centre, &mut b.harmonicity, &mut b.harm_power);
        }
        frame[F0] = f0.0.ln();
        for j in 0..BANDS {
            let bins = &b.power[self.band_bins[j].clone()];
            let density = bins.iter().sum::<f32>() / (bins.len() as f32 * norm);
            let h =
                f0.1.map_or(MIN_SHARE, |f0| self.harmonic_share(&b.harm_power, j, f0))
                    .clamp(MIN_SHARE, 1.0 - MIN_SHARE);
            frame[HARMONIC + j] = 0.5 * (h * density + FLOOR).ln();
            frame[NOISE + j] = 0.5 * ((1.0 - h) * density + FLOOR).ln();
        }
    }

    /// Each frame's f0 (a smooth contour through unvoiced frames) and whether it is voiced.
    fn contour(
        &self,
        signal: &[f32],
        frames: usize,
        b: &mut FrameBuffers,
    ) -> Vec<(f32, Option<f32>)> {
        let pitch: Vec<Pitch> =
            (0..frames).map(|t| self.pitch_at(signal, t * self.hop, b)).collect();
        // A frame is voiced when most of the three around it are (no single-frame gaps or
        // blips), and its f0 is the median of the voiced ones among the five around it.
        let voiced: Vec<bool> = (0..frames)
            .map(|t| {
                let around = t.saturating_sub(1)..(t + 2).min(frames);
                2 * pitch[around.clone()].iter().filter(|p| p.voiced).count() > around.len()
            })
            .collect();
        let medians: Vec<Option<f32>> = (0..frames)
            .map(|t| {
                if !voiced[t] {
                    return None;
                }
                let around = t.saturating_sub(MEDIAN / 2)..(t + MEDIAN / 2 + 1).min(frames);
                let mut f: Vec<f32> =
                    around.filter(|&u| voiced[u] && pitch[u].voiced).map(|u| pitch[u].f0).collect();
                if f.is_empty() {
                    f.push(pitch[t].f0);
                }
                f.sort_by(f32::total_cmp);
                Some(f[f.len() / 2])
            })
            .collect();
        fill_contour(&medians)
    }

    /// The share of band j's power that repeats at the period 1 / f0.
    fn harmonic_share(&self, power: &[f32], j: usize, f0: f32) -> f32 {
        let bin_hz = self.rate / self.harmonicity.fft_len() as f32;
        let (lo, hi) = self.bands.edges(j);
        let centre = self.bands.centre(j);
        // At least two harmonics wide, so that a narrow band still sees a period.
        let (lo, hi) = (lo.min(centre - f0), hi.max(centre + f0));
        let first = ((lo / bin_hz).ceil() as usize).max(1);
        let last = ((hi / bin_hz) as usize).min(power.len() - 1);
        let lag = self.rate / f0;
        let omega = std::f32::consts::TAU * lag / self.harmonicity.fft_len() as f32;
        let (mut num, mut den) = (0.0f32, 0.0f32);
        for (b, p) in power.iter().enumerate().take(last + 1).skip(first) {
            num += p * (omega * b as f32).cos();
            den += p;
        }
        let i = (lag as usize).min(self.window_acf.len() - 2);
        let frac = lag - i as f32;
        let acf = self.window_acf[i] + frac * (self.window_acf[i + 1] - self.window_acf[i]);
        if den <= 0.0 || acf <= 0.0 {
            return 0.0;
        }
        (num / den / acf).clamp(0.0, 1.0)
    }
}

/// The contour through every frame: voiced frames keep their f0, unvoiced ones take the
/// log-linear interpolation between the voiced frames around them (held at the ends).
fn fill_contour(voiced: &[Option<f32>]) -> Vec<(f32, Option<f32>)> {
    let known: Vec<(usize, f32)> =
        voiced.iter().enumerate().filter_map(|(t, f)| f.map(|f| (t, f.ln()))).collect();
    if known.is_empty() {
        return voiced.iter().map(|_| (UNVOICED_F0, None)).collect();
    }
    let mut next = 0;
    voiced
        .iter()
        .enumerate()
        .map(|(t, f)| {
            while next < known.len() && known[next].0 < t {
                next += 1;
            }
            let ln_f0 = match (next.checked_sub(1).map(|i| known[i]), known.get(next)) {
                (_, Some(&(u, v))) if u == t => v,
                (Some((a, va)), Some(&(b, vb))) => va + (vb - va) * (t - a) as f32 / (b - a) as f32,
                (Some((_, v)), None) | (None, Some(&(_, v))) => v,
                (None, None) => UNVOICED_F0.ln(),
            };
            (ln_f0.exp(), *f)
        })
        .collect()
}
