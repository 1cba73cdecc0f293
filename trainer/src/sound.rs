//! The sound-match figures: how a rendered voice compares with reference recordings, by
//! measurement. Every figure works on mono audio at one rate (the model's):
//!
//! - long-term average spectrum (LTAS) in third-octave bands 80 Hz - 6.3 kHz, level-normalised
//!   (mean band level removed), compared as the RMS of the band differences in dB;
//! - spectral flatness (geometric over arithmetic mean of the power spectrum, 80 Hz - 7 kHz),
//!   averaged over active frames: near 1 for white noise, a few hundredths for speech;
//! - level: RMS of the active frames in dBFS;
//! - envelope modulation spectrum: the 10 ms RMS envelope's power in octave bands 0.5 - 32 Hz
//!   as a distribution (compared by L1 distance), and its share in 2 - 8 Hz, the syllable
//!   rhythm of speech;
//! - voiced fraction: active 40 ms frames whose normalised autocorrelation, past its first
//!   zero, peaks above 0.5 at a lag of a 60 - 400 Hz pitch (a period of one model frame, the
//!   buzz of a frame grid, does not count);
//! - click ratio: energy of the second difference at frame boundaries over its mean
//!   elsewhere (about 1 for natural audio, far above for a click at every boundary);
//! - long-pause share: the share of the time in silences of a second or more (10 ms frames
//!   40 dB below the loudest second), near 0 for running speech and 1 for a voice that fell
//!   silent.
//!
//! "Active" frames are those within 35 dB of the loudest (95th percentile) frame.

use std::sync::Arc;

use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

/// Third-octave band centres: 1 kHz x 2^(k/3) for k in -11..=8 (80 Hz to 6.3 kHz).
const LTAS_BANDS: std::ops::RangeInclusive<i32> = -11..=8;
const LTAS_FFT: usize = 2048;
const FLATNESS_FFT: usize = 1024;
/// Envelope frame: 10 ms.
const ENVELOPE_SECONDS: f64 = 0.01;
/// Octave bands of the modulation spectrum, Hz.
pub const MODULATION_BANDS: [(f64, f64); 6] =
    [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, 32.0)];
/// 1024 envelope frames (10.24 s) per modulation segment.
const MODULATION_SEGMENT: usize = 1024;
const ACTIVE_RANGE_DB: f64 = 35.0;
const VOICING_THRESHOLD: f64 = 0.5;
/// The highest f0 the voiced fraction counts (speech).
const VOICING_F0_MAX: u32 = 400;
/// Pitch lags this close to the frame size count as the frame grid, not as voicing.
const FRAME_GRID_LAGS: usize = 2;
/// A correlation peak within this share of the best one is the period (not its multiple).
const PERIOD_PEAK: f64 = 0.9;
/// A pause frame is this far below the loudest second.
const PAUSE_DB: f64 = 40.0;
/// Silences at least this long are long pauses.
const LONG_PAUSE_SECONDS: f64 = 1.0;

/// What the figures measure on one signal (or several, pooled).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Features {
    /// Third-octave band levels, dB, mean removed.
    pub ltas_db: Vec<f64>,
    pub flatness: f64,
    pub level_dbfs: f64,
    /// Share of the envelope's modulation power in each of `MODULATION_BANDS` (sums to 1).
    pub modulation: Vec<f64>,
    pub voiced_fraction: f64,
    pub click_ratio: f64,
    /// Share of the duration in silences of LONG_PAUSE_SECONDS or more.
    #[serde(default)]
    pub long_pause_share: f64,
}

impl Features {
    /// Share of the modulation power between 2 and 8 Hz.
    pub fn modulation_2_8(&self) -> f64 {
        self.modulation[2] + self.modulation[3]
    }
}

/// Measures `x` (at `rate` Hz); frames of `frame` samples start at sample `frame_phase`
/// (for the click ratio; any phase for audio that has no frames).
pub fn features(x: &[f32], rate: u32, frame: usize, frame_phase: usize) -> Features {
    features_and_bands(x, rate, frame, frame_phase).0
}

/// The features, and the band powers before level normalisation (for pooling).
fn features_and_bands(x: &[f32], rate: u32, frame: usize, phase: usize) -> (Features, Vec<f64>) {
    let active = ActiveGate::new(x, rate);
    let bands = ltas_power(x, rate);
    let f = Features {
        ltas_db: normalise_db(&bands),
        flatness: flatness(x, rate, &active),
        level_dbfs: active.level_dbfs(),
        modulation: modulation(x, rate),
        voiced_fraction: voiced_fraction(x, rate, frame, &active),
        click_ratio: click_ratio(x, frame, phase),
        long_pause_share: long_pause_share(x, rate),
    };
    (f, bands)
}

/// Features of several recordings as one: spectra and modulation pooled by power, the
/// other figures averaged with each recording's length as its weight.
pub fn pooled(signals: &[Vec<f32>], rate: u32, frame: usize) -> Features {
    let total: f64 = signals.iter().map(|s| s.len() as f64).sum();
    let each: Vec<(f64, Features, Vec<f64>)> = signals
        .iter()
        .map(|s| {
            let (f, bands) = features_and_bands(s, rate, frame, 0);
            (s.len() as f64 / total, f, bands)
        })
        .collect();
    let mean = |f: &dyn Fn(&Features) -> f64| each.iter().map(|(w, e, _)| w * f(e)).sum::<f64>();
    let bands = each[0].2.len();
    let power: Vec<f64> = (0..bands).map(|b| each.iter().map(|(w, _, p)| w * p[b]).sum()).collect();
    let modulation =
        (0..MODULATION_BANDS.len()).map(|b| mean(&|e: &Features| e.modulation[b])).collect();
    Features {
        ltas_db: normalise_db(&power),
        flatness: mean(&|e| e.flatness),
        level_dbfs: mean(&|e| e.level_dbfs),
        modulation,
        voiced_fraction: mean(&|e| e.voiced_fraction),
        click_ratio: mean(&|e| e.click_ratio),
        long_pause_share: mean(&|e| e.long_pause_share),
    }
}

/// RMS difference of two level-normalised band spectra, dB.
pub fn ltas_distance(a: &Features, b: &Features) -> f64 {
    let n = a.ltas_db.len() as f64;
    (a.ltas_db.iter().zip(&b.ltas_db).map(|(p, q)| (p - q).powi(2)).sum::<f64>() / n).sqrt()
}

/// The LTAS distance over the third-octave bands from `hz` up only, each spectrum
/// level-normalised over those bands (how far a spectral envelope moved there).
pub fn ltas_distance_above(a: &Features, b: &Features, hz: f64) -> f64 {
    let first = LTAS_BANDS.clone().position(|k| 1000.0 * 2f64.powf(k as f64 / 3.0) >= hz * 0.99);
    let Some(first) = first else { return 0.0 };
    let upper = |f: &Features| {
        let v = &f.ltas_db[first..];
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - mean).collect::<Vec<f64>>()
    };
    let (p, q) = (upper(a), upper(b));
    (p.iter().zip(&q).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / p.len() as f64).sqrt()
}

/// L1 distance of two modulation distributions (0 to 2).
pub fn modulation_distance(a: &Features, b: &Features) -> f64 {
    a.modulation.iter().zip(&b.modulation).map(|(p, q)| (p - q).abs()).sum()
}

fn normalise_db(power: &[f64]) -> Vec<f64> {
    let db: Vec<f64> = power.iter().map(|p| 10.0 * (p + 1e-20).log10()).collect();
    let mean = db.iter().sum::<f64>() / db.len() as f64;
    db.iter().map(|d| d - mean).collect()
}

fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()) as f32)
        .collect()
}

/// Power spectra of Hann-windowed frames of `n` samples, hop n/2, one per frame start.
struct Spectra {
    fft: Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    output: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f64>,
}

impl Spectra {
    fn new(n: usize) -> Spectra {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let output = fft.make_output_vec();
        Spectra {
            input: vec![0.0; n],
            power: vec![0.0; output.len()],
            output,
            window: hann(n),
            fft,
        }
    }

    fn len(&self) -> usize {
        self.window.len()
    }

    /// The power spectrum of `x[start..start + n]` (zero past the end).
    fn frame(&mut self, x: &[f32], start: usize) -> &[f64] {
        for (i, v) in self.input.iter_mut().enumerate() {
            *v = x.get(start + i).copied().unwrap_or(0.0) * self.window[i];
        }
        // Buffers are sized by the plan, so this cannot fail.
        let _ = self.fft.process(&mut self.input, &mut self.output);
        for (p, c) in self.power.iter_mut().zip(&self.output) {
            *p = c.norm_sqr() as f64;
        }
        &self.power
    }

    fn starts(&self, len: usize) -> impl Iterator<Item = usize> {
        (0..len.saturating_sub(self.len()).max(1)).step_by(self.len() / 2)
    }
}

/// Mean power in each third-octave band.
fn ltas_power(x: &[f32], rate: u32) -> Vec<f64> {
    let mut spectra = Spectra::new(LTAS_FFT);
    let mut mean = vec![0.0f64; LTAS_FFT / 2 + 1];
    let mut frames = 0.0;
    for start in spectra.starts(x.len()).collect::<Vec<_>>() {
        mean.iter_mut().zip(spectra.frame(x, start)).for_each(|(m, p)| *m += p);
        frames += 1.0;
    }
    let bin_hz = rate as f64 / LTAS_FFT as f64;
    LTAS_BANDS
        .map(|k| {
            let centre = 1000.0 * 2f64.powf(k as f64 / 3.0);
            let (lo, hi) = (centre * 2f64.powf(-1.0 / 6.0), centre * 2f64.powf(1.0 / 6.0));
            let bins = (lo / bin_hz).ceil() as usize..=((hi / bin_hz).floor() as usize);
            let count = bins.clone().count().max(1) as f64;
            bins.map(|b| mean.get(b).copied().unwrap_or(0.0)).sum::<f64>() / count / frames
        })
        .collect()
}

/// Which 10 ms frames are active: within ACTIVE_RANGE_DB of the loudest (95th percentile).
struct ActiveGate {
    hop: usize,
    rms: Vec<f64>,
    threshold: f64,
}

impl ActiveGate {
    fn new(x: &[f32], rate: u32) -> ActiveGate {
        let hop = (rate as f64 * ENVELOPE_SECONDS).round() as usize;
        let rms = envelope(x, hop);
        let mut sorted = rms.clone();
        sorted.sort_by(f64::total_cmp);
        let loud = sorted.get(sorted.len() * 95 / 100).copied().unwrap_or(0.0);
        ActiveGate { hop, rms, threshold: (loud * 10f64.powf(-ACTIVE_RANGE_DB / 20.0)).max(1e-7) }
    }

    /// Whether the `len` samples from `start` are active (their middle 10 ms frame is).
    fn is_active(&self, start: usize, len: usize) -> bool {
        self.rms.get((start + len / 2) / self.hop).is_some_and(|r| *r >= self.threshold)
    }

    fn level_dbfs(&self) -> f64 {
        let active: Vec<f64> =
            self.rms.iter().filter(|r| **r >= self.threshold).map(|r| r * r).collect();
        let power = active.iter().sum::<f64>() / active.len().max(1) as f64;
        10.0 * (power + 1e-20).log10()
    }
}

/// RMS of consecutive frames of `hop` samples.
fn envelope(x: &[f32], hop: usize) -> Vec<f64> {
    x.chunks(hop)
        .map(|c| (c.iter().map(|v| *v as f64 * *v as f64).sum::<f64>() / c.len() as f64).sqrt())
        .collect()
}

fn flatness(x: &[f32], rate: u32, active: &ActiveGate) -> f64 {
    let mut spectra = Spectra::new(FLATNESS_FFT);
    let bin_hz = rate as f64 / FLATNESS_FFT as f64;
    let bins =
        (80.0 / bin_hz).ceil() as usize..=((7000.0f64.min(rate as f64 * 0.45) / bin_hz) as usize);
    let (mut sum, mut count) = (0.0, 0.0);
    for start in spectra.starts(x.len()).collect::<Vec<_>>() {
        if !active.is_active(start, FLATNESS_FFT) {
            continue;
        }
        let p = &spectra.frame(x, start)[bins.clone()];
        let n = p.len() as f64;
        let log_mean = p.iter().map(|v| (v + 1e-20).ln()).sum::<f64>() / n;
        let mean = p.iter().sum::<f64>() / n;
        sum += log_mean.exp() / (mean + 1e-20);
        count += 1.0;
    }
    if count == 0.0 {
        1.0
    } else {
        sum / count
    }
}

/// Modulation power of the 10 ms RMS envelope per octave band, as shares of their sum
/// (Welch: Hann segments of 10.24 s, half overlapping; one zero-padded segment for less).
fn modulation(x: &[f32], rate: u32) -> Vec<f64> {
    let hop = (rate as f64 * ENVELOPE_SECONDS).round() as usize;
    let env: Vec<f32> = envelope(x, hop).iter().map(|v| *v as f32).collect();
    let mut spectra = Spectra::new(MODULATION_SEGMENT);
    let env_rate = rate as f64 / hop as f64;
    let bin_hz = env_rate / MODULATION_SEGMENT as f64;
    let mut bands = vec![0.0f64; MODULATION_BANDS.len()];
    for start in spectra.starts(env.len()).collect::<Vec<_>>() {
        let end = (start + MODULATION_SEGMENT).min(env.len());
        let mean = env[start..end].iter().sum::<f32>() / (end - start).max(1) as f32;
        let segment: Vec<f32> = env[start..end].iter().map(|v| v - mean).collect();
        let p = spectra.frame(&segment, 0);
        for (band, (lo, hi)) in bands.iter_mut().zip(MODULATION_BANDS) {
            let bins = (lo / bin_hz).ceil() as usize..((hi / bin_hz).ceil() as usize);
            *band += bins.map(|b| p.get(b).copied().unwrap_or(0.0)).sum::<f64>();
        }
    }
    let total = bands.iter().sum::<f64>();
    if total <= 0.0 {
        return vec![1.0 / bands.len() as f64; bands.len()];
    }
    bands.iter().map(|b| b / total).collect()
}

/// Share of the 10 ms frames that lie in a run of at least LONG_PAUSE_SECONDS of frames
/// PAUSE_DB below the RMS of the loudest second (a threshold that a voice silent most of
/// the time cannot drag down, and that no single click lifts).
fn long_pause_share(x: &[f32], rate: u32) -> f64 {
    let hop = (rate as f64 * ENVELOPE_SECONDS).round() as usize;
    let loudest = envelope(x, (rate as usize).max(1)).into_iter().fold(0.0, f64::max);
    if loudest == 0.0 {
        return 1.0;
    }
    let threshold = loudest * 10f64.powf(-PAUSE_DB / 20.0);
    let long = (LONG_PAUSE_SECONDS / ENVELOPE_SECONDS).round() as usize;
    let env = envelope(x, hop);
    let (mut run, mut in_long_pauses) = (0, 0);
    for r in &env {
        if *r < threshold {
            run += 1;
            continue;
        }
        if run >= long {
            in_long_pauses += run;
        }
        run = 0;
    }
    if run >= long {
        in_long_pauses += run;
    }
    in_long_pauses as f64 / env.len().max(1) as f64
}

/// Fraction of active 40 ms frames (hop 10 ms) with a pitch in 60 - 400 Hz.
fn voiced_fraction(x: &[f32], rate: u32, frame: usize, active: &ActiveGate) -> f64 {
    let periods = periods(x, rate, frame, active, VOICING_F0_MAX);
    periods.iter().flatten().count() as f64 / periods.len().max(1) as f64
}

/// The median f0 of `x`'s voiced frames (the voiced fraction's autocorrelation pitch, up
/// to 1 kHz so that transposed voices are measured too), None when no frame is voiced.
pub fn median_f0(x: &[f32], rate: u32) -> Option<f64> {
    let active = ActiveGate::new(x, rate);
    let mut lags: Vec<f64> = periods(x, rate, 0, &active, 1000).into_iter().flatten().collect();
    lags.sort_by(f64::total_cmp);
    lags.get(lags.len() / 2).map(|lag| rate as f64 / lag)
}

/// Each active 40 ms frame's pitch period in samples (f0 from 60 Hz to `f0_max`; the
/// peak refined by a parabola), None when unvoiced.
fn periods(
    x: &[f32],
    rate: u32,
    frame: usize,
    active: &ActiveGate,
    f0_max: u32,
) -> Vec<Option<f64>> {
    let len = (rate as f64 * 0.04) as usize;
    let hop = (rate as f64 * ENVELOPE_SECONDS).round() as usize;
    let (min_lag, max_lag) = ((rate / f0_max) as usize, (rate / 60) as usize);
    let mut periods = Vec::new();
    let mut start = 0;
    while start + len + max_lag <= x.len() {
        if active.is_active(start, len) {
            let a = &x[start..start + len];
            let ea: f64 = a.iter().map(|v| *v as f64 * *v as f64).sum();
            let r = |lag: usize| {
                let b = &x[start + lag..start + lag + len];
                let (mut dot, mut eb) = (0.0f32, 0.0f32);
                for (p, q) in a.iter().zip(b) {
                    dot += p * q;
                    eb += q * q;
                }
                dot as f64 / (ea * eb as f64).sqrt().max(1e-20)
            };
            // The pitch peak lies past the autocorrelation's first zero: before it, any
            // low-passed sound correlates with itself.
            let first =
                (1..=max_lag).position(|lag| r(lag) < 0.0).map(|zero| min_lag.max(zero + 1));
            let candidates: Vec<(usize, f64)> =
                first.map_or(Vec::new(), |f| (f..=max_lag).map(|lag| (lag, r(lag))).collect());
            let best = candidates.iter().fold((0, 0.0), |b, c| if c.1 > b.1 { *c } else { b });
            // A period of exactly one frame is the model's frame grid (a buzz at the frame
            // rate), not a voice's pitch.
            let frame_grid = frame > 0 && best.0.abs_diff(frame) <= FRAME_GRID_LAGS;
            // The period is the first peak nearly as high as the best (a multiple of the
            // period correlates as well as the period itself).
            let period = candidates
                .windows(3)
                .find(|w| w[1].1 >= PERIOD_PEAK * best.1 && w[1].1 >= w[0].1 && w[1].1 >= w[2].1)
                .map_or(best.0 as f64, |w| {
                    let curvature = w[0].1 - 2.0 * w[1].1 + w[2].1;
                    let shift =
                        if curvature < 0.0 { 0.5 * (w[0].1 - w[2].1) / curvature } else { 0.0 };
                    w[1].0 as f64 + shift.clamp(-0.5, 0.5)
                });
            periods.push((best.1 > VOICING_THRESHOLD && !frame_grid).then_some(period));
        }
        start += hop;
    }
    periods
}

/// Mean squared second difference at the two samples after each frame boundary over its
/// mean at every sample.
fn click_ratio(x: &[f32], frame: usize, phase: usize) -> f64 {
    if x.len() < 3 * frame {
        return 1.0;
    }
    let d2 = |n: usize| {
        let v = x[n] as f64 - 2.0 * x[n - 1] as f64 + x[n - 2] as f64;
        v * v
    };
    let all = (2..x.len()).map(d2).sum::<f64>() / (x.len() - 2) as f64;
    let boundaries: Vec<usize> = (phase % frame..x.len() - 1)
        .step_by(frame)
        .filter(|&n| n >= 2)
        .flat_map(|n| [n, n + 1])
        .collect();
    let at = boundaries.iter().map(|&n| d2(n)).sum::<f64>() / boundaries.len().max(1) as f64;
    at / all.max(1e-30)
}

/// Log-power spectrogram of the first `seconds` of `x`: 512-sample Hann frames, hop 256,
/// in dB relative to its loudest cell.
pub fn spectrogram(x: &[f32], rate: u32, seconds: f64) -> Vec<Vec<f64>> {
    let x = &x[..x.len().min((seconds * rate as f64) as usize)];
    let mut spectra = Spectra::new(512);
    let grid: Vec<Vec<f64>> = spectra
        .starts(x.len())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|start| spectra.frame(x, start).iter().map(|p| 10.0 * (p + 1e-20).log10()).collect())
        .collect();
    let max = grid.iter().flatten().copied().fold(f64::MIN, f64::max);
    grid.into_iter().map(|c| c.into_iter().map(|v| v - max).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrnn_core::Rng;

    const RATE: u32 = 16_000;

    fn white(seconds: f64, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..(seconds * RATE as f64) as usize).map(|_| rng.gaussian() * 0.1).collect()
    }

    /// A vowel-like buzz: 120 Hz harmonics under a formant envelope, 4 Hz syllables.
    fn buzz(seconds: f64) -> Vec<f32> {
        (0..(seconds * RATE as f64) as usize)
            .map(|i| {
                let t = i as f64 / RATE as f64;
                let tone: f64 = (1..40)
                    .map(|k| {
                        let f = 120.0 * k as f64;
                        let formant = (-((f - 700.0) / 300.0).powi(2)).exp()
                            + 0.5 * (-((f - 1800.0) / 400.0).powi(2)).exp();
                        formant * (std::f64::consts::TAU * f * t).sin()
                    })
                    .sum();
                let syllable = (std::f64::consts::TAU * 4.0 * t).sin().max(0.0);
                (0.1 * tone * syllable) as f32
            })
            .collect()
    }

    #[test]
    fn white_noise_is_flat_unvoiced_and_far_from_a_voice() {
        let (noise, voice) =
            (features(&white(10.0, 1), RATE, 200, 0), features(&buzz(10.0), RATE, 200, 0));
        assert!(noise.flatness > 0.5, "white noise flatness {}", noise.flatness);
        assert!(voice.flatness < 0.1, "buzz flatness {}", voice.flatness);
        assert!(noise.voiced_fraction < 0.05, "noise voiced {}", noise.voiced_fraction);
        assert!(voice.voiced_fraction > 0.9, "buzz voiced {}", voice.voiced_fraction);
        assert!(ltas_distance(&noise, &voice) > 8.0, "{}", ltas_distance(&noise, &voice));
        assert!(voice.modulation_2_8() > 0.6, "4 Hz syllables: {:?}", voice.modulation);
        assert!(noise.modulation_2_8() < 0.45, "steady noise: {:?}", noise.modulation);
    }

    #[test]
    fn a_signal_matches_itself_and_another_stretch_of_itself() {
        let a = buzz(12.0);
        let (first, second) = (
            features(&a[..RATE as usize * 6], RATE, 200, 0),
            features(&a[RATE as usize * 6..], RATE, 200, 0),
        );
        assert!(ltas_distance(&first, &first) == 0.0);
        assert!(ltas_distance(&first, &second) < 0.5, "{}", ltas_distance(&first, &second));
        assert!(modulation_distance(&first, &second) < 0.1);
        assert!((first.level_dbfs - second.level_dbfs).abs() < 0.5);
        let n = white(10.0, 2);
        let (n1, n2) = (features(&n[..80_000], RATE, 200, 0), features(&n[80_000..], RATE, 200, 0));
        assert!(ltas_distance(&n1, &n2) < 0.5);
        assert!((n1.click_ratio - 1.0).abs() < 0.1, "noise has no clicks: {}", n1.click_ratio);
    }

    #[test]
    fn a_click_at_every_frame_boundary_is_found_at_its_phase() {
        let mut x = buzz(5.0);
        for n in (37..x.len()).step_by(200) {
            x[n] += 0.3;
        }
        let at = features(&x, RATE, 200, 37).click_ratio;
        assert!(at > 5.0, "clicks at their phase: {at}");
        let elsewhere = features(&x, RATE, 200, 137).click_ratio;
        assert!(elsewhere < 1.2, "no clicks half a frame away: {elsewhere}");
    }

    #[test]
    fn a_buzz_at_the_frame_rate_is_not_voicing() {
        // A pulse every 200 samples (80 Hz at 16 kHz) through a resonance: periodic, but at
        // the frame grid's period.
        let mut x = vec![0.0f32; RATE as usize * 4];
        let mut y = (0.0f32, 0.0f32);
        for (n, v) in x.iter_mut().enumerate() {
            let pulse = if n % 200 == 0 { 1.0 } else { 0.0 };
            let out = pulse + 1.8 * y.0 * 0.95 - 0.9025 * y.1;
            y = (out, y.0);
            *v = out * 0.05;
        }
        assert!(features(&x, RATE, 200, 0).voiced_fraction < 0.05);
        assert!(features(&x, RATE, 160, 0).voiced_fraction > 0.9, "the same at another frame size");
    }

    #[test]
    fn long_pauses_are_counted_and_short_ones_are_not() {
        let second = RATE as usize;
        let talk = buzz(4.0);
        let mut x = talk.clone();
        x.extend(vec![0.0; second * 3]);
        x.extend(&talk);
        x.extend(vec![0.0; second / 2]);
        x.extend(&talk);
        let share = features(&x, RATE, 200, 0).long_pause_share;
        // 3 s of 15.5 s, plus the buzz's own syllable gaps (each under a second): not counted.
        assert!((share - 3.0 / 15.5).abs() < 0.01, "{share}");
        assert_eq!(features(&white(5.0, 3), RATE, 200, 0).long_pause_share, 0.0);
        let mut fell_silent = talk.clone();
        fell_silent.extend(white(12.0, 4).iter().map(|v| v * 1e-3));
        let share = features(&fell_silent, RATE, 200, 0).long_pause_share;
        assert!((share - 0.75).abs() < 0.01, "a voice 60 dB down is silent: {share}");
        assert_eq!(features(&vec![0.0; second * 2], RATE, 200, 0).long_pause_share, 1.0);
    }

    #[test]
    fn level_is_the_active_rms_in_dbfs() {
        let mut x: Vec<f32> =
            (0..RATE as usize * 4).map(|i| 0.5 * (i as f32 * 0.1).sin()).collect();
        x.extend(vec![0.0; RATE as usize * 4]);
        let f = features(&x, RATE, 200, 0);
        let expected = 20.0 * (0.5f64 / 2f64.sqrt()).log10();
        assert!((f.level_dbfs - expected).abs() < 0.2, "{} vs {expected}", f.level_dbfs);
    }
}
