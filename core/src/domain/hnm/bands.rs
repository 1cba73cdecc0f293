//! The envelopes' frequency grid: BANDS bands equally wide on the mel scale from 0 Hz to
//! Nyquist, each value standing for its band's centre.

use super::BANDS;

fn mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

#[derive(Clone, Debug)]
pub struct Bands {
    /// BANDS / mel(Nyquist): band widths per mel.
    per_mel: f32,
}

impl Bands {
    pub fn new(sample_rate: u32) -> Bands {
        Bands { per_mel: BANDS as f32 / mel(sample_rate as f32 / 2.0) }
    }

    /// Band j's range in Hz.
    pub fn edges(&self, j: usize) -> (f32, f32) {
        (hz(j as f32 / self.per_mel), hz((j + 1) as f32 / self.per_mel))
    }

    /// Band j's centre in Hz.
    pub fn centre(&self, j: usize) -> f32 {
        hz((j as f32 + 0.5) / self.per_mel)
    }

    /// Where `hz` falls between band centres: the lower band and the weight of the upper.
    pub fn position(&self, hz: f32) -> (usize, f32) {
        let p = (mel(hz.max(0.0)) * self.per_mel - 0.5).clamp(0.0, (BANDS - 1) as f32);
        let lower = (p as usize).min(BANDS - 2);
        (lower, p - lower as f32)
    }

    /// An envelope's value at `hz`, interpolated between band centres.
    pub fn value_at(&self, envelope: &[f32], hz: f32) -> f32 {
        let (j, w) = self.position(hz);
        envelope[j] + w * (envelope[j + 1] - envelope[j])
    }
}
