//! YIN pitch estimation (de Cheveigné and Kawahara, 2002): the cumulative mean normalised
//! difference function, its first dip under a threshold, a parabolic refinement. Written
//! here rather than taken from a crate because the same code has to serve offline analysis
//! and, later, live input without allocating.

use super::{F0_MAX, F0_MIN};

/// The dip that counts as a period (the paper's 0.1-0.15).
const THRESHOLD: f32 = 0.15;
/// A frame is voiced when its best dip is below this (its aperiodicity: the share of its
/// power that the period does not explain).
const VOICED_BELOW: f32 = 0.35;
/// Frames quieter than this (RMS, about -70 dBFS) are unvoiced whatever their shape.
const SILENT_RMS: f32 = 3e-4;

pub struct Yin {
    min_lag: usize,
    max_lag: usize,
    /// Samples compared at each lag.
    width: usize,
    sample_rate: f32,
}

/// One frame's pitch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pitch {
    pub f0: f32,
    /// The normalised difference at the chosen period, 0 for a perfectly periodic frame.
    pub aperiodicity: f32,
    pub voiced: bool,
}

impl Yin {
    pub fn new(sample_rate: u32) -> Yin {
        let rate = sample_rate as f32;
        let max_lag = (rate / F0_MIN).ceil() as usize;
        Yin {
            min_lag: ((rate / F0_MAX) as usize).max(2),
            max_lag,
            width: max_lag,
            sample_rate: rate,
        }
    }

    /// Samples one estimate reads: a centred segment of this length.
    pub fn segment_len(&self) -> usize {
        self.width + self.max_lag + 1
    }

    /// The pitch of `segment` (`segment_len()` samples); `diff` is scratch of
    /// `max_lag + 2` values.
    pub fn estimate(&self, segment: &[f32], diff: &mut [f32]) -> Pitch {
        let w = self.width;
        let rms = (segment[..w].iter().map(|v| v * v).sum::<f32>() / w as f32).sqrt();
        diff[0] = 1.0;
        let mut running = 0.0f32;
        for tau in 1..=self.max_lag + 1 {
            let d: f32 = segment[..w]
                .iter()
                .zip(&segment[tau..tau + w])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            running += d;
            diff[tau] = if running > 0.0 { d * tau as f32 / running } else { 1.0 };
        }
        let range = self.min_lag..=self.max_lag;
        let dip = range
            .clone()
            .find(|&t| diff[t] < THRESHOLD)
            .map(|mut t| {
                while t < self.max_lag && diff[t + 1] < diff[t] {
                    t += 1;
                }
                t
            })
            .unwrap_or_else(|| {
                range.min_by(|a, b| diff[*a].total_cmp(&diff[*b])).unwrap_or(self.max_lag)
            });
        let (a, b, c) = (diff[dip - 1], diff[dip], diff[dip + 1]);
        let curvature = a - 2.0 * b + c;
        let shift =
            if curvature > 0.0 { (0.5 * (a - c) / curvature).clamp(-0.5, 0.5) } else { 0.0 };
        let aperiodicity = b.max(0.0);
        Pitch {
            f0: self.sample_rate / (dip as f32 + shift),
            aperiodicity,
            voiced: aperiodicity < VOICED_BELOW && rms > SILENT_RMS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(f0: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (1..6).map(|k| (std::f32::consts::TAU * f0 * k as f32 * t).sin() / k as f32).sum()
            })
            .collect()
    }

    #[test]
    fn finds_the_period_of_a_harmonic_tone_and_calls_noise_unvoiced() {
        let yin = Yin::new(16_000);
        let mut diff = vec![0.0; yin.max_lag + 2];
        for f0 in [70.0, 110.0, 220.0, 440.0, 700.0] {
            let p = yin.estimate(&tone(f0, 16_000, yin.segment_len()), &mut diff);
            assert!(p.voiced, "{f0} Hz: {p:?}");
            assert!((p.f0 / f0 - 1.0).abs() < 0.01, "{f0} Hz read as {}", p.f0);
        }
        let mut rng = crate::Rng::new(3);
        let noise: Vec<f32> = (0..yin.segment_len()).map(|_| 0.1 * rng.gaussian()).collect();
        assert!(!yin.estimate(&noise, &mut diff).voiced);
        assert!(!yin.estimate(&vec![0.0; yin.segment_len()], &mut diff).voiced);
    }
}
